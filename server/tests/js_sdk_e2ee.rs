//! End-to-end encryption through hanse with matrix-js-sdk's own crypto
//! (its Rust crypto, matrix-sdk-crypto-wasm, from npm).
//!
//! - Among js-sdk clients (interop/js-sdk/e2ee.mjs): two users on a device
//!   each share an encrypted room and decrypt each other's messages; a
//!   second device of one of them and a third user join later and decrypt
//!   what is sent from then on, and the others decrypt what they send;
//!   after a logout and a leave the next room key skips them.
//! - Recovery (interop/js-sdk/e2ee-recovery.mjs): cross-signing, secret
//!   storage, a key backup a new device restores to read older messages,
//!   cross-signing that device, and a dehydrated device (MSC3814): while
//!   the user has no device online, another user's room key reaches the
//!   dehydrated device only, and a new device rehydrates it (reading its
//!   to-device messages until an empty batch) and decrypts with that key.
//! - Across implementations: hanse-sdk's `EncryptedClient`, driven here,
//!   and a js-sdk client (interop/js-sdk/e2ee-peer.mjs) converse in an
//!   encrypted room, each decrypting the other.
//!
//! The server routes the keys (/keys/upload, /keys/query, /keys/claim,
//! /sendToDevice, /sync's device lists, to-device messages and key counts),
//! keeps cross-signing keys, backups and dehydrated devices, and stores
//! ciphertext only. The scripts assert every step and print the
//! requests the server refused.
//!
//! Needs Node.js 20 or newer and npm; see common/js_sdk.rs for the install.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::js_sdk::{assert_succeeded, progress, run_script, spawn_script};
use common::PASSWORD;
use hanse_sdk::crypto::{DecryptedRoomEvent, RoomKeySource, MEGOLM_ALGORITHM};
use hanse_sdk::encrypted::{Decryption, EncryptedClient, Membership, SyncUpdate, ToDeviceEvent};
use hanse_sdk::{Client, NewRoom};
use hanse_server::testing::TestServer;
use serde_json::{json, Value};

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test]
async fn matrix_js_sdk_clients_decrypt_each_other() {
    let server = TestServer::start().await;
    progress(&format!("server at {}", server.client_url));
    run_script("e2ee.mjs", &[&server.client_url], SCRIPT_TIMEOUT).await;
    server.stop().await;
}

#[tokio::test]
async fn matrix_js_sdk_cross_signs_backs_up_and_dehydrates() {
    let server = TestServer::start().await;
    progress(&format!("server at {}", server.client_url));
    run_script("e2ee-recovery.mjs", &[&server.client_url], SCRIPT_TIMEOUT).await;
    server.stop().await;
}

// The cross-implementation conversation, in order. Each side waits for
// the other's message before it sends its next one, so the room itself
// keeps the two in step.
/// hanna's first device: it claims the js-sdk device's one-time key and
/// sets up the first Olm session.
const FIRST: &str = "Moin from hanse-sdk";
/// The js-sdk client answers (over that Olm session, no claim).
const ANSWER: &str = "Moin from matrix-js-sdk";
/// hanna's first device again, once her second device has published its
/// keys.
const SECOND_DEVICE: &str = "hanna has a second device now";
/// The js-sdk client learns the new device from device_lists, claims its
/// one-time key and shares its room key with it: both of hanna's devices
/// decrypt.
const TO_BOTH: &str = "to both of hanna's devices";
/// hanna's second device shares a room key of its own.
const FROM_SECOND: &str = "from hanna's second device";

/// The js-sdk side's turns (interop/js-sdk/e2ee-peer.mjs).
fn js_turns() -> Vec<String> {
    vec![
        format!("recv:{FIRST}"),
        format!("send:{ANSWER}"),
        format!("recv:{SECOND_DEVICE}"),
        format!("send:{TO_BOTH}"),
        format!("recv:{FROM_SECOND}"),
    ]
}

const CONVERSATION_TIMEOUT: Duration = Duration::from_secs(120);
const PICKLE_KEY: [u8; 32] = [7; 32];

/// hanse-sdk's `EncryptedClient` (driven here, on two devices of hanna)
/// and a matrix-js-sdk client with its Rust crypto (jules, driven by
/// interop/js-sdk/e2ee-peer.mjs) share an encrypted room through hanse and
/// each decrypts the other's messages, with Olm sessions set up in both
/// directions (each side claims a one-time key of the other).
#[tokio::test]
async fn hanse_sdk_and_matrix_js_sdk_decrypt_each_other() {
    let server = TestServer::start().await;
    let (client, login) = common::user(&server, "hanna").await;
    // The js-sdk user; the script logs in on a device of its own.
    let (_, jules) = common::user(&server, "jules").await;
    let room = client
        .create_room(&NewRoom {
            encrypted: true,
            name: Some("Brücke".to_owned()),
            invite: vec![jules.user_id.clone()],
            ..NewRoom::default()
        })
        .await
        .expect("creating the encrypted room");
    let stores = tempfile::tempdir().expect("a directory for the stores");
    let mut hanna =
        EncryptedClient::open(client, &login, &stores.path().join("hanna-1"), PICKLE_KEY)
            .await
            .expect("opening hanna's encrypted client (it uploads the device's keys)");

    let mut args = vec![
        server.client_url.clone(),
        room.clone(),
        "jules".to_owned(),
        login.user_id.clone(),
    ];
    args.extend(js_turns());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let mut node = spawn_script("e2ee-peer.mjs", &args).await;

    // hanse-sdk's side, while the script runs; the script failing ends
    // the test at once.
    let conversation = converse(&server, &mut hanna, stores.path(), &room, &jules.user_id);
    let both = async {
        tokio::pin!(conversation);
        tokio::select! {
            () = &mut conversation => node.wait().await,
            status = node.wait() => {
                let status = status.expect("waiting for node");
                assert_succeeded("e2ee-peer.mjs", status);
                conversation.await;
                Ok(status)
            }
        }
    };
    let node_status = tokio::time::timeout(CONVERSATION_TIMEOUT, both)
        .await
        .unwrap_or_else(|_| panic!("the conversation took longer than {CONVERSATION_TIMEOUT:?}"))
        .expect("waiting for node");
    progress(&format!("e2ee-peer.mjs took {:.1?}", started.elapsed()));
    assert_succeeded("e2ee-peer.mjs", node_status);
    server.stop().await;
}

/// hanse-sdk's side of the conversation: hanna's first device, then her
/// second (stored under `stores`), in `room` with `peer` (the js-sdk user).
async fn converse(
    server: &TestServer,
    hanna: &mut EncryptedClient,
    stores: &Path,
    room: &str,
    peer: &str,
) {
    // The script uploads its device's keys before it joins.
    sync_until(hanna, &format!("{peer} to join {room}"), |hanna, _| {
        hanna.room(room).is_some_and(|state| {
            state
                .members()
                .any(|(user, membership)| user == peer && membership == Membership::Join)
        })
    })
    .await;
    progress("hanse-sdk: the js-sdk user joined");
    send(hanna, room, FIRST).await;
    receive(hanna, room, peer, ANSWER).await;

    // hanna's second device publishes its keys on opening and learns the
    // room from its first sync.
    let anonymous = Client::new(&server.client_url);
    let login = anonymous
        .login("hanna", PASSWORD)
        .await
        .expect("hanna logs in on a second device");
    let mut second = EncryptedClient::open(
        anonymous.with_token(&login.access_token),
        &login,
        &stores.join("hanna-2"),
        PICKLE_KEY,
    )
    .await
    .expect("opening hanna's second encrypted client");
    sync_until(
        &mut second,
        "the room in the second device's first sync",
        |second, _| second.room(room).is_some(),
    )
    .await;
    // hanna's first device learns it from a sync's device_lists.changed
    // (and /keys/query) before it shares its room key again.
    let second_id = second.device_id().to_owned();
    sync_until(hanna, "the first device to learn the second", |hanna, _| {
        let user = hanna.user_id();
        hanna.machine().device(user, &second_id).is_some()
    })
    .await;
    send(hanna, room, SECOND_DEVICE).await;
    receive(hanna, room, peer, TO_BOTH).await;
    receive(&mut second, room, peer, TO_BOTH).await;
    send(&mut second, room, FROM_SECOND).await;
}

/// Sends `body` into `room` from `device`, encrypted, with the room key
/// handed to every device of the room's members.
async fn send(device: &mut EncryptedClient, room: &str, body: &str) {
    let sent = device.send_text(room, body).await.expect("hanse-sdk sends");
    assert!(
        sent.devices_without_key.is_empty(),
        "hanse-sdk could not give the room key to {:?}",
        sent.devices_without_key
    );
    assert!(
        sent.session_id.is_some(),
        "hanse-sdk sent \"{body}\" encrypted"
    );
    progress(&format!(
        "hanse-sdk device {}: sent \"{body}\" ({})",
        device.device_id(),
        sent.event_id
    ));
}

/// Syncs `hanna` until `peer`'s message `body` arrives in `room`; checks
/// that it was Megolm-encrypted and decrypted with a room key that came
/// over Olm from a device of `peer` whose keys the server serves.
async fn receive(hanna: &mut EncryptedClient, room: &str, peer: &str, body: &str) {
    let mut found: Option<(Value, DecryptedRoomEvent)> = None;
    sync_until(hanna, &format!("\"{body}\" from {peer}"), |_, update| {
        for event in update.timelines.get(room).into_iter().flatten() {
            let decrypted = match &event.decryption {
                Decryption::Decrypted(decrypted) => decrypted,
                Decryption::Undecryptable(error) => panic!(
                    "hanse-sdk could not decrypt {} from {}: {error}",
                    event.event_id().unwrap_or_default(),
                    event.sender().unwrap_or_default()
                ),
                Decryption::Plaintext => continue,
            };
            if event.sender() == Some(peer) && event.body() == Some(body) {
                found = Some((event.raw.clone(), (**decrypted).clone()));
            }
        }
        found.is_some()
    })
    .await;
    let (raw, decrypted) = found.expect("sync_until returns once found");
    assert_eq!(raw["type"], "m.room.encrypted");
    assert_eq!(raw["content"]["algorithm"], MEGOLM_ALGORITHM);
    assert_eq!(decrypted.event_type, "m.room.message");
    assert_eq!(
        decrypted.content,
        json!({ "msgtype": "m.text", "body": body })
    );
    assert_eq!(
        decrypted.key_source,
        RoomKeySource::Olm,
        "the room key came over Olm"
    );
    let device = decrypted
        .sender_device
        .as_deref()
        .expect("the room key's sending device is known");
    let keys: Value = hanna
        .client()
        .post(
            "/_matrix/client/v3/keys/query",
            &json!({ "device_keys": { peer: [device] } }),
        )
        .await
        .expect("/keys/query");
    assert_eq!(
        keys["device_keys"][peer][device]["keys"][format!("curve25519:{device}")],
        decrypted.sender_curve25519_key.to_base64(),
        "the room key is from {peer}'s device {device} as /keys/query serves it: {keys}"
    );
    progress(&format!(
        "hanse-sdk device {}: decrypted \"{body}\" from {peer}'s device {device} ({})",
        hanna.device_id(),
        raw["event_id"].as_str().unwrap_or_default()
    ));
}

/// Syncs `hanna` (long-polling a second at a time) until `done` holds for
/// an update; every to-device message must decrypt and every key upload
/// succeed. Panics after [`CONVERSATION_TIMEOUT`] saying it waited for
/// `what`.
async fn sync_until(
    hanna: &mut EncryptedClient,
    what: &str,
    mut done: impl FnMut(&EncryptedClient, &SyncUpdate) -> bool,
) {
    let deadline = Instant::now() + CONVERSATION_TIMEOUT;
    loop {
        assert!(
            Instant::now() < deadline,
            "hanse-sdk waited in vain for {what}"
        );
        let update = hanna.sync_once(1000).await.expect("hanse-sdk's sync");
        assert!(
            update.upkeep_failures.is_empty(),
            "hanse-sdk's key upkeep failed: {:?}",
            update.upkeep_failures
        );
        for event in &update.to_device {
            assert!(
                matches!(event, ToDeviceEvent::Decrypted(_)),
                "hanse-sdk got an unreadable to-device message: {event:?}"
            );
        }
        if done(hanna, &update) {
            return;
        }
    }
}
