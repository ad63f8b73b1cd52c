// matrix-js-sdk drives a Hanse server through the client-server API:
// registration (user-interactive auth), login, rooms, membership, sending,
// paginating /messages, redaction, and refusals through the client's
// direct request methods; then two clients run the SDK's own /sync loop
// (startClient) and see each other's messages, typing notifications,
// read receipts and the server's unread counts arrive, page back from the
// sync's prev_batch and lazy-load members.
//
// Usage: node script.mjs <client_url>   (e.g. http://127.0.0.1:8008)
// Exits 0 when every check passed; prints each check as it passes.
// JS_SDK_LOG=debug (or info, warn, ...) shows the SDK's own log.

import assert from "node:assert/strict";

import * as sdk from "matrix-js-sdk";

import {
    baseUrlFromArgs,
    login as loginAt,
    ok,
    passed,
    refused,
    register as registerAt,
    run,
    sdkVersion,
    sleep,
    startSyncing,
    until,
    waitFor,
} from "./common.mjs";

const baseUrl = baseUrlFromArgs("node script.mjs <client_url>");
const register = (username) => registerAt(baseUrl, username);
const login = (username) => loginAt(baseUrl, username);

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

/**
 * alice and bob run the SDK's /sync loop (startClient) and see each
 * other's messages, typing and read receipts arrive through it.
 * `eventIds` are the room's events newest first before the redaction
 * `redactionId` of `redactedId`.
 */
async function syncing({ alice, bob, roomId, redactionId, redactedId, eventIds }) {
    const aliceId = alice.getUserId();
    const bobId = bob.getUserId();
    // bob lazy-loads members: his filter asks for lazy_load_members and
    // the SDK fetches the member list itself when it needs it.
    const initialSyncLimit = 5;
    await Promise.all([
        startSyncing(alice, { initialSyncLimit }),
        startSyncing(bob, { initialSyncLimit, lazyLoadMembers: true }),
    ]);
    ok(
        `alice and bob startClient({initialSyncLimit: ${initialSyncLimit}}), bob lazy-loading members: ` +
            "both reach sync state PREPARED",
    );

    // What the initial sync told each of them about the room.
    for (const client of [alice, bob]) {
        const who = client.getUserId();
        const room = client.getRoom(roomId);
        assert.ok(room, `${who}'s client knows the room after the initial sync`);
        assert.equal(room.getMyMembership(), sdk.KnownMembership.Join, who);
        assert.equal(room.name, "Kontor", `${who}: the room's name from its state`);
        assert.equal(room.currentState.getStateEvents("m.room.topic", "")?.getContent().topic, "js-sdk interop");
        assert.deepEqual(
            room.getJoinedMembers().map((member) => member.userId).sort(),
            [aliceId, bobId].sort(),
            `${who}: the joined members`,
        );
        const timeline = room.getLiveTimeline().getEvents();
        assert.ok(
            timeline.length > 0 && timeline.length <= initialSyncLimit,
            `${who}: the initial timeline holds 1 to ${initialSyncLimit} events, not ${timeline.length}`,
        );
        assert.deepEqual(
            timeline.map((event) => event.getId()),
            [redactionId, ...eventIds].slice(0, timeline.length).reverse(),
            `${who}: the initial timeline is the room's newest events, oldest first`,
        );
        assert.ok(
            room.getLiveTimeline().getPaginationToken(sdk.EventTimeline.BACKWARDS),
            `${who}: a limited timeline has a token to paginate back from (prev_batch)`,
        );
    }
    ok(
        `the initial sync shows both the room (name, topic, two joined members) and its newest ` +
            `${alice.getRoom(roomId).getLiveTimeline().getEvents().length} events with a prev_batch`,
    );

    // The counts from the room summary, which lazy-loading clients rely on;
    // then the whole member list, which the SDK asks for as of its sync
    // token (GET /members?at=<next_batch>).
    const bobRoom = bob.getRoom(roomId);
    assert.equal(bobRoom.getJoinedMemberCount(), 2, "summary: m.joined_member_count");
    assert.equal(bobRoom.getInvitedMemberCount(), 0, "summary: m.invited_member_count");
    assert.equal(await bobRoom.loadMembersIfNeeded(), true, "members loaded from the server");
    assert.ok(bobRoom.membersLoaded());
    assert.deepEqual(
        bobRoom.getJoinedMembers().map((member) => member.userId).sort(),
        [aliceId, bobId].sort(),
    );
    ok("bob's room summary counts 2 joined, 0 invited; his lazy member list loads (/members?at=<sync token>)");

    // bob pages back from prev_batch to the room's creation.
    const bobTimeline = bobRoom.getLiveTimeline();
    let more = true;
    for (let pages = 0; more; pages += 1) {
        assert.ok(pages < 50, "back-pagination ends");
        more = await bob.paginateEventTimeline(bobTimeline, { backwards: true, limit: 4 });
    }
    const everything = bobTimeline.getEvents();
    assert.deepEqual(
        everything.map((event) => event.getId()),
        [redactionId, ...eventIds].reverse(),
        "the whole room, once each, oldest first",
    );
    assert.equal(everything[0].getType(), "m.room.create");
    assert.ok(bobRoom.findEventById(redactedId).isRedacted(), "the redacted message is redacted");
    ok(`bob paginates back from the sync's prev_batch to m.room.create: all ${everything.length} events, once each`);

    // Messages, each way: the listener is set before sending, as the
    // other's sync may deliver before the send returns. alice's comes
    // last: bob's read receipt for it below is then his newest (the SDK
    // counts a sender as having read their own message).
    const messages = {};
    for (const [from, to, body] of [
        [bob, alice, "bob, live"],
        [alice, bob, "alice, live"],
    ]) {
        const arrived = waitFor(
            to,
            sdk.RoomEvent.Timeline,
            (event, room, toStartOfTimeline, _removed, data) =>
                room?.roomId === roomId &&
                !toStartOfTimeline &&
                data?.liveEvent &&
                event.getType() === "m.room.message" &&
                event.getContent().body === body,
            `${to.getUserId()} to receive "${body}"`,
        );
        const { event_id: eventId } = await from.sendMessage(roomId, { msgtype: sdk.MsgType.Text, body });
        const [event] = await arrived;
        assert.equal(event.getId(), eventId);
        assert.equal(event.getSender(), from.getUserId());
        assert.equal(event.getRoomId(), roomId);
        const last = to.getRoom(roomId).getLiveTimeline().getEvents().at(-1);
        assert.equal(last.getId(), eventId, "the new message ends the receiver's live timeline");
        messages[from.getUserId()] = event;
        ok(`${from.getUserId()} sends; ${to.getUserId()}'s client gets it as a live Room.timeline event`);
    }

    // The server counts alice's messages as unread for bob (his push rules
    // notify on every message in a one-to-one room).
    const unreadForBob = () => bobRoom.getUnreadNotificationCount(sdk.NotificationCountType.Total);
    await until(() => unreadForBob() > 0, "bob's unread count to rise above 0");
    ok(`bob's client shows ${unreadForBob()} unread notifications from the server's count`);

    // Typing: alice starts, then stops; bob's room member for her follows.
    for (const typing of [true, false]) {
        const seen = waitFor(
            bob,
            sdk.RoomMemberEvent.Typing,
            (_event, member) => member.roomId === roomId && member.userId === aliceId && member.typing === typing,
            `bob to see alice's typing turn ${typing}`,
        );
        await alice.sendTyping(roomId, typing, 30_000);
        await seen;
        assert.equal(bob.getRoom(roomId).getMember(aliceId).typing, typing);
        ok(`alice sendTyping(${typing}); bob's client sees RoomMember.typing ${typing} for her`);
    }

    // bob reads alice's message; alice's client learns it from the server.
    const read = messages[aliceId];
    const receipt = waitFor(
        alice,
        sdk.RoomEvent.Receipt,
        (_event, room) =>
            room.roomId === roomId && room.getReadReceiptForUserId(bobId, true)?.eventId === read.getId(),
        `alice to see bob's read receipt for ${read.getId()}`,
    );
    await bob.sendReadReceipt(bob.getRoom(roomId).findEventById(read.getId()));
    await receipt;
    const aliceRoom = alice.getRoom(roomId);
    assert.ok(aliceRoom.getUsersReadUpTo(read).includes(bobId), "getUsersReadUpTo lists bob");
    const bobsReceipt = aliceRoom.getReceiptsForEvent(read).find((r) => r.userId === bobId);
    assert.equal(bobsReceipt?.type, sdk.ReceiptType.Read);
    assert.equal(typeof bobsReceipt.data.ts, "number", "the receipt carries a timestamp");
    assert.equal(bobsReceipt.data.thread_id, undefined, "an unthreaded receipt has no thread_id");
    ok(`bob sendReadReceipt for alice's message; alice's client gets his m.read receipt (Room.receipt)`);
    await until(() => unreadForBob() === 0, "bob's unread count to fall to 0 after his receipt");
    ok("having read up to alice's latest message, bob's unread count is 0");

    // Nothing more happens: both long-polls wait, neither client loops.
    await sleep(500);
    let responses = 0;
    const count = () => (responses += 1);
    alice.on(sdk.ClientEvent.Sync, count);
    bob.on(sdk.ClientEvent.Sync, count);
    await sleep(2000);
    alice.off(sdk.ClientEvent.Sync, count);
    bob.off(sdk.ClientEvent.Sync, count);
    assert.ok(responses <= 2, `${responses} sync responses in 2 s with nothing happening`);
    ok(`quiet for 2 s: ${responses} sync responses to the two clients, their long-polls wait`);

    alice.stopClient();
    bob.stopClient();
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

    await syncing({ alice, bob, roomId, redactionId, redactedId: target.eventId, eventIds: backIds });

    // Logging out ends the session.
    await carol.logout();
    await refused(carol.whoami(), "M_UNKNOWN_TOKEN", 401, "whoami after logout");

    console.log(`all ${passed()} checks passed`);
}

run(main);
