//! Dehydrated devices (MSC3814): uploaded with their keys, claimed from
//! like any device, collecting to-device messages that a rehydrating
//! device reads (without deleting them) in batches; replaced and deleted.

use hanse_sdk::Method;
use hanse_server::testing::TestServer;
use serde_json::{json, Value};
use vodozemac::olm::Account;

use super::common::{outcome, user};
use super::{signable, Device, V3};

const PREFIX: &str = "/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device";

/// A dehydrated device's upload: named by its curve25519 key, with a
/// one-time key and a fallback key, all signed by it.
fn dehydrated_upload(user: &str, account: &mut Account, data: &str) -> Value {
    let device_id = account.curve25519_key().to_base64();
    let sign = |account: &Account, value: &mut Value| {
        let signature = account.sign(signable(value)).to_base64();
        value["signatures"][user][format!("ed25519:{device_id}")] = json!(signature);
    };
    let mut device_keys = json!({
        "user_id": user,
        "device_id": device_id,
        "dehydrated": true,
        "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
        "keys": {
            format!("curve25519:{device_id}"): device_id,
            format!("ed25519:{device_id}"): account.ed25519_key().to_base64(),
        },
    });
    sign(account, &mut device_keys);
    account.generate_one_time_keys(1);
    account.generate_fallback_key();
    let signed = |(id, key): (vodozemac::KeyId, vodozemac::Curve25519PublicKey), fallback| {
        let mut key = json!({ "key": key.to_base64() });
        if fallback {
            key["fallback"] = json!(true);
        }
        sign(account, &mut key);
        (format!("signed_curve25519:{}", id.to_base64()), key)
    };
    let one_time: serde_json::Map<String, Value> = account
        .one_time_keys()
        .into_iter()
        .map(|key| signed(key, false))
        .collect();
    let fallback: serde_json::Map<String, Value> = account
        .fallback_key()
        .into_iter()
        .map(|key| signed(key, true))
        .collect();
    json!({
        "device_id": device_id,
        "device_data": { "algorithm": "m.dehydration.v2", "device_pickle": data, "nonce": "n" },
        "initial_device_display_name": "dehydrated",
        "device_keys": device_keys,
        "one_time_keys": one_time,
        "fallback_keys": fallback,
    })
}

#[tokio::test]
async fn a_dehydrated_device_collects_messages_until_it_is_replaced() {
    let server = TestServer::start().await;
    let alice = Device::register(&server, "alice").await;
    let (bob, bob_login) = user(&server, "bob").await;
    let alice_id = alice.user_id().to_owned();
    let client = &alice.client;
    // Device IDs here are base64 keys: `/` and `+` must be escaped.
    let events = |device: &str| {
        let device = device.replace('+', "%2B").replace('/', "%2F");
        format!("{PREFIX}/{device}/events")
    };

    assert_eq!(
        outcome(client, Method::GET, PREFIX, json!(null)).await,
        (404, "M_NOT_FOUND".into())
    );
    assert_eq!(
        outcome(client, Method::DELETE, PREFIX, json!({})).await,
        (404, "M_NOT_FOUND".into())
    );

    // Refused uploads store nothing.
    let mut account = Account::new();
    let good = dehydrated_upload(&alice_id, &mut account, "first");
    let device_id = good["device_id"].as_str().unwrap().to_owned();
    let mut wrong_id = good.clone();
    wrong_id["device_id"] = json!("NOTTHEKEY");
    let mut tampered = good.clone();
    tampered["device_keys"]["algorithms"] = json!(["m.olm.v1.curve25519-aes-sha2"]);
    let mut no_algorithm = good.clone();
    no_algorithm["device_data"] = json!({ "device_pickle": "x" });
    let mut no_keys = good.clone();
    no_keys.as_object_mut().unwrap().remove("device_keys");
    for (body, expected) in [
        (wrong_id, (400, "M_INVALID_PARAM")),
        (tampered, (400, "M_INVALID_PARAM")),
        (no_algorithm, (400, "M_BAD_JSON")),
        (no_keys, (400, "M_MISSING_PARAM")),
    ] {
        let got = outcome(client, Method::PUT, PREFIX, body).await;
        assert_eq!(got, (expected.0, expected.1.to_owned()));
    }
    assert_eq!(
        outcome(client, Method::GET, PREFIX, json!(null)).await,
        (404, "M_NOT_FOUND".into())
    );

    let answer: Value = client.put(PREFIX, &good).await.unwrap();
    assert_eq!(answer, json!({ "device_id": device_id }));
    let fetched: Value = client.get(PREFIX).await.unwrap();
    assert_eq!(
        fetched,
        json!({ "device_id": device_id, "device_data": good["device_data"] })
    );

    // Others see it as a device marked dehydrated, and can claim its keys:
    // the one-time key, then the fallback key.
    let query_alice = || async {
        bob.post::<Value>(
            &format!("{V3}/keys/query"),
            &json!({ "device_keys": { &alice_id: [] } }),
        )
        .await
        .unwrap()
    };
    let query = query_alice().await;
    assert_eq!(
        query["device_keys"][&alice_id][&device_id]["dehydrated"],
        true
    );
    for _ in 0..2 {
        let claimed: Value = bob
            .post(
                &format!("{V3}/keys/claim"),
                &json!({ "one_time_keys": { &alice_id: { &device_id: "signed_curve25519" } } }),
            )
            .await
            .unwrap();
        assert_eq!(
            claimed["one_time_keys"][&alice_id][&device_id]
                .as_object()
                .unwrap()
                .len(),
            1
        );
    }

    // Messages sent to it while Alice is away wait for a rehydration, in
    // batches, and reading them deletes nothing.
    for n in 0..150 {
        let _: Value = bob
            .put(
                &format!("{V3}/sendToDevice/m.room.encrypted/t{n}"),
                &json!({ "messages": { &alice_id: { &device_id: { "n": n } } } }),
            )
            .await
            .unwrap();
    }
    for _ in 0..2 {
        let (status, first) = client
            .send_raw(Method::POST, &events(&device_id), &json!({}))
            .await
            .unwrap();
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["events"].as_array().unwrap().len(), 100);
        assert_eq!(
            first["events"][0],
            json!({ "sender": bob_login.user_id, "type": "m.room.encrypted", "content": { "n": 0 } })
        );
        let next = first["next_batch"]
            .as_str()
            .expect("more to come")
            .to_owned();
        let rest: Value = client
            .get(&format!("{}?from={next}", events(&device_id)))
            .await
            .unwrap();
        let rest_events = rest["events"].as_array().unwrap();
        assert_eq!(rest_events.len(), 50);
        assert_eq!(rest_events[49]["content"]["n"], 149);
        assert!(rest.get("next_batch").is_none(), "{rest}");
    }
    assert_eq!(
        outcome(client, Method::POST, &events("SOMEOTHER"), json!({})).await,
        (403, "M_FORBIDDEN".into())
    );
    assert_eq!(
        outcome(
            client,
            Method::POST,
            &events(&device_id),
            json!({ "next_batch": "x" })
        )
        .await,
        (400, "M_INVALID_PARAM".into())
    );

    // A new dehydrated device replaces the old one, its keys and messages.
    let mut second = Account::new();
    let replacement = dehydrated_upload(&alice_id, &mut second, "second");
    let second_id = replacement["device_id"].as_str().unwrap().to_owned();
    let _: Value = client.put(PREFIX, &replacement).await.unwrap();
    let query = query_alice().await;
    let devices = query["device_keys"][&alice_id].as_object().unwrap();
    assert!(
        devices.contains_key(&second_id) && !devices.contains_key(&device_id),
        "{query}"
    );
    let left = server
        .query(&format!(
            "SELECT count(*) FROM to_device_inbox WHERE device_id = '{device_id}'"
        ))
        .await;
    assert_eq!(left[0].get::<_, i64>(0), 0);
    assert_eq!(
        outcome(client, Method::POST, &events(&device_id), json!({})).await,
        (403, "M_FORBIDDEN".into())
    );

    // Deleting it answers its ID; then there is none.
    let (status, deleted) = client
        .send_raw(Method::DELETE, PREFIX, &json!({}))
        .await
        .unwrap();
    assert_eq!((status, deleted), (200, json!({ "device_id": second_id })));
    assert_eq!(
        outcome(client, Method::GET, PREFIX, json!(null)).await,
        (404, "M_NOT_FOUND".into())
    );
    let devices: Value = client.get(&format!("{V3}/devices")).await.unwrap();
    assert_eq!(devices["devices"].as_array().unwrap().len(), 1, "{devices}");
    server.stop().await;
}
