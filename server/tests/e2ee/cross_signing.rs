//! Cross-signing: uploading master, self-signing and user-signing keys
//! (user-interactive authentication only to replace them), signatures
//! verified on upload, and who sees which keys and signatures.

use std::collections::BTreeSet;

use hanse_sdk::Method;
use hanse_server::testing::TestServer;
use serde_json::{json, Value};
use vodozemac::Ed25519SecretKey;

use super::common::{join, PASSWORD};
use super::{encrypted_room, names, next_batch, sign, sync, Device, V3};

/// A user's three cross-signing keys.
struct CrossSigning {
    master: Ed25519SecretKey,
    self_signing: Ed25519SecretKey,
    user_signing: Ed25519SecretKey,
}

fn public(key: &Ed25519SecretKey) -> String {
    key.public_key().to_base64()
}

/// The public part of `key` for `usage`, as uploaded.
fn key_object(user: &str, usage: &str, key: &Ed25519SecretKey) -> Value {
    let public = public(key);
    json!({ "user_id": user, "usage": [usage], "keys": { format!("ed25519:{public}"): public } })
}

impl CrossSigning {
    fn new() -> Self {
        Self {
            master: Ed25519SecretKey::new(),
            self_signing: Ed25519SecretKey::new(),
            user_signing: Ed25519SecretKey::new(),
        }
    }

    /// The upload body: the master key signs the other two.
    fn upload(&self, user: &str) -> Value {
        let master_name = public(&self.master);
        let mut self_signing = key_object(user, "self_signing", &self.self_signing);
        sign(&mut self_signing, user, &self.master, &master_name);
        let mut user_signing = key_object(user, "user_signing", &self.user_signing);
        sign(&mut user_signing, user, &self.master, &master_name);
        json!({
            "master_key": key_object(user, "master", &self.master),
            "self_signing_key": self_signing,
            "user_signing_key": user_signing,
        })
    }
}

async fn post(device: &Device, path: &str, body: &Value) -> (u16, Value) {
    device
        .client
        .send_raw(Method::POST, &format!("{V3}{path}"), body)
        .await
        .unwrap()
}

#[tokio::test]
async fn cross_signing_keys_and_signatures_are_checked_and_shown_as_the_spec_says() {
    let server = TestServer::start().await;
    let mut alice = Device::register(&server, "alice").await;
    let mut bob = Device::register(&server, "bob").await;
    alice.publish(&Default::default()).await;
    bob.publish(&Default::default()).await;
    let alice_id = alice.user_id().to_owned();
    let bob_id = bob.user_id().to_owned();
    let room = encrypted_room(&alice.client).await;
    join(&bob.client, &room).await;
    let bob_since = next_batch(&sync(&bob.client, None, 0).await);

    // Refused uploads store nothing.
    let keys = CrossSigning::new();
    let good = keys.upload(&alice_id);
    let mut badly_signed = good.clone();
    badly_signed["self_signing_key"]["signatures"][&alice_id]
        [format!("ed25519:{}", public(&keys.master))] = json!("AAAA");
    let mut someone_else = good.clone();
    someone_else["master_key"]["user_id"] = json!(bob_id);
    let mut two_keys = good.clone();
    two_keys["master_key"]["keys"]["ed25519:extra"] = json!("extra");
    let mut wrong_usage = good.clone();
    wrong_usage["master_key"]["usage"] = json!(["self_signing"]);
    let mut no_master = good.clone();
    no_master.as_object_mut().unwrap().remove("master_key");
    for (body, expected) in [
        (badly_signed, "M_INVALID_SIGNATURE"),
        (someone_else, "M_INVALID_PARAM"),
        (two_keys, "M_INVALID_PARAM"),
        (wrong_usage, "M_INVALID_PARAM"),
        (no_master, "M_MISSING_PARAM"),
        (json!({}), "M_MISSING_PARAM"),
    ] {
        let (status, answer) = post(&alice, "/keys/device_signing/upload", &body).await;
        assert_eq!(
            (status, answer["errcode"].as_str().unwrap()),
            (400, expected),
            "{answer}"
        );
    }
    let stored = server
        .query("SELECT count(*) FROM cross_signing_keys")
        .await;
    assert_eq!(stored[0].get::<_, i64>(0), 0);

    // A master key whose public key is a device ID of the user is refused.
    let clash = Ed25519SecretKey::new();
    let _: Value = alice
        .client
        .post(
            &format!("{V3}/login"),
            &json!({ "type": "m.login.password", "user": "alice", "password": PASSWORD,
                     "device_id": public(&clash) }),
        )
        .await
        .unwrap();
    let (status, answer) = post(
        &alice,
        "/keys/device_signing/upload",
        &json!({ "master_key": key_object(&alice_id, "master", &clash) }),
    )
    .await;
    assert_eq!(
        (status, answer["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );

    // The first keys need no password, nor does uploading them again.
    for _ in 0..2 {
        let (status, answer) = post(&alice, "/keys/device_signing/upload", &good).await;
        assert_eq!(status, 200, "{answer}");
    }
    let woken = sync(&bob.client, Some(&bob_since), 0).await;
    assert!(names(&woken["device_lists"]["changed"]).contains(&alice_id));

    // Alice sees her three keys; Bob sees her master and self-signing keys.
    let mine = alice.query(&[&alice_id]).await;
    assert_eq!(mine["master_keys"][&alice_id], good["master_key"]);
    assert_eq!(
        mine["self_signing_keys"][&alice_id],
        good["self_signing_key"]
    );
    assert_eq!(
        mine["user_signing_keys"][&alice_id],
        good["user_signing_key"]
    );
    let seen_by_bob = bob.query(&[&alice_id]).await;
    assert_eq!(seen_by_bob["master_keys"][&alice_id], good["master_key"]);
    assert_eq!(
        seen_by_bob["self_signing_keys"][&alice_id],
        good["self_signing_key"]
    );
    assert_eq!(seen_by_bob["user_signing_keys"], json!({}));

    // Replacing the keys needs the password.
    let replacement = CrossSigning::new();
    let (status, challenge) = post(
        &alice,
        "/keys/device_signing/upload",
        &replacement.upload(&alice_id),
    )
    .await;
    assert_eq!(status, 401, "{challenge}");
    assert_eq!(
        challenge["flows"],
        json!([{ "stages": ["m.login.password"] }])
    );
    let mut authorised = replacement.upload(&alice_id);
    authorised["auth"] = json!({
        "type": "m.login.password", "session": challenge["session"], "password": PASSWORD,
        "identifier": { "type": "m.id.user", "user": "alice" },
    });
    let (status, answer) = post(&alice, "/keys/device_signing/upload", &authorised).await;
    assert_eq!(status, 200, "{answer}");
    let keys = replacement;
    let mine = alice.query(&[&alice_id]).await;
    assert_eq!(
        mine["master_keys"][&alice_id]["keys"],
        json!({
            format!("ed25519:{}", public(&keys.master)): public(&keys.master)
        })
    );

    // Alice's self-signing key signs her device; everyone sees it.
    let device_id = alice.login.device_id.clone();
    let ssk_name = format!("ed25519:{}", public(&keys.self_signing));
    let mut device_keys = mine["device_keys"][&alice_id][&device_id].clone();
    device_keys.as_object_mut().unwrap().remove("unsigned");
    let unsigned_copy = device_keys.clone();
    sign(
        &mut device_keys,
        &alice_id,
        &keys.self_signing,
        &public(&keys.self_signing),
    );
    let mut forged = unsigned_copy.clone();
    forged["signatures"][&alice_id][&ssk_name] =
        device_keys["signatures"][&alice_id][&ssk_name].clone();
    forged["algorithms"] = json!(["m.megolm.v1.aes-sha2"]);
    let mut garbage = device_keys.clone();
    garbage["signatures"][&alice_id][&ssk_name] = json!("AAAA");
    let (status, answer) = post(
        &alice,
        "/keys/signatures/upload",
        &json!({ &alice_id: { &device_id: forged, "NOSUCHDEVICE": unsigned_copy } }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["failures"][&alice_id][&device_id]["errcode"],
        "M_INVALID_PARAM"
    );
    assert_eq!(
        answer["failures"][&alice_id]["NOSUCHDEVICE"]["errcode"],
        "M_NOT_FOUND"
    );
    let (_, answer) = post(
        &alice,
        "/keys/signatures/upload",
        &json!({ &alice_id: { &device_id: garbage } }),
    )
    .await;
    assert_eq!(
        answer["failures"][&alice_id][&device_id]["errcode"],
        "M_INVALID_SIGNATURE"
    );
    let signatures = server.query("SELECT count(*) FROM key_signatures").await;
    assert_eq!(
        signatures[0].get::<_, i64>(0),
        0,
        "refused signatures are not stored"
    );

    let bob_since = next_batch(&sync(&bob.client, Some(&bob_since), 0).await);
    let (status, answer) = post(
        &alice,
        "/keys/signatures/upload",
        &json!({ &alice_id: { &device_id: device_keys } }),
    )
    .await;
    assert_eq!((status, &answer["failures"]), (200, &json!({})));
    let seen_by_bob = bob.query(&[&alice_id]).await;
    assert_eq!(
        seen_by_bob["device_keys"][&alice_id][&device_id]["signatures"][&alice_id][&ssk_name],
        device_keys["signatures"][&alice_id][&ssk_name]
    );
    let woken = sync(&bob.client, Some(&bob_since), 0).await;
    assert!(names(&woken["device_lists"]["changed"]).contains(&alice_id));

    // Alice's user-signing key signs Bob's master key: only Alice sees it.
    let bob_keys = CrossSigning::new();
    let (status, _) = post(
        &bob,
        "/keys/device_signing/upload",
        &bob_keys.upload(&bob_id),
    )
    .await;
    assert_eq!(status, 200);
    let bob_master_public = public(&bob_keys.master);
    let usk_name = format!("ed25519:{}", public(&keys.user_signing));
    let mut bob_master = key_object(&bob_id, "master", &bob_keys.master);
    sign(
        &mut bob_master,
        &alice_id,
        &keys.user_signing,
        &public(&keys.user_signing),
    );
    let (status, answer) = post(
        &alice,
        "/keys/signatures/upload",
        &json!({ &bob_id: { &bob_master_public: bob_master.clone() } }),
    )
    .await;
    assert_eq!((status, &answer["failures"]), (200, &json!({})));
    let seen_by_alice = alice.query(&[&bob_id]).await;
    assert_eq!(
        seen_by_alice["master_keys"][&bob_id]["signatures"][&alice_id][&usk_name],
        bob_master["signatures"][&alice_id][&usk_name]
    );
    let seen_by_bob = bob.query(&[&bob_id]).await;
    let signers: BTreeSet<&String> = seen_by_bob["master_keys"][&bob_id]["signatures"]
        .as_object()
        .map(|s| s.keys().collect())
        .unwrap_or_default();
    assert!(!signers.contains(&alice_id), "{seen_by_bob}");

    // Bob has no user-signing signature to make without his keys being
    // asked for: a signature of Alice's master key by a key that is not
    // his user-signing key is refused.
    let mut not_usk = key_object(&alice_id, "master", &keys.master);
    sign(
        &mut not_usk,
        &bob_id,
        &bob_keys.self_signing,
        &public(&bob_keys.self_signing),
    );
    let (_, answer) = post(
        &bob,
        "/keys/signatures/upload",
        &json!({ &alice_id: { public(&keys.master): not_usk } }),
    )
    .await;
    assert_eq!(
        answer["failures"][&alice_id][public(&keys.master)]["errcode"],
        "M_INVALID_SIGNATURE"
    );

    // A signature goes with the device it signs.
    let mut laptop = Device::login(&server, "alice").await;
    laptop.publish(&Default::default()).await;
    let laptop_id = laptop.login.device_id.clone();
    let mut laptop_keys =
        alice.query(&[&alice_id]).await["device_keys"][&alice_id][&laptop_id].clone();
    laptop_keys.as_object_mut().unwrap().remove("unsigned");
    sign(
        &mut laptop_keys,
        &alice_id,
        &keys.self_signing,
        &public(&keys.self_signing),
    );
    let (_, answer) = post(
        &alice,
        "/keys/signatures/upload",
        &json!({ &alice_id: { &laptop_id: laptop_keys } }),
    )
    .await;
    assert_eq!(answer["failures"], json!({}));
    let signatures_of_laptop =
        format!("SELECT count(*) FROM key_signatures WHERE target_key_id = '{laptop_id}'");
    assert_eq!(
        server.query(&signatures_of_laptop).await[0].get::<_, i64>(0),
        1
    );
    let _: Value = laptop
        .client
        .post(&format!("{V3}/logout"), &json!({}))
        .await
        .unwrap();
    assert_eq!(
        server.query(&signatures_of_laptop).await[0].get::<_, i64>(0),
        0
    );
    server.stop().await;
}
