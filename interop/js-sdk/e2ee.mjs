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

import * as sdk from "matrix-js-sdk";

import { baseUrlFromArgs, ok, passed, register, run, sdkVersion, until } from "./common.mjs";
import {
    MEGOLM,
    assertDecryptedText,
    assertDeviceListChange,
    assertOlmFrom,
    checkKeyRequests,
    cryptoDevice,
    decryptedAt,
    exchanges,
    exchangesOf,
} from "./e2ee-common.mjs";

const baseUrl = baseUrlFromArgs("node e2ee.mjs <client_url>");
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
        assertDecryptedText(event, who, sender.userId, body);
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

async function main() {
    console.log(`matrix-js-sdk ${sdkVersion} (Rust crypto) on Node ${process.version} against ${baseUrl}`);

    for (const name of ["alice", "bob", "carol"]) await register(baseUrl, name);
    const alice = await cryptoDevice(baseUrl, "alice", "alice-laptop");
    const bob = await cryptoDevice(baseUrl, "bob", "bob-phone");

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
    const alice2 = await cryptoDevice(baseUrl, "alice", "alice-phone");
    await knowsDevice(bob, alice2);
    assertDeviceListChange(bob, alice.userId, mark);
    await knowsDevice(alice, alice2);
    assertDeviceListChange(alice, alice.userId, mark);
    ok("bob's and alice's first device learn alice's new device: device_lists.changed, then /keys/query");
    await exchange(roomId, bob, [alice, alice2], "bob to both of alice's devices");
    await exchange(roomId, alice2, [alice, bob], "alice from her phone");
    await exchange(roomId, alice, [bob, alice2], "alice from her laptop again");

    // carol joins later: a new member's devices get the sessions.
    const carol = await cryptoDevice(baseUrl, "carol", "carol-desktop");
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

    // What went over the wire: the key endpoints answered every request.
    checkKeyRequests();

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
