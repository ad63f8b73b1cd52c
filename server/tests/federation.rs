//! Federation between three `hanse` processes with their own names,
//! databases and TLS certificates from a test CA: joins through another
//! server, messages and state changes in every direction, agreement on the
//! room's state, and catch-up after a server was down.

mod common;

use std::time::Duration;

use common::federation::{
    bodies, eventually, join_via, state_ids, whoami, FederatedServer, TestCa,
};
use common::{create_room, send_text};
use hanse_protocol::path_segment::encode;
use serde_json::{json, Value};

const PATIENCE: Duration = Duration::from_secs(60);
/// Long enough for three rounds of the sender's back-off.
const CATCH_UP: Duration = Duration::from_secs(150);

async fn set_topic(client: &hanse_sdk::Client, room: &str, topic: &str) {
    let _: Value = client
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/state/m.room.topic/"),
            &json!({ "topic": topic }),
        )
        .await
        .expect("topic");
}

#[tokio::test]
async fn three_servers_share_a_room_and_a_stopped_one_catches_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path());
    let a = FederatedServer::start(&ca, dir.path(), "a", vec![]).await;
    let b = FederatedServer::start(&ca, dir.path(), "b", vec![]).await;
    let mut c = FederatedServer::start(&ca, dir.path(), "c", vec![]).await;
    let (alice, _) = a.user("alice").await;
    let (bob, _) = b.user("bob").await;
    let (carol, _) = c.user("carol").await;

    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    let path_room = encode(&room);
    for (client, server) in [(&bob, &b), (&carol, &c)] {
        let (status, body) = join_via(client, &path_room, &encode(&a.name)).await;
        assert_eq!(
            status,
            200,
            "join from {}: {body}; A's log:\n{}",
            server.name,
            a.log()
        );
        assert_eq!(body["room_id"], room.as_str());
    }

    // alice's first message reaches B after carol's join (A queued the
    // join for B first), so once B has it, B knows C is in the room too.
    send_text(&alice, &path_room, "a1", "from alice").await;
    for (client, server) in [(&bob, &b), (&carol, &c)] {
        eventually(
            PATIENCE,
            &format!("alice's first message on {}", server.name),
            || async {
                bodies(client, &path_room)
                    .await
                    .iter()
                    .any(|s| s == "from alice")
            },
        )
        .await;
    }
    send_text(&bob, &path_room, "b1", "from bob").await;
    send_text(&carol, &path_room, "c1", "from carol").await;
    set_topic(&alice, &path_room, "set on A").await;
    // A server sends its events to the servers it knows are in the room:
    // bob's message may leave B before B hears of carol's join. The next
    // event that cites it brings it to C (C fills the gap from A), as
    // anywhere in federation; so A's users answer once A has all three.
    let everyone = ["from alice", "from bob", "from carol"];
    eventually(PATIENCE, "every message on A", || async {
        let seen = bodies(&alice, &path_room).await;
        everyone.iter().all(|body| seen.iter().any(|s| s == body))
    })
    .await;
    send_text(&alice, &path_room, "a-all", "alice saw everyone").await;
    let everyone = ["from alice", "from bob", "from carol", "alice saw everyone"];
    for (client, server) in [(&alice, &a), (&bob, &b), (&carol, &c)] {
        eventually(
            PATIENCE,
            &format!("every message on {}", server.name),
            || async {
                let seen = bodies(client, &path_room).await;
                everyone.iter().all(|body| seen.iter().any(|s| s == body))
            },
        )
        .await;
    }
    eventually(PATIENCE, "the same state everywhere", || async {
        let on_a = state_ids(&alice, &path_room).await;
        on_a == state_ids(&bob, &path_room).await && on_a == state_ids(&carol, &path_room).await
    })
    .await;

    // Typing crosses servers as an EDU.
    let bob_id = whoami(&bob).await;
    let _: Value = bob
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{path_room}/typing/{}",
                encode(&bob_id)
            ),
            &json!({ "typing": true, "timeout": 30000 }),
        )
        .await
        .expect("typing");
    eventually(PATIENCE, "bob typing, seen on A", || async {
        let sync: Value = alice
            .get("/_matrix/client/v3/sync?timeout=0")
            .await
            .expect("sync");
        sync["rooms"]["join"][&room]["ephemeral"]["events"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|event| {
                event["type"] == "m.typing"
                    && event["content"]["user_ids"]
                        .as_array()
                        .is_some_and(|ids| ids.iter().any(|id| id == bob_id.as_str()))
            })
    })
    .await;

    // So do public read receipts.
    let newest: Value = alice
        .get(&format!(
            "/_matrix/client/v3/rooms/{path_room}/messages?dir=b&limit=1"
        ))
        .await
        .expect("messages");
    let newest = newest["chunk"][0]["event_id"]
        .as_str()
        .expect("newest")
        .to_owned();
    let _: Value = alice
        .post(
            &format!(
                "/_matrix/client/v3/rooms/{path_room}/receipt/m.read/{}",
                encode(&newest)
            ),
            &json!({}),
        )
        .await
        .expect("receipt");
    let alice_id = whoami(&alice).await;
    eventually(PATIENCE, "alice's receipt, seen on C", || async {
        let sync: Value = carol
            .get("/_matrix/client/v3/sync?timeout=0")
            .await
            .expect("sync");
        sync["rooms"]["join"][&room]["ephemeral"]["events"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|event| {
                event["type"] == "m.receipt"
                    && event["content"][&newest]["m.read"][&alice_id].is_object()
            })
    })
    .await;

    // Partition: C is down while A and B talk and change the topic.
    c.stop();
    send_text(&alice, &path_room, "a2", "while carol was away (alice)").await;
    send_text(&bob, &path_room, "b2", "while carol was away (bob)").await;
    set_topic(&alice, &path_room, "changed while C was down").await;
    send_text(&alice, &path_room, "a3", "last before carol returns").await;
    c.restart().await;

    let later = [
        "while carol was away (alice)",
        "while carol was away (bob)",
        "last before carol returns",
    ];
    // A and B retry C on their back-off (5 s, then 10, 20, ...), so
    // catching up may take them a while after C is back.
    let started = std::time::Instant::now();
    loop {
        let seen = bodies(&carol, &path_room).await;
        if later.iter().all(|body| seen.iter().any(|s| s == body)) {
            break;
        }
        assert!(
            started.elapsed() < CATCH_UP,
            "C did not catch up: it has {seen:?}\n=== A\n{}\n=== C\n{}",
            a.log(),
            c.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eventually(
        PATIENCE,
        "the same state on all three after the partition",
        || async {
            let on_a = state_ids(&alice, &path_room).await;
            on_a == state_ids(&bob, &path_room).await && on_a == state_ids(&carol, &path_room).await
        },
    )
    .await;
    let topic: Value = carol
        .get(&format!(
            "/_matrix/client/v3/rooms/{path_room}/state/m.room.topic/"
        ))
        .await
        .expect("topic on C");
    assert_eq!(topic["topic"], "changed while C was down");
}

/// The content of `event_id` as `client` sees it in the room's timeline
/// (`None` while it is not there).
async fn content_of(client: &hanse_sdk::Client, room: &str, event_id: &str) -> Option<Value> {
    let messages: Value = client
        .get(&format!(
            "/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=100"
        ))
        .await
        .expect("messages");
    messages["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .find(|event| event["event_id"] == event_id)
        .map(|event| event["content"].clone())
}

async fn redact(client: &hanse_sdk::Client, room: &str, event_id: &str, txn: &str) {
    let _: Value = client
        .put(
            &format!(
                "/_matrix/client/v3/rooms/{room}/redact/{}/{txn}",
                encode(event_id)
            ),
            &json!({ "reason": "test" }),
        )
        .await
        .expect("redact");
}

/// Redactions received over federation take effect (found against
/// Synapse: they were stored and shown, their targets left whole): one
/// from the target's own server, and one from a moderator on another.
#[tokio::test]
async fn received_redactions_take_effect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path());
    let a = FederatedServer::start(&ca, dir.path(), "a", vec![]).await;
    let b = FederatedServer::start(&ca, dir.path(), "b", vec![]).await;
    let (alice, _) = a.user("alice").await;
    let (bob, _) = b.user("bob").await;
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    let path_room = encode(&room);
    let (status, body) = join_via(&bob, &path_room, &encode(&a.name)).await;
    assert_eq!(status, 200, "join: {body}");

    let own = send_text(&bob, &path_room, "b1", "bob takes this back").await;
    let moderated = send_text(&bob, &path_room, "b2", "alice removes this").await;
    for id in [&own, &moderated] {
        eventually(PATIENCE, "bob's messages on A", || async {
            content_of(&alice, &path_room, id).await.is_some()
        })
        .await;
    }
    // Bob's own redaction, received by A.
    redact(&bob, &path_room, &own, "r1").await;
    // Alice (power level 100) redacts Bob's message; B receives it.
    redact(&alice, &path_room, &moderated, "r2").await;
    for (client, id, what) in [
        (&alice, &own, "bob's redaction on A"),
        (&bob, &moderated, "alice's redaction on B"),
    ] {
        eventually(PATIENCE, what, || async {
            content_of(client, &path_room, id).await == Some(json!({}))
        })
        .await;
    }
}
