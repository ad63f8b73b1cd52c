//! End-to-end encryption as users live it, through hanse-sdk's
//! `EncryptedClient` over real HTTP: devices that publish keys, share room
//! keys, rotate them when someone leaves, back them up and restore them,
//! and survive a restart; and a server that never sees a plaintext.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hanse_core::store::SUPERUSER;
use hanse_sdk::crypto::{BackupDecryptionKey, CryptoError, RoomKeySource, MEGOLM_ALGORITHM};
use hanse_sdk::encrypted::{
    Decryption, EncryptedClient, EncryptedClientError, SyncUpdate, TimelineEvent, ToDeviceEvent,
};
use hanse_sdk::{Client, LoginInfo, NewRoom};
use hanse_server::testing::{shared_cluster, TestServer};
use serde_json::json;

use common::{user, PASSWORD};

const PICKLE_KEY: [u8; 32] = [42; 32];

/// One device of a user: its login and its store directory.
struct Device {
    client: EncryptedClient,
    login: LoginInfo,
    store: PathBuf,
    /// Message bodies this device has decrypted from its syncs.
    read: BTreeSet<String>,
    /// Encrypted events of its syncs it could not decrypt.
    unreadable: BTreeSet<String>,
}

impl Device {
    async fn open(client: Client, login: LoginInfo, store: PathBuf) -> Self {
        let encrypted = EncryptedClient::open(client, &login, &store, PICKLE_KEY)
            .await
            .expect("opening the encrypted client");
        Self {
            client: encrypted,
            login,
            store,
            read: BTreeSet::new(),
            unreadable: BTreeSet::new(),
        }
    }

    async fn register(server: &TestServer, name: &str, stores: &Path) -> Self {
        let (client, login) = user(server, name).await;
        Self::open(client, login, stores.join(format!("{name}-1"))).await
    }

    /// Another device of an existing user.
    async fn login(server: &TestServer, name: &str, stores: &Path, n: usize) -> Self {
        let anonymous = Client::new(&server.client_url);
        let login = anonymous.login(name, PASSWORD).await.expect("login");
        let client = anonymous.with_token(&login.access_token);
        Self::open(client, login, stores.join(format!("{name}-{n}"))).await
    }

    /// The same device, closed and opened again from its store.
    async fn restart(self, server: &TestServer) -> Self {
        let Self { login, store, .. } = self;
        let client = Client::new(&server.client_url).with_token(&login.access_token);
        Self::open(client, login, store).await
    }

    /// One sync, in which every to-device message must decrypt; notes what
    /// the encrypted events of `room` say, or that they cannot be read.
    async fn sync(&mut self, room: &str) -> SyncUpdate {
        let update = self.client.sync_once(0).await.expect("sync");
        assert!(
            update.upkeep_failures.is_empty(),
            "{:?}",
            update.upkeep_failures
        );
        for event in &update.to_device {
            assert!(
                matches!(event, ToDeviceEvent::Decrypted(_)),
                "{} got an unreadable to-device message: {event:?}",
                self.login.device_id
            );
        }
        for event in update.timelines.get(room).into_iter().flatten() {
            if let Decryption::Undecryptable(_) = event.decryption {
                self.unreadable
                    .insert(event.event_id().unwrap_or_default().to_owned());
            } else if let (true, Some(body)) = (event.was_encrypted(), event.body()) {
                self.read.insert(body.to_owned());
            }
        }
        update
    }

    async fn send(&mut self, room: &str, body: &str) -> (String, String) {
        let sent = self.client.send_text(room, body).await.expect("send");
        assert!(sent.devices_without_key.is_empty());
        (sent.event_id, sent.session_id.expect("sent encrypted"))
    }
}

fn encrypted_room() -> NewRoom {
    NewRoom {
        public: true,
        encrypted: true,
        ..NewRoom::default()
    }
}

/// The encrypted room event `event_id` as stored by the server, read by a
/// member (to hand to a device that is not one any more).
async fn raw_event(member: &EncryptedClient, room: &str, event_id: &str) -> serde_json::Value {
    member
        .client()
        .get(&format!("/_matrix/client/v3/rooms/{room}/event/{event_id}"))
        .await
        .expect("the event")
}

#[tokio::test]
async fn devices_share_rotate_back_up_restore_and_the_server_sees_no_plaintext() {
    let server = TestServer::start().await;
    let stores = tempfile::tempdir().unwrap();
    let mut alice1 = Device::register(&server, "alice", stores.path()).await;
    let mut alice2 = Device::login(&server, "alice", stores.path(), 2).await;
    let mut bob = Device::register(&server, "bob", stores.path()).await;

    // The room, and everyone in it.
    let room = alice1
        .client
        .client()
        .create_room(&encrypted_room())
        .await
        .unwrap();
    alice1.sync(&room).await;
    bob.client.client().join_room(&room).await.unwrap();
    for device in [&mut alice1, &mut alice2, &mut bob] {
        device.sync(&room).await;
        assert!(device.client.room(&room).unwrap().is_encrypted());
    }

    // Each device writes; every device reads everything.
    let m1 = "m1: the harbour opens at dawn";
    let m2 = "m2: bob brings the cargo manifest";
    let m3 = "m3: alice's second device confirms";
    let (_, first_session) = alice1.send(&room, m1).await;
    for device in [&mut alice1, &mut alice2, &mut bob] {
        device.sync(&room).await;
    }
    bob.send(&room, m2).await;
    for device in [&mut alice1, &mut alice2, &mut bob] {
        device.sync(&room).await;
    }
    alice2.send(&room, m3).await;
    for device in [&mut alice1, &mut alice2, &mut bob] {
        device.sync(&room).await;
    }
    let written: BTreeSet<String> = [m1, m2, m3].map(str::to_owned).into();
    for device in [&alice1, &alice2, &bob] {
        assert_eq!(device.read, written, "{} read", device.login.device_id);
        assert!(device.unreadable.is_empty());
    }

    // A device restarted from its store keeps its identity, its sessions
    // and its place in the sync.
    let identity = alice2.client.machine().ed25519_key();
    let mut alice2 = alice2.restart(&server).await;
    assert_eq!(alice2.client.machine().ed25519_key(), identity);
    let history: Vec<TimelineEvent> = alice2.client.messages(&room, 50).await.unwrap();
    let bodies: BTreeSet<String> = history
        .iter()
        .filter(|event| event.was_encrypted())
        .filter_map(|event| event.body().map(str::to_owned))
        .collect();
    assert_eq!(bodies, written, "the restarted device reads the history");
    let after_restart = alice2.sync(&room).await;
    assert!(
        after_restart.to_device.is_empty(),
        "nothing is delivered twice"
    );

    // Bob leaves: alice's next message uses a new room key, which reaches
    // her other device (over the Olm session it kept across its restart)
    // and not bob.
    bob.client.client().leave_room(&room).await.unwrap();
    alice1.sync(&room).await;
    let m4 = "m4: bob is gone, the new key is ours";
    let (m4_id, rotated_session) = alice1.send(&room, m4).await;
    assert_ne!(rotated_session, first_session, "the room key rotated");
    alice2.sync(&room).await;
    assert!(alice2.read.contains(m4));
    assert!(alice2.unreadable.is_empty());
    let bob_update = bob.sync(&room).await;
    let key_for_bob = bob_update.to_device.iter().any(|event| {
        matches!(event, ToDeviceEvent::Decrypted(d) if d.content["session_id"] == rotated_session.as_str())
    });
    assert!(!key_for_bob, "bob was not sent the new room key");
    let m4_event = raw_event(&alice1.client, &room, &m4_id).await;
    match bob.client.decrypt(&room, m4_event).decryption {
        Decryption::Undecryptable(CryptoError::UnknownGroupSession { session_id, .. }) => {
            assert_eq!(session_id, rotated_session);
        }
        other => panic!("bob should not read m4: {other:?}"),
    }

    // A new device of alice's: her first device hears that her device
    // list changed and gives it the room key with the next message.
    let mut alice3 = Device::login(&server, "alice", stores.path(), 3).await;
    alice3.sync(&room).await;
    alice1.sync(&room).await;
    let m5 = "m5: welcome aboard, laptop";
    let (_, m5_session) = alice1.send(&room, m5).await;
    assert_eq!(m5_session, rotated_session, "a new device needs no new key");
    alice3.sync(&room).await;
    assert_eq!(alice3.read, BTreeSet::from([m5.to_owned()]));
    assert_eq!(
        alice3.unreadable.len(),
        4,
        "m1 to m4, from before it existed"
    );

    // What was said before it existed, it reads once it restores the
    // backup of alice's room keys with her recovery key.
    let (_, backup_key) = alice1.client.create_backup().await.unwrap();
    let recovery_key = backup_key.to_base58();
    let restored = alice3
        .client
        .restore_backup(&BackupDecryptionKey::from_base58(&recovery_key).unwrap())
        .await
        .unwrap();
    assert!(restored.failed.is_empty(), "{:?}", restored.failed);
    // alice1's two sessions (the second from an earlier message index than
    // alice3 was given), bob's and alice2's.
    assert_eq!((restored.found, restored.imported), (4, 4));
    let history = alice3.client.messages(&room, 50).await.unwrap();
    let mut restored_bodies = BTreeSet::new();
    for event in history.iter().filter(|event| event.was_encrypted()) {
        let Decryption::Decrypted(decrypted) = &event.decryption else {
            panic!("the new device cannot read {event:?}");
        };
        if decrypted.session_id != rotated_session {
            assert_eq!(decrypted.key_source, RoomKeySource::Backup);
        }
        restored_bodies.insert(event.body().unwrap().to_owned());
    }
    let everything: BTreeSet<String> = [m1, m2, m3, m4, m5].map(str::to_owned).into();
    assert_eq!(restored_bodies, everything);

    // A new backup from her first device replaces it: the laptop, which
    // trusted the old one, stops writing to it and says so once.
    alice1.client.create_backup().await.unwrap();
    let m6 = "m6: the laptop writes too";
    alice3.send(&room, m6).await;
    let update = alice3.client.sync_once(0).await.unwrap();
    assert!(
        matches!(
            update.upkeep_failures.as_slice(),
            [EncryptedClientError::BackupGone { .. }]
        ),
        "{:?}",
        update.upkeep_failures
    );
    let update = alice3.client.sync_once(0).await.unwrap();
    assert!(update.upkeep_failures.is_empty());
    // Bob never made a backup.
    assert!(matches!(
        bob.client.restore_backup(&backup_key).await,
        Err(EncryptedClientError::NoBackup)
    ));
    let mut everything = everything;
    everything.insert(m6.to_owned());

    // Not a word of it on the server: neither in a dump of its whole
    // database nor in any file of its data directory.
    let dump = pg_dump(&server.database).await;
    let files = files_under(server.data_dir.path());
    // Nor in the devices' stores, which keep keys, not messages.
    let client_files = files_under(stores.path());
    for secret in &everything {
        assert!(
            !dump.contains(secret.as_str()),
            "the database holds {secret:?}"
        );
        for (path, bytes) in files.iter().chain(&client_files) {
            assert!(
                !contains(bytes, secret.as_bytes()),
                "{} holds {secret:?}",
                path.display()
            );
        }
    }
    // The dump is the real thing: it holds the room and the ciphertext.
    assert!(dump.contains(&room));
    assert!(dump.contains(MEGOLM_ALGORITHM));
    server.stop().await;
}

#[tokio::test]
async fn the_room_key_rotates_at_the_rooms_message_and_time_limits() {
    let server = TestServer::start().await;
    let stores = tempfile::tempdir().unwrap();
    let mut alice = Device::register(&server, "alice", stores.path()).await;
    let mut bob = Device::register(&server, "bob", stores.path()).await;
    let created: serde_json::Value = alice
        .client
        .client()
        .post(
            "/_matrix/client/v3/createRoom",
            &json!({ "preset": "public_chat", "initial_state": [{
                "type": "m.room.encryption", "state_key": "",
                "content": { "algorithm": MEGOLM_ALGORITHM,
                             "rotation_period_msgs": 2, "rotation_period_ms": 1500 } }] }),
        )
        .await
        .unwrap();
    let room = created["room_id"].as_str().unwrap().to_owned();
    bob.client.client().join_room(&room).await.unwrap();
    alice.sync(&room).await;
    bob.sync(&room).await;

    let mut sessions = Vec::new();
    for n in 0..3 {
        sessions.push(alice.send(&room, &format!("message {n}")).await.1);
    }
    tokio::time::sleep(Duration::from_millis(1600)).await;
    sessions.push(alice.send(&room, "message 3").await.1);
    assert_eq!(sessions[0], sessions[1], "two messages per room key");
    assert_ne!(sessions[1], sessions[2], "the third needs a new one");
    assert_ne!(sessions[2], sessions[3], "and so does an old one");

    bob.sync(&room).await;
    let expected: BTreeSet<String> = (0..4).map(|n| format!("message {n}")).collect();
    assert_eq!(bob.read, expected);
    assert!(bob.unreadable.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_device_that_logs_out_no_longer_gets_the_room_key() {
    let server = TestServer::start().await;
    let stores = tempfile::tempdir().unwrap();
    let mut alice = Device::register(&server, "alice", stores.path()).await;
    let mut phone = Device::login(&server, "alice", stores.path(), 2).await;
    let room = alice
        .client
        .client()
        .create_room(&encrypted_room())
        .await
        .unwrap();
    alice.sync(&room).await;
    phone.sync(&room).await;
    let (_, before) = alice.send(&room, "while the phone is here").await;
    phone.sync(&room).await;
    assert!(phone.read.contains("while the phone is here"));

    phone.client.client().logout().await.unwrap();
    alice.sync(&room).await;
    let (_, after) = alice.send(&room, "after the phone is gone").await;
    assert_ne!(before, after, "the room key rotated");
    server.stop().await;
}

#[tokio::test]
async fn one_time_keys_are_topped_up_and_a_used_fallback_key_is_replaced() {
    let server = TestServer::start().await;
    let stores = tempfile::tempdir().unwrap();
    let mut alice = Device::register(&server, "alice", stores.path()).await;
    let (bob, _) = user(&server, "bob").await;
    let (published, fallback) = held_keys(alice.client.client()).await;
    assert!(published > 0);
    assert_eq!(fallback, json!(["signed_curve25519"]));

    // Bob claims every one-time key and then the fallback key.
    let claim = json!({ "one_time_keys": {
        alice.login.user_id.clone(): { alice.login.device_id.clone(): "signed_curve25519" } } });
    for _ in 0..=published {
        let _: serde_json::Value = bob
            .post("/_matrix/client/v3/keys/claim", &claim)
            .await
            .unwrap();
    }
    assert_eq!(held_keys(alice.client.client()).await, (0, json!([])));

    // Alice's next sync publishes as many new ones and a new fallback key.
    alice.sync("").await;
    assert_eq!(
        held_keys(alice.client.client()).await,
        (published, json!(["signed_curve25519"]))
    );
    server.stop().await;
}

/// The one-time keys and unused fallback key types the server holds for
/// `client`'s device, from a sync that acknowledges nothing (nothing is
/// waiting for the device).
async fn held_keys(client: &Client) -> (u64, serde_json::Value) {
    let answer = client.sync(None, 0, None).await.unwrap();
    let count = answer["device_one_time_keys_count"]["signed_curve25519"]
        .as_u64()
        .unwrap_or(0);
    (count, answer["device_unused_fallback_key_types"].clone())
}

#[tokio::test]
async fn a_replayed_ciphertext_is_refused() {
    let server = TestServer::start().await;
    let stores = tempfile::tempdir().unwrap();
    let mut alice = Device::register(&server, "alice", stores.path()).await;
    let mut bob = Device::register(&server, "bob", stores.path()).await;
    let room = alice
        .client
        .client()
        .create_room(&encrypted_room())
        .await
        .unwrap();
    bob.client.client().join_room(&room).await.unwrap();
    alice.sync(&room).await;
    bob.sync(&room).await;
    let (event_id, _) = alice.send(&room, "pay bob 10 coins").await;
    bob.sync(&room).await;
    assert!(bob.read.contains("pay bob 10 coins"));

    // The same ciphertext sent again as a new event (as a malicious
    // server or a member could) is refused; the original still reads.
    let original = raw_event(&alice.client, &room, &event_id).await;
    let _: serde_json::Value = alice
        .client
        .client()
        .put(
            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.encrypted/replay"),
            &original["content"],
        )
        .await
        .unwrap();
    let update = bob.client.sync_once(0).await.unwrap();
    let replay = &update.timelines[&room][0];
    assert!(
        matches!(
            &replay.decryption,
            Decryption::Undecryptable(CryptoError::Replay { first_event_id, .. })
                if *first_event_id == event_id
        ),
        "{replay:?}"
    );
    let again = bob.client.decrypt(&room, original);
    assert_eq!(again.body(), Some("pay bob 10 coins"));
    server.stop().await;
}

/// A plain-text dump of the test database `database`, made with the
/// PostgreSQL client tools beside the server binaries the tests run.
async fn pg_dump(database: &str) -> String {
    let (socket, _) = shared_cluster();
    let output = tokio::process::Command::new(pg_dump_program())
        .arg("--host")
        .arg(&socket)
        .args([
            "--username",
            SUPERUSER,
            "--no-password",
            "--dbname",
            database,
        ])
        .output()
        .await
        .expect("running pg_dump");
    assert!(
        output.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("a UTF-8 dump")
}

/// `pg_dump` of the newest installed PostgreSQL (it must be at least as
/// new as the server), else the one on PATH.
fn pg_dump_program() -> PathBuf {
    let mut installed: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let program = entry.path().join("bin/pg_dump");
            program.is_file().then_some((version, program))
        })
        .collect();
    installed.sort();
    installed
        .pop()
        .map_or_else(|| PathBuf::from("pg_dump"), |(_, program)| program)
}

/// Every regular file under `dir`, with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path, bytes));
            }
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
