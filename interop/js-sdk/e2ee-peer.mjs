// One matrix-js-sdk device (the SDK's Rust crypto) in an encrypted room
// with a device of another implementation: server/tests/js_sdk_e2ee.rs
// runs hanse-sdk's EncryptedClient on the other side. The two take turns
// through the room itself. The turns come on the command line, in order:
// "send:<body>" sends that text message; "recv:<body>" waits until the
// peer's message with that body has arrived and decrypted (listening from
// the start, so a message that comes early is not missed).
//
// Usage: node e2ee-peer.mjs <client_url> <room_id> <username> <peer_user_id> <turn>...
// The user must exist with common.mjs's PASSWORD and be invited to the
// room. Exits 0 when every turn passed; prints each check as it passes.
// JS_SDK_LOG=debug (or info, warn, ...) shows the SDK's own log.

import assert from "node:assert/strict";

import * as sdk from "matrix-js-sdk";

import { baseUrlFromArgs, ok, passed, run, sdkVersion, until } from "./common.mjs";
import {
    assertDecryptedText,
    assertOlmFrom,
    checkKeyRequests,
    cryptoDevice,
    decryptedAt,
} from "./e2ee-common.mjs";

const USAGE = "node e2ee-peer.mjs <client_url> <room_id> <username> <peer_user_id> <send:body|recv:body>...";
const baseUrl = baseUrlFromArgs(USAGE);
const [roomId, username, peerId, ...turnArgs] = process.argv.slice(3);
const turns = turnArgs.map((arg) => {
    const [, kind, body] = /^(send|recv):(.+)$/s.exec(arg) ?? [];
    if (!kind) {
        console.error(`not a turn: ${JSON.stringify(arg)}; usage: ${USAGE}`);
        process.exit(2);
    }
    return { kind, body };
});
if (!peerId || turns.length === 0) {
    console.error(`usage: ${USAGE}`);
    process.exit(2);
}
/** How long the whole conversation may take. */
const CONVERSATION_MS = 60_000;

/** `promise` as one that always resolves, with its value or its error. */
const settled = (promise) => promise.then((value) => ({ value }), (error) => ({ error }));

async function main() {
    console.log(`matrix-js-sdk ${sdkVersion} (Rust crypto) on Node ${process.version} against ${baseUrl}`);
    const me = await cryptoDevice(baseUrl, username, "js-sdk-peer");

    await until(() => me.client.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Invite, "the invite");
    await me.client.joinRoom(roomId);
    await until(
        () => me.client.getRoom(roomId)?.getMyMembership() === sdk.KnownMembership.Join,
        "the client to see its join",
    );
    assert.ok(await me.crypto.isEncryptionEnabledInRoom(roomId), "the room is encrypted");
    ok(`${me.userId} joins the encrypted room ${roomId}`);

    const received = new Map();
    for (const { kind, body } of turns) {
        if (kind !== "recv") continue;
        assert.ok(!received.has(body), `each body to receive is distinct: ${body}`);
        received.set(body, settled(decryptedAt(me, roomId, body, CONVERSATION_MS)));
    }

    for (const { kind, body } of turns) {
        if (kind === "send") {
            const { event_id: eventId } = await me.client.sendMessage(roomId, { msgtype: sdk.MsgType.Text, body });
            const stored = await me.client.fetchRoomEvent(roomId, eventId);
            assert.equal(stored.type, "m.room.encrypted", "the server stores the message encrypted");
            assert.ok(!JSON.stringify(stored).includes(body), "the plaintext is nowhere in the stored event");
            ok(`sends "${body}" encrypted: ${eventId}`);
            continue;
        }
        const { value: event, error } = await received.get(body);
        if (error) throw error;
        assertDecryptedText(event, me.label, peerId, body);
        me.decrypted.push(event.getId());
        // The Megolm session's key is that of one of the peer's devices,
        // as the server serves them through /keys/query.
        const devices = (await me.crypto.getUserDeviceInfo([peerId])).get(peerId) ?? new Map();
        const device = [...devices.values()].find((known) => known.getIdentityKey() === event.getSenderKey());
        assert.ok(
            device,
            `the session of "${body}" comes from a device of ${peerId}: its key ${event.getSenderKey()}, ` +
                `their devices ${JSON.stringify([...devices.values()].map((known) => known.getIdentityKey()))}`,
        );
        ok(`decrypts "${body}" from ${peerId}'s device ${device.deviceId}: ${event.getId()}`);
    }

    assertOlmFrom(me, peerId);
    assert.deepEqual([...me.failures], [], "no decryption failures");
    ok(`got the room key from ${peerId} Olm-encrypted through /sync; no decryption failures`);
    checkKeyRequests();

    me.client.stopClient();
    console.log(`all ${passed()} checks passed`);
}

run(main);
