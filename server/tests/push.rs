//! Pushers, push gateway delivery, GET /notifications and per-thread
//! unread counts.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use hanse_core::PushSettings;
use hanse_sdk::{Client, Method};
use hanse_server::testing::{TestOptions, TestServer};
use serde_json::{json, Value};

use common::{create_room, join, outcome, send_text, user};

const V3: &str = "/_matrix/client/v3";

/// A push gateway on loopback: records every notification, answers from
/// a script of (status, body), then 200 with nothing rejected.
#[derive(Clone, Default)]
struct Gateway {
    received: Arc<Mutex<Vec<Value>>>,
    script: Arc<Mutex<VecDeque<(u16, Value)>>>,
}

impl Gateway {
    async fn start() -> (Self, String, actix_web::dev::ServerHandle) {
        let gateway = Gateway::default();
        let state = gateway.clone();
        let (address, handle) = common::serve_on_loopback(move |app| {
            app.app_data(web::Data::new(state.clone())).route(
                "/_matrix/push/v1/notify",
                web::post().to(
                    |gateway: web::Data<Gateway>, body: web::Json<Value>| async move {
                        gateway.received.lock().unwrap().push(body.into_inner());
                        let (status, answer) = gateway
                            .script
                            .lock()
                            .unwrap()
                            .pop_front()
                            .unwrap_or((200, json!({ "rejected": [] })));
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                            .json(answer)
                    },
                ),
            );
        });
        (gateway, format!("{address}/_matrix/push/v1/notify"), handle)
    }

    fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `count` notifications arrived; returns them all.
    async fn wait_for(&self, count: usize) -> Vec<Value> {
        for _ in 0..500 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {count} notifications, got {:?}", self.received());
    }
}

/// A server that may push to loopback, retrying quickly.
async fn push_server() -> TestServer {
    let mut options = TestOptions::default();
    options.settings.push = PushSettings {
        allow_private_gateways: true,
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        ..PushSettings::default()
    };
    TestServer::start_with(options).await
}

fn http_pusher(url: &str, pushkey: &str) -> Value {
    json!({
        "kind": "http",
        "app_id": "org.hanse.test",
        "pushkey": pushkey,
        "app_display_name": "Hanse test",
        "device_display_name": "phone",
        "lang": "en",
        "data": { "url": url, "custom": 7 },
    })
}

async fn set_pusher(client: &Client, body: &Value) {
    let _: Value = client
        .post(&format!("{V3}/pushers/set"), body)
        .await
        .expect("set pusher");
}

async fn pushers(client: &Client) -> Vec<Value> {
    let listed: Value = client.get(&format!("{V3}/pushers")).await.expect("pushers");
    listed["pushers"].as_array().expect("a list").clone()
}

#[tokio::test]
async fn pushers_are_validated_listed_replaced_and_deleted() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    // A public address given outright: checked without a lookup, and
    // never contacted (alice and bob are in no room).
    let url = "https://93.184.216.34/_matrix/push/v1/notify";
    let set = "/_matrix/client/v3/pushers/set";

    let bad = [
        (json!({ "app_id": "a", "pushkey": "k" }), "M_MISSING_PARAM"),
        (json!({ "kind": "http", "pushkey": "k" }), "M_MISSING_PARAM"),
        (
            json!({ "kind": 5, "app_id": "a", "pushkey": "k" }),
            "M_INVALID_PARAM",
        ),
        (
            {
                let mut body = http_pusher(url, "k");
                body["data"]["url"] = json!("https://93.184.216.34/other");
                body
            },
            "M_INVALID_PARAM",
        ),
        (
            {
                let mut body = http_pusher(url, "k");
                body["data"]["format"] = json!("full");
                body
            },
            "M_INVALID_PARAM",
        ),
        (
            {
                let mut body = http_pusher(url, "k");
                body["kind"] = json!("email");
                body
            },
            "M_INVALID_PARAM",
        ),
        (
            {
                let mut body = http_pusher(url, "k");
                body["app_id"] = json!("x".repeat(65));
                body
            },
            "M_INVALID_PARAM",
        ),
        (
            {
                let mut body = http_pusher(url, "k");
                body["pushkey"] = json!("k".repeat(513));
                body
            },
            "M_INVALID_PARAM",
        ),
        (
            {
                let mut body = http_pusher(url, "k");
                body.as_object_mut().unwrap().remove("lang");
                body
            },
            "M_MISSING_PARAM",
        ),
        // Loopback gateways are refused unless the operator allows them.
        (
            http_pusher("http://127.0.0.1:9/_matrix/push/v1/notify", "k"),
            "M_INVALID_PARAM",
        ),
    ];
    for (body, errcode) in bad {
        assert_eq!(
            outcome(&alice, Method::POST, set, body.clone()).await,
            (400, errcode.to_owned()),
            "{body}"
        );
    }
    assert!(pushers(&alice).await.is_empty(), "nothing stored");

    // Set, listed as given; set again, replaced.
    set_pusher(&alice, &http_pusher(url, "shared")).await;
    let listed = pushers(&alice).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["pushkey"], "shared");
    assert_eq!(listed[0]["data"]["custom"], 7);
    assert_eq!(listed[0]["data"]["url"], url);
    let mut renamed = http_pusher(url, "shared");
    renamed["device_display_name"] = json!("tablet");
    set_pusher(&alice, &renamed).await;
    let listed = pushers(&alice).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["device_display_name"], "tablet");

    // With append, bob's pusher of the same app and pushkey joins
    // alice's; without, it takes the pushkey from her.
    let mut appended = http_pusher(url, "shared");
    appended["append"] = json!(true);
    set_pusher(&bob, &appended).await;
    assert_eq!(pushers(&alice).await.len(), 1);
    set_pusher(&bob, &http_pusher(url, "shared")).await;
    assert!(pushers(&alice).await.is_empty());
    assert_eq!(pushers(&bob).await.len(), 1);

    // kind null deletes; logging out deletes the device's pushers.
    let mut delete = http_pusher(url, "shared");
    delete["kind"] = Value::Null;
    set_pusher(&bob, &delete).await;
    assert!(pushers(&bob).await.is_empty());
    set_pusher(&alice, &http_pusher(url, "mine")).await;
    let _: Value = alice
        .post(&format!("{V3}/logout"), &json!({}))
        .await
        .expect("logout");
    assert!(server.query("SELECT 1 FROM pushers").await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn notifications_reach_the_gateway_in_order_through_failures() {
    let server = push_server().await;
    let (gateway, url, gateway_handle) = Gateway::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let _: Value = alice
        .put(
            &format!(
                "{V3}/profile/{}/displayname",
                "@alice:".to_owned() + server_name(&server)
            ),
            &json!({ "displayname": "Alice" }),
        )
        .await
        .expect("displayname");
    let room = create_room(
        &alice,
        json!({ "preset": "public_chat", "name": "Harbour" }),
    )
    .await;
    join(&bob, &room).await;
    set_pusher(&bob, &http_pusher(&url, "bob-phone")).await;

    // The gateway fails twice: the notification is retried, not lost,
    // and the next one waits its turn.
    gateway
        .script
        .lock()
        .unwrap()
        .extend([(500, json!({})), (503, json!({}))]);
    let first = send_text(&alice, &room, "p1", "first").await;
    // Notices notify nobody: never pushed.
    let _: Value = alice
        .put(
            &format!("{V3}/rooms/{room}/send/m.room.message/p2"),
            &json!({ "msgtype": "m.notice", "body": "bot" }),
        )
        .await
        .unwrap();
    let second = send_text(&alice, &room, "p3", "second").await;
    let received = gateway.wait_for(4).await;
    let ids: Vec<&str> = received
        .iter()
        .map(|n| n["notification"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.as_str(), &first, &first, &second]);
    let notification = &received[2]["notification"];
    assert_eq!(notification["room_id"], room);
    assert_eq!(notification["type"], "m.room.message");
    assert_eq!(notification["sender"], alice_id(&server));
    assert_eq!(notification["sender_display_name"], "Alice");
    assert_eq!(notification["room_name"], "Harbour");
    assert_eq!(notification["content"]["body"], "first");
    // A one-to-one room's messages ring: high priority, with a sound.
    assert_eq!(notification["prio"], "high");
    assert_eq!(notification["counts"]["unread"], 1);
    let device = &notification["devices"][0];
    assert_eq!(device["pushkey"], "bob-phone");
    assert_eq!(device["app_id"], "org.hanse.test");
    assert_eq!(device["data"], json!({ "custom": 7 }), "data without url");
    assert_eq!(device["tweaks"]["sound"], "default");

    // event_id_only: ids and counts only.
    let mut brief = http_pusher(&url, "bob-phone");
    brief["data"]["format"] = json!("event_id_only");
    set_pusher(&bob, &brief).await;
    let third = send_text(&alice, &room, "p4", "third").await;
    let received = gateway.wait_for(5).await;
    let notification = &received[4]["notification"];
    assert_eq!(notification["event_id"], third);
    assert!(notification.get("content").is_none());
    assert!(notification.get("sender").is_none());
    assert_eq!(notification["counts"]["unread"], 1);

    // The gateway rejects the pushkey: the pusher goes, nothing more is
    // sent to it.
    gateway
        .script
        .lock()
        .unwrap()
        .push_back((200, json!({ "rejected": ["bob-phone"] })));
    send_text(&alice, &room, "p5", "fourth").await;
    gateway.wait_for(6).await;
    for _ in 0..100 {
        if pushers(&bob).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(pushers(&bob).await.is_empty(), "rejected pusher removed");
    send_text(&alice, &room, "p6", "fifth").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gateway.received().len(), 6);
    assert_eq!(bob_login.user_id, format!("@bob:{}", server_name(&server)));
    gateway_handle.stop(false).await;
    server.stop().await;
}

fn server_name(server: &TestServer) -> &str {
    server.federation_url.trim_start_matches("http://")
}

fn alice_id(server: &TestServer) -> String {
    format!("@alice:{}", server_name(server))
}

#[tokio::test]
async fn notifications_list_what_notified_newest_first() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let (carol, _) = user(&server, "carol").await;
    let _: Value = bob
        .put(
            &format!("{V3}/profile/{}/displayname", bob_login.user_id),
            &json!({ "displayname": "Bobby" }),
        )
        .await
        .expect("displayname");
    // The defaults no longer look at display names; bob's own rule does.
    let _: Value = bob
        .put(
            &format!("{V3}/pushrules/global/override/my_name"),
            &json!({ "conditions": [{ "kind": "contains_display_name" }],
                     "actions": ["notify", { "set_tweak": "highlight" }] }),
        )
        .await
        .expect("rule");
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    join(&bob, &room).await;
    join(&carol, &room).await;
    let plain = send_text(&alice, &room, "n1", "hello all").await;
    // Bob's display name in the body highlights.
    let named = send_text(&carol, &room, "n2", "over to you, Bobby").await;
    let _: Value = alice
        .put(
            &format!("{V3}/rooms/{room}/send/m.room.message/n3"),
            &json!({ "msgtype": "m.notice", "body": "not a notification" }),
        )
        .await
        .unwrap();
    let mentioned = alice
        .put::<Value>(
            &format!("{V3}/rooms/{room}/send/m.room.message/n4"),
            &json!({ "msgtype": "m.text", "body": "look",
                     "m.mentions": { "user_ids": [bob_login.user_id] } }),
        )
        .await
        .unwrap()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    send_text(&bob, &room, "own", "bob's own").await;

    let all: Value = bob.get(&format!("{V3}/notifications")).await.unwrap();
    let ids = |list: &Value| -> Vec<String> {
        list["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["event"]["event_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&all), [mentioned.clone(), named.clone(), plain.clone()]);
    let first = &all["notifications"][0];
    assert_eq!(first["room_id"], room);
    assert_eq!(first["read"], false);
    assert!(first["event"].get("room_id").is_none());
    assert!(first["ts"].as_i64().unwrap() > 0);
    assert!(first["actions"]
        .as_array()
        .unwrap()
        .contains(&json!({ "set_tweak": "highlight" })));
    assert!(all.get("next_token").is_none(), "nothing more");

    let highlights: Value = bob
        .get(&format!("{V3}/notifications?only=highlight"))
        .await
        .unwrap();
    assert_eq!(ids(&highlights), [mentioned.clone(), named.clone()]);

    // Paged: two, then the rest.
    let page: Value = bob
        .get(&format!("{V3}/notifications?limit=2"))
        .await
        .unwrap();
    assert_eq!(ids(&page), [mentioned.clone(), named.clone()]);
    let token = page["next_token"].as_str().expect("a next token");
    let rest: Value = bob
        .get(&format!("{V3}/notifications?limit=2&from={token}"))
        .await
        .unwrap();
    assert_eq!(ids(&rest), std::slice::from_ref(&plain));

    // A receipt marks what it covers as read.
    let _: Value = bob
        .post(
            &format!("{V3}/rooms/{room}/receipt/m.read/{named}"),
            &json!({}),
        )
        .await
        .unwrap();
    let after: Value = bob.get(&format!("{V3}/notifications")).await.unwrap();
    let read: Vec<bool> = after["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["read"].as_bool().unwrap())
        .collect();
    assert_eq!(read, [false, true, true]);

    assert_eq!(
        outcome(
            &bob,
            Method::GET,
            &format!("{V3}/notifications?from=nope"),
            json!({})
        )
        .await,
        (400, "M_INVALID_PARAM".to_owned())
    );
    server.stop().await;
}

#[tokio::test]
async fn unread_counts_are_kept_per_thread_when_asked() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    join(&bob, &room).await;
    let root = send_text(&alice, &room, "t0", "thread root").await;
    let in_thread = |n: u32| {
        json!({ "msgtype": "m.text", "body": format!("reply {n}"),
                "m.relates_to": { "rel_type": "m.thread", "event_id": root } })
    };
    let mut replies = Vec::new();
    for n in 0..2 {
        let sent: Value = alice
            .put(
                &format!("{V3}/rooms/{room}/send/m.room.message/r{n}"),
                &in_thread(n),
            )
            .await
            .unwrap();
        replies.push(sent["event_id"].as_str().unwrap().to_owned());
    }
    // A reaction to a thread reply is in the thread too.
    let _: Value = alice
        .put(
            &format!("{V3}/rooms/{room}/send/m.room.message/r9"),
            &json!({ "msgtype": "m.text", "body": "an edit-like reply",
                     "m.relates_to": { "rel_type": "m.reference", "event_id": replies[1] } }),
        )
        .await
        .unwrap();
    send_text(&alice, &room, "m1", "main again").await;

    let threaded = json!({ "room": { "timeline": { "unread_thread_notifications": true } } });
    let threaded_filter = threaded.to_string();
    let sync = bob.sync(None, 0, Some(&threaded_filter)).await.unwrap();
    let joined = &sync["rooms"]["join"][&room];
    assert_eq!(joined["unread_notifications"]["notification_count"], 2);
    assert_eq!(
        joined["unread_thread_notifications"][&root]["notification_count"],
        3
    );
    // Without asking, one count for the whole room.
    let whole = bob.sync(None, 0, None).await.unwrap();
    let joined = &whole["rooms"]["join"][&room];
    assert_eq!(joined["unread_notifications"]["notification_count"], 5);
    assert!(joined.get("unread_thread_notifications").is_none());

    // A threaded receipt clears its thread alone.
    let _: Value = bob
        .post(
            &format!("{V3}/rooms/{room}/receipt/m.read/{}", replies[1]),
            &json!({ "thread_id": root }),
        )
        .await
        .unwrap();
    let sync = bob.sync(None, 0, Some(&threaded_filter)).await.unwrap();
    let joined = &sync["rooms"]["join"][&room];
    assert_eq!(joined["unread_notifications"]["notification_count"], 2);
    assert_eq!(
        joined["unread_thread_notifications"][&root]["notification_count"], 1,
        "the reference after the receipt is still unread"
    );
    server.stop().await;
}
