// matrix-js-sdk drives a Hanse server through the client-server API:
// registration (user-interactive auth), login, rooms, membership, sending,
// paginating /messages, redaction, and refusals. No /sync: only the
// client's direct request methods, never startClient().
//
// Usage: node script.mjs <client_url>   (e.g. http://127.0.0.1:8008)
// Exits 0 when every check passed; prints each check as it passes.
// JS_SDK_LOG=debug (or info, warn, ...) shows the SDK's own log.

import assert from "node:assert/strict";
import { createRequire } from "node:module";

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

const baseUrl = process.argv[2];
if (!baseUrl) {
    console.error("usage: node script.mjs <client_url>");
    process.exit(2);
}
// The SDK logs expected refusals as errors ("Error sending event"); keep
// its log quiet unless asked for.
logger.setLevel(process.env.JS_SDK_LOG || "silent");

const PASSWORD = "correct horse battery staple";
const sdkVersion = createRequire(import.meta.url)("matrix-js-sdk/package.json").version;

let checks = 0;
function ok(what) {
    checks += 1;
    console.log(`ok ${checks} - ${what}`);
}

/** Awaits `promise`, which must reject with a MatrixError `errcode` / `status`. */
async function refused(promise, errcode, status, what) {
    await assert.rejects(
        promise,
        (err) => {
            assert.ok(err instanceof sdk.MatrixError, `${what}: not a MatrixError: ${err}`);
            assert.equal(err.errcode, errcode, `${what}: ${err.message}`);
            assert.equal(err.httpStatus, status, `${what}: ${err.message}`);
            return true;
        },
        what,
    );
    ok(`refused with ${status} ${errcode}: ${what}`);
}

/**
 * Registers `username` through the SDK's user-interactive auth driver,
 * which answers the server's 401 (flows + session) with the m.login.dummy
 * stage on its own.
 */
async function register(username) {
    const anonymous = sdk.createClient({ baseUrl });
    const submitted = [];
    const uia = new sdk.InteractiveAuth({
        matrixClient: anonymous,
        supportedStages: [sdk.AuthType.Dummy],
        doRequest: (auth) => {
            submitted.push(auth);
            return anonymous.registerRequest({
                username,
                password: PASSWORD,
                auth: auth ?? undefined,
                initial_device_display_name: "js-sdk registration",
            });
        },
        stateUpdated: (stage, status) => {
            throw new Error(`registration asked for stage ${stage}: ${JSON.stringify(status)}`);
        },
        requestEmailToken: () => Promise.reject(new Error("no e-mail stage expected")),
    });
    const registered = await uia.attemptAuth();
    assert.equal(submitted.length, 2, "one request without auth, one with the dummy stage");
    assert.equal(submitted[0], null);
    assert.equal(submitted[1].type, "m.login.dummy");
    assert.ok(submitted[1].session, "the dummy stage carries the server's session");
    assert.match(registered.user_id, new RegExp(`^@${username}:`));
    assert.ok(registered.access_token && registered.device_id, "registration logged in");
    ok(`register ${registered.user_id}: 401 with flows, then m.login.dummy with the session`);
    return registered;
}

/** Logs `username` in with their password; returns a client with the new token. */
async function login(username) {
    const anonymous = sdk.createClient({ baseUrl });
    const flows = await anonymous.loginFlows();
    assert.ok(
        flows.flows.some((flow) => flow.type === "m.login.password"),
        `password login offered: ${JSON.stringify(flows)}`,
    );
    const response = await anonymous.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: username },
        password: PASSWORD,
        initial_device_display_name: "js-sdk",
    });
    const client = sdk.createClient({
        baseUrl,
        accessToken: response.access_token,
        userId: response.user_id,
        deviceId: response.device_id,
    });
    const whoami = await client.whoami();
    assert.equal(whoami.user_id, response.user_id);
    assert.equal(whoami.device_id, response.device_id);
    ok(`login ${username} with password; whoami says ${whoami.user_id} on device ${whoami.device_id}`);
    return client;
}

/** Pages through /messages with `limit` per page; returns events and page count. */
async function paginate(client, roomId, dir, limit) {
    const events = [];
    let from = null;
    let pages = 0;
    for (;;) {
        const page = await client.createMessagesRequest(roomId, from, limit, dir);
        pages += 1;
        assert.ok(page.chunk.length <= limit, `page ${pages} holds at most ${limit} events`);
        if (from !== null) assert.equal(page.start, from, "a page starts where it was asked to");
        events.push(...page.chunk);
        if (page.end === undefined) break;
        assert.notEqual(page.end, from, "pagination moves on");
        from = page.end;
        assert.ok(pages < 100, "pagination ends");
    }
    return { events, pages };
}

async function main() {
    console.log(`matrix-js-sdk ${sdkVersion} on Node ${process.version} against ${baseUrl}`);

    // What the server announces. Not asserted: Hanse lists a spec version
    // only once it serves all of it, and the SDK's own discovery refuses a
    // server that lists none of the versions it knows.
    const versions = await sdk.createClient({ baseUrl }).getVersions();
    assert.ok(Array.isArray(versions.versions), "/versions has a versions array");
    ok(`GET /versions answers: versions ${JSON.stringify(versions.versions)}`);
    const discovery = await sdk.AutoDiscovery.fromDiscoveryConfig({
        "m.homeserver": { base_url: baseUrl },
    });
    const homeserver = discovery["m.homeserver"];
    console.log(
        `note: the SDK's AutoDiscovery of this server: ${homeserver.state}` +
            (homeserver.error ? ` (${homeserver.error})` : ""),
    );

    // Accounts: UIA registration, password login, whoami.
    const registered = {};
    for (const name of ["alice", "bob", "carol"]) registered[name] = await register(name);
    await refused(
        sdk.createClient({ baseUrl }).loginRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: "alice" },
            password: "not the password",
        }),
        "M_FORBIDDEN",
        403,
        "login with a wrong password",
    );
    const alice = await login("alice");
    const bob = await login("bob");
    const carol = await login("carol");
    const aliceId = alice.getUserId();
    const bobId = bob.getUserId();
    assert.equal(aliceId, registered.alice.user_id);
    assert.equal(bobId, registered.bob.user_id);

    // A private room; bob is invited and joins.
    const { room_id: roomId } = await alice.createRoom({
        preset: sdk.Preset.PrivateChat,
        visibility: sdk.Visibility.Private,
        name: "Kontor",
        topic: "js-sdk interop",
    });
    assert.match(roomId, /^!/);
    const name = await alice.getStateEvent(roomId, "m.room.name", "");
    assert.equal(name.name, "Kontor");
    const joinRules = await alice.getStateEvent(roomId, "m.room.join_rules", "");
    assert.equal(joinRules.join_rule, "invite");
    ok(`createRoom (private_chat) ${roomId}: name set, join rule invite`);

    await refused(carol.joinRoom(roomId), "M_FORBIDDEN", 403, "an uninvited user joins a private room");

    await alice.invite(roomId, bobId);
    const invite = await alice.getStateEvent(roomId, "m.room.member", bobId);
    assert.equal(invite.membership, "invite");
    ok(`alice invites bob: his membership is invite`);

    const joined = await bob.joinRoom(roomId);
    assert.equal(joined.roomId, roomId);
    const { joined_rooms: bobRooms } = await bob.getJoinedRooms();
    assert.deepEqual(bobRooms, [roomId]);
    const { joined: members } = await alice.getJoinedRoomMembers(roomId);
    assert.deepEqual(Object.keys(members).sort(), [aliceId, bobId].sort());
    const { chunk: memberEvents } = await bob.members(roomId);
    assert.deepEqual(
        memberEvents.map((event) => [event.state_key, event.content.membership]).sort(),
        [
            [aliceId, "join"],
            [bobId, "join"],
        ].sort(),
    );
    ok("bob joins: joined_rooms, joined_members and members agree");

    // Both send, taking turns, so the order of the room is known.
    const sent = [];
    for (let i = 1; i <= 11; i += 1) {
        const [client, who] = i % 2 === 1 ? [alice, "alice"] : [bob, "bob"];
        const body = `message ${i} from ${who}`;
        const { event_id: eventId } = await client.sendMessage(roomId, {
            msgtype: sdk.MsgType.Text,
            body,
        });
        assert.match(eventId, /^\$/);
        sent.push({ eventId, body, sender: client.getUserId() });
    }
    assert.equal(new Set(sent.map((message) => message.eventId)).size, sent.length);
    ok(`alice and bob send ${sent.length} messages in turns; ${sent.length} distinct event IDs`);

    // The same transaction ID again: the same event, not a second one.
    const txnId = alice.makeTxnId();
    const first = await alice.sendTextMessage(roomId, "once only", txnId);
    const again = await alice.sendTextMessage(roomId, "once only", txnId);
    assert.equal(again.event_id, first.event_id);
    sent.push({ eventId: first.event_id, body: "once only", sender: aliceId });
    ok("a repeated transaction ID returns the first event ID");

    // Backwards in pages of 3, from the newest event to the room's creation.
    const backward = await paginate(bob, roomId, sdk.Direction.Backward, 3);
    const backIds = backward.events.map((event) => event.event_id);
    assert.equal(new Set(backIds).size, backIds.length, "no event on two pages");
    assert.ok(backward.pages >= 5, `several pages (${backward.pages})`);
    const oldest = backward.events[backward.events.length - 1];
    assert.equal(oldest.type, "m.room.create", "the last page ends at the room's creation");
    const messagesNewestFirst = backward.events.filter((event) => event.type === "m.room.message");
    assert.deepEqual(
        messagesNewestFirst.map((event) => [event.event_id, event.content.body, event.sender]),
        sent.map((message) => [message.eventId, message.body, message.sender]).reverse(),
        "every message once, newest first",
    );
    for (const event of backward.events) {
        assert.equal(event.room_id, roomId);
        assert.equal(typeof event.origin_server_ts, "number");
    }
    for (let i = 1; i < backward.events.length; i += 1) {
        assert.ok(
            backward.events[i - 1].origin_server_ts >= backward.events[i].origin_server_ts,
            "timestamps do not increase going backwards",
        );
    }
    ok(
        `/messages dir=b limit=3: ${backward.events.length} events on ${backward.pages} pages, ` +
            "no duplicates, newest first, ending at m.room.create",
    );

    // Forwards in pages of 4 from the room's start: the same events, oldest first.
    const forward = await paginate(bob, roomId, sdk.Direction.Forward, 4);
    assert.deepEqual(
        forward.events.map((event) => event.event_id),
        [...backIds].reverse(),
        "forward pagination is the backward one reversed",
    );
    ok(`/messages dir=f limit=4: the same ${forward.events.length} events oldest first on ${forward.pages} pages`);

    // Refusals: outsiders and the unprivileged change nothing.
    await refused(
        carol.sendMessage(roomId, { msgtype: sdk.MsgType.Text, body: "let me in" }),
        "M_FORBIDDEN",
        403,
        "a user not in the room sends",
    );
    await refused(
        carol.createMessagesRequest(roomId, null, 10, sdk.Direction.Backward),
        "M_FORBIDDEN",
        403,
        "a user not in the room reads /messages",
    );
    // The spec answers 404 both for an unknown event and for one the user
    // may not see, so the two are indistinguishable.
    await refused(
        carol.fetchRoomEvent(roomId, sent[0].eventId),
        "M_NOT_FOUND",
        404,
        "a user not in the room fetches an event",
    );
    await refused(
        bob.redactEvent(roomId, sent[0].eventId, undefined, { reason: "not mine" }),
        "M_FORBIDDEN",
        403,
        "bob (power 0) redacts alice's message",
    );
    await refused(
        bob.fetchRoomEvent(roomId, "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        "M_NOT_FOUND",
        404,
        "fetching an event that does not exist",
    );
    const newest = await bob.createMessagesRequest(roomId, null, 1, sdk.Direction.Backward);
    assert.equal(newest.chunk[0].event_id, sent[sent.length - 1].eventId, "refusals stored no event");
    ok("after the refusals the newest event is still the last message sent");

    // Alice (room creator, power 100) redacts one of bob's messages.
    const target = sent.find((message) => message.sender === bobId);
    const before = await bob.fetchRoomEvent(roomId, target.eventId);
    assert.equal(before.content.body, target.body);
    const { event_id: redactionId } = await alice.redactEvent(roomId, target.eventId, undefined, {
        reason: "moderation",
    });
    assert.match(redactionId, /^\$/);
    const redacted = await bob.fetchRoomEvent(roomId, target.eventId);
    assert.equal(redacted.event_id, target.eventId);
    assert.equal(redacted.type, "m.room.message");
    assert.equal(redacted.sender, bobId);
    assert.deepEqual(redacted.content, {}, "a redacted message keeps no content");
    const because = redacted.unsigned?.redacted_because;
    assert.ok(because, `unsigned.redacted_because is set: ${JSON.stringify(redacted)}`);
    assert.equal(because.event_id, redactionId);
    assert.equal(because.type, "m.room.redaction");
    assert.equal(because.sender, aliceId);
    assert.equal(because.content.reason, "moderation");
    // Room versions up to 10 carry `redacts` at the top level, 11 and later
    // in the content; over the client API servers should serve both
    // (room version 11, "Moving the redacts property").
    assert.equal(because.redacts, target.eventId);
    assert.equal(because.content.redacts, target.eventId);
    const model = new sdk.MatrixEvent(redacted);
    assert.ok(model.isRedacted(), "the SDK's event model sees the redaction");
    assert.deepEqual(model.getContent(), {});
    ok(`redact ${target.eventId}: fetched again it has empty content and unsigned.redacted_because`);

    const after = await paginate(alice, roomId, sdk.Direction.Backward, 5);
    const listed = after.events.find((event) => event.event_id === target.eventId);
    assert.deepEqual(listed.content, {}, "/messages shows the redacted content too");
    assert.equal(listed.unsigned?.redacted_because?.event_id, redactionId);
    assert.equal(after.events[0].event_id, redactionId, "the redaction is the newest event");
    assert.equal(after.events[0].type, "m.room.redaction");
    const untouched = after.events.filter(
        (event) => event.type === "m.room.message" && event.event_id !== target.eventId,
    );
    assert.equal(untouched.length, sent.length - 1);
    assert.ok(untouched.every((event) => typeof event.content.body === "string"));
    ok("/messages lists the redacted message with empty content and the redaction as newest");

    // Logging out ends the session.
    await carol.logout();
    await refused(carol.whoami(), "M_UNKNOWN_TOKEN", 401, "whoami after logout");

    console.log(`all ${checks} checks passed`);
}

main().then(
    () => process.exit(0),
    (err) => {
        console.error("FAILED:", err);
        if (err?.data) console.error("server said:", JSON.stringify(err.data));
        process.exit(1);
    },
);
