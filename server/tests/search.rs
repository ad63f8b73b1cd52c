//! POST /search over HTTP against a real server and database: ranking and
//! recency, keys, filters, pagination, context, grouping, and that only
//! what the user may read is found (never encrypted rooms' content).

use std::collections::HashSet;

use hanse_sdk::{Client, Method};
use hanse_server::testing::TestServer;
use serde_json::{json, Value};

mod common;

use common::{create_room, outcome, send_text, user};

const V3: &str = "/_matrix/client/v3";

async fn search(client: &Client, criteria: Value, next_batch: Option<&str>) -> Value {
    let path = match next_batch {
        Some(next) => format!("{V3}/search?next_batch={next}"),
        None => format!("{V3}/search"),
    };
    let answer: Value = client
        .post(
            &path,
            &json!({ "search_categories": { "room_events": criteria } }),
        )
        .await
        .expect("search");
    answer["search_categories"]["room_events"].clone()
}

fn result_ids(section: &Value) -> Vec<String> {
    section["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["result"]["event_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn search_finds_what_the_user_may_read() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let room = create_room(
        &alice,
        json!({ "preset": "public_chat", "name": "Harbour keepers" }),
    )
    .await;
    let _: Value = bob
        .post(&format!("{V3}/rooms/{room}/join"), &json!({}))
        .await
        .unwrap();
    let first = send_text(&alice, &room, "1", "the lighthouse lamp needs oil").await;
    let second = send_text(&bob, &room, "2", "Lighthouse, lighthouse, lighthouse!").await;
    send_text(&alice, &room, "3", "nothing to see here").await;
    // An encrypted room: its events are ciphertext, found by nothing.
    let secret = create_room(
        &alice,
        json!({ "initial_state": [{ "type": "m.room.encryption", "state_key": "",
                                    "content": { "algorithm": "m.megolm.v1.aes-sha2" } }] }),
    )
    .await;
    let _: Value = alice
        .put(
            &format!("{V3}/rooms/{secret}/send/m.room.encrypted/e1"),
            &json!({ "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnAC lighthouse",
                     "sender_key": "k", "session_id": "s", "device_id": "D" }),
        )
        .await
        .unwrap();
    // A room bob is not in.
    let private = create_room(&alice, json!({ "preset": "private_chat" })).await;
    send_text(&alice, &private, "4", "the lighthouse in the private room").await;

    // By rank: the message saying it three times first; bob sees neither
    // alice's private room nor anything encrypted.
    let found = search(&bob, json!({ "search_term": "lighthouse" }), None).await;
    assert_eq!(result_ids(&found), [second.clone(), first.clone()]);
    assert_eq!(found["count"], 2);
    assert_eq!(found["highlights"], json!(["lighthouse"]));
    assert!(found.get("next_batch").is_none());
    // The room's name matches too when names are searched.
    let by_name = search(&bob, json!({ "search_term": "keepers" }), None).await;
    assert_eq!(by_name["results"][0]["result"]["type"], "m.room.name");
    let body_only = search(
        &bob,
        json!({ "search_term": "keepers", "keys": ["content.body"] }),
        None,
    )
    .await;
    assert_eq!(result_ids(&body_only), Vec::<String>::new());

    // By recency, one per page, paginated.
    let criteria = json!({ "search_term": "lighthouse", "order_by": "recent",
                           "filter": { "limit": 1 } });
    let page = search(&bob, criteria.clone(), None).await;
    assert_eq!(result_ids(&page), vec![second.clone()]);
    let next = page["next_batch"].as_str().expect("a next page");
    let page = search(&bob, criteria.clone(), Some(next)).await;
    assert_eq!(result_ids(&page), vec![first.clone()]);

    // Filters: by sender; context with profiles; state; groups.
    let from_bob = search(
        &bob,
        json!({ "search_term": "lighthouse", "filter": { "senders": [bob_login.user_id] } }),
        None,
    )
    .await;
    assert_eq!(result_ids(&from_bob), vec![second.clone()]);
    let rich = search(
        &bob,
        json!({ "search_term": "oil",
                "event_context": { "before_limit": 1, "after_limit": 1, "include_profile": true },
                "include_state": true,
                "groupings": { "group_by": [{ "key": "room_id" }] } }),
        None,
    )
    .await;
    let context = &rich["results"][0]["context"];
    assert_eq!(context["events_after"][0]["event_id"], second.as_str());
    assert_eq!(context["events_before"].as_array().unwrap().len(), 1);
    assert!(context["profile_info"]
        .get(bob_login.user_id.as_str())
        .is_some());
    let state_types: HashSet<&str> = rich["state"][&room]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(state_types.contains("m.room.create"));
    assert_eq!(
        rich["groups"]["room_id"][&room]["results"],
        json!([first.clone()])
    );

    // Alice finds her private room's message; nothing in the encrypted one.
    let alice_found = search(&alice, json!({ "search_term": "lighthouse" }), None).await;
    assert_eq!(result_ids(&alice_found).len(), 3);
    let redacted: Value = alice
        .put(&format!("{V3}/rooms/{room}/redact/{first}/r1"), &json!({}))
        .await
        .unwrap();
    assert!(redacted["event_id"].is_string());
    let after_redaction = search(&bob, json!({ "search_term": "oil" }), None).await;
    assert_eq!(
        result_ids(&after_redaction),
        Vec::<String>::new(),
        "redacted text is gone"
    );

    // Bad input.
    for (criteria, errcode) in [
        (json!({ "search_term": "" }), "M_INVALID_PARAM"),
        (
            json!({ "search_term": "x", "keys": ["content.secret"] }),
            "M_INVALID_PARAM",
        ),
        (
            json!({ "search_term": "x", "order_by": "random" }),
            "M_BAD_JSON",
        ),
        (json!({ "search_term": 7 }), "M_BAD_JSON"),
        (
            json!({ "search_term": "x", "filter": { "limit": "ten" } }),
            "M_BAD_JSON",
        ),
    ] {
        let body = json!({ "search_categories": { "room_events": criteria } });
        assert_eq!(
            outcome(&bob, Method::POST, &format!("{V3}/search"), body).await,
            (400, errcode.into()),
            "{criteria}"
        );
    }
    assert_eq!(
        outcome(
            &bob,
            Method::POST,
            &format!("{V3}/search?next_batch=bogus"),
            json!({ "search_categories": { "room_events": { "search_term": "x" } } })
        )
        .await,
        (400, "M_INVALID_PARAM".into())
    );
    server.stop().await;
}
