//! Invites and knocks between two `hanse` processes: a user of B invited
//! to a room on A (with createRoom and with /invite) sees the invite with
//! the room's name and joins without naming a server; an invite rejected
//! on B reaches A; a knock through A shows on B with the room's name,
//! becomes an invite and a join; a knock retracted on B reaches A; an
//! invite from a server that is gone can still be rejected; and a room
//! every user of B left can be joined again.

mod common;

use std::time::Duration;

use common::create_room;
use common::federation::{bodies, eventually, post, state_ids, FederatedServer, TestCa};
use common::send_text;
use hanse_protocol::path_segment::encode;
use hanse_sdk::{Client, Method};
use serde_json::{json, Value};

const V3: &str = "/_matrix/client/v3";
const PATIENCE: Duration = Duration::from_secs(60);

async fn sync(client: &Client) -> Value {
    client
        .get(&format!("{V3}/sync?timeout=0"))
        .await
        .expect("sync")
}

/// The stripped state shown to the user of `client` for `room` in the
/// given section of /sync (`invite` or `knock`), if the room is there.
async fn stripped_state(client: &Client, section: &str, room: &str) -> Option<Vec<Value>> {
    let state_field = format!("{section}_state");
    sync(client).await["rooms"][section][room][&state_field]["events"]
        .as_array()
        .cloned()
}

fn find<'a>(events: &'a [Value], event_type: &str) -> Option<&'a Value> {
    events.iter().find(|event| event["type"] == event_type)
}

/// `user`'s membership of `room` as `viewer` sees the room's state.
async fn membership(viewer: &Client, room: &str, user: &str) -> Option<String> {
    let (status, body) = viewer
        .send_raw(
            Method::GET,
            &format!(
                "{V3}/rooms/{}/state/m.room.member/{}",
                encode(room),
                encode(user)
            ),
            &json!({}),
        )
        .await
        .expect("member state");
    (status == 200).then(|| body["membership"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn invites_and_knocks_cross_servers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path());
    let mut a = FederatedServer::start(&ca, dir.path(), "a", vec![]).await;
    let b = FederatedServer::start(&ca, dir.path(), "b", vec![]).await;
    let (alice, alice_id) = a.user("alice").await;
    let (bob, bob_id) = b.user("bob").await;
    let (carol, carol_id) = b.user("carol").await;
    let (erin, erin_id) = b.user("erin").await;
    let (dave, dave_id) = b.user("dave").await;
    let (frank, frank_id) = b.user("frank").await;

    // createRoom inviting a user of B: a direct chat.
    let room = create_room(
        &alice,
        json!({
            "preset": "private_chat",
            "name": "Plans",
            "invite": [bob_id],
            "is_direct": true,
        }),
    )
    .await;
    let path_room = encode(&room);
    eventually(PATIENCE, "bob's invite on B", || async {
        stripped_state(&bob, "invite", &room).await.is_some()
    })
    .await;
    let shown = stripped_state(&bob, "invite", &room).await.expect("invite");
    assert_eq!(
        find(&shown, "m.room.name").map(|e| e["content"]["name"].clone()),
        Some(json!("Plans")),
        "{shown:?}"
    );
    assert!(find(&shown, "m.room.create").is_some(), "{shown:?}");
    let invite = shown
        .iter()
        .find(|event| event["type"] == "m.room.member" && event["state_key"] == bob_id.as_str())
        .expect("bob's own invite event");
    assert_eq!(invite["content"]["membership"], "invite");
    assert_eq!(invite["content"]["is_direct"], true);
    assert_eq!(invite["sender"], alice_id.as_str());
    assert_eq!(
        membership(&alice, &room, &bob_id).await.as_deref(),
        Some("invite")
    );

    // /invite to a second user of B, while B is not in the room: the
    // rejection goes through A, which records it.
    let (status, body) = post(
        &alice,
        &format!("{V3}/rooms/{path_room}/invite"),
        json!({ "user_id": carol_id }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eventually(PATIENCE, "carol's invite on B", || async {
        sync(&carol).await["rooms"]["invite"][&room].is_object()
    })
    .await;
    let (status, body) = post(&carol, &format!("{V3}/rooms/{path_room}/leave"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    eventually(PATIENCE, "carol's rejection on A", || async {
        membership(&alice, &room, &carol_id).await.as_deref() == Some("leave")
    })
    .await;
    let after = sync(&carol).await;
    assert!(after["rooms"]["invite"][&room].is_null(), "{after}");

    // bob joins without naming a server: the invite says where to go.
    let (status, body) = post(&bob, &format!("{V3}/join/{path_room}"), json!({})).await;
    assert_eq!(status, 200, "{body}; B's log:\n{}", b.log());
    assert_eq!(
        membership(&alice, &room, &bob_id).await.as_deref(),
        Some("join")
    );
    assert!(
        sync(&bob).await["rooms"]["invite"][&room].is_null(),
        "the invite is gone once joined"
    );
    send_text(&alice, &path_room, "a1", "hello bob").await;
    eventually(PATIENCE, "alice's message on B", || async {
        bodies(&bob, &path_room)
            .await
            .contains(&"hello bob".to_owned())
    })
    .await;
    send_text(&bob, &path_room, "b1", "hello alice").await;
    eventually(PATIENCE, "bob's message on A", || async {
        bodies(&alice, &path_room)
            .await
            .contains(&"hello alice".to_owned())
    })
    .await;

    // A knock through A: shown on B with the room's name, then accepted.
    let knock_room = create_room(
        &alice,
        json!({
            "preset": "private_chat",
            "name": "Knock knock",
            "initial_state": [{
                "type": "m.room.join_rules",
                "state_key": "",
                "content": { "join_rule": "knock" },
            }],
        }),
    )
    .await;
    let path_knock = encode(&knock_room);
    let a_name = encode(&a.name);
    let (status, body) = post(
        &erin,
        &format!("{V3}/knock/{path_knock}?via={a_name}"),
        json!({ "reason": "let me in" }),
    )
    .await;
    assert_eq!(status, 200, "{body}; B's log:\n{}", b.log());
    assert_eq!(body["room_id"], knock_room.as_str());
    let shown = stripped_state(&erin, "knock", &knock_room)
        .await
        .expect("erin's knock in her /sync");
    assert_eq!(
        find(&shown, "m.room.name").map(|e| e["content"]["name"].clone()),
        Some(json!("Knock knock")),
        "{shown:?}"
    );
    assert_eq!(
        membership(&alice, &knock_room, &erin_id).await.as_deref(),
        Some("knock")
    );
    // A knock retracted on B, while B is not in the room: the leave goes
    // through A.
    let (status, body) = post(
        &dave,
        &format!("{V3}/knock/{path_knock}?via={a_name}"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eventually(PATIENCE, "dave's knock on A", || async {
        membership(&alice, &knock_room, &dave_id).await.as_deref() == Some("knock")
    })
    .await;
    let (status, body) = post(&dave, &format!("{V3}/rooms/{path_knock}/leave"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    eventually(PATIENCE, "dave's retraction on A", || async {
        membership(&alice, &knock_room, &dave_id).await.as_deref() == Some("leave")
    })
    .await;

    let (status, body) = post(
        &alice,
        &format!("{V3}/rooms/{path_knock}/invite"),
        json!({ "user_id": erin_id }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    eventually(PATIENCE, "erin's invite on B", || async {
        stripped_state(&erin, "invite", &knock_room).await.is_some()
    })
    .await;
    let (status, body) = post(&erin, &format!("{V3}/rooms/{path_knock}/join"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        membership(&alice, &knock_room, &erin_id).await.as_deref(),
        Some("join")
    );

    // Both servers agree on both rooms.
    for (room, viewer) in [(&path_room, &bob), (&path_knock, &erin)] {
        eventually(PATIENCE, "the same state on A and B", || async {
            state_ids(&alice, room).await == state_ids(viewer, room).await
        })
        .await;
    }

    // An invite from a server that is gone can still be rejected: B
    // records the rejection alone.
    let lost = create_room(
        &alice,
        json!({ "preset": "private_chat", "invite": [frank_id] }),
    )
    .await;
    eventually(PATIENCE, "frank's invite on B", || async {
        stripped_state(&frank, "invite", &lost).await.is_some()
    })
    .await;
    a.stop();
    let (status, body) = post(
        &frank,
        &format!("{V3}/rooms/{}/leave", encode(&lost)),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}; B's log:\n{}", b.log());
    let after = sync(&frank).await;
    assert!(after["rooms"]["invite"][&lost].is_null(), "{after}");
}

#[tokio::test]
async fn a_room_left_by_every_local_user_can_be_joined_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path());
    let a = FederatedServer::start(&ca, dir.path(), "a", vec![]).await;
    let b = FederatedServer::start(&ca, dir.path(), "b", vec![]).await;
    let (alice, _) = a.user("alice").await;
    let (bob, bob_id) = b.user("bob").await;
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    let path_room = encode(&room);
    let via = encode(&a.name);
    let join = format!("{V3}/join/{path_room}?via={via}");

    let (status, body) = post(&bob, &join, json!({})).await;
    assert_eq!(status, 200, "{body}");
    send_text(&bob, &path_room, "b1", "first visit").await;
    let (status, body) = post(&bob, &format!("{V3}/rooms/{path_room}/leave"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    eventually(PATIENCE, "bob's leave on A", || async {
        membership(&alice, &room, &bob_id).await.as_deref() == Some("leave")
    })
    .await;
    // B is in the room no more: what happens meanwhile does not reach it.
    let _: Value = alice
        .put(
            &format!("{V3}/rooms/{path_room}/state/m.room.topic/"),
            &json!({ "topic": "changed while bob was away" }),
        )
        .await
        .expect("topic");

    // Joining again: B knows the room already, and takes its state anew.
    let (status, body) = post(&bob, &join, json!({})).await;
    assert_eq!(status, 200, "{body}; B's log:\n{}", b.log());
    assert_eq!(
        membership(&alice, &room, &bob_id).await.as_deref(),
        Some("join")
    );
    let topic: Value = bob
        .get(&format!("{V3}/rooms/{path_room}/state/m.room.topic/"))
        .await
        .expect("topic on B");
    assert_eq!(topic["topic"], "changed while bob was away");
    send_text(&bob, &path_room, "b2", "second visit").await;
    eventually(PATIENCE, "bob's second visit on A", || async {
        bodies(&alice, &path_room)
            .await
            .contains(&"second visit".to_owned())
    })
    .await;
    eventually(PATIENCE, "the same state on A and B", || async {
        state_ids(&alice, &path_room).await == state_ids(&bob, &path_room).await
    })
    .await;
}
