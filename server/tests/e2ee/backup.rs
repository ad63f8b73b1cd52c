//! Server-side key backups: versions, the spec's rule for which of two
//! uploads of a session is kept, etags and counts, and refusals that
//! change nothing.

use hanse_sdk::{Client, Method};
use hanse_server::testing::TestServer;
use serde_json::{json, Value};

use super::common::{outcome, user};
use super::V3;

fn key_data(first_message_index: i64, forwarded_count: i64, is_verified: bool, tag: &str) -> Value {
    json!({
        "first_message_index": first_message_index,
        "forwarded_count": forwarded_count,
        "is_verified": is_verified,
        "session_data": { "ephemeral": "e", "ciphertext": tag, "mac": "m" },
    })
}

async fn assert_not_found(client: &Client, method: Method, path: &str) {
    let got = outcome(client, method, path, json!(null)).await;
    assert_eq!(got, (404, "M_NOT_FOUND".to_owned()), "{path}");
}

async fn delete(client: &Client, path: &str) -> Value {
    let (status, answer) = client
        .send_raw(Method::DELETE, path, &json!({}))
        .await
        .unwrap();
    assert_eq!(status, 200, "DELETE {path}: {answer}");
    answer
}

fn auth_data(public_key: &str) -> Value {
    json!({ "public_key": public_key, "signatures": {} })
}

#[tokio::test]
async fn backups_keep_the_better_key_and_count_and_tag_their_changes() {
    let server = TestServer::start().await;
    let (alice, _) = user(&server, "alice").await;
    let (bob, _) = user(&server, "bob").await;
    let room = "!room:example.org";
    let other_room = "!other:example.org";
    let session_path = format!("{V3}/room_keys/keys/{room}/s1");

    // No backup yet; malformed versions are refused and create nothing.
    assert_not_found(&alice, Method::GET, &format!("{V3}/room_keys/version")).await;
    for (body, expected) in [
        (
            json!({ "algorithm": "m.unknown", "auth_data": auth_data("K") }),
            "M_INVALID_PARAM",
        ),
        (
            json!({ "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2" }),
            "M_MISSING_PARAM",
        ),
        (
            json!({ "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": "K" }),
            "M_BAD_JSON",
        ),
        (
            json!({ "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": {} }),
            "M_BAD_JSON",
        ),
    ] {
        let path = format!("{V3}/room_keys/version");
        assert_eq!(
            outcome(&alice, Method::POST, &path, body).await,
            (400, expected.into())
        );
    }
    assert_not_found(&alice, Method::GET, &format!("{V3}/room_keys/version")).await;
    // Writing keys without a backup is refused.
    assert_eq!(
        outcome(
            &alice,
            Method::PUT,
            &format!("{session_path}?version=1"),
            key_data(0, 0, false, "x")
        )
        .await,
        (404, "M_NOT_FOUND".into())
    );

    let created: Value = alice
        .post(
            &format!("{V3}/room_keys/version"),
            &json!({ "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth_data("K1") }),
        )
        .await
        .unwrap();
    assert_eq!(created, json!({ "version": "1" }));
    let info: Value = alice.get(&format!("{V3}/room_keys/version")).await.unwrap();
    assert_eq!(
        info,
        json!({ "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth_data("K1"),
                "count": 0, "etag": "0", "version": "1" })
    );
    // Bob sees none of it.
    assert_not_found(&bob, Method::GET, &format!("{V3}/room_keys/version")).await;

    // One session, then the spec's replacement order: verified first, then
    // the lower first message index, then the lower forwarded count. The
    // etag moves only when the stored key changes.
    let put = |data: Value| {
        let alice = alice.clone();
        let path = format!("{session_path}?version=1");
        async move { alice.put::<Value>(&path, &data).await.unwrap() }
    };
    let stored = || {
        let alice = alice.clone();
        let path = format!("{session_path}?version=1");
        async move { alice.get::<Value>(&path).await.unwrap()["session_data"]["ciphertext"].clone() }
    };
    assert_eq!(
        put(key_data(5, 1, false, "a")).await,
        json!({ "etag": "1", "count": 1 })
    );
    assert_eq!(
        put(key_data(6, 0, false, "worse index")).await,
        json!({ "etag": "1", "count": 1 })
    );
    assert_eq!(stored().await, "a");
    assert_eq!(
        put(key_data(5, 0, false, "b")).await,
        json!({ "etag": "2", "count": 1 })
    );
    assert_eq!(
        put(key_data(5, 2, false, "worse forwarding")).await["etag"],
        "2"
    );
    assert_eq!(put(key_data(9, 9, true, "verified")).await["etag"], "3");
    assert_eq!(put(key_data(0, 0, false, "unverified")).await["etag"], "3");
    assert_eq!(stored().await, "verified");
    assert_eq!(put(key_data(9, 9, true, "same")).await["etag"], "3");

    // Many rooms at once, a room at once; the better of two copies of one
    // session in one request wins.
    let answer: Value = alice
        .put(
            &format!("{V3}/room_keys/keys?version=1"),
            &json!({ "rooms": {
                room: { "sessions": { "s2": key_data(1, 0, false, "s2") } },
                other_room: { "sessions": {
                    "s3": key_data(0, 0, false, "s3"),
                    "s4": key_data(0, 0, false, "s4"),
                } },
            } }),
        )
        .await
        .unwrap();
    assert_eq!(answer, json!({ "etag": "4", "count": 4 }));
    let answer: Value = alice
        .put(
            &format!("{V3}/room_keys/keys/{room}?version=1"),
            &json!({ "sessions": { "s5": key_data(3, 0, false, "s5") } }),
        )
        .await
        .unwrap();
    assert_eq!(answer, json!({ "etag": "5", "count": 5 }));

    let all: Value = alice
        .get(&format!("{V3}/room_keys/keys?version=1"))
        .await
        .unwrap();
    let sessions = |room: &str| -> Vec<String> {
        all["rooms"][room]["sessions"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(sessions(room), ["s1", "s2", "s5"]);
    assert_eq!(sessions(other_room), ["s3", "s4"]);
    assert_eq!(
        all["rooms"][room]["sessions"]["s2"],
        key_data(1, 0, false, "s2")
    );
    // Without ?version, reads use the current version.
    let one_room: Value = alice
        .get(&format!("{V3}/room_keys/keys/{other_room}"))
        .await
        .unwrap();
    assert_eq!(one_room, all["rooms"][other_room]);
    let empty: Value = alice
        .get(&format!("{V3}/room_keys/keys/!none:example.org?version=1"))
        .await
        .unwrap();
    assert_eq!(empty, json!({ "sessions": {} }));
    assert_not_found(
        &alice,
        Method::GET,
        &format!("{V3}/room_keys/keys/{room}/nope?version=1"),
    )
    .await;

    // Bad input: refused, nothing stored.
    let mut bad_index = key_data(0, 0, false, "bad");
    bad_index["first_message_index"] = json!("0");
    let mut negative = key_data(0, 0, false, "bad");
    negative["forwarded_count"] = json!(-1);
    let mut no_data = key_data(0, 0, false, "bad");
    no_data.as_object_mut().unwrap().remove("session_data");
    for (path, body, expected) in [
        (
            session_path.clone(),
            key_data(0, 0, true, "no version"),
            (400, "M_MISSING_PARAM"),
        ),
        (
            format!("{session_path}?version=1"),
            bad_index,
            (400, "M_BAD_JSON"),
        ),
        (
            format!("{session_path}?version=1"),
            negative,
            (400, "M_BAD_JSON"),
        ),
        (
            format!("{session_path}?version=1"),
            no_data,
            (400, "M_MISSING_PARAM"),
        ),
        (
            format!("{V3}/room_keys/keys/not-a-room/s1?version=1"),
            key_data(0, 0, true, "bad room"),
            (400, "M_INVALID_PARAM"),
        ),
        (
            format!("{V3}/room_keys/keys?version=1"),
            json!({ "rooms": { room: { "sessions": { "s9": 7 } } } }),
            (400, "M_BAD_JSON"),
        ),
        (
            format!("{session_path}?version=7"),
            key_data(0, 0, true, "old"),
            (403, "M_WRONG_ROOM_KEYS_VERSION"),
        ),
    ] {
        let got = outcome(&alice, Method::PUT, &path, body).await;
        assert_eq!(got, (expected.0, expected.1.to_owned()), "{path}");
    }
    let info: Value = alice
        .get(&format!("{V3}/room_keys/version/1"))
        .await
        .unwrap();
    assert_eq!(
        (info["count"].clone(), info["etag"].clone()),
        (json!(5), json!("5"))
    );

    // A new version becomes current: writing to the old one names it.
    let created: Value = alice
        .post(
            &format!("{V3}/room_keys/version"),
            &json!({ "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth_data("K2") }),
        )
        .await
        .unwrap();
    assert_eq!(created, json!({ "version": "2" }));
    let (status, refused) = alice
        .send_raw(
            Method::PUT,
            &format!("{session_path}?version=1"),
            &key_data(0, 0, true, "old"),
        )
        .await
        .unwrap();
    assert_eq!(status, 403);
    assert_eq!(refused["errcode"], "M_WRONG_ROOM_KEYS_VERSION");
    assert_eq!(refused["current_version"], "2");
    let current: Value = alice.get(&format!("{V3}/room_keys/version")).await.unwrap();
    assert_eq!(
        (current["version"].clone(), current["count"].clone()),
        (json!("2"), json!(0))
    );

    // Updating: only auth_data changes; the algorithm and version must match.
    let version_path = format!("{V3}/room_keys/version/2");
    for (body, expected) in [
        (
            json!({ "algorithm": "m.other", "auth_data": auth_data("K3") }),
            "M_INVALID_PARAM",
        ),
        (
            json!({ "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth_data("K3"),
                    "version": "1" }),
            "M_INVALID_PARAM",
        ),
    ] {
        assert_eq!(
            outcome(&alice, Method::PUT, &version_path, body).await,
            (400, expected.into())
        );
    }
    let _: Value = alice
        .put(
            &version_path,
            &json!({ "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth_data("K3"),
                    "version": "2" }),
        )
        .await
        .unwrap();
    let current: Value = alice.get(&version_path).await.unwrap();
    assert_eq!(current["auth_data"], auth_data("K3"));
    assert_eq!(
        outcome(&alice, Method::PUT, &format!("{V3}/room_keys/version/9"),
            json!({ "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth_data("K") })).await,
        (404, "M_NOT_FOUND".into())
    );

    // Deleting keys moves the etag; deleting a version twice succeeds.
    let answer = delete(
        &alice,
        &format!("{V3}/room_keys/keys/{other_room}?version=1"),
    )
    .await;
    assert_eq!(answer, json!({ "etag": "6", "count": 3 }));
    let answer = delete(&alice, &format!("{session_path}?version=1")).await;
    assert_eq!(answer, json!({ "etag": "7", "count": 2 }));
    for _ in 0..2 {
        assert_eq!(
            delete(&alice, &format!("{V3}/room_keys/version/1")).await,
            json!({})
        );
    }
    assert_not_found(&alice, Method::GET, &format!("{V3}/room_keys/version/1")).await;
    assert_not_found(
        &alice,
        Method::GET,
        &format!("{V3}/room_keys/keys?version=1"),
    )
    .await;
    assert_not_found(&alice, Method::DELETE, &format!("{V3}/room_keys/version/9")).await;
    let rows = server
        .query("SELECT count(*) FROM key_backup_sessions WHERE version = 1")
        .await;
    assert_eq!(
        rows[0].get::<_, i64>(0),
        0,
        "a deleted version keeps no keys"
    );

    // Version numbers are never reused.
    let created: Value = alice
        .post(
            &format!("{V3}/room_keys/version"),
            &json!({ "algorithm": "m.megolm_backup.v1.curve25519-aes-sha2", "auth_data": auth_data("K4") }),
        )
        .await
        .unwrap();
    assert_eq!(created, json!({ "version": "3" }));
    server.stop().await;
}
