// Cross-signing, secret storage, key backup and device dehydration through
// a Hanse server with matrix-js-sdk's Rust crypto. alice and bob talk in
// an encrypted room; alice sets up cross-signing (bob's client sees her
// device signed by her), secret storage and a key backup holding the room
// keys; her new device reads the keys from secret storage, restores the
// backup and decrypts what was sent before it existed; her first device
// cross-signs the new one; and she uploads a dehydrated device, which bob's
// client counts among hers.
//
// Usage: node e2ee-recovery.mjs <client_url>   (e.g. http://127.0.0.1:8008)
// Exits 0 when every check passed; prints each check as it passes.
// JS_SDK_LOG=debug (or info, warn, ...) shows the SDK's own log.

import assert from "node:assert/strict";

import * as sdk from "matrix-js-sdk";

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
    ok(`alice uploads a dehydrated device ${dehydrated.device_id}; bob's client lists it as dehydrated`);

    checkKeyRequests();
    for (const device of [alice, alice2, bob]) device.client.stopClient();
    console.log(`all ${passed()} checks passed`);
}

run(main);
