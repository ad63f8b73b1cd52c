//! Rooms over HTTP against a real server and database: creation in each
//! creatable version, sending, state, membership, redaction, reading with
//! history visibility, and the refusals that must change nothing.

use hanse_core::rate_limits::{Rate, RateSettings};
use hanse_sdk::{Client, Method};
use hanse_server::testing::{TestOptions, TestServer};
use serde_json::{json, Value};

mod common;

use common::{create_room, outcome, send_text, user};

const V3: &str = "/_matrix/client/v3";
/// A well-formed event ID no event has.
const UNKNOWN_EVENT: &str = "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// `#` starts a URL fragment; everything else in Matrix IDs may stand in a
/// path as is.
fn escape(id: &str) -> String {
    id.replace('#', "%23")
}

/// Bodies of the m.room.message events of a /messages page, oldest first.
async fn message_bodies(client: &Client, room: &str) -> Vec<String> {
    let page: Value = client
        .get(&format!("{V3}/rooms/{room}/messages?dir=f&limit=100"))
        .await
        .expect("messages");
    page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter(|event| event["type"] == "m.room.message")
        .filter_map(|event| event["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

/// Row counts of the tables a refused request must not touch.
async fn footprint(server: &TestServer) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "rooms",
        "events",
        "state_nodes",
        "memberships",
        "room_aliases",
    ] {
        counts
            .push(server.query(&format!("SELECT count(*) FROM {table}")).await[0].get::<_, i64>(0));
    }
    counts
}

#[tokio::test]
async fn rooms_are_created_in_versions_10_11_and_12() {
    let server = TestServer::start().await;
    let (alice, login) = user(&server, "alice").await;
    for version in ["10", "11", "12"] {
        let room = create_room(
            &alice,
            json!({ "room_version": version, "name": "Hanse", "topic": "trade" }),
        )
        .await;
        let create: Value = alice
            .get(&format!("{V3}/rooms/{room}/state/m.room.create/"))
            .await
            .expect("create content");
        assert_eq!(create["room_version"], version);
        let power: Value = alice
            .get(&format!("{V3}/rooms/{room}/state/m.room.power_levels"))
            .await
            .expect("power levels");
        if version == "12" {
            // Version 12: the room ID is the create event's hash, and
            // creators are not listed (they outrank everyone).
            assert!(!room.contains(':'), "{room}");
            assert!(power["users"].get(&login.user_id).is_none());
            assert_eq!(power["events"]["m.room.tombstone"], 150);
        } else {
            assert!(room.ends_with(&format!(":{}", server.homeserver.identity.server_name)));
            assert_eq!(power["users"][&login.user_id], 100);
            assert_eq!(create.get("creator").is_some(), version == "10");
        }
        let name: Value = alice
            .get(&format!("{V3}/rooms/{room}/state/m.room.name/"))
            .await
            .expect("name");
        assert_eq!(name, json!({ "name": "Hanse" }));
        let state: Vec<Value> = alice
            .get(&format!("{V3}/rooms/{room}/state"))
            .await
            .expect("state");
        let types: Vec<&str> = state.iter().filter_map(|e| e["type"].as_str()).collect();
        for wanted in [
            "m.room.create",
            "m.room.member",
            "m.room.power_levels",
            "m.room.join_rules",
            "m.room.history_visibility",
            "m.room.guest_access",
            "m.room.name",
            "m.room.topic",
        ] {
            assert!(types.contains(&wanted), "{wanted} missing in {types:?}");
        }
    }
    let joined: Value = alice
        .get(&format!("{V3}/joined_rooms"))
        .await
        .expect("joined rooms");
    assert_eq!(joined["joined_rooms"].as_array().expect("list").len(), 3);

    let before = footprint(&server).await;
    for (body, status, errcode) in [
        (
            json!({ "room_version": "1" }),
            400,
            "M_UNSUPPORTED_ROOM_VERSION",
        ),
        (
            json!({ "room_version": "999" }),
            400,
            "M_UNSUPPORTED_ROOM_VERSION",
        ),
        (json!({ "preset": "everyone" }), 400, "M_BAD_JSON"),
        (json!({ "invite": ["not-a-user"] }), 400, "M_INVALID_PARAM"),
        (
            json!({ "invite": [format!("@nobody:{}", server.homeserver.identity.server_name)] }),
            404,
            "M_NOT_FOUND",
        ),
        (
            json!({ "creation_content": { "x": 1.5 } }),
            400,
            "M_BAD_JSON",
        ),
        (
            json!({ "initial_state": [{ "type": "m.room.member", "state_key": "@x:y", "content": {} }] }),
            400,
            "M_INVALID_PARAM",
        ),
        // Content the room's rules refuse: rolled back with everything else.
        (
            json!({ "power_level_content_override": { "users": { "not a user": 100 } } }),
            403,
            "M_FORBIDDEN",
        ),
    ] {
        assert_eq!(
            outcome(
                &alice,
                Method::POST,
                &format!("{V3}/createRoom"),
                body.clone()
            )
            .await,
            (status, errcode.to_owned()),
            "{body}"
        );
    }
    assert_eq!(footprint(&server).await, before, "refusals stored nothing");
    server.stop().await;
}

#[tokio::test]
async fn members_send_read_and_paginate() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let room = create_room(
        &alice,
        json!({ "preset": "public_chat", "room_alias_name": "kontor" }),
    )
    .await;

    // Not yet joined: bob may not send.
    let before = footprint(&server).await;
    assert_eq!(
        outcome(
            &bob,
            Method::PUT,
            &format!("{V3}/rooms/{room}/send/m.room.message/t0"),
            json!({ "msgtype": "m.text", "body": "let me in" }),
        )
        .await,
        (403, "M_FORBIDDEN".to_owned())
    );
    assert_eq!(footprint(&server).await, before);

    // A token from before bob joins, for /members?at.
    let before_join: Value = alice
        .get(&format!("{V3}/rooms/{room}/messages?dir=b&limit=1"))
        .await
        .expect("messages");
    let before_join = before_join["start"].as_str().expect("start").to_owned();

    // Join by alias.
    let alias = format!("#kontor:{}", server.homeserver.identity.server_name);
    let joined: Value = bob
        .post(&format!("{V3}/join/{}", escape(&alias)), &json!({}))
        .await
        .expect("join by alias");
    assert_eq!(joined["room_id"], room.as_str());

    let mut sent = Vec::new();
    for i in 0..25 {
        let sender = if i % 2 == 0 { &alice } else { &bob };
        sent.push(send_text(sender, &room, &format!("t{i}"), &format!("message {i}")).await);
    }
    // The same transaction ID returns the same event and sends nothing.
    let again = send_text(&bob, &room, "t1", "message 1").await;
    assert_eq!(again, sent[1]);
    let bodies = message_bodies(&alice, &room).await;
    assert_eq!(bodies.len(), 25);
    assert_eq!(bodies[0], "message 0");

    // Backwards in pages of 10 from the newest, then forwards again.
    let mut from: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let mut path = format!("{V3}/rooms/{room}/messages?dir=b&limit=10");
        if let Some(from) = &from {
            path.push_str(&format!("&from={from}"));
        }
        let page: Value = bob.get(&path).await.expect("page");
        for event in page["chunk"].as_array().expect("chunk") {
            seen.push(event["event_id"].as_str().expect("id").to_owned());
        }
        match page["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
    }
    let mut newest_first = sent.clone();
    newest_first.reverse();
    assert_eq!(
        seen[..25],
        newest_first[..],
        "newest messages first, none twice"
    );
    assert!(seen.len() > 25, "older state events follow the messages");

    let filtered: Value = bob
        .get(&format!(
            "{V3}/rooms/{room}/messages?dir=b&limit=100&filter={}",
            urlencode(&json!({ "senders": [bob_login.user_id] }).to_string())
        ))
        .await
        .expect("filtered page");
    let senders: Vec<&str> = filtered["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|event| event["sender"].as_str())
        .collect();
    assert!(!senders.is_empty());
    assert!(senders.iter().all(|s| *s == bob_login.user_id));

    let event: Value = bob
        .get(&format!("{V3}/rooms/{room}/event/{}", sent[0]))
        .await
        .expect("event");
    assert_eq!(event["content"]["body"], "message 0");
    assert_eq!(event["room_id"], room.as_str());
    assert!(
        event["unsigned"].get("transaction_id").is_none(),
        "bob did not send it"
    );
    let own: Value = alice
        .get(&format!("{V3}/rooms/{room}/event/{}", sent[0]))
        .await
        .expect("own event");
    assert_eq!(
        own["unsigned"]["transaction_id"], "t0",
        "the sending device sees its txn ID"
    );

    let members: Value = alice
        .get(&format!("{V3}/rooms/{room}/joined_members"))
        .await
        .expect("joined members");
    assert_eq!(members["joined"].as_object().expect("map").len(), 2);
    let members: Value = alice
        .get(&format!("{V3}/rooms/{room}/members?membership=join"))
        .await
        .expect("members");
    assert_eq!(members["chunk"].as_array().expect("chunk").len(), 2);
    let earlier: Value = alice
        .get(&format!(
            "{V3}/rooms/{room}/members?membership=join&at={before_join}"
        ))
        .await
        .expect("members then");
    assert_eq!(earlier["chunk"].as_array().expect("chunk").len(), 1);

    // Bad input: nothing stored, Matrix errors.
    let before = footprint(&server).await;
    for (method, path, body, status, errcode) in [
        (
            Method::PUT,
            format!("{V3}/rooms/{room}/send/m.room.message/f1"),
            json!({ "body": 1.5 }),
            400,
            "M_BAD_JSON",
        ),
        (
            Method::PUT,
            format!("{V3}/rooms/{room}/send/m.room.message/f2"),
            json!(["not", "an", "object"]),
            400,
            "M_BAD_JSON",
        ),
        (
            Method::PUT,
            format!("{V3}/rooms/!unknown:localhost/send/m.room.message/f3"),
            json!({}),
            404,
            "M_NOT_FOUND",
        ),
        (
            Method::PUT,
            format!("{V3}/rooms/not-a-room/send/m.room.message/f4"),
            json!({}),
            400,
            "M_INVALID_PARAM",
        ),
        (
            Method::GET,
            format!("{V3}/rooms/{room}/messages?dir=sideways"),
            Value::Null,
            400,
            "M_INVALID_PARAM",
        ),
        (
            Method::GET,
            format!("{V3}/rooms/{room}/messages?dir=b&from=nonsense"),
            Value::Null,
            400,
            "M_INVALID_PARAM",
        ),
        (
            Method::GET,
            format!("{V3}/rooms/{room}/event/{UNKNOWN_EVENT}"),
            Value::Null,
            404,
            "M_NOT_FOUND",
        ),
        (
            Method::PUT,
            format!("{V3}/rooms/{room}/send/m.room.message/f5"),
            json!({ "body": "x".repeat(70_000) }),
            413,
            "M_TOO_LARGE",
        ),
    ] {
        assert_eq!(
            outcome(&bob, method.clone(), &path, body).await,
            (status, errcode.to_owned()),
            "{method} {path}"
        );
    }
    let raw = reqwest::Client::new()
        .put(format!(
            "{}{V3}/rooms/{room}/send/m.room.message/f6",
            server.client_url
        ))
        .bearer_auth(&bob_login.access_token)
        .body("{\"body\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(raw.status(), 400);
    assert_eq!(
        raw.json::<Value>().await.expect("json")["errcode"],
        "M_NOT_JSON"
    );
    assert_eq!(footprint(&server).await, before);
    server.stop().await;
}

/// Percent-encodes a query parameter value.
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn power_and_membership_rules_are_enforced() {
    let server = TestServer::start().await;
    let (alice, alice_login) = user(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let (carol, carol_login) = user(&server, "carol").await;
    let room = create_room(&alice, json!({ "preset": "private_chat" })).await;

    // Invite-only: carol cannot join uninvited.
    let before = footprint(&server).await;
    assert_eq!(
        outcome(
            &carol,
            Method::POST,
            &format!("{V3}/rooms/{room}/join"),
            json!({})
        )
        .await,
        (403, "M_FORBIDDEN".to_owned())
    );
    assert_eq!(footprint(&server).await, before);

    alice
        .post::<Value>(
            &format!("{V3}/rooms/{room}/invite"),
            &json!({ "user_id": bob_login.user_id }),
        )
        .await
        .expect("invite");
    bob.post::<Value>(&format!("{V3}/rooms/{room}/join"), &json!({}))
        .await
        .expect("join after invite");

    // Bob (power 0) may neither change power levels, nor name the room,
    // nor ban, nor redact alice's messages.
    let alice_message = send_text(&alice, &room, "a1", "from alice").await;
    let before = footprint(&server).await;
    for (path, body) in [
        (
            format!("{V3}/rooms/{room}/state/m.room.power_levels/"),
            json!({ "users": { bob_login.user_id.clone(): 100 } }),
        ),
        (
            format!("{V3}/rooms/{room}/state/m.room.name/"),
            json!({ "name": "bob's" }),
        ),
        (
            format!("{V3}/rooms/{room}/redact/{alice_message}/r1"),
            json!({}),
        ),
    ] {
        assert_eq!(
            outcome(&bob, Method::PUT, &path, body).await,
            (403, "M_FORBIDDEN".to_owned()),
            "{path}"
        );
    }
    assert_eq!(
        outcome(
            &bob,
            Method::POST,
            &format!("{V3}/rooms/{room}/ban"),
            json!({ "user_id": alice_login.user_id }),
        )
        .await,
        (403, "M_FORBIDDEN".to_owned())
    );
    assert_eq!(footprint(&server).await, before, "refusals stored nothing");

    // Alice kicks, bans and unbans; the banned cannot rejoin.
    alice
        .post::<Value>(
            &format!("{V3}/rooms/{room}/kick"),
            &json!({ "user_id": bob_login.user_id, "reason": "test" }),
        )
        .await
        .expect("kick");
    alice
        .post::<Value>(
            &format!("{V3}/rooms/{room}/ban"),
            &json!({ "user_id": bob_login.user_id }),
        )
        .await
        .expect("ban");
    assert_eq!(
        outcome(
            &bob,
            Method::POST,
            &format!("{V3}/rooms/{room}/join"),
            json!({})
        )
        .await,
        (403, "M_FORBIDDEN".to_owned())
    );
    alice
        .post::<Value>(
            &format!("{V3}/rooms/{room}/unban"),
            &json!({ "user_id": bob_login.user_id }),
        )
        .await
        .expect("unban");
    let member: Value = alice
        .get(&format!(
            "{V3}/rooms/{room}/state/m.room.member/{}",
            bob_login.user_id
        ))
        .await
        .expect("member");
    assert_eq!(member["membership"], "leave");

    // Leaving, then forgetting; forgetting while joined is refused.
    assert_eq!(
        outcome(
            &alice,
            Method::POST,
            &format!("{V3}/rooms/{room}/forget"),
            json!({})
        )
        .await,
        (400, "M_UNKNOWN".to_owned())
    );
    alice
        .post::<Value>(
            &format!("{V3}/rooms/{room}/invite"),
            &json!({ "user_id": carol_login.user_id }),
        )
        .await
        .expect("invite carol");
    carol
        .post::<Value>(&format!("{V3}/rooms/{room}/leave"), &json!({}))
        .await
        .expect("reject the invite");
    carol
        .post::<Value>(&format!("{V3}/rooms/{room}/forget"), &json!({}))
        .await
        .expect("forget");
    let forgotten = server
        .query("SELECT count(*) FROM memberships WHERE forgotten")
        .await[0]
        .get::<_, i64>(0);
    assert_eq!(forgotten, 1);
    server.stop().await;
}

#[tokio::test]
async fn history_visibility_is_enforced_on_every_read() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    alice
        .put::<Value>(
            &format!("{V3}/rooms/{room}/state/m.room.history_visibility/"),
            &json!({ "history_visibility": "joined" }),
        )
        .await
        .expect("history visibility");
    let secret = send_text(&alice, &room, "s1", "before bob").await;

    // Not joined: no reading at all.
    for path in [
        format!("{V3}/rooms/{room}/messages?dir=b"),
        format!("{V3}/rooms/{room}/state"),
    ] {
        assert_eq!(
            outcome(&bob, Method::GET, &path, Value::Null).await,
            (403, "M_FORBIDDEN".to_owned()),
            "{path}"
        );
    }
    bob.post::<Value>(&format!("{V3}/rooms/{room}/join"), &json!({}))
        .await
        .expect("join");
    send_text(&alice, &room, "s2", "after bob joined").await;
    assert_eq!(message_bodies(&bob, &room).await, ["after bob joined"]);
    assert_eq!(
        outcome(
            &bob,
            Method::GET,
            &format!("{V3}/rooms/{room}/event/{secret}"),
            Value::Null
        )
        .await,
        (404, "M_NOT_FOUND".to_owned())
    );

    // After leaving, bob keeps what he could see, and nothing newer.
    bob.post::<Value>(&format!("{V3}/rooms/{room}/leave"), &json!({}))
        .await
        .expect("leave");
    send_text(&alice, &room, "s3", "after bob left").await;
    assert_eq!(message_bodies(&bob, &room).await, ["after bob joined"]);

    // "shared": a newcomer reads what was sent before they joined.
    let shared = create_room(&alice, json!({ "preset": "public_chat" })).await;
    send_text(&alice, &shared, "h1", "history").await;
    bob.post::<Value>(&format!("{V3}/rooms/{shared}/join"), &json!({}))
        .await
        .expect("join");
    assert_eq!(message_bodies(&bob, &shared).await, ["history"]);
    server.stop().await;
}

#[tokio::test]
async fn redaction_removes_content_from_storage() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let room = create_room(&alice, json!({ "room_version": "11" })).await;
    let secret = "the cargo manifest of the Lübeck cog";
    let event = send_text(&alice, &room, "m1", secret).await;
    let redaction: Value = alice
        .put(
            &format!("{V3}/rooms/{room}/redact/{event}/r1"),
            &json!({ "reason": "mistake" }),
        )
        .await
        .expect("redact");
    let redaction = redaction["event_id"].as_str().expect("event_id");

    let redacted: Value = alice
        .get(&format!("{V3}/rooms/{room}/event/{event}"))
        .await
        .expect("event");
    assert_eq!(redacted["content"], json!({}));
    assert_eq!(
        redacted["unsigned"]["redacted_because"]["event_id"],
        redaction
    );

    let stored = server
        .query("SELECT count(*) FROM events WHERE json LIKE '%Lübeck%'")
        .await[0]
        .get::<_, i64>(0);
    assert_eq!(stored, 0, "the redacted content is gone from the database");
    assert_eq!(
        outcome(
            &alice,
            Method::PUT,
            &format!("{V3}/rooms/{room}/redact/{UNKNOWN_EVENT}/r2"),
            json!({}),
        )
        .await,
        (404, "M_NOT_FOUND".to_owned())
    );
    server.stop().await;
}

#[tokio::test]
async fn aliases_and_the_published_directory() {
    let server = TestServer::start().await;
    let server_name = server.homeserver.identity.server_name.to_string();
    let (alice, _) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let anonymous = Client::new(&server.client_url);
    let public = create_room(
        &alice,
        json!({ "visibility": "public", "name": "Hanse Kontor", "room_alias_name": "kontor" }),
    )
    .await;
    let private = create_room(&alice, json!({ "name": "Hinterzimmer" })).await;

    let listed: Value = anonymous
        .get(&format!("{V3}/publicRooms"))
        .await
        .expect("public rooms");
    assert_eq!(listed["total_room_count_estimate"], 1);
    let entry = &listed["chunk"][0];
    assert_eq!(entry["room_id"], public.as_str());
    assert_eq!(entry["name"], "Hanse Kontor");
    assert_eq!(entry["canonical_alias"], format!("#kontor:{server_name}"));
    assert_eq!(entry["num_joined_members"], 1);
    assert_eq!(entry["join_rule"], "public");

    let searched: Value = bob
        .post(
            &format!("{V3}/publicRooms"),
            &json!({ "filter": { "generic_search_term": "KONTOR" } }),
        )
        .await
        .expect("search");
    assert_eq!(searched["chunk"].as_array().expect("chunk").len(), 1);
    let missed: Value = bob
        .post(
            &format!("{V3}/publicRooms"),
            &json!({ "filter": { "generic_search_term": "nothing like it" } }),
        )
        .await
        .expect("search");
    assert_eq!(missed["chunk"], json!([]));

    // Publishing needs power in the room; bob has none in alice's room.
    let path = format!("{V3}/directory/list/room/{private}");
    assert_eq!(
        outcome(&bob, Method::PUT, &path, json!({ "visibility": "public" })).await,
        (403, "M_FORBIDDEN".to_owned())
    );
    alice
        .put::<Value>(&path, &json!({ "visibility": "public" }))
        .await
        .expect("publish");
    let visibility: Value = anonymous.get(&path).await.expect("visibility");
    assert_eq!(visibility["visibility"], "public");
    let paged: Value = anonymous
        .get(&format!("{V3}/publicRooms?limit=1"))
        .await
        .expect("page");
    assert_eq!(paged["chunk"].as_array().expect("chunk").len(), 1);
    let next = paged["next_batch"].as_str().expect("next batch");
    let second: Value = anonymous
        .get(&format!("{V3}/publicRooms?limit=1&since={next}"))
        .await
        .expect("second page");
    assert_ne!(second["chunk"][0]["room_id"], paged["chunk"][0]["room_id"]);
    assert!(second.get("next_batch").is_none());

    // Aliases: members may add one, the taken one is refused, only the
    // creator or a moderator may remove it.
    let alias = format!("#zimmer:{server_name}");
    let alias_path = format!("{V3}/directory/room/{}", escape(&alias));
    assert_eq!(
        outcome(
            &bob,
            Method::PUT,
            &alias_path,
            json!({ "room_id": private })
        )
        .await,
        (403, "M_FORBIDDEN".to_owned()),
        "bob is not in the room"
    );
    alice
        .put::<Value>(&alias_path, &json!({ "room_id": private }))
        .await
        .expect("alias");
    assert_eq!(
        outcome(
            &alice,
            Method::PUT,
            &alias_path,
            json!({ "room_id": public })
        )
        .await,
        (409, "M_UNKNOWN".to_owned())
    );
    let resolved: Value = anonymous.get(&alias_path).await.expect("resolve");
    assert_eq!(resolved["room_id"], private.as_str());
    let aliases: Value = alice
        .get(&format!("{V3}/rooms/{private}/aliases"))
        .await
        .expect("aliases");
    assert_eq!(aliases["aliases"], json!([alias]));
    // A canonical alias must point to the room.
    assert_eq!(
        outcome(
            &alice,
            Method::PUT,
            &format!("{V3}/rooms/{public}/state/m.room.canonical_alias/"),
            json!({ "alias": alias }),
        )
        .await,
        (400, "M_BAD_ALIAS".to_owned())
    );
    assert_eq!(
        outcome(&bob, Method::DELETE, &alias_path, Value::Null).await,
        (403, "M_FORBIDDEN".to_owned())
    );
    alice
        .send_raw(Method::DELETE, &alias_path, &Value::Null)
        .await
        .expect("delete alias");
    assert_eq!(
        outcome(&anonymous, Method::GET, &alias_path, Value::Null).await,
        (404, "M_NOT_FOUND".to_owned())
    );
    server.stop().await;
}

#[tokio::test]
async fn profile_changes_reach_the_rooms() {
    let server = TestServer::start().await;
    let (alice, login) = user(&server, "alice").await;
    let rooms = [
        create_room(&alice, json!({})).await,
        create_room(&alice, json!({ "room_version": "10" })).await,
    ];
    alice
        .put::<Value>(
            &format!("{V3}/profile/{}/displayname", login.user_id),
            &json!({ "displayname": "Alice of Lübeck" }),
        )
        .await
        .expect("displayname");
    for room in &rooms {
        let member: Value = alice
            .get(&format!(
                "{V3}/rooms/{room}/state/m.room.member/{}",
                login.user_id
            ))
            .await
            .expect("member");
        assert_eq!(member["displayname"], "Alice of Lübeck");
        assert_eq!(member["membership"], "join");
    }
    server.stop().await;
}

#[tokio::test]
async fn reports_are_kept_for_the_operator() {
    let server = TestServer::start().await;
    let (alice, alice_login) = user(&server, "alice").await;
    let (mallory, _) = user(&server, "mallory").await;
    let room = create_room(&alice, json!({})).await;
    let event = send_text(&alice, &room, "m1", "fine words").await;

    alice
        .post::<Value>(
            &format!("{V3}/rooms/{room}/report/{event}"),
            &json!({ "reason": "spam" }),
        )
        .await
        .expect("report event");
    mallory
        .post::<Value>(
            &format!("{V3}/rooms/{room}/report"),
            &json!({ "reason": "bad room" }),
        )
        .await
        .expect("report room from outside");
    mallory
        .post::<Value>(
            &format!("{V3}/users/{}/report", alice_login.user_id),
            &json!({ "reason": "rude" }),
        )
        .await
        .expect("report user");

    let before = server.query("SELECT count(*) FROM reports").await[0].get::<_, i64>(0);
    assert_eq!(before, 3);
    for (path, body, status, errcode) in [
        // Mallory cannot see the event, so cannot report it either.
        (
            format!("{V3}/rooms/{room}/report/{event}"),
            json!({ "reason": "x" }),
            404,
            "M_NOT_FOUND",
        ),
        (
            format!("{V3}/rooms/!nope:localhost/report"),
            json!({ "reason": "x" }),
            404,
            "M_NOT_FOUND",
        ),
        (
            format!("{V3}/rooms/{room}/report"),
            json!({}),
            400,
            "M_BAD_JSON",
        ),
        (
            format!("{V3}/users/@nobody:localhost/report"),
            json!({ "reason": "x" }),
            404,
            "M_NOT_FOUND",
        ),
        (
            format!("{V3}/rooms/{room}/report"),
            json!({ "reason": "x".repeat(5000) }),
            413,
            "M_TOO_LARGE",
        ),
    ] {
        assert_eq!(
            outcome(&mallory, Method::POST, &path, body).await,
            (status, errcode.to_owned()),
            "{path}"
        );
    }
    let after = server.query("SELECT count(*) FROM reports").await[0].get::<_, i64>(0);
    assert_eq!(after, before, "refused reports stored nothing");
    server.stop().await;
}

#[tokio::test]
async fn context_relations_threads_and_time() {
    let server = TestServer::start().await;
    let (alice, alice_login) = user(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..7 {
            ids.push(send_text(&alice, &room, &format!("c{i}"), &format!("line {i}")).await);
        }
        ids
    };

    let context: Value = alice
        .get(&format!("{V3}/rooms/{room}/context/{}?limit=4", ids[3]))
        .await
        .expect("context");
    assert_eq!(context["event"]["event_id"], ids[3].as_str());
    let before: Vec<&str> = context["events_before"]
        .as_array()
        .expect("before")
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    let after: Vec<&str> = context["events_after"]
        .as_array()
        .expect("after")
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(before, [ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(after, [ids[4].as_str(), ids[5].as_str()]);
    assert!(context["state"]
        .as_array()
        .expect("state")
        .iter()
        .any(|e| e["type"] == "m.room.create"));

    // A thread on line 0, a reaction and an edit of a reply in it.
    let root = &ids[0];
    let reply: Value = alice
        .put(
            &format!("{V3}/rooms/{room}/send/m.room.message/th1"),
            &json!({ "msgtype": "m.text", "body": "in thread",
                     "m.relates_to": { "rel_type": "m.thread", "event_id": root } }),
        )
        .await
        .expect("thread reply");
    let reply = reply["event_id"].as_str().expect("id").to_owned();
    alice
        .put::<Value>(
            &format!("{V3}/rooms/{room}/send/m.reaction/re1"),
            &json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": root, "key": "👍" } }),
        )
        .await
        .expect("reaction");
    alice
        .put::<Value>(
            &format!("{V3}/rooms/{room}/send/m.room.message/ed1"),
            &json!({ "msgtype": "m.text", "body": "* in thread!",
                     "m.new_content": { "msgtype": "m.text", "body": "in thread!" },
                     "m.relates_to": { "rel_type": "m.replace", "event_id": reply } }),
        )
        .await
        .expect("edit");

    let v1 = "/_matrix/client/v1";
    let all: Value = alice
        .get(&format!("{v1}/rooms/{room}/relations/{root}"))
        .await
        .expect("relations");
    assert_eq!(all["chunk"].as_array().expect("chunk").len(), 2);
    let threads_only: Value = alice
        .get(&format!("{v1}/rooms/{room}/relations/{root}/m.thread"))
        .await
        .expect("thread relations");
    assert_eq!(threads_only["chunk"][0]["event_id"], reply.as_str());
    let reactions: Value = alice
        .get(&format!(
            "{v1}/rooms/{room}/relations/{root}/m.annotation/m.reaction"
        ))
        .await
        .expect("reactions");
    assert_eq!(reactions["chunk"].as_array().expect("chunk").len(), 1);
    let recursive: Value = alice
        .get(&format!("{v1}/rooms/{room}/relations/{root}?recurse=true"))
        .await
        .expect("recursive");
    assert_eq!(
        recursive["chunk"].as_array().expect("chunk").len(),
        3,
        "the edit of the reply too"
    );
    assert_eq!(recursive["recursion_depth"], 2);
    let paged: Value = alice
        .get(&format!("{v1}/rooms/{room}/relations/{root}?limit=1"))
        .await
        .expect("page");
    assert!(paged["next_batch"].is_string());

    bob.post::<Value>(&format!("{V3}/rooms/{room}/join"), &json!({}))
        .await
        .expect("join");
    let threads: Value = bob
        .get(&format!("{v1}/rooms/{room}/threads"))
        .await
        .expect("threads");
    assert_eq!(threads["chunk"][0]["event_id"], root.as_str());
    let participated: Value = bob
        .get(&format!("{v1}/rooms/{room}/threads?include=participated"))
        .await
        .expect("participated");
    assert_eq!(participated["chunk"], json!([]));

    // Bundled aggregations: the root carries its thread (with the latest
    // reply, itself carrying its edit); a reference and an invalid edit by
    // someone else show up only as they should; annotations are not summed.
    let bundled = &threads["chunk"][0]["unsigned"]["m.relations"];
    assert_eq!(bundled["m.thread"]["count"], 1);
    assert_eq!(
        bundled["m.thread"]["current_user_participated"], false,
        "bob wrote nothing"
    );
    assert_eq!(
        bundled["m.thread"]["latest_event"]["event_id"],
        reply.as_str()
    );
    assert_eq!(
        bundled["m.thread"]["latest_event"]["unsigned"]["m.relations"]["m.replace"]["content"]
            ["m.new_content"]["body"],
        "in thread!"
    );
    assert!(bundled.get("m.annotation").is_none());
    let root_for_alice: Value = alice
        .get(&format!("{V3}/rooms/{room}/event/{root}"))
        .await
        .expect("root");
    assert_eq!(
        root_for_alice["unsigned"]["m.relations"]["m.thread"]["current_user_participated"],
        true
    );
    let reference: Value = bob
        .put(
            &format!("{V3}/rooms/{room}/send/m.room.message/ref1"),
            &json!({ "msgtype": "m.text", "body": "see above",
                     "m.relates_to": { "rel_type": "m.reference", "event_id": ids[1] } }),
        )
        .await
        .expect("reference");
    bob.put::<Value>(
        &format!("{V3}/rooms/{room}/send/m.room.message/ed2"),
        &json!({ "msgtype": "m.text", "body": "* forged",
                 "m.new_content": { "msgtype": "m.text", "body": "forged" },
                 "m.relates_to": { "rel_type": "m.replace", "event_id": ids[1] } }),
    )
    .await
    .expect("an edit of someone else's event is stored, but not valid");
    let page: Value = alice
        .get(&format!("{V3}/rooms/{room}/messages?dir=f&limit=100"))
        .await
        .expect("messages");
    let line1 = page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .find(|event| event["event_id"] == ids[1].as_str())
        .expect("line 1");
    assert_eq!(
        line1["unsigned"]["m.relations"],
        json!({ "m.reference": { "chunk": [{ "event_id": reference["event_id"] }] } })
    );

    // Lazy-loaded members: a page carries its senders' member events only.
    let lazy = urlencode(r#"{"lazy_load_members":true}"#);
    let members_of = |page: &Value| -> Vec<String> {
        page["state"]
            .as_array()
            .map(|state| {
                state
                    .iter()
                    .filter(|e| e["type"] == "m.room.member")
                    .filter_map(|e| e["state_key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let last_two: Value = alice
        .get(&format!(
            "{V3}/rooms/{room}/messages?dir=b&limit=2&filter={lazy}"
        ))
        .await
        .expect("lazy messages");
    assert_eq!(members_of(&last_two), [bob_login.user_id.as_str()]);
    let eager: Value = alice
        .get(&format!("{V3}/rooms/{room}/messages?dir=b&limit=2"))
        .await
        .expect("messages");
    assert!(eager.get("state").is_none());
    let lazy_context: Value = alice
        .get(&format!(
            "{V3}/rooms/{room}/context/{}?limit=2&filter={lazy}",
            ids[3]
        ))
        .await
        .expect("lazy context");
    assert_eq!(members_of(&lazy_context), [alice_login.user_id.as_str()]);
    assert!(lazy_context["state"]
        .as_array()
        .expect("state")
        .iter()
        .any(|e| e["type"] == "m.room.create"));

    let first: Value = alice
        .get(&format!("{V3}/rooms/{room}/event/{}", ids[0]))
        .await
        .expect("event");
    let ts = first["origin_server_ts"].as_i64().expect("ts");
    let found: Value = alice
        .get(&format!(
            "{v1}/rooms/{room}/timestamp_to_event?ts={}&dir=b",
            ts + 1
        ))
        .await
        .expect("by time");
    assert!(found["origin_server_ts"].as_i64().expect("ts") <= ts + 1);
    assert_eq!(
        outcome(
            &alice,
            Method::GET,
            &format!("{v1}/rooms/{room}/timestamp_to_event?ts=1&dir=b"),
            Value::Null
        )
        .await,
        (404, "M_NOT_FOUND".to_owned())
    );
    assert_eq!(
        outcome(
            &alice,
            Method::GET,
            &format!("{v1}/rooms/{room}/timestamp_to_event?ts=x&dir=b"),
            Value::Null
        )
        .await,
        (400, "M_INVALID_PARAM".to_owned())
    );
    assert_eq!(
        outcome(
            &alice,
            Method::GET,
            &format!("{v1}/rooms/{room}/relations/{UNKNOWN_EVENT}"),
            Value::Null
        )
        .await,
        (404, "M_NOT_FOUND".to_owned())
    );
    server.stop().await;
}

#[tokio::test]
async fn user_directory_and_deactivated_members() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let (carol, _) = user(&server, "carol").await;
    let (dave, dave_login) = user(&server, "dave").await;
    bob.put::<Value>(
        &format!("{V3}/profile/{}/displayname", bob_login.user_id),
        &json!({ "displayname": "Bob the Shipwright" }),
    )
    .await
    .expect("displayname");
    // alice and bob share a private room; dave is alone in a public one.
    let private = create_room(&alice, json!({ "invite": [bob_login.user_id] })).await;
    bob.post::<Value>(&format!("{V3}/rooms/{private}/join"), &json!({}))
        .await
        .expect("join");
    create_room(&dave, json!({ "preset": "public_chat" })).await;

    let search = |client: &Client, term: &str| {
        let client = client.clone();
        let term = term.to_owned();
        async move {
            let found: Value = client
                .post(
                    &format!("{V3}/user_directory/search"),
                    &json!({ "search_term": term }),
                )
                .await
                .expect("search");
            found["results"]
                .as_array()
                .expect("results")
                .iter()
                .map(|r| r["user_id"].as_str().expect("user_id").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search(&alice, "shipwright").await,
        [bob_login.user_id.as_str()]
    );
    assert_eq!(
        search(&carol, "shipwright").await,
        Vec::<String>::new(),
        "no shared or public room"
    );
    assert_eq!(
        search(&carol, "dave").await,
        [dave_login.user_id.as_str()],
        "dave is in a public room"
    );
    assert_eq!(
        search(&alice, "%").await,
        Vec::<String>::new(),
        "wildcards are literal"
    );
    assert_eq!(
        outcome(
            &alice,
            Method::POST,
            &format!("{V3}/user_directory/search"),
            json!({})
        )
        .await,
        (400, "M_BAD_JSON".to_owned())
    );

    // A deactivated account leaves its rooms.
    let (status, _) = bob
        .send_raw(
            Method::POST,
            &format!("{V3}/account/deactivate"),
            &json!({ "auth": { "type": "m.login.password", "password": common::PASSWORD,
                               "identifier": { "type": "m.id.user", "user": bob_login.user_id } } }),
        )
        .await
        .expect("deactivate");
    assert_eq!(status, 200);
    let member: Value = alice
        .get(&format!(
            "{V3}/rooms/{private}/state/m.room.member/{}",
            bob_login.user_id
        ))
        .await
        .expect("member");
    assert_eq!(member["membership"], "leave");
    assert_eq!(search(&alice, "shipwright").await, Vec::<String>::new());
    server.stop().await;
}

#[tokio::test]
async fn knocking_and_restricted_joins() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let (carol, _) = user(&server, "carol").await;

    // Knock: bob asks, alice invites him in.
    let knock_room = create_room(
        &alice,
        json!({ "initial_state": [{ "type": "m.room.join_rules", "content": { "join_rule": "knock" } }] }),
    )
    .await;
    assert_eq!(
        outcome(
            &bob,
            Method::POST,
            &format!("{V3}/rooms/{knock_room}/join"),
            json!({})
        )
        .await,
        (403, "M_FORBIDDEN".to_owned())
    );
    let knocked: Value = bob
        .post(
            &format!("{V3}/knock/{knock_room}"),
            &json!({ "reason": "let me in" }),
        )
        .await
        .expect("knock");
    assert_eq!(knocked["room_id"], knock_room.as_str());
    let member: Value = alice
        .get(&format!(
            "{V3}/rooms/{knock_room}/state/m.room.member/{}",
            bob_login.user_id
        ))
        .await
        .expect("member");
    assert_eq!(member["membership"], "knock");
    alice
        .post::<Value>(
            &format!("{V3}/rooms/{knock_room}/invite"),
            &json!({ "user_id": bob_login.user_id }),
        )
        .await
        .expect("invite the knocker");
    bob.post::<Value>(&format!("{V3}/rooms/{knock_room}/join"), &json!({}))
        .await
        .expect("join");

    // Restricted: members of the space room may join, others may not.
    let space = create_room(&alice, json!({ "preset": "public_chat" })).await;
    let restricted = create_room(
        &alice,
        json!({ "initial_state": [{ "type": "m.room.join_rules", "content": {
            "join_rule": "restricted",
            "allow": [{ "type": "m.room_membership", "room_id": space }],
        } }] }),
    )
    .await;
    assert_eq!(
        outcome(
            &carol,
            Method::POST,
            &format!("{V3}/rooms/{restricted}/join"),
            json!({})
        )
        .await,
        (403, "M_FORBIDDEN".to_owned())
    );
    carol
        .post::<Value>(&format!("{V3}/rooms/{space}/join"), &json!({}))
        .await
        .expect("join the space");
    carol
        .post::<Value>(&format!("{V3}/rooms/{restricted}/join"), &json!({}))
        .await
        .expect("restricted join");

    // Version 12 trusted private chat: invitees become creators, with
    // power beyond any level.
    let trusted = create_room(
        &alice,
        json!({ "preset": "trusted_private_chat", "invite": [bob_login.user_id] }),
    )
    .await;
    let create: Value = alice
        .get(&format!("{V3}/rooms/{trusted}/state/m.room.create/"))
        .await
        .expect("create");
    assert_eq!(create["additional_creators"], json!([bob_login.user_id]));
    bob.post::<Value>(&format!("{V3}/rooms/{trusted}/join"), &json!({}))
        .await
        .expect("join");
    bob.put::<Value>(
        &format!("{V3}/rooms/{trusted}/state/m.room.power_levels/"),
        &json!({ "users": {}, "state_default": 100 }),
    )
    .await
    .expect("a creator changes power levels");
    server.stop().await;
}

#[tokio::test]
async fn account_data_and_invite_blocking() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let (carol, carol_login) = user(&server, "carol").await;
    let bob_data =
        |data_type: &str| format!("{V3}/user/{}/account_data/{data_type}", bob_login.user_id);

    // Account data: absent, set, read back, replaced; per room apart from
    // global; only by its owner; server-managed types refused.
    assert_eq!(
        outcome(
            &bob,
            Method::GET,
            &bob_data("org.example.theme"),
            json!(null)
        )
        .await,
        (404, "M_NOT_FOUND".to_owned())
    );
    for theme in ["dark", "light"] {
        bob.put::<Value>(&bob_data("org.example.theme"), &json!({ "mode": theme }))
            .await
            .expect("set account data");
    }
    let theme: Value = bob.get(&bob_data("org.example.theme")).await.expect("get");
    assert_eq!(theme, json!({ "mode": "light" }));
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    let in_room = format!(
        "{V3}/user/{}/rooms/{room}/account_data/org.example.theme",
        bob_login.user_id
    );
    assert_eq!(
        outcome(&bob, Method::GET, &in_room, json!(null)).await,
        (404, "M_NOT_FOUND".to_owned())
    );
    bob.put::<Value>(&in_room, &json!({ "mode": "sepia" }))
        .await
        .expect("room account data");
    let theme: Value = bob.get(&in_room).await.expect("get room account data");
    assert_eq!(theme, json!({ "mode": "sepia" }));
    let before = server
        .query("SELECT count(*), coalesce(max(stream_pos), 0) FROM account_data")
        .await;
    let refusals = [
        (
            &alice,
            Method::GET,
            bob_data("org.example.theme"),
            json!(null),
            403,
            "M_FORBIDDEN",
        ),
        (
            &alice,
            Method::PUT,
            bob_data("org.example.theme"),
            json!({ "x": 1 }),
            403,
            "M_FORBIDDEN",
        ),
        (
            &bob,
            Method::PUT,
            bob_data("m.push_rules"),
            json!({}),
            405,
            "M_BAD_JSON",
        ),
        (
            &bob,
            Method::PUT,
            bob_data("m.fully_read"),
            json!({ "event_id": "$x" }),
            405,
            "M_BAD_JSON",
        ),
        (
            &bob,
            Method::PUT,
            bob_data("org.example.theme"),
            json!([1, 2]),
            400,
            "M_BAD_JSON",
        ),
        (
            &bob,
            Method::PUT,
            format!(
                "{V3}/user/{}/rooms/not-a-room/account_data/x",
                bob_login.user_id
            ),
            json!({}),
            400,
            "M_INVALID_PARAM",
        ),
    ];
    for (client, method, path, body, status, errcode) in refusals {
        assert_eq!(
            outcome(client, method, &path, body).await,
            (status, errcode.to_owned()),
            "{path}"
        );
    }
    let after = server
        .query("SELECT count(*), coalesce(max(stream_pos), 0) FROM account_data")
        .await;
    assert_eq!(
        (before[0].get::<_, i64>(0), before[0].get::<_, i64>(1)),
        (after[0].get::<_, i64>(0), after[0].get::<_, i64>(1))
    );

    // Tags: added one at a time (concurrently too), stored as m.tag room
    // account data, removed; only by their owner.
    let tags = format!("{V3}/user/{}/rooms/{room}/tags", bob_login.user_id);
    let empty: Value = bob.get(&tags).await.expect("no tags yet");
    assert_eq!(empty, json!({ "tags": {} }));
    let adds = (0..8).map(|i| {
        let (bob, tags) = (&bob, &tags);
        async move {
            bob.put::<Value>(&format!("{tags}/u.tag{i}"), &json!({ "order": 0.5 }))
                .await
                .expect("add tag");
        }
    });
    futures_util::future::join_all(adds).await;
    bob.put::<Value>(&format!("{tags}/m.favourite"), &json!({ "order": 0.1 }))
        .await
        .expect("favourite");
    assert_eq!(
        outcome(&bob, Method::DELETE, &format!("{tags}/u.tag0"), json!(null)).await,
        (200, String::new())
    );
    let listed: Value = bob.get(&tags).await.expect("tags");
    let mut names: Vec<&String> = listed["tags"].as_object().expect("tags").keys().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "m.favourite",
            "u.tag1",
            "u.tag2",
            "u.tag3",
            "u.tag4",
            "u.tag5",
            "u.tag6",
            "u.tag7"
        ]
    );
    assert_eq!(listed["tags"]["m.favourite"], json!({ "order": 0.1 }));
    let as_account_data: Value = bob
        .get(&format!(
            "{V3}/user/{}/rooms/{room}/account_data/m.tag",
            bob_login.user_id
        ))
        .await
        .expect("m.tag");
    assert_eq!(as_account_data["tags"], listed["tags"]);
    for (client, method, path, body, status, errcode) in [
        (
            &alice,
            Method::GET,
            tags.clone(),
            json!(null),
            403,
            "M_FORBIDDEN",
        ),
        (
            &alice,
            Method::PUT,
            format!("{tags}/u.x"),
            json!({}),
            403,
            "M_FORBIDDEN",
        ),
        (
            &bob,
            Method::PUT,
            format!("{tags}/u.x"),
            json!({ "order": "first" }),
            400,
            "M_BAD_JSON",
        ),
        (
            &bob,
            Method::PUT,
            format!("{tags}/{}", "t".repeat(256)),
            json!({}),
            400,
            "M_INVALID_PARAM",
        ),
    ] {
        assert_eq!(
            outcome(client, method, &path, body).await,
            (status, errcode.to_owned())
        );
    }

    // Invite blocking: bob refuses invites by every route that makes one.
    let block = bob_data("m.invite_permission_config");
    bob.put::<Value>(&block, &json!({ "default_action": "block" }))
        .await
        .expect("block invites");
    let events_before = footprint(&server).await;
    assert_eq!(
        outcome(
            &alice,
            Method::POST,
            &format!("{V3}/rooms/{room}/invite"),
            json!({ "user_id": bob_login.user_id })
        )
        .await,
        (403, "M_INVITE_BLOCKED".to_owned())
    );
    assert_eq!(
        outcome(
            &alice,
            Method::PUT,
            &format!(
                "{V3}/rooms/{room}/state/m.room.member/{}",
                bob_login.user_id
            ),
            json!({ "membership": "invite" })
        )
        .await,
        (403, "M_INVITE_BLOCKED".to_owned())
    );
    assert_eq!(footprint(&server).await, events_before);
    // createRoom still makes the room and invites everyone else.
    let group = create_room(
        &alice,
        json!({ "invite": [bob_login.user_id, carol_login.user_id] }),
    )
    .await;
    let members: Value = alice
        .get(&format!("{V3}/rooms/{group}/members"))
        .await
        .expect("members");
    let mut invited: Vec<&str> = members["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter(|m| m["content"]["membership"] == "invite")
        .filter_map(|m| m["state_key"].as_str())
        .collect();
    invited.sort_unstable();
    assert_eq!(invited, [carol_login.user_id.as_str()]);
    // Unknown actions and an emptied config let invites through again.
    bob.put::<Value>(&block, &json!({ "default_action": "maybe" }))
        .await
        .expect("unknown action");
    alice
        .post::<Value>(
            &format!("{V3}/rooms/{group}/invite"),
            &json!({ "user_id": bob_login.user_id }),
        )
        .await
        .expect("invite after unblocking");
    // Joined users are unaffected: carol joins and the block is per invitee.
    carol
        .post::<Value>(&format!("{V3}/rooms/{group}/join"), &json!({}))
        .await
        .expect("carol joins");
}

#[tokio::test]
async fn filters_are_stored_checked_and_private() {
    let server = TestServer::start().await;
    let (alice, alice_login) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let filters = format!("{V3}/user/{}/filter", alice_login.user_id);
    let filter = json!({
        "room": { "timeline": { "limit": 10, "types": ["m.room.*"] }, "include_leave": true },
        "presence": { "not_types": ["*"] },
    });
    let created: Value = alice.post(&filters, &filter).await.expect("create filter");
    let id = created["filter_id"].as_str().expect("filter_id");
    assert!(!id.starts_with('{'));
    let stored: Value = alice
        .get(&format!("{filters}/{id}"))
        .await
        .expect("get filter");
    assert_eq!(stored, filter);

    let count = || async { server.query("SELECT count(*) FROM filters").await[0].get::<_, i64>(0) };
    let before = count().await;
    let refusals = [
        (
            &alice,
            Method::POST,
            filters.clone(),
            json!({ "room": { "timeline": { "limit": "x" } } }),
            400,
            "M_BAD_JSON",
        ),
        (
            &alice,
            Method::POST,
            filters.clone(),
            json!({ "room": { "rooms": ["not-a-room"] } }),
            400,
            "M_BAD_JSON",
        ),
        (
            &alice,
            Method::POST,
            filters.clone(),
            json!({ "event_format": "xml" }),
            400,
            "M_BAD_JSON",
        ),
        (
            &bob,
            Method::POST,
            filters.clone(),
            json!({}),
            403,
            "M_FORBIDDEN",
        ),
        (
            &bob,
            Method::GET,
            format!("{filters}/{id}"),
            json!(null),
            403,
            "M_FORBIDDEN",
        ),
        (
            &alice,
            Method::GET,
            format!("{filters}/999999"),
            json!(null),
            404,
            "M_NOT_FOUND",
        ),
        (
            &alice,
            Method::GET,
            format!("{filters}/nonsense"),
            json!(null),
            404,
            "M_NOT_FOUND",
        ),
    ];
    for (client, method, path, body, status, errcode) in refusals {
        assert_eq!(
            outcome(client, method, &path, body.clone()).await,
            (status, errcode.to_owned()),
            "{path} {body}"
        );
    }
    assert_eq!(count().await, before);

    // Room event filters on /messages: `*` matches anywhere in a type.
    let room = create_room(&alice, json!({})).await;
    send_text(&alice, &room, "t1", "hello").await;
    let only_members = urlencode(r#"{"types":["*.member"]}"#);
    let page: Value = alice
        .get(&format!(
            "{V3}/rooms/{room}/messages?dir=b&filter={only_members}"
        ))
        .await
        .expect("filtered messages");
    let types: Vec<&str> = page["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(types, ["m.room.member"]);
    let zero = urlencode(r#"{"limit":0}"#);
    assert_eq!(
        outcome(
            &alice,
            Method::GET,
            &format!("{V3}/rooms/{room}/messages?dir=b&filter={zero}"),
            json!(null)
        )
        .await,
        (400, "M_INVALID_PARAM".to_owned())
    );
}

#[tokio::test]
async fn rate_limits_answer_429_with_the_time_to_wait() {
    let tight = Rate {
        per_second: 0.01,
        burst: 3,
    };
    let mut options = TestOptions::default();
    options.settings.rate_limits = Some(RateSettings {
        message: tight,
        registration: tight,
        login: tight,
        room_creation: tight,
        join: tight,
        invite: tight,
    });
    let server = TestServer::start_with(options).await;
    let (alice, _) = user(&server, "alice").await;
    let room = create_room(&alice, json!({})).await;

    // The room's creation sent events without counting as messages; three
    // messages pass, the fourth waits, and a retried transaction is not a
    // new message.
    for txn in ["m1", "m2", "m3"] {
        send_text(&alice, &room, txn, "hello").await;
    }
    let events = footprint(&server).await;
    let send = |txn: &str| format!("{V3}/rooms/{room}/send/m.room.message/{txn}");
    let (status, refusal) = alice
        .send_raw(
            Method::PUT,
            &send("m4"),
            &json!({ "msgtype": "m.text", "body": "x" }),
        )
        .await
        .expect("request");
    assert_eq!(
        (status, refusal["errcode"].as_str()),
        (429, Some("M_LIMIT_EXCEEDED"))
    );
    assert!(
        refusal["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0),
        "{refusal}"
    );
    assert_eq!(footprint(&server).await, events, "nothing stored");
    alice
        .put::<Value>(
            &send("m1"),
            &json!({ "msgtype": "m.text", "body": "hello" }),
        )
        .await
        .expect("a retried transaction answers as before");

    // Registration and login count per client address: alice took one
    // registration, two more pass.
    user(&server, "bob").await;
    user(&server, "carol").await;
    let accounts = server.query("SELECT count(*) FROM accounts").await[0].get::<_, i64>(0);
    let anonymous = Client::new(&server.client_url);
    let refused = anonymous
        .register("dave", common::PASSWORD, None)
        .await
        .expect_err("a fourth registration from one address");
    assert_eq!(refused.errcode(), Some("M_LIMIT_EXCEEDED"));
    assert_eq!(
        server.query("SELECT count(*) FROM accounts").await[0].get::<_, i64>(0),
        accounts
    );
}

#[tokio::test]
async fn rooms_are_upgraded_with_their_state_and_aliases() {
    let server = TestServer::start().await;
    let (alice, alice_login) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let old = create_room(
        &alice,
        json!({ "room_version": "11", "preset": "public_chat", "name": "Kontor",
                "topic": "ledgers", "room_alias_name": "kontor" }),
    )
    .await;
    bob.post::<Value>(&format!("{V3}/rooms/{old}/join"), &json!({}))
        .await
        .expect("bob joins");
    let upgrade = format!("{V3}/rooms/{old}/upgrade");
    let events = footprint(&server).await;
    for (client, body, status, errcode) in [
        (&bob, json!({ "new_version": "12" }), 403, "M_FORBIDDEN"),
        (
            &alice,
            json!({ "new_version": "2" }),
            400,
            "M_UNSUPPORTED_ROOM_VERSION",
        ),
        (&alice, json!({ "new_version": 12 }), 400, "M_BAD_JSON"),
    ] {
        assert_eq!(
            outcome(client, Method::POST, &upgrade, body).await,
            (status, errcode.to_owned())
        );
    }
    assert_eq!(footprint(&server).await, events, "refusals change nothing");

    let upgraded: Value = alice
        .post(&upgrade, &json!({ "new_version": "12" }))
        .await
        .expect("upgrade");
    let new = upgraded["replacement_room"]
        .as_str()
        .expect("replacement_room");
    let create: Value = alice
        .get(&format!("{V3}/rooms/{new}/state/m.room.create/"))
        .await
        .expect("create");
    assert_eq!(create["room_version"], "12");
    assert_eq!(create["predecessor"]["room_id"], old.as_str());
    for (event_type, key, value) in [
        ("m.room.name", "name", "Kontor"),
        ("m.room.topic", "topic", "ledgers"),
        ("m.room.join_rules", "join_rule", "public"),
    ] {
        let content: Value = alice
            .get(&format!("{V3}/rooms/{new}/state/{event_type}/"))
            .await
            .expect("copied state");
        assert_eq!(content[key], value, "{event_type}");
    }
    // Version 12: the upgrader is a creator, so not listed in users.
    let power: Value = alice
        .get(&format!("{V3}/rooms/{new}/state/m.room.power_levels/"))
        .await
        .expect("power levels");
    assert!(
        power["users"].as_object().expect("users").is_empty(),
        "{power}"
    );
    // The alias moved; the old room points to the new one and is quiet.
    let alias = format!("#kontor:{}", server.homeserver.identity.server_name);
    let resolved: Value = alice
        .get(&format!("{V3}/directory/room/{}", escape(&alias)))
        .await
        .expect("alias");
    assert_eq!(resolved["room_id"], new);
    let tombstone: Value = alice
        .get(&format!("{V3}/rooms/{old}/state/m.room.tombstone/"))
        .await
        .expect("tombstone");
    assert_eq!(tombstone["replacement_room"], new);
    assert_eq!(
        outcome(
            &bob,
            Method::PUT,
            &format!("{V3}/rooms/{old}/send/m.room.message/late"),
            json!({ "msgtype": "m.text", "body": "anyone?" })
        )
        .await,
        (403, "M_FORBIDDEN".to_owned())
    );
    bob.post::<Value>(&format!("{V3}/rooms/{new}/join"), &json!({}))
        .await
        .expect("bob follows");
    send_text(&bob, new, "here", "found it").await;

    // Into a version before 12, a creator's unbounded power becomes 100.
    let v12 = create_room(&alice, json!({})).await;
    let into_11: Value = alice
        .post(
            &format!("{V3}/rooms/{v12}/upgrade"),
            &json!({ "new_version": "11" }),
        )
        .await
        .expect("upgrade to 11");
    let room_11 = into_11["replacement_room"]
        .as_str()
        .expect("replacement_room");
    let power: Value = alice
        .get(&format!("{V3}/rooms/{room_11}/state/m.room.power_levels/"))
        .await
        .expect("power levels");
    assert_eq!(power["users"][&alice_login.user_id], 100);
}

#[tokio::test]
async fn presence_is_set_and_shown_to_those_sharing_a_room() {
    let server = TestServer::start().await;
    let (alice, alice_login) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let status = format!("{V3}/presence/{}/status", alice_login.user_id);
    alice
        .put::<Value>(
            &status,
            &json!({ "presence": "online", "status_msg": "at the Kontor" }),
        )
        .await
        .expect("set presence");
    let own: Value = alice.get(&status).await.expect("own presence");
    assert_eq!(own["presence"], "online");
    assert_eq!(own["status_msg"], "at the Kontor");
    assert_eq!(own["currently_active"], true);
    assert!(own["last_active_ago"]
        .as_i64()
        .is_some_and(|ago| ago < 60_000));

    let unknown = format!(
        "{V3}/presence/@nobody:{}/status",
        server.homeserver.identity.server_name
    );
    for (client, method, path, body, expected) in [
        (
            &bob,
            Method::GET,
            status.clone(),
            json!(null),
            (403, "M_FORBIDDEN"),
        ),
        (
            &bob,
            Method::PUT,
            status.clone(),
            json!({ "presence": "offline" }),
            (403, "M_FORBIDDEN"),
        ),
        (
            &alice,
            Method::PUT,
            status.clone(),
            json!({ "presence": "busy" }),
            (400, "M_BAD_JSON"),
        ),
        (
            &alice,
            Method::GET,
            unknown,
            json!(null),
            (404, "M_NOT_FOUND"),
        ),
    ] {
        assert_eq!(
            outcome(client, method, &path, body).await,
            (expected.0, expected.1.to_owned())
        );
    }
    let unchanged: Value = alice.get(&status).await.expect("own presence");
    assert_eq!(unchanged["status_msg"], "at the Kontor");

    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    bob.post::<Value>(&format!("{V3}/rooms/{room}/join"), &json!({}))
        .await
        .expect("join");
    alice
        .put::<Value>(&status, &json!({ "presence": "unavailable" }))
        .await
        .expect("away");
    let seen: Value = bob.get(&status).await.expect("presence of a room mate");
    assert_eq!(seen["presence"], "unavailable");
    assert!(
        seen.get("status_msg").is_none(),
        "the status was cleared: {seen}"
    );

    // With presence off, everyone is offline and setting it does nothing.
    let mut options = TestOptions::default();
    options.settings.presence = false;
    let quiet = TestServer::start_with(options).await;
    let (carol, carol_login) = user(&quiet, "carol").await;
    let carol_status = format!("{V3}/presence/{}/status", carol_login.user_id);
    carol
        .put::<Value>(&carol_status, &json!({ "presence": "online" }))
        .await
        .expect("accepted");
    let off: Value = carol.get(&carol_status).await.expect("presence");
    assert_eq!(off, json!({ "presence": "offline" }));
    assert_eq!(
        quiet.query("SELECT count(*) FROM presence").await[0].get::<_, i64>(0),
        0
    );
}

#[tokio::test]
async fn receipts_and_the_read_marker_move_forward() {
    let server = TestServer::start().await;
    let (alice, alice_login) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let room = create_room(&alice, json!({})).await;
    let e1 = send_text(&alice, &room, "r1", "one").await;
    let e2 = send_text(&alice, &room, "r2", "two").await;
    let e3 = send_text(&alice, &room, "r3", "three").await;
    let reply: Value = alice
        .put(
            &format!("{V3}/rooms/{room}/send/m.room.message/r4"),
            &json!({ "msgtype": "m.text", "body": "in thread",
                     "m.relates_to": { "rel_type": "m.thread", "event_id": e1 } }),
        )
        .await
        .expect("thread reply");
    let reply = reply["event_id"].as_str().expect("id").to_owned();
    let receipt = |kind: &str, event: &str| format!("{V3}/rooms/{room}/receipt/{kind}/{event}");
    let receipts = || async {
        let rows = server
            .query(
                "SELECT r.receipt_type, r.thread_id, e.event_id FROM receipts r
                 JOIN events e ON e.event_nid = r.event_nid ORDER BY 1, 2",
            )
            .await;
        rows.iter()
            .map(|row| {
                (
                    row.get::<_, String>(0),
                    row.get::<_, String>(1),
                    row.get::<_, String>(2),
                )
            })
            .collect::<Vec<_>>()
    };

    for event in [&e2, &e1] {
        alice
            .post::<Value>(&receipt("m.read", event), &json!({}))
            .await
            .expect("receipt");
    }
    assert_eq!(
        receipts().await,
        [("m.read".to_owned(), String::new(), e2.clone())],
        "an older receipt does not move it back"
    );
    alice
        .post::<Value>(&receipt("m.read", &reply), &json!({ "thread_id": e1 }))
        .await
        .expect("threaded receipt");
    alice
        .post::<Value>(&receipt("m.read", &e3), &json!({ "thread_id": "main" }))
        .await
        .expect("main timeline receipt");
    alice
        .post::<Value>(
            &format!("{V3}/rooms/{room}/read_markers"),
            &json!({ "m.fully_read": e3, "m.read.private": e2 }),
        )
        .await
        .expect("read markers");
    let marker: Value = alice
        .get(&format!(
            "{V3}/user/{}/rooms/{room}/account_data/m.fully_read",
            alice_login.user_id
        ))
        .await
        .expect("read marker");
    assert_eq!(marker, json!({ "event_id": e3 }));
    let recorded = receipts().await;
    assert_eq!(recorded.len(), 4, "{recorded:?}");

    for (client, path, body, expected) in [
        (
            &alice,
            receipt("m.read", &e2),
            json!({ "thread_id": e1 }),
            (400, "M_INVALID_PARAM"),
        ),
        (
            &alice,
            receipt("m.read", &reply),
            json!({ "thread_id": "main" }),
            (400, "M_INVALID_PARAM"),
        ),
        (
            &alice,
            receipt("m.fully_read", &e2),
            json!({ "thread_id": "main" }),
            (400, "M_INVALID_PARAM"),
        ),
        (
            &alice,
            receipt("m.seen", &e2),
            json!({}),
            (400, "M_INVALID_PARAM"),
        ),
        (
            &alice,
            receipt("m.read", UNKNOWN_EVENT),
            json!({}),
            (404, "M_NOT_FOUND"),
        ),
        (
            &bob,
            receipt("m.read", &e2),
            json!({}),
            (404, "M_NOT_FOUND"),
        ),
    ] {
        assert_eq!(
            outcome(client, Method::POST, &path, body).await,
            (expected.0, expected.1.to_owned()),
            "{path}"
        );
    }
    assert_eq!(receipts().await, recorded, "refusals change nothing");
}
