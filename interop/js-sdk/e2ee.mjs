// End-to-end encryption through a Hanse server with matrix-js-sdk's own
// crypto (initRustCrypto: matrix-sdk-crypto-wasm, the Rust crypto of
// matrix-rust-sdk). alice and bob, each on a device of their own, share a
// room with m.room.encryption (m.megolm.v1.aes-sha2) and each decrypts
// the other's messages; then alice logs in on a second device and carol
// joins the room: both decrypt what is sent after they arrived, and the
// others decrypt what they send. Then alice's second device logs out and
// carol leaves: the others learn it and the next message goes out in a
// new Megolm session for the devices still there. The server sees
// ciphertext only: every message it serves back is m.room.encrypted.
//
// Besides the SDK's view, every HTTP exchange is recorded (through the
// clients' fetchFn): the script checks that the server's answers to the
// key endpoints were successes and that /sync carried the device list
// changes and to-device messages the clients needed, and prints every
// request the server refused, so a failure points at the request.
//
// Usage: node e2ee.mjs <client_url>   (e.g. http://127.0.0.1:8008)
// Exits 0 when every check passed; prints each check as it passes.
// JS_SDK_LOG=debug (or info, warn, ...) shows the SDK's own log.

import assert from "node:assert/strict";

import { LoggerLevel, Tracing } from "@matrix-org/matrix-sdk-crypto-wasm";
import * as sdk from "matrix-js-sdk";

import {
    LOG_LEVEL,
    baseUrlFromArgs,
    login,
    ok,
    passed,
    register,
    run,
    sdkVersion,
    startSyncing,
    until,
    waitFor,
} from "./common.mjs";

const baseUrl = baseUrlFromArgs("node e2ee.mjs <client_url>");
const MEGOLM = "m.megolm.v1.aes-sha2";

/** Every HTTP exchange of every client, in order. */
const exchanges = [];

/**
 * A fetch for the client called `label` that records each exchange: method,
 * path, status, errcode of refusals, and for /sync the device list changes
 * and to-device events the server delivered.
 */
function recordingFetch(label) {
    return async (input, init = {}) => {
        const request = input instanceof Request ? input : null;
        const url = new URL(request ? request.url : String(input));
        const method = init.method ?? request?.method ?? "GET";
        const response = await fetch(input, init);
        const exchange = { label, method, path: decodeURIComponent(url.pathname), status: response.status };
        exchanges.push(exchange);
        if (exchange.path.includes("/sendToDevice/")) {
            // Who the to-device messages went to: {user: [device, ...]}.
            const messages = JSON.parse(init.body).messages;
            exchange.recipients = Object.fromEntries(
                Object.entries(messages).map(([user, devices]) => [user, Object.keys(devices)]),
            );
        }
        if (!response.ok) {
            exchange.errcode = await response
                .clone()
                .json()
                .then((body) => body.errcode, () => undefined);
        } else if (exchange.path.endsWith("/sync")) {
            const body = await response.clone().json();
            exchange.deviceListsChanged = body.device_lists?.changed ?? [];
            exchange.deviceListsLeft = body.device_lists?.left ?? [];
            exchange.oneTimeKeys = body.device_one_time_keys_count?.signed_curve25519;
            exchange.fallbackKeys = body.device_unused_fallback_key_types;
            exchange.toDevice = (body.to_device?.events ?? []).map((event) => ({
                type: event.type,
                sender: event.sender,
                algorithm: event.content?.algorithm,
            }));
        }
        return response;
    };
}

/**
 * The Rust crypto's own log goes straight to the console, and
 * initRustCrypto turns it on at level debug each time (new
 * Tracing(Debug).turnOn()). Turning it on here applies the SDK's level
 * instead, or turns it off when that is silent.
 */
function rustCryptoLogAtSdkLevel() {
    const levels = { trace: "Trace", debug: "Debug", info: "Info", warn: "Warn", error: "Error" };
    const level = LoggerLevel[levels[LOG_LEVEL]];
    const turnOn = Tracing.prototype.turnOn;
    Tracing.prototype.turnOn = function () {
        if (level === undefined) return this.turnOff();
        this.minLevel = level;
        return turnOn.call(this);
    };
}
rustCryptoLogAtSdkLevel();

/** The exchanges of `label` whose path ends with `suffix`. */
function exchangesOf(label, suffix) {
    return exchanges.filter((exchange) => exchange.label === label && exchange.path.endsWith(suffix));
}

/**
 * Logs `username` in on a new device called `label`, starts the SDK's
 * Rust crypto on it (in memory) and its /sync loop; waits until the
 * server serves the device's identity keys back through /keys/query.
 */
async function cryptoDevice(username, label) {
    const client = await login(baseUrl, username, {
        deviceName: label,
        clientOpts: { fetchFn: recordingFetch(label) },
    });
    await client.initRustCrypto({ useIndexedDB: false });
    const crypto = client.getCrypto();
    assert.ok(crypto, `${label}: getCrypto() after initRustCrypto`);
    const keys = await crypto.getOwnDeviceKeys();

    // Every decryption failure this device ever sees, by event ID.
    const failures = new Map();
    client.on(sdk.MatrixEventEvent.Decrypted, (event) => {
        if (event.isDecryptionFailure()) failures.set(event.getId(), event.decryptionFailureReason);
    });

    await startSyncing(client, { initialSyncLimit: 20 });
    const userId = client.getUserId();
    const deviceId = client.getDeviceId();
    let served;
    await until(async () => {
        const answer = await client.http.authedRequest(sdk.Method.Post, "/keys/query", undefined, {
            device_keys: { [userId]: [deviceId] },
        });
        served = answer.device_keys?.[userId]?.[deviceId];
        return served !== undefined;
    }, `${label}'s device keys to be served by /keys/query`);
    assert.equal(served.user_id, userId);
    assert.equal(served.device_id, deviceId);
    assert.deepEqual(served.keys, {
        [`ed25519:${deviceId}`]: keys.ed25519,
        [`curve25519:${deviceId}`]: keys.curve25519,
    });
    assert.ok(served.algorithms.includes(MEGOLM), `${label} offers ${MEGOLM}: ${served.algorithms}`);
    assert.ok(served.signatures?.[userId]?.[`ed25519:${deviceId}`], `${label}'s keys are self-signed`);
    assert.equal(served.unsigned?.device_display_name, label, "the display name rides in unsigned");
    ok(
        `${label} (${userId}, device ${deviceId}) starts the Rust crypto and syncs; ` +
            "/keys/query serves back its uploaded ed25519 and curve25519 keys",
    );
    // The IDs of the events it decrypted in exchange().
    const decrypted = [];
    return { client, crypto, label, userId, deviceId, keys, failures, decrypted };
}

/** Resolves with `device`'s copy of the event in `roomId` that decrypts to `body`. */
function decryptedAt(device, roomId, body) {
    return waitFor(
        device.client,
        sdk.MatrixEventEvent.Decrypted,
        (event) => event.getRoomId() === roomId && event.getClearContent()?.body === body,
        `${device.label} to decrypt "${body}"`,
    ).then(
        ([event]) => event,
        (err) => {
            const failed = [...device.failures].map(([id, reason]) => `${id}: ${reason}`);
            err.message += `; decryption failures at ${device.label}: ${failed.join(", ") || "none"}`;
            throw err;
        },
    );
}

/**
 * `sender` sends `body` into the encrypted room; every one of `receivers`
 * decrypts it; what the server stored and serves is ciphertext. Returns
 * the event ID and the Megolm session's ID.
 */
async function exchange(roomId, sender, receivers, body) {
    const arrivals = receivers.map((receiver) => decryptedAt(receiver, roomId, body));
    const { event_id: eventId } = await sender.client.sendMessage(roomId, { msgtype: sdk.MsgType.Text, body });
    const events = await Promise.all(arrivals);
    for (const [i, event] of events.entries()) {
        const who = receivers[i].label;
        assert.equal(event.getId(), eventId, `${who}: the event decrypted is the one sent`);
        assert.ok(event.isEncrypted(), `${who}: isEncrypted()`);
        assert.equal(event.getWireType(), "m.room.encrypted", `${who}: arrived as m.room.encrypted`);
        assert.equal(event.getType(), "m.room.message", `${who}: decrypts to m.room.message`);
        assert.ok(!event.isDecryptionFailure(), `${who}: no decryption failure`);
        assert.deepEqual(event.getClearContent(), { msgtype: "m.text", body }, `${who}: the clear content`);
        assert.equal(event.getWireContent().algorithm, MEGOLM);
        assert.equal(event.getSender(), sender.userId);
        assert.equal(event.getSenderKey(), sender.keys.curve25519, `${who}: Megolm session from ${sender.label}'s key`);
        receivers[i].decrypted.push(eventId);
    }
    // The server's copy, fetched raw by the sender: ciphertext only.
    const stored = await sender.client.fetchRoomEvent(roomId, eventId);
    assert.equal(stored.type, "m.room.encrypted");
    assert.equal(stored.content.algorithm, MEGOLM);
    assert.equal(typeof stored.content.ciphertext, "string");
    assert.equal(typeof stored.content.session_id, "string");
    assert.ok(!JSON.stringify(stored).includes(body), "the plaintext is nowhere in the stored event");
    ok(
        `${sender.label} sends "${body}": ${receivers.map((r) => r.label).join(", ")} decrypt it; ` +
            "the server stores and serves m.room.encrypted only",
    );
    return { eventId, sessionId: stored.content.session_id };
}

/** Waits until `device`'s client sees `userId`'s membership in `roomId` as `membership`. */
function seesMembership(device, roomId, userId, membership) {
    return until(
        () => device.client.getRoom(roomId)?.getMember(userId)?.membership === membership,
        `${device.label} to see ${userId}'s membership ${membership}`,
    );
}

/** Waits until `device`'s crypto knows `other`'s device (from /keys/query after device_lists). */
function knowsDevice(device, other) {
    return until(async () => {
        const devices = await device.crypto.getUserDeviceInfo([other.userId]);
        const known = devices.get(other.userId)?.get(other.deviceId);
        return known !== undefined && known.getIdentityKey() === other.keys.curve25519;
    }, `${device.label}'s crypto to learn ${other.label}'s device ${other.deviceId}`);
}

/** Asserts that one of `device`'s syncs since exchange number `since` listed `userId` in device_lists.changed. */
function assertDeviceListChange(device, userId, since) {
    const syncs = exchangesOf(device.label, "/sync").filter((exchange) => exchanges.indexOf(exchange) >= since);
    assert.ok(
        syncs.some((sync) => sync.deviceListsChanged?.includes(userId)),
        `a /sync of ${device.label} lists ${userId} in device_lists.changed; ` +
            `its syncs since: ${JSON.stringify(syncs.map((sync) => sync.deviceListsChanged))}`,
    );
}

/** Asserts `device` received, through /sync, an Olm-encrypted to-device message from `userId`. */
function assertOlmFrom(device, userId) {
    const received = exchangesOf(device.label, "/sync").flatMap((sync) => sync.toDevice ?? []);
    assert.ok(
        received.some(
            (event) =>
                event.type === "m.room.encrypted" &&
                event.sender === userId &&
                event.algorithm === "m.olm.v1.curve25519-aes-sha2",
        ),
        `${device.label} got an Olm-encrypted to-device message from ${userId}; to-device received: ` +
            JSON.stringify(received),
    );
}

async function main() {
    console.log(`matrix-js-sdk ${sdkVersion} (Rust crypto) on Node ${process.version} against ${baseUrl}`);

    for (const name of ["alice", "bob", "carol"]) await register(baseUrl, name);
    const alice = await cryptoDevice("alice", "alice-laptop");
    const bob = await cryptoDevice("bob", "bob-phone");

    // An encrypted private room; bob is invited, sees the invite, joins.
    const { room_id: roomId } = await alice.client.createRoom({
        preset: sdk.Preset.PrivateChat,
        name: "Tresor",
        invite: [bob.userId],
        initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: MEGOLM } }],
    });
    const encryption = await alice.client.getStateEvent(roomId, "m.room.encryption", "");
    assert.equal(encryption.algorithm, MEGOLM);
    await until(() => bob.client.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Invite, "bob's invite");
    await bob.client.joinRoom(roomId);
    await seesMembership(alice, roomId, bob.userId, sdk.KnownMembership.Join);
    await seesMembership(bob, roomId, bob.userId, sdk.KnownMembership.Join);
    for (const device of [alice, bob]) {
        assert.ok(await device.crypto.isEncryptionEnabledInRoom(roomId), `${device.label}: the room is encrypted`);
    }
    ok(`alice creates the encrypted room ${roomId} (${MEGOLM}), bob joins; both clients see it as encrypted`);

    // Both ways.
    await exchange(roomId, alice, [bob], "Guten Morgen, bob");
    await exchange(roomId, bob, [alice], "Moin, alice");
    await exchange(roomId, alice, [bob], "the second message of alice's session");
    assertOlmFrom(bob, alice.userId);
    assertOlmFrom(alice, bob.userId);
    ok("each got the other's Megolm session as an Olm-encrypted to-device message through /sync");

    // alice's second device: the others learn it through device_lists and
    // share their sessions with it; it decrypts what is sent from now on.
    let mark = exchanges.length;
    const alice2 = await cryptoDevice("alice", "alice-phone");
    await knowsDevice(bob, alice2);
    assertDeviceListChange(bob, alice.userId, mark);
    await knowsDevice(alice, alice2);
    assertDeviceListChange(alice, alice.userId, mark);
    ok("bob's and alice's first device learn alice's new device: device_lists.changed, then /keys/query");
    await exchange(roomId, bob, [alice, alice2], "bob to both of alice's devices");
    await exchange(roomId, alice2, [alice, bob], "alice from her phone");
    await exchange(roomId, alice, [bob, alice2], "alice from her laptop again");

    // carol joins later: a new member's devices get the sessions.
    const carol = await cryptoDevice("carol", "carol-desktop");
    await alice.client.invite(roomId, carol.userId);
    await until(() => carol.client.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Invite, "carol's invite");
    mark = exchanges.length;
    await carol.client.joinRoom(roomId);
    for (const device of [alice, alice2, bob, carol]) {
        await seesMembership(device, roomId, carol.userId, sdk.KnownMembership.Join);
    }
    await knowsDevice(alice, carol);
    await knowsDevice(bob, carol);
    assertDeviceListChange(alice, carol.userId, mark);
    ok("carol is invited and joins; alice's and bob's crypto learn her device (device_lists.changed on her join)");
    await exchange(roomId, alice, [alice2, bob, carol], "welcome, carol");
    await exchange(roomId, carol, [alice, alice2, bob], "thanks, all of you");
    const { sessionId: bobsSession } = await exchange(roomId, bob, [alice, alice2, carol], "bob to everyone");

    // Departures: alice's phone logs out, carol leaves. The others learn
    // it through /sync (device_lists.changed for alice; device_lists.left
    // for carol, who shares no encrypted room with them any more), and
    // bob's crypto starts a new Megolm session, which goes to the devices
    // still there only.
    mark = exchanges.length;
    await alice2.client.logout(true);
    await carol.client.leave(roomId);
    carol.client.stopClient();
    for (const device of [alice, bob]) {
        await seesMembership(device, roomId, carol.userId, sdk.KnownMembership.Leave);
        await until(async () => {
            const devices = await device.crypto.getUserDeviceInfo([alice.userId]);
            return devices.get(alice.userId)?.has(alice.deviceId) && !devices.get(alice.userId).has(alice2.deviceId);
        }, `${device.label}'s crypto to drop alice's logged-out device`);
        assertDeviceListChange(device, alice.userId, mark);
        const syncs = exchangesOf(device.label, "/sync").filter((sync) => exchanges.indexOf(sync) >= mark);
        assert.ok(
            syncs.some((sync) => sync.deviceListsLeft?.includes(carol.userId)),
            `a /sync of ${device.label} lists carol in device_lists.left; its syncs since: ` +
                JSON.stringify(syncs.map((sync) => sync.deviceListsLeft)),
        );
    }
    ok(
        "alice's phone logs out and carol leaves: alice's laptop and bob see device_lists.changed for alice, " +
            "device_lists.left for carol, and their crypto drops the logged-out device",
    );
    mark = exchanges.length;
    const { sessionId: rotated } = await exchange(roomId, bob, [alice], "after the departures");
    assert.notEqual(rotated, bobsSession, "bob's crypto starts a new Megolm session");
    const recipients = {};
    for (const sent of exchanges.slice(mark)) {
        if (sent.label !== bob.label || !sent.path.includes("/sendToDevice/m.room.encrypted/")) continue;
        for (const [user, devices] of Object.entries(sent.recipients)) {
            recipients[user] = [...(recipients[user] ?? []), ...devices];
        }
    }
    assert.deepEqual(recipients, { [alice.userId]: [alice.deviceId] }, "the new session goes to alice's laptop only");
    ok("bob's next message is in a new Megolm session, shared with alice's laptop only");

    // No decryption failures: none at all for the devices there from the
    // start; for the later ones only on what was sent before they arrived.
    for (const device of [alice, bob]) {
        assert.deepEqual([...device.failures], [], `${device.label} never failed to decrypt`);
    }
    for (const device of [alice2, carol]) {
        const failed = device.decrypted.filter((eventId) => device.failures.has(eventId));
        assert.deepEqual(failed, [], `${device.label} decrypted every message sent since it arrived at the first try`);
    }
    const older = alice2.failures.size + carol.failures.size;
    ok(
        "no decryption failures, except for messages sent before a device existed " +
            `(${older}; no key backup or key sharing between devices here)`,
    );

    // What went over the wire: the key endpoints answered every request,
    // and what else the server refused, for the record.
    const keyEndpoints = ["/keys/upload", "/keys/query", "/keys/claim", "/sendToDevice/m.room.encrypted/"];
    for (const endpoint of keyEndpoints) {
        const matching = exchanges.filter((exchange) => exchange.path.includes(endpoint));
        assert.ok(matching.length > 0, `the clients used ${endpoint}`);
        const failed = matching.filter((exchange) => exchange.status >= 300);
        assert.deepEqual(failed, [], `every ${endpoint} succeeded`);
    }
    const syncFailures = exchanges.filter((exchange) => exchange.path.endsWith("/sync") && exchange.status >= 300);
    assert.deepEqual(syncFailures, [], "every /sync succeeded");
    const count = (endpoint) => exchanges.filter((exchange) => exchange.path.includes(endpoint)).length;
    ok(
        `every key request succeeded: ${keyEndpoints.map((endpoint) => `${endpoint} ${count(endpoint)}x`).join(", ")}`,
    );
    const refusals = new Map();
    for (const exchange of exchanges.filter((exchange) => exchange.status >= 300)) {
        const key = `${exchange.method} ${exchange.path} -> ${exchange.status} ${exchange.errcode ?? ""}`;
        refusals.set(key, (refusals.get(key) ?? 0) + 1);
    }
    for (const [key, times] of refusals) console.log(`note: refused ${times}x: ${key}`);

    // The key counts /sync reported to each device. Each device's
    // one-time keys were claimed at least once, by the first device that
    // sent it a room key without an Olm session with it yet (bob's by
    // alice's laptop, alice's phone's by bob, alice's laptop's by her
    // phone, carol's by alice's laptop); the to-device message that
    // follows the claim wakes the device's sync, which must show the
    // lower count, and once the device has uploaded a new key, the full
    // count again.
    for (const device of [alice, alice2, bob, carol]) {
        const syncs = exchangesOf(device.label, "/sync").filter((sync) => sync.status === 200);
        const counts = syncs.map((sync) => sync.oneTimeKeys);
        const what = `${device.label}'s one-time key counts per /sync: ${JSON.stringify(counts)}`;
        assert.ok(counts.every((count) => Number.isInteger(count)), `every /sync carries the count: ${what}`);
        const full = Math.max(...counts);
        const dip = counts.findIndex((count) => count > 0 && count < full);
        assert.ok(dip > 0, `the count drops after a claim: ${what}`);
        assert.ok(counts.slice(dip).includes(full), `the count is full again after the re-upload: ${what}`);
        const uploaded = counts.indexOf(full);
        for (const sync of syncs.slice(uploaded)) {
            assert.deepEqual(sync.fallbackKeys, ["signed_curve25519"], `${device.label}: the unused fallback key`);
        }
    }
    ok(
        "each device's /sync counts its one-time keys (down after a claim, up after the re-upload) " +
            "and lists its unused fallback key",
    );

    for (const device of [alice, bob]) device.client.stopClient();
    console.log(`all ${passed()} checks passed`);
}

run(main);
