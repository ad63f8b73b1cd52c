//! End-to-end encryption, the server's part: keys, device lists and
//! to-device messages, with real keys made by hanse-sdk's vodozemac
//! engine; key backups, cross-signing and dehydrated devices in their own
//! modules.

#[path = "../common/mod.rs"]
mod common;

mod backup;
mod cross_signing;
mod dehydrated_devices;

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;
use hanse_protocol::canonical_json::{object_from_json, CanonicalJsonValue};
use hanse_sdk::crypto::{CryptoMachine, EncryptionSettings};
use hanse_sdk::{Client, LoginInfo, Method};
use hanse_server::testing::TestServer;
use serde_json::{json, Value};
use vodozemac::Ed25519SecretKey;

use common::{create_room, join, outcome, user, PASSWORD};

const V3: &str = "/_matrix/client/v3";

/// A logged-in device with its encryption engine.
struct Device {
    client: Client,
    login: LoginInfo,
    machine: CryptoMachine,
}

impl Device {
    async fn register(server: &TestServer, name: &str) -> Self {
        let (client, login) = user(server, name).await;
        Self::with(client, login)
    }

    /// Another device of an existing user.
    async fn login(server: &TestServer, name: &str) -> Self {
        let anonymous = Client::new(&server.client_url);
        let login = anonymous.login(name, PASSWORD).await.expect("login");
        Self::with(anonymous.with_token(&login.access_token), login)
    }

    fn with(client: Client, login: LoginInfo) -> Self {
        let machine = CryptoMachine::new(&login.user_id, &login.device_id);
        Self {
            client,
            login,
            machine,
        }
    }

    fn user_id(&self) -> &str {
        &self.login.user_id
    }

    /// Uploads what the engine wants published; returns the server's
    /// one-time key counts.
    async fn publish(&mut self, counts: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        let body = self
            .machine
            .keys_for_upload(counts, None)
            .unwrap()
            .expect("keys to upload");
        let answer: Value = self
            .client
            .post(&format!("{V3}/keys/upload"), &body)
            .await
            .expect("upload");
        self.machine.mark_keys_as_published().unwrap();
        serde_json::from_value(answer["one_time_key_counts"].clone()).unwrap()
    }

    async fn query(&self, users: &[&str]) -> Value {
        let device_keys: BTreeMap<&str, Vec<String>> =
            users.iter().map(|user| (*user, Vec::new())).collect();
        self.client
            .post(
                &format!("{V3}/keys/query"),
                &json!({ "device_keys": device_keys }),
            )
            .await
            .expect("query")
    }

    async fn claim(&self, request: &BTreeMap<String, BTreeMap<String, String>>) -> Value {
        self.client
            .post(
                &format!("{V3}/keys/claim"),
                &json!({ "one_time_keys": request }),
            )
            .await
            .expect("claim")
    }

    /// Learns the devices of `users` and opens Olm sessions with them
    /// through the server.
    async fn connect(&mut self, users: &[&str]) {
        let answer = self.query(users).await;
        self.machine.receive_keys_query(&answer).unwrap();
        let missing = self.machine.missing_sessions(users);
        let claimed = self.claim(&missing).await;
        let outcome = self.machine.receive_keys_claim(&claimed).unwrap();
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    }
}

async fn sync(client: &Client, since: Option<&str>, timeout_ms: u64) -> Value {
    client.sync(since, timeout_ms, None).await.expect("sync")
}

fn next_batch(sync: &Value) -> String {
    sync["next_batch"].as_str().unwrap().to_owned()
}

/// A public room with Megolm encryption turned on.
async fn encrypted_room(creator: &Client) -> String {
    create_room(
        creator,
        json!({ "preset": "public_chat", "initial_state": [{
            "type": "m.room.encryption", "state_key": "",
            "content": { "algorithm": "m.megolm.v1.aes-sha2" } }] }),
    )
    .await
}

/// The canonical JSON a signature of `value` covers.
fn signable(value: &Value) -> String {
    let mut signed = value.clone();
    let object = signed.as_object_mut().unwrap();
    object.remove("signatures");
    object.remove("unsigned");
    CanonicalJsonValue::Object(object_from_json(signed).unwrap()).to_canonical_string()
}

/// Signs a JSON object as `user` with `key`, named `ed25519:<key_name>`.
fn sign(value: &mut Value, user: &str, key: &Ed25519SecretKey, key_name: &str) {
    let signature = key.sign(signable(value).as_bytes()).to_base64();
    value["signatures"][user][format!("ed25519:{key_name}")] = json!(signature);
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn keys_are_checked_uploaded_queried_and_claimed() {
    let server = TestServer::start().await;
    let mut alice = Device::register(&server, "alice").await;
    let bob = Device::register(&server, "bob").await;
    let upload = "/_matrix/client/v3/keys/upload";

    // Keys that are not this device's, or not signed by it, are refused,
    // and nothing is stored.
    let body = alice
        .machine
        .keys_for_upload(&BTreeMap::new(), None)
        .unwrap()
        .unwrap();
    let mut other_device = body.clone();
    other_device["device_keys"]["device_id"] = json!("SOMEONEELSE");
    let mut other_user = body.clone();
    other_user["device_keys"]["user_id"] = json!(bob.user_id());
    let mut tampered = body.clone();
    tampered["device_keys"]["algorithms"] = json!(["m.olm.v1.curve25519-aes-sha2"]);
    let mut unsigned_otk = body.clone();
    let (otk_id, _) = body["one_time_keys"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    unsigned_otk["one_time_keys"][otk_id]["signatures"] = json!({});
    let mut bad_name = body.clone();
    bad_name["one_time_keys"] = json!({ "nocolon": "abc" });
    let mut plain_signed = body.clone();
    plain_signed["one_time_keys"] = json!({ "signed_curve25519:AAAA": "not an object" });
    for (bad, errcode) in [
        (other_device, "M_INVALID_PARAM"),
        (other_user, "M_INVALID_PARAM"),
        (tampered, "M_INVALID_PARAM"),
        (unsigned_otk, "M_INVALID_PARAM"),
        (bad_name, "M_INVALID_PARAM"),
        (plain_signed, "M_INVALID_PARAM"),
        (json!({ "one_time_keys": [] }), "M_INVALID_PARAM"),
        (
            json!({ "device_keys": { "user_id": 5 } }),
            "M_INVALID_PARAM",
        ),
    ] {
        assert_eq!(
            outcome(&alice.client, Method::POST, upload, bad.clone()).await,
            (400, errcode.to_owned()),
            "{bad}"
        );
    }
    let stored = server.query("SELECT 1 FROM device_keys").await.len()
        + server.query("SELECT 1 FROM one_time_keys").await.len();
    assert_eq!(stored, 0, "refused uploads store nothing");

    // A good upload: every one-time key counted.
    let uploaded_otks = body["one_time_keys"].as_object().unwrap().len() as u64;
    let counts = alice.publish(&BTreeMap::new()).await;
    assert_eq!(counts["signed_curve25519"], uploaded_otks);
    assert!(uploaded_otks > 0);

    // The same device with another identity is refused.
    let impostor = CryptoMachine::new(alice.user_id(), &alice.login.device_id);
    let mut impostor = impostor;
    let other = impostor
        .keys_for_upload(&BTreeMap::new(), None)
        .unwrap()
        .unwrap();
    assert_eq!(
        outcome(
            &alice.client,
            Method::POST,
            upload,
            json!({ "device_keys": other["device_keys"] })
        )
        .await,
        (400, "M_INVALID_PARAM".to_owned())
    );
    // A one-time key ID reused with another key is refused.
    let mut reused = other.clone();
    reused.as_object_mut().unwrap().remove("device_keys");
    let their_key = reused["one_time_keys"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    reused["one_time_keys"] = json!({ otk_id: their_key });
    assert_eq!(
        outcome(&alice.client, Method::POST, upload, reused).await,
        (400, "M_INVALID_PARAM".to_owned())
    );

    // Bob finds alice's device as she signed it, with its display name.
    let _: Value = alice
        .client
        .put(
            &format!("{V3}/devices/{}", alice.login.device_id),
            &json!({ "display_name": "alice's phone" }),
        )
        .await
        .unwrap();
    let answer = bob.query(&[alice.user_id()]).await;
    let keys = &answer["device_keys"][alice.user_id()][&alice.login.device_id];
    assert_eq!(keys["keys"], body["device_keys"]["keys"]);
    assert_eq!(keys["signatures"], body["device_keys"]["signatures"]);
    assert_eq!(keys["unsigned"]["device_display_name"], "alice's phone");
    let remote = bob.query(&["@someone:elsewhere.example"]).await;
    assert!(remote["failures"]["elsewhere.example"].is_object());
    assert_eq!(
        outcome(
            &bob.client,
            Method::POST,
            "/_matrix/client/v3/keys/query",
            json!({ "device_keys": { "not a user": [] } })
        )
        .await,
        (400, "M_INVALID_PARAM".to_owned())
    );

    // A claimed key is one alice published, signed by her device.
    let mut bob = bob;
    bob.connect(&[alice.user_id()]).await;
    let after: Value = alice
        .client
        .post(&format!("{V3}/keys/upload"), &json!({}))
        .await
        .unwrap();
    assert_eq!(
        after["one_time_key_counts"]["signed_curve25519"],
        uploaded_otks - 1
    );
    server.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_claims_hand_out_each_key_once_then_the_fallback() {
    let server = TestServer::start().await;
    let (alice, alice_login) = user(&server, "alice").await;
    let mut machine = CryptoMachine::new(&alice_login.user_id, &alice_login.device_id);
    // The engine wants many keys; the device publishes ten of them and
    // its fallback key.
    let mut body = machine
        .keys_for_upload(&BTreeMap::new(), None)
        .unwrap()
        .unwrap();
    let ten: serde_json::Map<String, Value> = body["one_time_keys"]
        .as_object()
        .unwrap()
        .iter()
        .take(10)
        .map(|(id, key)| (id.clone(), key.clone()))
        .collect();
    body["one_time_keys"] = Value::Object(ten.clone());
    let answer: Value = alice
        .post(&format!("{V3}/keys/upload"), &body)
        .await
        .unwrap();
    assert_eq!(answer["one_time_key_counts"]["signed_curve25519"], 10);
    let (fallback_id, fallback) = body["fallback_keys"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let fallback_key = fallback["key"].as_str().unwrap();
    let first = sync(&alice, None, 0).await;
    assert_eq!(
        first["device_unused_fallback_key_types"],
        json!(["signed_curve25519"])
    );
    assert_eq!(first["device_one_time_keys_count"]["signed_curve25519"], 10);

    let (bob, _) = user(&server, "bob").await;
    let request = json!({ "one_time_keys": {
        alice_login.user_id.clone(): { alice_login.device_id.clone(): "signed_curve25519" } } });
    let claims = (0..50).map(|_| {
        let bob = bob.clone();
        let request = request.clone();
        let alice_login = alice_login.clone();
        async move {
            let answer: Value = bob
                .post(&format!("{V3}/keys/claim"), &request)
                .await
                .unwrap();
            let keys = answer["one_time_keys"][&alice_login.user_id][&alice_login.device_id]
                .as_object()
                .expect("a key for every claim")
                .clone();
            let (id, key) = keys.into_iter().next().unwrap();
            (id, key["key"].as_str().unwrap().to_owned())
        }
    });
    let claimed: Vec<(String, String)> = join_all(claims).await;
    let published: BTreeSet<&str> = ten.values().map(|k| k["key"].as_str().unwrap()).collect();
    let one_time: Vec<&str> = claimed
        .iter()
        .map(|(_, key)| key.as_str())
        .filter(|key| published.contains(key))
        .collect();
    assert_eq!(one_time.len(), 10, "ten claims got one-time keys");
    assert_eq!(
        one_time.iter().collect::<BTreeSet<_>>().len(),
        10,
        "each handed out once"
    );
    assert!(
        claimed
            .iter()
            .filter(|(_, key)| !published.contains(key.as_str()))
            .all(|(id, key)| id == fallback_id && key == fallback_key),
        "the other forty got the fallback key"
    );
    let after = sync(&alice, None, 0).await;
    assert_eq!(after["device_one_time_keys_count"]["signed_curve25519"], 0);
    assert_eq!(after["device_unused_fallback_key_types"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn to_device_messages_arrive_once_and_wake_the_recipient() {
    let server = TestServer::start().await;
    let (alice, alice_login) = user(&server, "alice").await;
    let bob = Device::register(&server, "bob").await;
    let bob_phone = Device::login(&server, "bob").await;
    let bob_id = bob.user_id().to_owned();
    let send = |txn: &str| format!("{V3}/sendToDevice/m.test/{txn}");

    let first = sync(&bob.client, None, 0).await;
    let since = next_batch(&first);
    // A waiting sync wakes for a message to its device.
    let waiting = {
        let client = bob.client.clone();
        let since = since.clone();
        tokio::spawn(async move { sync(&client, Some(&since), 10_000).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let _: Value = alice
        .put(
            &send("t1"),
            &json!({ "messages": { bob_id.clone(): { bob.login.device_id.clone(): { "n": 1 } } } }),
        )
        .await
        .unwrap();
    // The same transaction again sends nothing more.
    let _: Value = alice
        .put(
            &send("t1"),
            &json!({ "messages": { bob_id.clone(): { bob.login.device_id.clone(): { "n": 1 } } } }),
        )
        .await
        .unwrap();
    let woken = waiting.await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let events = woken["to_device"]["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1);
    let alice_id = format!(
        "@alice:{}",
        server.federation_url.trim_start_matches("http://")
    );
    assert_eq!(events[0]["sender"], alice_id);
    assert_eq!(events[0]["type"], "m.test");
    assert_eq!(events[0]["content"], json!({ "n": 1 }));

    // `*` reaches every device of the user.
    let _: Value = alice
        .put(
            &send("t2"),
            &json!({ "messages": { bob_id.clone(): { "*": { "n": 2 } } } }),
        )
        .await
        .unwrap();
    let phone = sync(&bob_phone.client, None, 0).await;
    let contents: Vec<&Value> = phone["to_device"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["content"])
        .collect();
    assert_eq!(contents, [&json!({ "n": 2 })]);

    // Until the device syncs past a message, it is sent again (a lost
    // response loses nothing); after, never.
    let token = next_batch(&woken);
    let again = sync(&bob.client, Some(&token), 0).await;
    assert_eq!(
        again["to_device"]["events"][0]["content"],
        json!({ "n": 2 })
    );
    let repeat = sync(&bob.client, Some(&token), 0).await;
    assert_eq!(
        repeat["to_device"]["events"][0]["content"],
        json!({ "n": 2 })
    );
    let past = sync(&bob.client, Some(&next_batch(&repeat)), 0).await;
    assert!(past["to_device"]["events"].as_array().unwrap().is_empty());
    assert!(server
        .query(&format!(
            "SELECT 1 FROM to_device_inbox WHERE device_id = '{}'",
            bob.login.device_id
        ))
        .await
        .is_empty());

    // Bad input is refused, and nothing is stored.
    let big = "x".repeat(60_000);
    for (body, expected) in [
        (json!({}), (400, "M_BAD_JSON")),
        (
            json!({ "messages": { "not-a-user": {} } }),
            (400, "M_INVALID_PARAM"),
        ),
        (
            json!({ "messages": { bob_id.clone(): { "D": "not an object" } } }),
            (400, "M_INVALID_PARAM"),
        ),
        (
            json!({ "messages": { bob_id.clone(): { "A": { "a": big.clone() }, "B": { "b": big } } } }),
            (413, "M_TOO_LARGE"),
        ),
    ] {
        let (status, errcode) = outcome(&alice, Method::PUT, &send("bad"), body).await;
        assert_eq!((status, errcode.as_str()), expected);
    }
    assert!(server
        .query("SELECT 1 FROM to_device_inbox WHERE content LIKE '%xxxx%'")
        .await
        .is_empty());

    // A device whose inbox holds 10,000 messages takes no more until it
    // syncs: the sender is told to retry later, and nothing is stored.
    server
        .query(&format!(
            "INSERT INTO to_device_inbox (user_id, device_id, sender, event_type, content)
             SELECT '{bob_id}', '{}', '{}', 'm.filler', '{{}}' FROM generate_series(1, 10000)",
            bob.login.device_id, alice_login.user_id,
        ))
        .await;
    let (status, refused) = alice
        .send_raw(
            Method::PUT,
            &send("full"),
            &json!({ "messages": { &bob_id: { &bob.login.device_id: { "one": "more" } } } }),
        )
        .await
        .unwrap();
    assert_eq!(
        (status, refused["errcode"].as_str()),
        (429, Some("M_LIMIT_EXCEEDED"))
    );
    assert!(refused["retry_after_ms"].as_u64().is_some(), "{refused}");
    let held = server
        .query(
            "SELECT count(*) FILTER (WHERE event_type = 'm.filler'),
                    count(*) FILTER (WHERE content LIKE '%more%') FROM to_device_inbox",
        )
        .await;
    assert_eq!(
        (held[0].get::<_, i64>(0), held[0].get::<_, i64>(1)),
        (10_000, 0)
    );
    server.stop().await;
}

#[tokio::test]
async fn device_list_changes_reach_those_sharing_an_encrypted_room_only() {
    let server = TestServer::start().await;
    let mut alice = Device::register(&server, "alice").await;
    let bob = Device::register(&server, "bob").await;
    let carol = Device::register(&server, "carol").await;
    let alice_id = alice.user_id().to_owned();
    let encrypted = encrypted_room(&alice.client).await;
    let plain = create_room(&alice.client, json!({ "preset": "public_chat" })).await;
    let bob_start = next_batch(&sync(&bob.client, None, 0).await);
    join(&bob.client, &encrypted).await;
    join(&carol.client, &plain).await;
    let bob_since = next_batch(&sync(&bob.client, None, 0).await);
    let carol_since = next_batch(&sync(&carol.client, None, 0).await);

    // Bob's joining an encrypted room lists its members as changed.
    let joined = sync(&bob.client, Some(&bob_start), 0).await;
    assert!(names(&joined["device_lists"]["changed"]).contains(&alice_id));

    // Alice publishes keys: bob's waiting sync wakes with the change;
    // carol, in no encrypted room with her, hears nothing.
    let waiting = {
        let client = bob.client.clone();
        let since = bob_since.clone();
        tokio::spawn(async move { sync(&client, Some(&since), 10_000).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    alice.publish(&BTreeMap::new()).await;
    let woken = waiting.await.unwrap();
    assert_eq!(
        names(&woken["device_lists"]["changed"]),
        BTreeSet::from([alice_id.clone()])
    );
    let carol_sync = sync(&carol.client, Some(&carol_since), 0).await;
    assert!(names(&carol_sync["device_lists"]["changed"]).is_empty());

    // /keys/changes says the same between the same tokens.
    let changes: Value = bob
        .client
        .get(&format!(
            "{V3}/keys/changes?from={bob_since}&to={}",
            next_batch(&woken)
        ))
        .await
        .unwrap();
    assert_eq!(
        names(&changes["changed"]),
        BTreeSet::from([alice_id.clone()])
    );

    // A new device, then its deletion, are changes too.
    let since = next_batch(&woken);
    let mut laptop = Device::login(&server, "alice").await;
    laptop.publish(&BTreeMap::new()).await;
    let after = sync(&bob.client, Some(&since), 0).await;
    assert!(names(&after["device_lists"]["changed"]).contains(&alice_id));
    let since = next_batch(&after);
    let _: Value = laptop
        .client
        .post(&format!("{V3}/logout"), &json!({}))
        .await
        .unwrap();
    let after = sync(&bob.client, Some(&since), 0).await;
    assert!(names(&after["device_lists"]["changed"]).contains(&alice_id));

    // Renaming a device is a change (others see its name in /keys/query);
    // setting the same name again is not.
    let rename = |name: &str| {
        let client = alice.client.clone();
        let path = format!("{V3}/devices/{}", alice.login.device_id);
        let body = json!({ "display_name": name });
        async move { client.put::<Value>(&path, &body).await.unwrap() }
    };
    let since = next_batch(&after);
    rename("alice's phone").await;
    let after = sync(&bob.client, Some(&since), 0).await;
    assert!(names(&after["device_lists"]["changed"]).contains(&alice_id));
    let query = bob.query(&[&alice_id]).await;
    assert_eq!(
        query["device_keys"][&alice_id][&alice.login.device_id]["unsigned"]["device_display_name"],
        "alice's phone"
    );
    let since = next_batch(&after);
    rename("alice's phone").await;
    let after = sync(&bob.client, Some(&since), 0).await;
    assert!(names(&after["device_lists"]["changed"]).is_empty());

    // Bob leaves: alice hears he is gone.
    let alice_since = next_batch(&sync(&alice.client, None, 0).await);
    let _: Value = bob
        .client
        .post(&format!("{V3}/rooms/{encrypted}/leave"), &json!({}))
        .await
        .unwrap();
    let left = sync(&alice.client, Some(&alice_since), 0).await;
    assert_eq!(
        names(&left["device_lists"]["left"]),
        BTreeSet::from([bob.user_id().to_owned()])
    );
    server.stop().await;
}

#[tokio::test]
async fn megolm_messages_decrypt_across_devices_through_the_server() {
    let server = TestServer::start().await;
    let mut alice = Device::register(&server, "alice").await;
    let mut bob = Device::register(&server, "bob").await;
    alice.publish(&BTreeMap::new()).await;
    bob.publish(&BTreeMap::new()).await;
    let room = encrypted_room(&alice.client).await;
    join(&bob.client, &room).await;
    let bob_since = next_batch(&sync(&bob.client, None, 0).await);

    // Alice shares a room key with bob's device over Olm, then sends.
    let bob_id = bob.user_id().to_owned();
    alice.connect(&[&bob_id]).await;
    let share = alice
        .machine
        .share_room_key(&room, &[&bob_id], &EncryptionSettings::default())
        .unwrap();
    let _: Value = alice
        .client
        .put(
            &format!("{V3}/sendToDevice/m.room.encrypted/share1"),
            &json!({ "messages": share.messages }),
        )
        .await
        .unwrap();
    const SECRET: &str = "the harbour opens at dawn";
    let encrypted = alice
        .machine
        .encrypt_room_event(
            &room,
            "m.room.message",
            json!({ "msgtype": "m.text", "body": SECRET }),
        )
        .unwrap();
    let _: Value = alice
        .client
        .put(
            &format!("{V3}/rooms/{room}/send/m.room.encrypted/m1"),
            &encrypted,
        )
        .await
        .unwrap();

    // Bob's device gets the key and the message from one sync.
    let synced = sync(&bob.client, Some(&bob_since), 0).await;
    bob.connect(&[alice.user_id()]).await;
    for event in synced["to_device"]["events"].as_array().unwrap() {
        let received = bob.machine.receive_to_device(event).unwrap();
        assert_eq!(received.event_type, "m.room_key");
    }
    let timeline = synced["rooms"]["join"][&room]["timeline"]["events"]
        .as_array()
        .unwrap();
    let mut message = timeline
        .iter()
        .find(|e| e["type"] == "m.room.encrypted")
        .expect("the encrypted message")
        .clone();
    message["room_id"] = json!(room);
    let decrypted = bob.machine.decrypt_room_event(&room, &message).unwrap();
    assert_eq!(decrypted.content["body"], SECRET);

    // The server holds ciphertext only.
    let rows = server
        .query(&format!(
            "SELECT 1 FROM events WHERE json LIKE '%{SECRET}%'
             UNION ALL SELECT 1 FROM to_device_inbox WHERE content LIKE '%{SECRET}%'"
        ))
        .await;
    assert!(rows.is_empty());
    server.stop().await;
}
