// Cross-signing, secret storage, key backup and device dehydration through
// a Hanse server with matrix-js-sdk's Rust crypto. alice and bob talk in
// an encrypted room; alice sets up cross-signing (bob's client sees her
// device signed by her), secret storage and a key backup holding the room
// keys; her new device reads the keys from secret storage, restores the
// backup and decrypts what was sent before it existed; her first device
// cross-signs the new one; and she uploads a dehydrated device, which bob's
// client counts among hers. With her devices offline, bob writes in a new
// Megolm session, whose key his client sends to the dehydrated device too;
// her next new device rehydrates it (the dehydration key from secret
// storage, its to-device messages from the server batch by batch until an
// empty one) and decrypts bob's message with that key.
//
// Usage: node e2ee-recovery.mjs <client_url>   (e.g. http://127.0.0.1:8008)
// Exits 0 when every check passed; prints each check as it passes.
// JS_SDK_LOG=debug (or info, warn, ...) shows the SDK's own log.

import assert from "node:assert/strict";

import * as sdk from "matrix-js-sdk";
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/index.js";

import { PASSWORD, baseUrlFromArgs, ok, passed, register, run, sdkVersion, until } from "./common.mjs";
import {
    MEGOLM,
    assertDecryptedText,
    assertDeviceListChange,
    checkKeyRequests,
    cryptoDevice,
    decryptedAt,
    exchanges,
} from "./e2ee-common.mjs";

const baseUrl = baseUrlFromArgs("node e2ee-recovery.mjs <client_url>");
const DEHYDRATION_PREFIX = "/_matrix/client/unstable/org.matrix.msc3814.v1";

/**
 * alice's secret storage key, once created: her devices' clients hand it
 * to the SDK when it asks for her only key (as an app would after asking
 * the user for it).
 */
let secretStorageKey = null;
const cryptoCallbacks = {
    getSecretStorageKey: async ({ keys }) => {
        const keyIds = Object.keys(keys);
        assert.equal(keyIds.length, 1, `the SDK asks for alice's one secret storage key: ${keyIds}`);
        return secretStorageKey ? [keyIds[0], secretStorageKey.privateKey] : null;
    },
};

/**
 * The user-interactive auth for uploading cross-signing keys: first
 * without auth (a first upload needs none), then, if the server asks,
 * with the password. Notes what the server said.
 */
function passwordAuth(username, seen) {
    return async (makeRequest) => {
        try {
            await makeRequest(null);
            seen.push("no auth");
        } catch (err) {
            if (err.httpStatus !== 401 || !err.data?.session) throw err;
            seen.push(`401 with flows ${JSON.stringify(err.data.flows)}`);
            await makeRequest({
                type: "m.login.password",
                identifier: { type: "m.id.user", user: username },
                password: PASSWORD,
                session: err.data.session,
            });
        }
    };
}

/** `sender` sends `body`; every one of `receivers` decrypts it. Returns the event's session ID. */
async function converse(roomId, sender, receivers, body) {
    const arrivals = receivers.map((receiver) => decryptedAt(receiver, roomId, body));
    const { event_id: eventId } = await sender.client.sendTextMessage(roomId, body);
    for (const [i, event] of (await Promise.all(arrivals)).entries()) {
        assert.equal(event.getId(), eventId);
        assertDecryptedText(event, receivers[i].label, sender.userId, body);
    }
    return (await sender.client.fetchRoomEvent(roomId, eventId)).content.session_id;
}

/**
 * bob sends a message in a fresh Megolm session while none of alice's
 * devices is online; his client hands the session's key to her dehydrated
 * device `dehydratedId` (Olm, /sendToDevice). Then alice logs in on a new
 * device, takes her cross-signing keys from secret storage and rehydrates
 * the dehydrated device (the dehydration key from secret storage, the
 * device's to-device messages from POST .../dehydrated_device/{id}/events
 * until an empty batch) and decrypts bob's message with the key it got.
 * `backedUp` are the room's sessions in alice's backup `version`.
 */
async function rehydrate(roomId, alice, bob, dehydratedId, backedUp, version) {
    const body = "while alice was away, from bob";
    await bob.crypto.forceDiscardSession(roomId);
    let mark = exchanges.length;
    const { event_id: eventId } = await bob.client.sendTextMessage(roomId, body);
    const session = (await bob.client.fetchRoomEvent(roomId, eventId)).content.session_id;
    assert.ok(!backedUp.has(session), "bob's message is in a new Megolm session");
    const sharedWith = exchanges
        .slice(mark)
        .filter((exchange) => exchange.label === bob.label && exchange.path.includes("/sendToDevice/m.room.encrypted/"))
        .flatMap((exchange) => exchange.recipients[alice.userId] ?? []);
    assert.ok(
        sharedWith.includes(dehydratedId),
        `bob's client sends the room key to alice's dehydrated device ${dehydratedId}: it sent to ${sharedWith}`,
    );
    const keys = await alice.client.http.authedRequest(sdk.Method.Get, "/room_keys/keys", { version });
    assert.equal(keys.rooms?.[roomId]?.sessions?.[session], undefined, "no device of alice backed the new session up");
    ok(
        `with alice's devices offline, bob writes in a new Megolm session; his client sends its key to ` +
            `her devices (${[...new Set(sharedWith)].join(", ")}), her dehydrated device among them`,
    );

    // alice's new device gets the message, undecryptable for now.
    const alice3 = await cryptoDevice(baseUrl, "alice", "alice-tablet", { cryptoCallbacks });
    const event = () => alice3.client.getRoom(roomId)?.findEventById(eventId);
    await until(
        () => event()?.isDecryptionFailure(),
        "bob's message to arrive on alice's tablet, undecryptable",
    );
    const reason = event().decryptionFailureReason;

    // Cross-signing from secret storage (startDehydration needs it), then
    // rehydration.
    await alice3.crypto.bootstrapCrossSigning({});
    assert.ok(await alice3.crypto.isCrossSigningReady(), "alice's tablet is cross-signing ready");
    const seen = [];
    for (const name of ["RehydrationStarted", "RehydrationProgress", "RehydrationCompleted", "RehydrationError"]) {
        // (Progress: room keys so far, to-device events so far; an error's message.)
        alice3.client.on(CryptoEvent[name], (...args) =>
            seen.push([name, ...args.filter((arg) => typeof arg !== "object")]),
        );
    }
    mark = exchanges.length;
    const decrypted = decryptedAt(alice3, roomId, body);
    await alice3.crypto.startDehydration({ rehydrate: true });
    assert.deepEqual(
        seen.filter(([name]) => name === "RehydrationError"),
        [],
        "rehydration raised no error",
    );
    assert.equal(seen[0]?.[0], "RehydrationStarted", `rehydration started: ${JSON.stringify(seen)}`);
    assert.equal(seen.at(-1)?.[0], "RehydrationCompleted", `rehydration completed: ${JSON.stringify(seen)}`);
    const [, roomKeys, toDeviceCount] = seen.findLast(([name]) => name === "RehydrationProgress") ?? [];
    assert.ok(roomKeys >= 1, `the dehydrated device received room keys: ${JSON.stringify(seen)}`);

    // The device's to-device messages, batch after batch until an empty one.
    const batches = exchanges
        .slice(mark)
        .filter((exchange) => exchange.label === alice3.label && exchange.path.includes("/dehydrated_device/"))
        .filter((exchange) => exchange.path.endsWith("/events"));
    assert.ok(batches.length >= 2, `at least one batch and the empty one: ${JSON.stringify(batches)}`);
    for (const [i, batch] of batches.entries()) {
        assert.equal(batch.status, 200, `POST ${batch.path} succeeded`);
        assert.equal(batch.path, `${DEHYDRATION_PREFIX}/dehydrated_device/${dehydratedId}/events`);
        const asked = i === 0 ? undefined : batches[i - 1].nextBatch;
        assert.equal(batch.sentNextBatch, asked, "each request asks for the batch the previous answer named");
        assert.equal(typeof batch.nextBatch, "string", `batch ${i} answers next_batch: ${JSON.stringify(batch)}`);
        assert.equal(batch.events.length === 0, i === batches.length - 1, `only the last batch is empty: ${JSON.stringify(batches)}`);
    }
    const events = batches.flatMap((batch) => batch.events);
    assert.equal(events.length, toDeviceCount, "the SDK counted the events the server served");
    assert.ok(
        events.some(
            (event) =>
                event.type === "m.room.encrypted" &&
                event.sender === bob.userId &&
                event.algorithm === "m.olm.v1.curve25519-aes-sha2",
        ),
        `an Olm message from bob among the dehydrated device's: ${JSON.stringify(events)}`,
    );

    // The tablet decrypts bob's message with the key the dehydrated device got.
    const arrived = await decrypted;
    assert.equal(arrived.getId(), eventId);
    assertDecryptedText(arrived, alice3.label, bob.userId, body);

    // startDehydration then put up a new dehydrated device in its place.
    const replacement = await alice3.client.http.authedRequest(
        sdk.Method.Get,
        "/dehydrated_device",
        undefined,
        undefined,
        { prefix: DEHYDRATION_PREFIX },
    );
    assert.notEqual(replacement.device_id, dehydratedId, "a new dehydrated device replaces the rehydrated one");
    ok(
        `alice's tablet (bob's message undecryptable: ${reason}) rehydrates ${dehydratedId} ` +
            `(${batches.length} POSTs to /events, ${toDeviceCount} to-device events, ${roomKeys} room keys, ` +
            `the last batch empty), decrypts "${body}" and uploads dehydrated device ${replacement.device_id}`,
    );
    alice3.client.stopClient();
}

async function main() {
    console.log(`matrix-js-sdk ${sdkVersion} (Rust crypto) on Node ${process.version} against ${baseUrl}`);

    for (const name of ["alice", "bob"]) await register(baseUrl, name);
    const alice = await cryptoDevice(baseUrl, "alice", "alice-laptop", { cryptoCallbacks });
    const bob = await cryptoDevice(baseUrl, "bob", "bob-phone");
    const { room_id: roomId } = await alice.client.createRoom({
        preset: sdk.Preset.PrivateChat,
        invite: [bob.userId],
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: MEGOLM } }],
    });
    await until(() => bob.client.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Invite, "bob's invite");
    await bob.client.joinRoom(roomId);
    await until(
        () => alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership === sdk.KnownMembership.Join,
        "alice to see bob join",
    );
    const early = ["before the backup, from alice", "before the backup, from bob"];
    const sessions = new Set([
        await converse(roomId, alice, [bob], early[0]),
        await converse(roomId, bob, [alice], early[1]),
    ]);
    ok(`alice and bob talk in the encrypted room ${roomId} (${sessions.size} Megolm sessions)`);

    // Cross-signing: alice's keys go up (/keys/device_signing/upload) and
    // her device is signed (/keys/signatures/upload); bob's client learns
    // of it through device_lists.changed and /keys/query.
    let mark = exchanges.length;
    const auth = [];
    await alice.crypto.bootstrapCrossSigning({
        setupNewCrossSigning: true,
        authUploadDeviceSigningKeys: passwordAuth("alice", auth),
    });
    const status = await alice.crypto.getCrossSigningStatus();
    assert.ok(status.publicKeysOnDevice, `alice's client has her public keys: ${JSON.stringify(status)}`);
    assert.deepEqual(status.privateKeysCachedLocally, { masterKey: true, selfSigningKey: true, userSigningKey: true });
    await until(
        async () => (await bob.crypto.getDeviceVerificationStatus(alice.userId, alice.deviceId))?.signedByOwner,
        "bob's client to see alice's device signed by her self-signing key",
    );
    assert.ok(await bob.crypto.userHasCrossSigningKeys(alice.userId), "bob's client knows alice's master key");
    assert.equal(
        (await bob.crypto.getUserVerificationStatus(alice.userId)).isCrossSigningVerified(),
        false,
        "bob has not verified alice",
    );
    assertDeviceListChange(bob, alice.userId, mark);
    ok(
        `alice bootstraps cross-signing (upload auth: ${auth.join(", ")}); bob's client learns her keys ` +
            "(device_lists.changed, /keys/query) and sees her device signed by her",
    );

    // Secret storage (account data) with a new key backup.
    mark = exchanges.length;
    await alice.crypto.bootstrapSecretStorage({
        createSecretStorageKey: async () => {
            secretStorageKey = await alice.crypto.createRecoveryKeyFromPassphrase();
            return secretStorageKey;
        },
        setupNewSecretStorage: true,
        setupNewKeyBackup: true,
    });
    assert.ok(await alice.crypto.isSecretStorageReady(), "secret storage is ready");
    assert.ok(await alice.crypto.isCrossSigningReady(), "cross-signing is ready (its keys in secret storage)");
    await until(
        async () => (await alice.crypto.getActiveSessionBackupVersion()) !== null,
        "alice's backup to be active",
    );
    const version = await alice.crypto.getActiveSessionBackupVersion();
    const info = await alice.crypto.getKeyBackupInfo();
    assert.equal(info?.version, version, `the server's current backup is alice's: ${JSON.stringify(info)}`);
    assert.ok((await alice.crypto.isKeyBackupTrusted(info)).trusted, "alice's client trusts the backup's signature");
    // The SDK uploads the room keys in the background, after a random
    // delay of up to 10 s.
    let backedUp = {};
    await until(
        async () => {
            const keys = await alice.client.http.authedRequest(sdk.Method.Get, "/room_keys/keys", { version });
            backedUp = keys.rooms?.[roomId]?.sessions ?? {};
            return Object.keys(backedUp).length === sessions.size;
        },
        `the room's ${sessions.size} keys in backup ${version}`,
        30_000,
    );
    assert.deepEqual(new Set(Object.keys(backedUp)), sessions, "the backup holds the room's sessions");
    const accountData = exchanges
        .slice(mark)
        .filter((exchange) => exchange.path.includes("/account_data/") && exchange.method === "PUT")
        .map((exchange) => exchange.path.split("/").at(-1))
        .map((type) => (type.startsWith("m.secret_storage.key.") ? "m.secret_storage.key.*" : type));
    ok(
        `alice bootstraps secret storage (account data: ${accountData.join(", ")}) and key backup ${version}; ` +
            `the server holds the room's ${sessions.size} keys in it`,
    );

    // alice's new device: the old messages arrive undecryptable; with the
    // backup key from secret storage it restores the backup and reads them.
    const alice2 = await cryptoDevice(baseUrl, "alice", "alice-phone", { cryptoCallbacks });
    const old = () =>
        alice2.client
            .getRoom(roomId)
            .getLiveTimeline()
            .getEvents()
            .filter((event) => event.isEncrypted());
    await until(() => old().length === early.length, "alice's phone to get the old messages");
    await alice2.crypto.loadSessionBackupPrivateKeyFromSecretStorage();
    await alice2.crypto.checkKeyBackupAndEnable();
    const restored = await alice2.crypto.restoreKeyBackup();
    // (The SDK may already have fetched some of them one by one, for the
    // events it failed to decrypt: those do not count as imported again.)
    assert.equal(restored.total, sessions.size, `the backup serves every key: ${JSON.stringify(restored)}`);
    await until(
        () => old().every((event) => !event.isDecryptionFailure() && !event.isBeingDecrypted()),
        "the old messages to decrypt on alice's phone",
    );
    assert.deepEqual(
        old().map((event) => event.getClearContent().body),
        early,
        "alice's phone reads what was sent before it existed",
    );
    ok(
        `alice's phone restores the backup's ${restored.total} keys (backup key from secret storage) ` +
            "and reads the old messages",
    );

    // alice's laptop cross-signs her phone; bob's client sees it.
    await until(
        async () => (await alice.crypto.getUserDeviceInfo([alice.userId])).get(alice.userId)?.has(alice2.deviceId),
        "alice's laptop to learn her phone",
    );
    await alice.crypto.crossSignDevice(alice2.deviceId);
    await until(
        async () => (await bob.crypto.getDeviceVerificationStatus(alice.userId, alice2.deviceId))?.signedByOwner,
        "bob's client to see alice's phone signed by her",
    );
    ok("alice's laptop cross-signs her phone (/keys/signatures/upload); bob's client sees the phone signed by her");

    // A dehydrated device (MSC3814): uploaded with its keys, served back,
    // and counted among alice's devices by bob's client.
    assert.ok(await alice.crypto.isDehydrationSupported(), "the server offers dehydrated devices");
    await alice.crypto.startDehydration({ createNewKey: true });
    const dehydrated = await alice.client.http.authedRequest(
        sdk.Method.Get,
        "/dehydrated_device",
        undefined,
        undefined,
        { prefix: DEHYDRATION_PREFIX },
    );
    assert.equal(typeof dehydrated.device_id, "string");
    assert.ok(dehydrated.device_data, "the device data is served back");
    await until(async () => {
        const devices = (await bob.crypto.getUserDeviceInfo([alice.userId])).get(alice.userId);
        return devices?.get(dehydrated.device_id)?.dehydrated === true;
    }, "bob's client to count alice's dehydrated device");
    // bob's client shares room keys with a dehydrated device only when
    // its owner's self-signing key signed it (MSC3814).
    await until(
        async () => (await bob.crypto.getDeviceVerificationStatus(alice.userId, dehydrated.device_id))?.signedByOwner,
        "bob's client to see alice's dehydrated device signed by her",
    );
    ok(
        `alice uploads a dehydrated device ${dehydrated.device_id}; bob's client lists it as dehydrated ` +
            "and signed by her",
    );

    // Rehydration: with alice's devices offline, bob writes in a new Megolm
    // session; her client being away, only the dehydrated device gets its key.
    for (const device of [alice, alice2]) device.client.stopClient();
    await rehydrate(roomId, alice, bob, dehydrated.device_id, sessions, version);

    checkKeyRequests();
    bob.client.stopClient();
    console.log(`all ${passed()} checks passed`);
}

run(main);
