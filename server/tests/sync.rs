//! /sync over HTTP against a real server and database: initial and
//! incremental syncs, waiting syncs woken by what concerns them, limited
//! timelines, lazy-loaded members, leaving, invites, the ephemeral and
//! account data streams, and that a sequence of tokens neither repeats
//! nor skips an event.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use hanse_sdk::{Client, Method};
use hanse_server::testing::TestServer;
use serde_json::{json, Value};

mod common;

use common::{create_room, join, outcome, send_text, user};

const V3: &str = "/_matrix/client/v3";

fn next_batch(sync: &Value) -> String {
    sync["next_batch"].as_str().expect("next_batch").to_owned()
}

/// The timeline events of `room` in the join section.
fn timeline<'a>(sync: &'a Value, room: &str) -> &'a [Value] {
    sync["rooms"]["join"][room]["timeline"]["events"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

fn bodies(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|event| event["content"]["body"].as_str())
        .collect()
}

fn types_and_keys(events: &[Value]) -> HashSet<(String, String)> {
    events
        .iter()
        .map(|event| {
            (
                event["type"].as_str().unwrap_or_default().to_owned(),
                event["state_key"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn initial_then_incremental_sync() {
    let server = TestServer::start().await;
    let (alice, alice_login) = user(&server, "alice").await;
    let room = create_room(&alice, json!({ "name": "Harbour" })).await;
    send_text(&alice, &room, "t1", "one").await;
    send_text(&alice, &room, "t2", "two").await;

    let initial = alice.sync(None, 0, None).await.expect("initial sync");
    let joined = &initial["rooms"]["join"][&room];
    assert_eq!(bodies(timeline(&initial, &room)), ["one", "two"]);
    assert_eq!(joined["summary"]["m.joined_member_count"], 1);
    assert!(
        joined["summary"].get("m.heroes").is_none(),
        "the room has a name"
    );
    // The state before the timeline, and the timeline, make up the room.
    let mut all: Vec<Value> = joined["state"]["events"].as_array().unwrap().clone();
    all.extend(timeline(&initial, &room).iter().cloned());
    let keys = types_and_keys(&all);
    for wanted in ["m.room.create", "m.room.power_levels", "m.room.name"] {
        assert!(keys.contains(&(wanted.into(), String::new())), "{wanted}");
    }
    assert!(keys.contains(&("m.room.member".into(), alice_login.user_id.clone())));
    assert!(
        timeline(&initial, &room)
            .iter()
            .all(|e| e.get("room_id").is_none()),
        "sync events leave the room ID to the section"
    );
    // Own messages carry their transaction ID for the sending device.
    let own = timeline(&initial, &room).last().unwrap();
    assert_eq!(own["unsigned"]["transaction_id"], "t2");

    let token = next_batch(&initial);
    let quiet = alice.sync(Some(&token), 0, None).await.expect("sync");
    assert_eq!(quiet["rooms"]["join"], json!({}), "nothing happened");

    send_text(&alice, &room, "t3", "three").await;
    let update = alice.sync(Some(&token), 0, None).await.expect("sync");
    assert_eq!(bodies(timeline(&update, &room)), ["three"]);
    let joined = &update["rooms"]["join"][&room];
    assert_eq!(joined["timeline"]["limited"], false);
    assert_eq!(joined["state"]["events"], json!([]));
    // The same token again gives the same answer; the new one nothing.
    let again = alice.sync(Some(&token), 0, None).await.expect("sync");
    assert_eq!(bodies(timeline(&again, &room)), ["three"]);
    let after = alice
        .sync(Some(&next_batch(&update)), 0, None)
        .await
        .unwrap();
    assert_eq!(after["rooms"]["join"], json!({}));

    // Bad input is refused.
    for bad in ["garbage", "s1_x", "s-5"] {
        let path = format!("{V3}/sync?since={bad}");
        assert_eq!(
            outcome(&alice, Method::GET, &path, Value::Null).await,
            (400, "M_INVALID_PARAM".into()),
            "{bad}"
        );
    }
    assert_eq!(
        outcome(
            &alice,
            Method::GET,
            &format!("{V3}/sync?filter=%7Bnope"),
            Value::Null
        )
        .await,
        (400, "M_BAD_JSON".into())
    );
    assert_eq!(
        outcome(
            &alice,
            Method::GET,
            &format!("{V3}/sync?filter=987654"),
            Value::Null
        )
        .await,
        (404, "M_NOT_FOUND".into())
    );
    assert_eq!(
        outcome(
            &alice,
            Method::GET,
            &format!("{V3}/sync?timeout=soon"),
            Value::Null
        )
        .await
        .0,
        400
    );
    let anonymous = Client::new(&server.client_url);
    assert_eq!(
        outcome(&anonymous, Method::GET, &format!("{V3}/sync"), Value::Null).await,
        (401, "M_MISSING_TOKEN".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn a_waiting_sync_wakes_for_its_rooms_only() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let (carol, carol_login) = user(&server, "carol").await;
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    join(&bob, &room).await;
    let bob_token = next_batch(&bob.sync(None, 0, None).await.unwrap());
    let carol_token = next_batch(&carol.sync(None, 0, None).await.unwrap());

    let started = Instant::now();
    let waiting_bob = {
        let bob = bob.clone();
        let token = bob_token.clone();
        tokio::spawn(async move { bob.sync(Some(&token), 60_000, None).await })
    };
    let waiting_carol = {
        let carol = carol.clone();
        tokio::spawn(async move { carol.sync(Some(&carol_token), 1_500, None).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting_bob.is_finished(),
        "bob's sync waits while nothing happens"
    );
    send_text(&alice, &room, "w1", "wake up").await;
    let woken = waiting_bob.await.unwrap().expect("bob's sync");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the send ended the wait, not the timeout"
    );
    assert_eq!(bodies(timeline(&woken, &room)), ["wake up"]);
    // Carol shares no room: her sync ran out its time and says nothing.
    let carol_sync = waiting_carol.await.unwrap().expect("carol's sync");
    assert_eq!(carol_sync["rooms"]["join"], json!({}));
    assert!(started.elapsed() >= Duration::from_millis(1_500));

    // An invite wakes the invitee, who is in no room of it yet.
    let carol_token = next_batch(&carol_sync);
    let waiting_carol = {
        let carol = carol.clone();
        tokio::spawn(async move { carol.sync(Some(&carol_token), 60_000, None).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let carol_id = carol_login.user_id.clone();
    let _: Value = alice
        .post(
            &format!("{V3}/rooms/{room}/invite"),
            &json!({ "user_id": carol_id }),
        )
        .await
        .expect("invite");
    let invited = waiting_carol.await.unwrap().expect("carol's sync");
    let state = invited["rooms"]["invite"][&room]["invite_state"]["events"]
        .as_array()
        .expect("invite_state");
    let keys = types_and_keys(state);
    assert!(keys.contains(&("m.room.create".into(), String::new())));
    assert!(keys.contains(&("m.room.member".into(), carol_id.clone())));
    assert!(
        state.iter().all(|e| e.get("event_id").is_none()),
        "stripped"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_gap_is_limited_and_its_state_is_sent() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let room = create_room(&alice, json!({})).await;
    let filter = json!({ "room": { "timeline": { "limit": 3 } } }).to_string();
    let token = next_batch(&alice.sync(None, 0, Some(&filter)).await.unwrap());

    for i in 0..5 {
        send_text(&alice, &room, &format!("a{i}"), &format!("before {i}")).await;
    }
    let _: Value = alice
        .put(
            &format!("{V3}/rooms/{room}/state/m.room.topic"),
            &json!({ "topic": "changed in the gap" }),
        )
        .await
        .unwrap();
    for i in 0..5 {
        send_text(&alice, &room, &format!("b{i}"), &format!("after {i}")).await;
    }
    let update = alice.sync(Some(&token), 0, Some(&filter)).await.unwrap();
    let joined = &update["rooms"]["join"][&room];
    assert_eq!(joined["timeline"]["limited"], true);
    assert_eq!(
        bodies(timeline(&update, &room)),
        ["after 2", "after 3", "after 4"]
    );
    let state = joined["state"]["events"].as_array().unwrap();
    assert_eq!(state.len(), 1, "only the topic changed: {state:?}");
    assert_eq!(state[0]["content"]["topic"], "changed in the gap");

    // prev_batch pages back through the gap down to the old token.
    let prev_batch = joined["timeline"]["prev_batch"].as_str().unwrap();
    let page: Value = alice
        .get(&format!(
            "{V3}/rooms/{room}/messages?dir=b&from={prev_batch}&to={token}&limit=50"
        ))
        .await
        .unwrap();
    let earlier: Vec<&str> = bodies(page["chunk"].as_array().unwrap());
    assert_eq!(
        earlier,
        ["after 1", "after 0", "before 4", "before 3", "before 2", "before 1", "before 0"]
    );

    // Exactly as many events as the limit is not a gap.
    let token = next_batch(&update);
    for i in 0..3 {
        send_text(&alice, &room, &format!("c{i}"), &format!("exact {i}")).await;
    }
    let update = alice.sync(Some(&token), 0, Some(&filter)).await.unwrap();
    assert_eq!(update["rooms"]["join"][&room]["timeline"]["limited"], false);
    assert_eq!(timeline(&update, &room).len(), 3);
    server.stop().await;
}

#[tokio::test]
async fn lazy_loading_sends_the_senders_members() {
    let server = TestServer::start().await;
    let (alice, alice_login) = user(&server, "alice").await;
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    let mut users = HashMap::new();
    for name in ["bob", "carol", "dave"] {
        let (client, login) = user(&server, name).await;
        join(&client, &room).await;
        users.insert(name, (client, login.user_id));
    }
    let (bob, bob_id) = &users["bob"];
    send_text(bob, &room, "b1", "hello").await;
    send_text(bob, &room, "b2", "again").await;

    let filter = json!({
        "room": { "timeline": { "limit": 2 }, "state": { "lazy_load_members": true } }
    })
    .to_string();
    let sync = alice.sync(None, 0, Some(&filter)).await.unwrap();
    let joined = &sync["rooms"]["join"][&room];
    let members: HashSet<String> = joined["state"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["type"] == "m.room.member")
        .map(|event| event["state_key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        members,
        HashSet::from([bob_id.clone(), alice_login.user_id.clone()])
    );
    assert_eq!(joined["summary"]["m.joined_member_count"], 4);

    // Without lazy loading every member comes.
    let full = alice.sync(None, 0, None).await.unwrap();
    let members = full["rooms"]["join"][&room]["state"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .chain(timeline(&full, &room))
        .filter(|event| event["type"] == "m.room.member")
        .count();
    assert!(members >= 4, "{members}");
    server.stop().await;
}

#[tokio::test]
async fn a_user_who_left_hears_no_more() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    join(&bob, &room).await;
    let token = next_batch(&bob.sync(None, 0, None).await.unwrap());
    send_text(&alice, &room, "m1", "while bob is here").await;
    let _: Value = bob
        .post(&format!("{V3}/rooms/{room}/leave"), &json!({}))
        .await
        .unwrap();
    send_text(&alice, &room, "m2", "after bob left").await;

    let sync = bob.sync(Some(&token), 0, None).await.unwrap();
    assert_eq!(sync["rooms"]["join"], json!({}));
    let left = &sync["rooms"]["leave"][&room]["timeline"]["events"];
    let left = left.as_array().expect("the room is in the leave section");
    assert_eq!(bodies(left), ["while bob is here"]);
    let last = left.last().unwrap();
    assert_eq!(last["type"], "m.room.member");
    assert_eq!(last["state_key"], bob_login.user_id.as_str());
    assert_eq!(last["content"]["membership"], "leave");

    let token = next_batch(&sync);
    send_text(&alice, &room, "m3", "still talking").await;
    let sync = bob.sync(Some(&token), 500, None).await.unwrap();
    assert_eq!(sync["rooms"]["join"], json!({}));
    assert_eq!(sync["rooms"]["leave"], json!({}));
    // An initial sync shows left rooms only when asked to.
    let initial = bob.sync(None, 0, None).await.unwrap();
    assert_eq!(initial["rooms"]["leave"], json!({}));
    let with_leave = json!({ "room": { "include_leave": true } }).to_string();
    let initial = bob.sync(None, 0, Some(&with_leave)).await.unwrap();
    assert!(initial["rooms"]["leave"].get(&room).is_some());
    server.stop().await;
}

#[tokio::test]
async fn typing_receipts_and_account_data_reach_sync() {
    let server = TestServer::start().await;
    let (alice, alice_login) = user(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let alice_id = alice_login.user_id.clone();
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    join(&bob, &room).await;
    let event = send_text(&alice, &room, "e1", "read me").await;
    let token = next_batch(&bob.sync(None, 0, None).await.unwrap());

    // Typing, with its refusals.
    let typing_path = format!("{V3}/rooms/{room}/typing/{alice_id}");
    assert_eq!(
        outcome(&bob, Method::PUT, &typing_path, json!({ "typing": true })).await,
        (403, "M_FORBIDDEN".into()),
        "nobody types for someone else"
    );
    assert_eq!(
        outcome(
            &alice,
            Method::PUT,
            &typing_path,
            json!({ "typing": "yes" })
        )
        .await,
        (400, "M_BAD_JSON".into())
    );
    let (carol, carol_login) = user(&server, "carol").await;
    assert_eq!(
        outcome(
            &carol,
            Method::PUT,
            &format!("{V3}/rooms/{room}/typing/{}", carol_login.user_id),
            json!({ "typing": true })
        )
        .await,
        (403, "M_FORBIDDEN".into()),
        "only members type"
    );
    let waiting = {
        let bob = bob.clone();
        let token = token.clone();
        tokio::spawn(async move { bob.sync(Some(&token), 60_000, None).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _: Value = alice
        .put(&typing_path, &json!({ "typing": true, "timeout": 30_000 }))
        .await
        .unwrap();
    let sync = waiting.await.unwrap().unwrap();
    let ephemeral = &sync["rooms"]["join"][&room]["ephemeral"]["events"];
    assert_eq!(ephemeral[0]["type"], "m.typing");
    assert_eq!(ephemeral[0]["content"]["user_ids"], json!([alice_id]));
    let token = next_batch(&sync);
    let _: Value = alice
        .put(&typing_path, &json!({ "typing": false }))
        .await
        .unwrap();
    let sync = bob.sync(Some(&token), 10_000, None).await.unwrap();
    let ephemeral = &sync["rooms"]["join"][&room]["ephemeral"]["events"];
    assert_eq!(ephemeral[0]["content"]["user_ids"], json!([]));

    // A short typing notification expires by itself, and syncs hear so.
    let token = next_batch(&sync);
    let _: Value = alice
        .put(&typing_path, &json!({ "typing": true, "timeout": 300 }))
        .await
        .unwrap();
    let sync = bob.sync(Some(&token), 10_000, None).await.unwrap();
    let ephemeral = &sync["rooms"]["join"][&room]["ephemeral"]["events"];
    assert_eq!(ephemeral[0]["content"]["user_ids"], json!([alice_id]));
    let sync = bob
        .sync(Some(&next_batch(&sync)), 10_000, None)
        .await
        .unwrap();
    let ephemeral = &sync["rooms"]["join"][&room]["ephemeral"]["events"];
    assert_eq!(ephemeral[0]["content"]["user_ids"], json!([]), "expired");

    // Receipts: public ones for all, private ones for their owner.
    let token = next_batch(&sync);
    let _: Value = alice
        .post(
            &format!("{V3}/rooms/{room}/receipt/m.read.private/{event}"),
            &json!({}),
        )
        .await
        .unwrap();
    let _: Value = bob
        .post(
            &format!("{V3}/rooms/{room}/receipt/m.read/{event}"),
            &json!({}),
        )
        .await
        .unwrap();
    let sync = bob.sync(Some(&token), 10_000, None).await.unwrap();
    let receipts = &sync["rooms"]["join"][&room]["ephemeral"]["events"][0];
    assert_eq!(receipts["type"], "m.receipt");
    let by_user = receipts["content"][&event]["m.read"].as_object().unwrap();
    assert!(by_user.contains_key(&bob_login.user_id));
    assert!(receipts["content"][&event].get("m.read.private").is_none());
    let alice_sync = alice.sync(Some(&token), 0, None).await.unwrap();
    let own = &alice_sync["rooms"]["join"][&room]["ephemeral"]["events"][0]["content"][&event];
    assert!(own["m.read.private"].get(&alice_id).is_some(), "{own}");

    // Account data, global and per room (tags).
    let token = next_batch(&sync);
    let bob_id = &bob_login.user_id;
    let _: Value = bob
        .put(
            &format!("{V3}/user/{bob_id}/account_data/org.example.settings"),
            &json!({ "theme": "dark" }),
        )
        .await
        .unwrap();
    let _: Value = bob
        .put(
            &format!("{V3}/user/{bob_id}/rooms/{room}/tags/m.favourite"),
            &json!({ "order": 0.5 }),
        )
        .await
        .unwrap();
    let sync = bob.sync(Some(&token), 10_000, None).await.unwrap();
    assert_eq!(
        sync["account_data"]["events"],
        json!([{ "type": "org.example.settings", "content": { "theme": "dark" } }])
    );
    let room_data = &sync["rooms"]["join"][&room]["account_data"]["events"][0];
    assert_eq!(room_data["type"], "m.tag");
    assert_eq!(room_data["content"]["tags"]["m.favourite"]["order"], 0.5);

    // Presence of someone sharing the room.
    let token = next_batch(&sync);
    let _: Value = alice
        .put(
            &format!("{V3}/presence/{alice_id}/status"),
            &json!({ "presence": "unavailable", "status_msg": "lunch" }),
        )
        .await
        .unwrap();
    let sync = bob.sync(Some(&token), 10_000, None).await.unwrap();
    let presence = sync["presence"]["events"].as_array().unwrap();
    let alice_presence = presence
        .iter()
        .find(|event| event["sender"] == alice_id.as_str())
        .expect("alice's presence");
    assert_eq!(alice_presence["content"]["presence"], "unavailable");
    assert_eq!(alice_presence["content"]["status_msg"], "lunch");
    server.stop().await;
}

/// A step of the interleaving property test.
#[derive(Debug, Clone)]
enum Step {
    /// Messages sent at once into one room, and one into the next room.
    Send { room: usize, count: usize },
    /// A sync with this timeline limit, paging back through any gap.
    Sync { limit: u32 },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            (0usize..3, 1usize..6).prop_map(|(room, count)| Step::Send { room, count }),
            (1u32..6).prop_map(|limit| Step::Sync { limit }),
        ],
        4..20,
    )
}

/// Runs one interleaving: every message sent must come through the
/// syncs (or the pages behind their limited timelines) exactly once.
async fn interleave(server: &TestServer, case: usize, steps: Vec<Step>) {
    let (alice, _) = user(server, &format!("p{case}a")).await;
    let (bob, _) = user(server, &format!("p{case}b")).await;
    let mut rooms = Vec::new();
    for _ in 0..3 {
        let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
        join(&bob, &room).await;
        rooms.push(room);
    }
    let mut token = next_batch(&bob.sync(None, 0, None).await.unwrap());
    let mut sent = HashSet::new();
    let mut delivered: Vec<String> = Vec::new();
    let mut txn = 0;
    for step in steps.into_iter().chain([Step::Sync { limit: 1000 }]) {
        match step {
            Step::Send { room, count } => {
                let sends: Vec<(&Client, &str, String)> = (0..=count)
                    .map(|i| {
                        txn += 1;
                        let target = if i == count { (room + 1) % 3 } else { room };
                        let sender = if i % 2 == 0 { &alice } else { &bob };
                        (sender, rooms[target].as_str(), format!("t{txn}"))
                    })
                    .collect();
                let sends = sends
                    .iter()
                    .map(|(sender, room, txn)| send_text(sender, room, txn, "m"));
                sent.extend(join_all(sends).await);
            }
            Step::Sync { limit } => {
                let filter = json!({ "room": { "timeline": { "limit": limit } } }).to_string();
                let sync = bob.sync(Some(&token), 0, Some(&filter)).await.unwrap();
                for room in &rooms {
                    let section = &sync["rooms"]["join"][room]["timeline"];
                    let mut ids: Vec<String> = timeline(&sync, room)
                        .iter()
                        .map(|event| event["event_id"].as_str().unwrap().to_owned())
                        .collect();
                    if section["limited"] == true {
                        let prev_batch = section["prev_batch"].as_str().unwrap();
                        let page: Value = bob
                            .get(&format!(
                                "{V3}/rooms/{room}/messages?dir=b&from={prev_batch}&to={token}&limit=1000"
                            ))
                            .await
                            .unwrap();
                        ids.extend(
                            page["chunk"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|event| event["event_id"].as_str().unwrap().to_owned()),
                        );
                    }
                    delivered.extend(ids);
                }
                token = next_batch(&sync);
            }
        }
    }
    let unique: HashSet<&String> = delivered.iter().collect();
    assert_eq!(unique.len(), delivered.len(), "an event came twice");
    let missing: Vec<&String> = sent.iter().filter(|id| !unique.contains(id)).collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
}

#[test]
fn no_event_is_delivered_twice_or_skipped() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::start());
    let mut runner = TestRunner::new(Config {
        cases: 8,
        failure_persistence: None,
        ..Config::default()
    });
    let case = AtomicUsize::new(0);
    let result = runner.run(&steps(), |steps| {
        let case = case.fetch_add(1, Ordering::Relaxed);
        runtime.block_on(interleave(&server, case, steps));
        Ok(())
    });
    runtime.block_on(server.stop());
    result.unwrap();
}

/// The rule IDs of one kind of the ruleset, in order.
fn rule_ids(ruleset: &Value, kind: &str) -> Vec<String> {
    ruleset[kind]
        .as_array()
        .expect("rules of the kind")
        .iter()
        .map(|rule| rule["rule_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn push_rules_are_the_defaults_with_the_users_changes() {
    let server = TestServer::start().await;
    let (alice, login) = user(&server, "alice").await;
    let user = &login.user_id;
    let rules: Value = alice.get(&format!("{V3}/pushrules/")).await.unwrap();
    let global = &rules["global"];
    assert_eq!(rule_ids(global, "override")[0], ".m.rule.master");
    assert!(rule_ids(global, "underride").contains(&".m.rule.message".to_owned()));
    let initial = alice.sync(None, 0, None).await.unwrap();
    let token = next_batch(&initial);
    let in_sync = initial["account_data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|event| event["type"] == "m.push_rules")
        .expect("the initial sync carries the push rules");
    assert_eq!(&in_sync["content"], &rules);

    // User rules, placed relative to each other.
    let content = |pattern: &str| json!({ "pattern": pattern, "actions": ["notify"] });
    let rule_path = |kind: &str, id: &str| format!("{V3}/pushrules/global/{kind}/{id}");
    let _: Value = alice
        .put(&rule_path("content", "tea"), &content("tea"))
        .await
        .unwrap();
    let _: Value = alice
        .put(
            &format!("{}?before=tea", rule_path("content", "coffee")),
            &content("coffee"),
        )
        .await
        .unwrap();
    let _: Value = alice
        .put(
            &format!("{}/enabled", rule_path("underride", ".m.rule.message")),
            &json!({ "enabled": false }),
        )
        .await
        .unwrap();
    let _: Value = alice
        .put(
            &format!(
                "{}/actions",
                rule_path("override", ".m.rule.suppress_notices")
            ),
            &json!({ "actions": ["notify"] }),
        )
        .await
        .unwrap();
    let global: Value = alice.get(&format!("{V3}/pushrules/global/")).await.unwrap();
    assert_eq!(rule_ids(&global, "content"), ["coffee", "tea"]);
    let tea: Value = alice.get(&rule_path("content", "tea")).await.unwrap();
    assert_eq!(tea["default"], false);
    assert_eq!(tea["pattern"], "tea");
    let enabled: Value = alice
        .get(&format!(
            "{}/enabled",
            rule_path("underride", ".m.rule.message")
        ))
        .await
        .unwrap();
    assert_eq!(enabled, json!({ "enabled": false }));
    let actions: Value = alice
        .get(&format!(
            "{}/actions",
            rule_path("override", ".m.rule.suppress_notices")
        ))
        .await
        .unwrap();
    assert_eq!(actions, json!({ "actions": ["notify"] }));

    // Syncs hear of the change; account data shows the whole ruleset; the
    // database holds only the changes.
    let update = alice.sync(Some(&token), 10_000, None).await.unwrap();
    let pushed = &update["account_data"]["events"][0];
    assert_eq!(pushed["type"], "m.push_rules");
    assert_eq!(
        rule_ids(&pushed["content"]["global"], "content"),
        ["coffee", "tea"]
    );
    let via_account_data: Value = alice
        .get(&format!("{V3}/user/{user}/account_data/m.push_rules"))
        .await
        .unwrap();
    assert_eq!(via_account_data["global"], global);
    let stored = server
        .query("SELECT content FROM account_data WHERE data_type = 'm.push_rules'")
        .await;
    let stored: String = stored[0].get(0);
    assert!(
        stored.contains("coffee") && !stored.contains(".m.rule.call"),
        "{stored}"
    );

    // Deleting, and the refusals, which change nothing.
    let (status, _) = outcome(
        &alice,
        Method::DELETE,
        &rule_path("content", "coffee"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let before = server.query("SELECT content FROM account_data").await.len();
    for (method, path, body, expected) in [
        (
            Method::PUT,
            rule_path("content", ".m.mine"),
            content("x"),
            (400, "M_INVALID_PARAM"),
        ),
        (
            Method::PUT,
            rule_path("content", "nopattern"),
            json!({ "actions": [] }),
            (400, "M_INVALID_PARAM"),
        ),
        (
            Method::PUT,
            rule_path("colour", "x"),
            content("x"),
            (400, "M_INVALID_PARAM"),
        ),
        (
            Method::PUT,
            format!("{}?after=ghost", rule_path("content", "x")),
            content("x"),
            (400, "M_INVALID_PARAM"),
        ),
        (
            Method::DELETE,
            rule_path("override", ".m.rule.master"),
            Value::Null,
            (400, "M_INVALID_PARAM"),
        ),
        (
            Method::DELETE,
            rule_path("content", "coffee"),
            Value::Null,
            (404, "M_NOT_FOUND"),
        ),
        (
            Method::GET,
            rule_path("content", "coffee"),
            Value::Null,
            (404, "M_NOT_FOUND"),
        ),
        (
            Method::PUT,
            format!("{}/actions", rule_path("content", "tea")),
            json!({ "actions": [{ "bogus": 1 }] }),
            (400, "M_INVALID_PARAM"),
        ),
        (
            Method::PUT,
            format!("{}/enabled", rule_path("content", "ghost")),
            json!({ "enabled": true }),
            (404, "M_NOT_FOUND"),
        ),
        (
            Method::PUT,
            format!("{}/enabled", rule_path("content", "tea")),
            json!({ "enabled": "yes" }),
            (400, "M_BAD_JSON"),
        ),
    ] {
        assert_eq!(
            outcome(&alice, method.clone(), &path, body).await,
            (expected.0, expected.1.into()),
            "{method} {path}"
        );
    }
    let after: Value = alice.get(&format!("{V3}/pushrules/global/")).await.unwrap();
    assert_eq!(rule_ids(&after, "content"), ["tea"]);
    assert_eq!(
        server.query("SELECT content FROM account_data").await.len(),
        before
    );
    server.stop().await;
}

fn unread(sync: &Value, room: &str) -> (u64, u64) {
    let counts = &sync["rooms"]["join"][room]["unread_notifications"];
    (
        counts["notification_count"]
            .as_u64()
            .expect("notification_count"),
        counts["highlight_count"].as_u64().expect("highlight_count"),
    )
}

#[tokio::test]
async fn unread_counts_follow_push_rules_and_receipts() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    join(&bob, &room).await;
    send_text(&alice, &room, "u1", "one").await;
    send_text(&alice, &room, "u2", "two").await;
    // A notice notifies nobody (.m.rule.suppress_notices).
    let _: Value = alice
        .put(
            &format!("{V3}/rooms/{room}/send/m.room.message/u3"),
            &json!({ "msgtype": "m.notice", "body": "bot says hi" }),
        )
        .await
        .unwrap();
    let last = send_text(&bob, &room, "own", "bob's own message does not count").await;
    let sync = bob.sync(None, 0, None).await.unwrap();
    assert_eq!(
        unread(&sync, &room),
        (2, 0),
        "two messages in a one-to-one room"
    );

    // A mention highlights.
    let token = next_batch(&sync);
    let _: Value = alice
        .put(
            &format!("{V3}/rooms/{room}/send/m.room.message/u4"),
            &json!({ "msgtype": "m.text", "body": "look",
                     "m.mentions": { "user_ids": [bob_login.user_id] } }),
        )
        .await
        .unwrap();
    let sync = bob.sync(Some(&token), 10_000, None).await.unwrap();
    assert_eq!(unread(&sync, &room), (3, 1));

    // Reading up to the latest event clears the counts; a disabled rule
    // stops counting.
    let latest = timeline(&sync, &room).last().unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let _: Value = bob
        .post(
            &format!("{V3}/rooms/{room}/receipt/m.read/{latest}"),
            &json!({}),
        )
        .await
        .unwrap();
    let sync = bob
        .sync(Some(&next_batch(&sync)), 10_000, None)
        .await
        .unwrap();
    assert_eq!(unread(&sync, &room), (0, 0));
    let _: Value = bob
        .put(
            &format!("{V3}/pushrules/global/underride/.m.rule.room_one_to_one/enabled"),
            &json!({ "enabled": false }),
        )
        .await
        .unwrap();
    let _: Value = bob
        .put(
            &format!("{V3}/pushrules/global/underride/.m.rule.message/enabled"),
            &json!({ "enabled": false }),
        )
        .await
        .unwrap();
    send_text(&alice, &room, "u5", "quiet now").await;
    let sync = bob
        .sync(Some(&next_batch(&sync)), 10_000, None)
        .await
        .unwrap();
    assert_eq!(unread(&sync, &room), (0, 0));
    // Alice's own messages never count for her; bob's one does.
    let alice_sync = alice.sync(None, 0, None).await.unwrap();
    assert_eq!(unread(&alice_sync, &room), (1, 0), "{last}");
    server.stop().await;
}
