//! History a server lacks: B's user pages back through /messages past a
//! join through A, and B fetches the older events from A with /backfill,
//! batch by batch, down to the room's create event; what a room said while
//! B was out of it is fetched when B's user joins again; and a gap too long
//! for /get_missing_events is bridged with the state before the event
//! (/state).

mod common;

use std::time::Duration;

use common::federation::{
    bodies, eventually, join_via, post, shared_room, state_ids, FederatedServer, SharedRoom, TestCa,
};
use common::{create_room, send_text};
use hanse_protocol::path_segment::encode;
use hanse_sdk::Client;
use serde_json::{json, Value};

const V3: &str = "/_matrix/client/v3";

/// Every event of the room `client` reaches by paging back from now, oldest
/// first, and how many pages that took.
async fn page_back(client: &Client, room: &str) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut from: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("{V3}/rooms/{room}/messages?dir=b&limit=30");
        if let Some(from) = &from {
            path.push_str(&format!("&from={}", encode(from)));
        }
        let page: Value = client.get(&path).await.expect("messages");
        pages += 1;
        events.extend(page["chunk"].as_array().expect("chunk").iter().cloned());
        match page["end"].as_str() {
            Some(end) => from = Some(end.to_owned()),
            None => break,
        }
        assert!(pages < 100, "paging back does not end");
    }
    events.reverse();
    (events, pages)
}

#[tokio::test]
async fn history_before_a_remote_join_is_backfilled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path());
    let a = FederatedServer::start(&ca, dir.path(), "a", vec![]).await;
    let b = FederatedServer::start(&ca, dir.path(), "b", vec![]).await;
    let (alice, _) = a.user("alice").await;
    let (bob, bob_id) = b.user("bob").await;

    let room = create_room(
        &alice,
        json!({ "preset": "public_chat", "name": "Long story" }),
    )
    .await;
    let path_room = encode(&room);
    // More than one /backfill batch (50 events).
    let told: Vec<String> = (0..120).map(|i| format!("chapter {i}")).collect();
    for (i, text) in told.iter().enumerate() {
        send_text(&alice, &path_room, &format!("t{i}"), text).await;
    }
    let (status, body) = join_via(&bob, &path_room, &encode(&a.name)).await;
    assert_eq!(status, 200, "{body}");

    let (events, pages) = page_back(&bob, &path_room).await;
    let read: Vec<&str> = events
        .iter()
        .filter(|event| event["type"] == "m.room.message")
        .filter_map(|event| event["content"]["body"].as_str())
        .collect();
    assert_eq!(read, told, "B's log:\n{}", b.log());
    assert_eq!(
        events[0]["type"], "m.room.create",
        "the history starts at the creation"
    );
    let last = events.last().expect("events");
    assert_eq!(
        (last["type"].as_str(), last["state_key"].as_str()),
        (Some("m.room.member"), Some(bob_id.as_str())),
        "the history ends with bob's join"
    );
    // As on A: the same events in the same order.
    let (on_a, _) = page_back(&alice, &path_room).await;
    assert_eq!(ids(&events), ids(&on_a));
    assert!(pages > 4, "{pages} pages of 30 for {} events", events.len());

    // Paging back again gives the same history, stored here now.
    let (again, _) = page_back(&bob, &path_room).await;
    assert_eq!(ids(&again), ids(&events));
}

/// The event IDs of `events`, in order.
fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| event["event_id"].as_str().map(str::to_owned))
        .collect()
}

/// Makes `bob` leave `room` and waits until A (where `alice` is) has the
/// leave: B sends it like any event, and what A's room says after it is
/// not sent to B, where no one is in the room any more.
async fn leave_and_wait_for_a(bob: &Client, bob_id: &str, alice: &Client, room: &str) {
    let (status, body) = post(bob, &format!("{V3}/rooms/{room}/leave"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let bob_state = format!("{V3}/rooms/{room}/state/m.room.member/{}", encode(bob_id));
    eventually(Duration::from_secs(20), "A to have bob's leave", || async {
        let member: Option<Value> = alice.get(&bob_state).await.ok();
        member.is_some_and(|member| member["membership"] == "leave")
    })
    .await;
}

#[tokio::test]
async fn what_a_room_said_while_a_server_was_out_of_it_is_fetched_on_rejoining() {
    let SharedRoom {
        dir: _dir,
        a,
        b,
        alice,
        bob,
        bob_id,
        room,
        ..
    } = shared_room().await;
    let path_room = encode(&room);
    send_text(&alice, &path_room, "t0", "before bob left").await;
    eventually(Duration::from_secs(20), "B to have the message", || async {
        let said = bodies(&bob, &path_room).await;
        said.iter().any(|body| body == "before bob left")
    })
    .await;
    leave_and_wait_for_a(&bob, &bob_id, &alice, &path_room).await;
    let away: Vec<String> = (0..12).map(|i| format!("while bob was away {i}")).collect();
    for (i, text) in away.iter().enumerate() {
        send_text(&alice, &path_room, &format!("t{}", i + 1), text).await;
    }
    let (status, body) = join_via(&bob, &path_room, &encode(&a.name)).await;
    assert_eq!(status, 200, "{body}");

    let (events, _) = page_back(&bob, &path_room).await;
    let read: Vec<&str> = events
        .iter()
        .filter(|event| event["type"] == "m.room.message")
        .filter_map(|event| event["content"]["body"].as_str())
        .collect();
    let mut told = vec!["before bob left"];
    told.extend(away.iter().map(String::as_str));
    assert_eq!(read, told, "B's log:\n{}", b.log());
    // Nothing missing, nothing out of place: B's history is A's.
    let (on_a, _) = page_back(&alice, &path_room).await;
    assert_eq!(
        ids(&events),
        ids(&on_a),
        "B: {:#?}\nA: {:#?}",
        outline(&events),
        outline(&on_a)
    );

    // More than one /get_missing_events brings (50): rather than fetch the
    // state before the oldest of them, B joins without them and keeps the
    // gap, every other event in place.
    leave_and_wait_for_a(&bob, &bob_id, &alice, &path_room).await;
    for i in 0..60 {
        send_text(
            &alice,
            &path_room,
            &format!("long{i}"),
            &format!("long away {i}"),
        )
        .await;
    }
    let (status, body) = join_via(&bob, &path_room, &encode(&a.name)).await;
    assert_eq!(status, 200, "{body}");
    let (events, _) = page_back(&bob, &path_room).await;
    let (on_a, _) = page_back(&alice, &path_room).await;
    let said_in_the_gap = |event: &&Value| {
        event["content"]["body"]
            .as_str()
            .is_some_and(|body| body.starts_with("long away"))
    };
    let outside_the_gap: Vec<Value> = on_a
        .iter()
        .filter(|event| !said_in_the_gap(event))
        .cloned()
        .collect();
    assert_eq!(
        ids(&events),
        ids(&outside_the_gap),
        "B: {:#?}",
        outline(&events)
    );
}

/// What each event is, in a word: its type and state key or body.
fn outline(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|event| {
            let what = event["state_key"]
                .as_str()
                .or(event["content"]["body"].as_str())
                .unwrap_or_default();
            format!("{} {what} {}", event["type"], event["event_id"])
        })
        .collect()
}

#[tokio::test]
async fn a_gap_too_long_to_fill_is_bridged_with_the_state_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path());
    let a = FederatedServer::start(&ca, dir.path(), "a", vec![]).await;
    let mut b = FederatedServer::prepare(&ca, dir.path(), "b", vec![]).await;
    b.start_with_config("").await;
    let (alice, _) = a.user("alice").await;
    let (bob, _) = b.user("bob").await;
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    let path_room = encode(&room);
    let (status, body) = join_via(&bob, &path_room, &encode(&a.name)).await;
    assert_eq!(status, 200, "{body}");

    // B stops federating with A for a while: what bob says then never
    // reaches A (B drops its queue for A), more than one
    // /get_missing_events answer (50 events).
    b.restart_with_config(&format!("[federation]\ndeny = [\"{}\"]\n", a.name))
        .await;
    let unheard: Vec<String> = (0..60).map(|i| format!("unheard {i}")).collect();
    for (i, text) in unheard.iter().enumerate() {
        send_text(&bob, &path_room, &format!("u{i}"), text).await;
    }
    b.restart_with_config("").await;
    send_text(&bob, &path_room, "back", "back again").await;

    let patience = Duration::from_secs(60);
    eventually(patience, "bob's message after the gap on A", || async {
        bodies(&alice, &path_room)
            .await
            .contains(&"back again".to_owned())
    })
    .await;
    // The newest 50 of the gap came with /get_missing_events; the oldest of
    // them was placed on the state before it, from B.
    let seen = bodies(&alice, &path_room).await;
    for text in &unheard[10..] {
        assert!(
            seen.contains(text),
            "{text} missing on A: {seen:?}\nA's log:\n{}",
            a.log()
        );
    }
    assert_eq!(
        state_ids(&alice, &path_room).await,
        state_ids(&bob, &path_room).await
    );
    // And the room goes on.
    send_text(&alice, &path_room, "a1", "welcome back").await;
    eventually(patience, "alice's answer on B", || async {
        bodies(&bob, &path_room)
            .await
            .contains(&"welcome back".to_owned())
    })
    .await;
}
