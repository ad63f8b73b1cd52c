//! The encryption engine end to end, in process: Alice with two devices and
//! Bob with one, talking through a fake server that only stores and hands
//! out what the real one would.

use std::collections::BTreeMap;

use hanse_protocol::canonical_json::{object_from_json, object_to_canonical_string};
use hanse_sdk::crypto::{
    BackupDecryptionKey, CryptoError, CryptoMachine, Curve25519PublicKey, Device,
    EncryptionSettings, RoomKeyShare, RoomKeySource, MEGOLM_ALGORITHM, OLM_ALGORITHM,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use vodozemac::megolm::{GroupSession, SessionConfig as MegolmConfig};
use vodozemac::olm::{Account, SessionConfig as OlmConfig};

const ALICE: &str = "@alice:hanse.test";
const BOB: &str = "@bob:hanse.test";
const ROOM: &str = "!room:hanse.test";

/// What a homeserver keeps for end-to-end encryption: device keys,
/// one-time keys (each handed out once) and fallback keys (handed out when
/// the one-time keys are gone).
#[derive(Default)]
struct FakeServer {
    device_keys: BTreeMap<String, BTreeMap<String, Value>>,
    one_time_keys: BTreeMap<(String, String), BTreeMap<String, Value>>,
    fallback_keys: BTreeMap<(String, String), (String, Value)>,
}

impl FakeServer {
    fn counts(&self, user_id: &str, device_id: &str) -> BTreeMap<String, u64> {
        let held = self
            .one_time_keys
            .get(&(user_id.to_owned(), device_id.to_owned()))
            .map_or(0, BTreeMap::len);
        BTreeMap::from([("signed_curve25519".to_owned(), held as u64)])
    }

    fn upload(&mut self, user_id: &str, device_id: &str, body: &Value) {
        let id = (user_id.to_owned(), device_id.to_owned());
        if let Some(keys) = body.get("device_keys") {
            self.device_keys
                .entry(user_id.to_owned())
                .or_default()
                .insert(device_id.to_owned(), keys.clone());
        }
        for (key_id, key) in body["one_time_keys"].as_object().into_iter().flatten() {
            self.one_time_keys
                .entry(id.clone())
                .or_default()
                .insert(key_id.clone(), key.clone());
        }
        for (key_id, key) in body["fallback_keys"].as_object().into_iter().flatten() {
            self.fallback_keys
                .insert(id.clone(), (key_id.clone(), key.clone()));
        }
    }

    /// Publishes what `machine` wants published, as its client would.
    fn publish(&mut self, machine: &mut CryptoMachine) {
        let counts = self.counts(machine.user_id(), machine.device_id());
        if let Some(body) = machine.keys_for_upload(&counts, None).unwrap() {
            self.upload(machine.user_id(), machine.device_id(), &body);
            machine.mark_keys_as_published().unwrap();
        }
    }

    fn query(&self, users: &[&str]) -> Value {
        let device_keys: BTreeMap<&str, Value> = users
            .iter()
            .map(|user| {
                let devices = self.device_keys.get(*user).cloned().unwrap_or_default();
                (*user, json!(devices))
            })
            .collect();
        json!({"failures": {}, "device_keys": device_keys})
    }

    fn claim(&mut self, request: &BTreeMap<String, BTreeMap<String, String>>) -> Value {
        let mut answer: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
        for (user_id, devices) in request {
            for device_id in devices.keys() {
                let id = (user_id.clone(), device_id.clone());
                let one_time = self
                    .one_time_keys
                    .get_mut(&id)
                    .and_then(BTreeMap::pop_first);
                let Some((key_id, key)) = one_time.or_else(|| self.fallback_keys.get(&id).cloned())
                else {
                    continue;
                };
                answer
                    .entry(user_id.clone())
                    .or_default()
                    .insert(device_id.clone(), json!({ key_id: key }));
            }
        }
        json!({"failures": {}, "one_time_keys": answer})
    }

    /// Lets `machine` learn the devices of `users` and open Olm sessions
    /// with all of them.
    fn connect(&mut self, machine: &mut CryptoMachine, users: &[&str]) {
        machine.receive_keys_query(&self.query(users)).unwrap();
        let claimed = self.claim(&machine.missing_sessions(users));
        let outcome = machine.receive_keys_claim(&claimed).unwrap();
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    }
}

fn to_device(sender: &str, content: Value) -> Value {
    json!({"type": "m.room.encrypted", "sender": sender, "content": content})
}

fn room_event(sender: &str, event_id: &str, ts: i64, content: Value) -> Value {
    json!({
        "type": "m.room.encrypted",
        "room_id": ROOM,
        "sender": sender,
        "event_id": event_id,
        "origin_server_ts": ts,
        "content": content,
    })
}

/// Hands `share`'s room key message for `to` over to it.
fn deliver_room_key(share: &RoomKeyShare, sender: &str, to: &mut CryptoMachine) {
    let content = share.messages[to.user_id()][to.device_id()].clone();
    let received = to.receive_to_device(&to_device(sender, content)).unwrap();
    assert_eq!(received.event_type, "m.room_key");
}

struct World {
    server: FakeServer,
    alice1: CryptoMachine,
    alice2: CryptoMachine,
    bob: CryptoMachine,
}

/// Alice (devices A1 and A2) and Bob (B1), keys published, everyone
/// knowing everyone's devices; no Olm sessions yet.
fn world() -> World {
    let mut server = FakeServer::default();
    let mut alice1 = CryptoMachine::new(ALICE, "A1");
    let mut alice2 = CryptoMachine::new(ALICE, "A2");
    let mut bob = CryptoMachine::new(BOB, "B1");
    for machine in [&mut alice1, &mut alice2, &mut bob] {
        server.publish(machine);
    }
    for machine in [&mut alice1, &mut alice2, &mut bob] {
        machine
            .receive_keys_query(&server.query(&[ALICE, BOB]))
            .unwrap();
    }
    World {
        server,
        alice1,
        alice2,
        bob,
    }
}

/// `world()` where Alice's first device has shared a room key with every
/// device of the room (sessions claimed as needed).
fn world_with_room_key(settings: &EncryptionSettings) -> (World, RoomKeyShare) {
    let mut w = world();
    w.server.connect(&mut w.alice1, &[ALICE, BOB]);
    let share = w
        .alice1
        .share_room_key(ROOM, &[ALICE, BOB], settings)
        .unwrap();
    assert!(share.missing_sessions.is_empty());
    deliver_room_key(&share, ALICE, &mut w.alice2);
    deliver_room_key(&share, ALICE, &mut w.bob);
    (w, share)
}

#[test]
fn published_keys_are_signed_and_others_verify_them() {
    let mut alice = CryptoMachine::new(ALICE, "A1");
    let body = alice
        .keys_for_upload(&BTreeMap::new(), None)
        .unwrap()
        .unwrap();
    let device = Device::from_device_keys(ALICE, "A1", &body["device_keys"]).unwrap();
    assert_eq!(device.curve25519_key(), alice.curve25519_key());
    assert_eq!(device.ed25519_key(), alice.ed25519_key());
    assert_eq!(
        device.algorithms(),
        [OLM_ALGORITHM.to_owned(), MEGOLM_ALGORITHM.to_owned()]
    );

    let one_time_keys = body["one_time_keys"].as_object().unwrap();
    assert!(!one_time_keys.is_empty());
    for (key_id, key) in one_time_keys {
        assert!(key_id.starts_with("signed_curve25519:"));
        device.verify_one_time_key(key_id, key).unwrap();
    }
    let (key_id, fallback) = body["fallback_keys"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_eq!(fallback["fallback"], true);
    device.verify_one_time_key(key_id, fallback).unwrap();

    // Once published, a full server needs nothing more.
    alice.mark_keys_as_published().unwrap();
    let full = BTreeMap::from([("signed_curve25519".to_owned(), one_time_keys.len() as u64)]);
    assert_eq!(alice.one_time_keys_to_generate(&full), 0);
    assert_eq!(alice.keys_for_upload(&full, None).unwrap(), None);

    // Bob learns both of Alice's devices; Alice lists only her other one.
    let mut w = world();
    assert_eq!(w.bob.devices_of(ALICE).len(), 2);
    let others: Vec<_> = w
        .alice1
        .devices_of(ALICE)
        .iter()
        .map(|d| d.device_id().to_owned())
        .collect();
    assert_eq!(others, ["A2"]);
    let changes = w.bob.receive_keys_query(&w.server.query(&[ALICE])).unwrap();
    assert!(changes.added.is_empty() && changes.removed.is_empty() && changes.rejected.is_empty());
}

#[test]
fn olm_sessions_from_claimed_keys_work_both_ways() {
    let mut w = world();
    // Bob claims one of Alice's keys and writes first.
    w.server.connect(&mut w.bob, &[ALICE]);
    let first = w
        .bob
        .encrypt_to_device(ALICE, "A1", "m.test", json!({"n": 1}))
        .unwrap();
    let second = w
        .bob
        .encrypt_to_device(ALICE, "A1", "m.test", json!({"n": 2}))
        .unwrap();
    let alice_key = w.alice1.curve25519_key().to_base64();
    assert_eq!(first["algorithm"], OLM_ALGORITHM);
    assert_eq!(first["sender_key"], w.bob.curve25519_key().to_base64());
    assert_eq!(first["ciphertext"][&alice_key]["type"], 0);

    let received = w.alice1.receive_to_device(&to_device(BOB, first)).unwrap();
    assert_eq!(received.event_type, "m.test");
    assert_eq!(received.content, json!({"n": 1}));
    assert_eq!(received.sender, BOB);
    assert_eq!(received.sender_device.as_deref(), Some("B1"));
    assert_eq!(received.sender_ed25519_key, w.bob.ed25519_key());
    // Still a pre-key message, but for the session the first one set up:
    // a new session would need the one-time key, which is gone.
    let received = w.alice1.receive_to_device(&to_device(BOB, second)).unwrap();
    assert_eq!(received.content, json!({"n": 2}));

    // Alice answers on the same session, without claiming anything.
    let reply = w
        .alice1
        .encrypt_to_device(BOB, "B1", "m.test", json!({"n": 3}))
        .unwrap();
    assert_eq!(
        reply["ciphertext"][w.bob.curve25519_key().to_base64()]["type"],
        1
    );
    let received = w.bob.receive_to_device(&to_device(ALICE, reply)).unwrap();
    assert_eq!(received.content, json!({"n": 3}));
    assert_eq!(received.sender_device.as_deref(), Some("A1"));

    // The other way round: Alice's second device claims one of Bob's keys.
    w.server.connect(&mut w.alice2, &[BOB]);
    let hello = w
        .alice2
        .encrypt_to_device(BOB, "B1", "m.test", json!({"n": 4}))
        .unwrap();
    let received = w.bob.receive_to_device(&to_device(ALICE, hello)).unwrap();
    assert_eq!(received.sender_device.as_deref(), Some("A2"));
}

#[test]
fn a_normal_olm_message_without_a_session_is_refused() {
    let mut w = world();
    w.server.connect(&mut w.bob, &[ALICE]);
    let first = w
        .bob
        .encrypt_to_device(ALICE, "A1", "m.test", json!({}))
        .unwrap();
    w.alice1.receive_to_device(&to_device(BOB, first)).unwrap();
    let reply = w
        .alice1
        .encrypt_to_device(BOB, "B1", "m.test", json!({}))
        .unwrap();
    w.bob.receive_to_device(&to_device(ALICE, reply)).unwrap();
    let normal = w
        .bob
        .encrypt_to_device(ALICE, "A1", "m.test", json!({}))
        .unwrap();
    let alice_key = w.alice1.curve25519_key().to_base64();
    assert_eq!(normal["ciphertext"][&alice_key]["type"], 1);

    // The same message readdressed to Alice's other device, which has no
    // session with Bob.
    let mut readdressed = normal.clone();
    let entry = readdressed["ciphertext"][&alice_key].take();
    readdressed["ciphertext"] = json!({ w.alice2.curve25519_key().to_base64(): entry });
    assert!(matches!(
        w.alice2.receive_to_device(&to_device(BOB, readdressed)),
        Err(CryptoError::NoMatchingOlmSession { .. })
    ));
    assert!(matches!(
        w.alice2.receive_to_device(&to_device(BOB, normal)),
        Err(CryptoError::NotForThisDevice)
    ));
}

#[test]
fn a_room_key_reaches_every_device_and_every_device_decrypts() {
    let (mut w, share) = world_with_room_key(&EncryptionSettings::default());
    let recipients: Vec<(&str, &str)> = share
        .messages
        .iter()
        .flat_map(|(user, devices)| devices.keys().map(move |d| (user.as_str(), d.as_str())))
        .collect();
    assert_eq!(recipients, [(ALICE, "A2"), (BOB, "B1")]);

    let encrypted = w
        .alice1
        .encrypt_room_event(ROOM, "m.room.message", json!({"body": "hello"}))
        .unwrap();
    assert_eq!(encrypted["algorithm"], MEGOLM_ALGORITHM);
    assert_eq!(encrypted["session_id"], share.session_id.as_str());
    assert_eq!(encrypted["device_id"], "A1");
    assert_eq!(
        encrypted["sender_key"],
        w.alice1.curve25519_key().to_base64()
    );
    let event = room_event(ALICE, "$1", 1, encrypted);
    for machine in [&mut w.alice1, &mut w.alice2, &mut w.bob] {
        let decrypted = machine.decrypt_room_event(ROOM, &event).unwrap();
        assert_eq!(decrypted.event_type, "m.room.message");
        assert_eq!(decrypted.content, json!({"body": "hello"}));
        assert_eq!(decrypted.message_index, 0);
    }
    let at_bob = w.bob.decrypt_room_event(ROOM, &event).unwrap();
    assert_eq!(at_bob.sender_device.as_deref(), Some("A1"));
    assert_eq!(at_bob.key_source, RoomKeySource::Olm);
    let at_alice = w.alice1.decrypt_room_event(ROOM, &event).unwrap();
    assert_eq!(at_alice.key_source, RoomKeySource::Own);

    // Bob can reach Alice's first device over the Olm session her room
    // key came in on, not her second: he is told so, and once he has a
    // session the same Megolm session's key goes out to it.
    let bobs = w
        .bob
        .share_room_key(ROOM, &[ALICE, BOB], &EncryptionSettings::default())
        .unwrap();
    assert_eq!(bobs.messages[ALICE].keys().collect::<Vec<_>>(), ["A1"]);
    assert_eq!(bobs.missing_sessions, [(ALICE.to_owned(), "A2".to_owned())]);
    deliver_room_key(&bobs, BOB, &mut w.alice1);
    w.server.connect(&mut w.bob, &[ALICE]);
    let bobs_again = w
        .bob
        .share_room_key(ROOM, &[ALICE, BOB], &EncryptionSettings::default())
        .unwrap();
    assert_eq!(bobs_again.session_id, bobs.session_id);
    assert_eq!(
        bobs_again.messages[ALICE].keys().collect::<Vec<_>>(),
        ["A2"]
    );
    assert!(bobs_again.missing_sessions.is_empty());
    deliver_room_key(&bobs_again, BOB, &mut w.alice2);

    // Sharing again sends nothing: everyone has the key.
    let again = w
        .alice1
        .share_room_key(ROOM, &[ALICE, BOB], &EncryptionSettings::default())
        .unwrap();
    assert_eq!(again.session_id, share.session_id);
    assert!(again.messages.is_empty());
}

#[test]
fn a_replayed_message_index_is_refused() {
    let (mut w, _) = world_with_room_key(&EncryptionSettings::default());
    let encrypted = w
        .alice1
        .encrypt_room_event(ROOM, "m.room.message", json!({"body": "once"}))
        .unwrap();
    let original = room_event(ALICE, "$1", 1000, encrypted.clone());
    w.bob.decrypt_room_event(ROOM, &original).unwrap();
    // The same event again (e.g. from a back-paginated timeline) is fine.
    w.bob.decrypt_room_event(ROOM, &original).unwrap();

    for replay in [
        room_event(ALICE, "$2", 1000, encrypted.clone()),
        room_event(ALICE, "$1", 2000, encrypted),
    ] {
        assert!(matches!(
            w.bob.decrypt_room_event(ROOM, &replay),
            Err(CryptoError::Replay { index: 0, .. })
        ));
    }
}

#[test]
fn the_room_key_rotates_after_the_message_limit() {
    let settings = EncryptionSettings {
        rotation_period_msgs: 2,
        ..EncryptionSettings::default()
    };
    let (mut w, first) = world_with_room_key(&settings);
    for n in 0..2 {
        w.alice1
            .encrypt_room_event(ROOM, "m.room.message", json!({"n": n}))
            .unwrap();
    }
    assert!(matches!(
        w.alice1
            .encrypt_room_event(ROOM, "m.room.message", json!({})),
        Err(CryptoError::RoomKeyNotShared(_))
    ));

    let second = w
        .alice1
        .share_room_key(ROOM, &[ALICE, BOB], &settings)
        .unwrap();
    assert_ne!(second.session_id, first.session_id);
    assert_eq!(second.messages[ALICE].len() + second.messages[BOB].len(), 2);
    // Alice's other device gets the new key, Bob's does not (lost in transit).
    deliver_room_key(&second, ALICE, &mut w.alice2);
    let encrypted = w
        .alice1
        .encrypt_room_event(ROOM, "m.room.message", json!({"n": 2}))
        .unwrap();
    assert_eq!(encrypted["session_id"], second.session_id.as_str());
    let event = room_event(ALICE, "$3", 3, encrypted);
    w.alice2.decrypt_room_event(ROOM, &event).unwrap();
    assert!(matches!(
        w.bob.decrypt_room_event(ROOM, &event),
        Err(CryptoError::UnknownGroupSession { .. })
    ));
}

#[test]
fn invalidating_or_losing_a_device_rotates_the_room_key() {
    let settings = EncryptionSettings::default();
    let (mut w, first) = world_with_room_key(&settings);

    // Bob left: Alice invalidates and shares with her own devices only.
    w.alice1.invalidate(ROOM).unwrap();
    assert!(matches!(
        w.alice1
            .encrypt_room_event(ROOM, "m.room.message", json!({})),
        Err(CryptoError::RoomKeyNotShared(_))
    ));
    let second = w.alice1.share_room_key(ROOM, &[ALICE], &settings).unwrap();
    assert_ne!(second.session_id, first.session_id);
    assert!(!second.messages.contains_key(BOB));
    deliver_room_key(&second, ALICE, &mut w.alice2);
    let event = room_event(
        ALICE,
        "$1",
        1,
        w.alice1
            .encrypt_room_event(ROOM, "m.room.message", json!({"secret": true}))
            .unwrap(),
    );
    w.alice2.decrypt_room_event(ROOM, &event).unwrap();
    assert!(matches!(
        w.bob.decrypt_room_event(ROOM, &event),
        Err(CryptoError::UnknownGroupSession { .. })
    ));

    // Alice removes her second device: the next share rotates by itself.
    w.server.device_keys.get_mut(ALICE).unwrap().remove("A2");
    let changes = w
        .alice1
        .receive_keys_query(&w.server.query(&[ALICE]))
        .unwrap();
    assert_eq!(changes.removed, [(ALICE.to_owned(), "A2".to_owned())]);
    let third = w.alice1.share_room_key(ROOM, &[ALICE], &settings).unwrap();
    assert_ne!(third.session_id, second.session_id);
    assert!(third.messages.is_empty());
}

#[test]
fn a_backup_restores_room_keys_on_a_new_device() {
    let (mut w, share) = world_with_room_key(&EncryptionSettings::default());
    let event = room_event(
        ALICE,
        "$1",
        1,
        w.alice1
            .encrypt_room_event(ROOM, "m.room.message", json!({"body": "keep me"}))
            .unwrap(),
    );

    // Alice's first device creates the backup and uploads its keys.
    let (key, auth_data) = w.alice1.create_backup().unwrap();
    assert_eq!(auth_data["public_key"], key.public_key().to_base64());
    w.alice1.enable_backup("1", &auth_data, Some(&key)).unwrap();
    let request = w.alice1.room_keys_for_backup(usize::MAX).unwrap().unwrap();
    assert_eq!(request.version, "1");
    let backed_up = request.body["rooms"][ROOM]["sessions"][&share.session_id].clone();
    assert_eq!(backed_up["first_message_index"], 0);
    assert_eq!(backed_up["forwarded_count"], 0);
    for field in ["ephemeral", "ciphertext", "mac"] {
        assert!(backed_up["session_data"][field].is_string());
    }
    w.alice1.mark_backed_up(&request).unwrap();
    assert!(w.alice1.room_keys_for_backup(usize::MAX).unwrap().is_none());

    // Her second device trusts the backup because her first device signed
    // it, and can add to it without the private key.
    w.alice2.enable_backup("1", &auth_data, None).unwrap();
    assert!(w.alice2.room_keys_for_backup(usize::MAX).unwrap().is_some());
    // A device that does not know the signer refuses it.
    let mut stranger = CryptoMachine::new(ALICE, "A3");
    assert!(matches!(
        stranger.enable_backup("1", &auth_data, None),
        Err(CryptoError::UntrustedBackup)
    ));
    assert!(matches!(
        stranger.enable_backup("1", &auth_data, Some(&BackupDecryptionKey::new())),
        Err(CryptoError::UntrustedBackup)
    ));

    // A new device with the private key (from secret storage) restores.
    let key = BackupDecryptionKey::from_base64(&key.to_base64()).unwrap();
    assert!(matches!(
        stranger.decrypt_room_event(ROOM, &event),
        Err(CryptoError::UnknownGroupSession { .. })
    ));
    assert!(stranger
        .import_backed_up_room_key(&key, ROOM, &share.session_id, &backed_up)
        .unwrap());
    let decrypted = stranger.decrypt_room_event(ROOM, &event).unwrap();
    assert_eq!(decrypted.content, json!({"body": "keep me"}));
    assert_eq!(decrypted.key_source, RoomKeySource::Backup);
    assert_eq!(decrypted.sender_curve25519_key, w.alice1.curve25519_key());
    assert_eq!(decrypted.sender_ed25519_key, Some(w.alice1.ed25519_key()));
    // Importing it again changes nothing.
    assert!(!stranger
        .import_backed_up_room_key(&key, ROOM, &share.session_id, &backed_up)
        .unwrap());
    // Under another room's name, the key does not open this room's events.
    stranger
        .import_backed_up_room_key(&key, "!other:hanse.test", &share.session_id, &backed_up)
        .unwrap();
    let mut moved = event.clone();
    moved["room_id"] = json!("!other:hanse.test");
    assert!(matches!(
        stranger.decrypt_room_event("!other:hanse.test", &moved),
        Err(CryptoError::RoomMismatch { .. })
    ));
}

#[test]
fn a_disabled_backup_gets_no_keys_even_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let pickle_key = [7; 32];
    let mut alice = CryptoMachine::open(dir.path(), pickle_key, ALICE, "A1").unwrap();
    // A room key of her own, to back up.
    alice
        .share_room_key(ROOM, &[], &EncryptionSettings::default())
        .unwrap();
    let (key, auth_data) = alice.create_backup().unwrap();
    alice.enable_backup("1", &auth_data, Some(&key)).unwrap();
    assert!(alice.room_keys_for_backup(usize::MAX).unwrap().is_some());

    // The server says the backup is gone.
    alice.disable_backup().unwrap();
    assert!(alice.room_keys_for_backup(usize::MAX).unwrap().is_none());
    drop(alice);
    let alice = CryptoMachine::open(dir.path(), pickle_key, ALICE, "A1").unwrap();
    assert!(alice.room_keys_for_backup(usize::MAX).unwrap().is_none());
}

#[test]
fn the_store_survives_closing_and_reopening() {
    let alice_dir = tempfile::tempdir().unwrap();
    let bob_dir = tempfile::tempdir().unwrap();
    let pickle_key = [42; 32];
    let mut server = FakeServer::default();
    let settings = EncryptionSettings::default();

    let (alice_key, old_event, session_id) = {
        let mut alice = CryptoMachine::open(alice_dir.path(), pickle_key, ALICE, "A1").unwrap();
        let mut bob = CryptoMachine::open(bob_dir.path(), pickle_key, BOB, "B1").unwrap();
        server.publish(&mut alice);
        server.publish(&mut bob);
        bob.receive_keys_query(&server.query(&[ALICE])).unwrap();
        server.connect(&mut alice, &[BOB]);
        let share = alice.share_room_key(ROOM, &[BOB], &settings).unwrap();
        deliver_room_key(&share, ALICE, &mut bob);
        let event = room_event(
            ALICE,
            "$1",
            1,
            alice
                .encrypt_room_event(ROOM, "m.room.message", json!({"n": 1}))
                .unwrap(),
        );
        bob.decrypt_room_event(ROOM, &event).unwrap();
        (alice.curve25519_key(), event, share.session_id)
    };

    let mut alice = CryptoMachine::open(alice_dir.path(), pickle_key, ALICE, "A1").unwrap();
    let mut bob = CryptoMachine::open(bob_dir.path(), pickle_key, BOB, "B1").unwrap();
    // The same identity, its published keys remembered.
    assert_eq!(alice.curve25519_key(), alice_key);
    let counts = server.counts(ALICE, "A1");
    assert_eq!(alice.keys_for_upload(&counts, None).unwrap(), None);
    // The same outbound session, nobody missing the key.
    let share = alice.share_room_key(ROOM, &[BOB], &settings).unwrap();
    assert_eq!(share.session_id, session_id);
    assert!(share.messages.is_empty());
    // Megolm goes on where it was; seen indices were kept.
    let event = room_event(
        ALICE,
        "$2",
        2,
        alice
            .encrypt_room_event(ROOM, "m.room.message", json!({"n": 2}))
            .unwrap(),
    );
    assert_eq!(
        bob.decrypt_room_event(ROOM, &event).unwrap().message_index,
        1
    );
    let mut replay = old_event.clone();
    replay["event_id"] = json!("$replayed");
    assert!(matches!(
        bob.decrypt_room_event(ROOM, &replay),
        Err(CryptoError::Replay { .. })
    ));
    // Olm too, both ways, on the sessions from before.
    let to_bob = alice
        .encrypt_to_device(BOB, "B1", "m.test", json!({"n": 3}))
        .unwrap();
    bob.receive_to_device(&to_device(ALICE, to_bob)).unwrap();
    assert_eq!(bob.devices_of(ALICE).len(), 1);
    let to_alice = bob
        .encrypt_to_device(ALICE, "A1", "m.test", json!({"n": 4}))
        .unwrap();
    assert_eq!(to_alice["ciphertext"][alice_key.to_base64()]["type"], 1);
    alice.receive_to_device(&to_device(BOB, to_alice)).unwrap();
    // Invalidation is durable as well.
    alice.invalidate(ROOM).unwrap();
    drop(alice);
    let mut alice = CryptoMachine::open(alice_dir.path(), pickle_key, ALICE, "A1").unwrap();
    assert!(matches!(
        alice.encrypt_room_event(ROOM, "m.room.message", json!({})),
        Err(CryptoError::RoomKeyNotShared(_))
    ));

    drop(alice);
    assert!(matches!(
        CryptoMachine::open(alice_dir.path(), [0; 32], ALICE, "A1"),
        Err(CryptoError::Pickle { .. })
    ));
    assert!(matches!(
        CryptoMachine::open(alice_dir.path(), pickle_key, ALICE, "OTHER"),
        Err(CryptoError::StoreMismatch { .. })
    ));
}

/// A device driven with vodozemac directly, to send what a correct client
/// never would.
struct RawDevice {
    user_id: String,
    device_id: String,
    account: Account,
}

impl RawDevice {
    fn new(user_id: &str, device_id: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            account: Account::new(),
        }
    }

    fn sign(&self, object: &mut Value) {
        let mut covered = object.clone();
        let map = covered.as_object_mut().unwrap();
        map.remove("signatures");
        map.remove("unsigned");
        let canonical = object_to_canonical_string(&object_from_json(covered).unwrap());
        let signature = self.account.sign(canonical.as_bytes()).to_base64();
        object["signatures"] =
            json!({ &self.user_id: { format!("ed25519:{}", self.device_id): signature } });
    }

    fn device_keys(&self, curve25519: Curve25519PublicKey) -> Value {
        let device_id = &self.device_id;
        let mut keys = json!({
            "user_id": self.user_id,
            "device_id": device_id,
            "algorithms": [OLM_ALGORITHM, MEGOLM_ALGORITHM],
            "keys": {
                format!("curve25519:{device_id}"): curve25519.to_base64(),
                format!("ed25519:{device_id}"): self.account.ed25519_key().to_base64(),
            },
        });
        self.sign(&mut keys);
        keys
    }

    /// An Olm to-device event for `to` (using a one-time key claimed from
    /// `server`) whose decrypted payload is `payload`.
    fn olm_event(&self, server: &mut FakeServer, to: &CryptoMachine, payload: &Value) -> Value {
        let request = BTreeMap::from([(
            to.user_id().to_owned(),
            BTreeMap::from([(to.device_id().to_owned(), "signed_curve25519".to_owned())]),
        )]);
        let claimed = server.claim(&request);
        let key = claimed["one_time_keys"][to.user_id()][to.device_id()]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut session = self
            .account
            .create_outbound_session(
                OlmConfig::version_1(),
                to.curve25519_key(),
                Curve25519PublicKey::from_base64(&key).unwrap(),
            )
            .unwrap();
        let (message_type, body) = session.encrypt(payload.to_string()).unwrap().to_parts();
        to_device(
            &self.user_id,
            json!({
                "algorithm": OLM_ALGORITHM,
                "sender_key": self.account.curve25519_key().to_base64(),
                "ciphertext": {
                    to.curve25519_key().to_base64(): {
                        "type": message_type,
                        "body": vodozemac::base64_encode(body),
                    },
                },
            }),
        )
    }

    /// A well-formed Olm payload from this device to `to`.
    fn payload(&self, to: &CryptoMachine, event_type: &str, content: Value) -> Value {
        json!({
            "sender": self.user_id,
            "sender_device": self.device_id,
            "keys": {"ed25519": self.account.ed25519_key().to_base64()},
            "recipient": to.user_id(),
            "recipient_keys": {"ed25519": to.ed25519_key().to_base64()},
            "type": event_type,
            "content": content,
        })
    }
}

#[test]
fn misaddressed_or_misattributed_olm_messages_are_refused() {
    let mut w = world();
    let mallory = RawDevice::new(BOB, "M1");
    w.server
        .device_keys
        .entry(BOB.to_owned())
        .or_default()
        .insert(
            "M1".into(),
            mallory.device_keys(mallory.account.curve25519_key()),
        );
    w.alice1
        .receive_keys_query(&w.server.query(&[BOB]))
        .unwrap();

    let good = mallory.payload(&w.alice1, "m.test", json!({}));
    let event = mallory.olm_event(&mut w.server, &w.alice1, &good);
    let received = w.alice1.receive_to_device(&event).unwrap();
    assert_eq!(received.sender_device.as_deref(), Some("M1"));

    type Expected = fn(&CryptoError) -> bool;
    let cases: Vec<(Value, Expected)> = vec![
        (json!({"recipient": "@carol:hanse.test"}), |e| {
            matches!(e, CryptoError::WrongRecipient(_))
        }),
        (
            json!({"recipient_keys": {"ed25519": w.alice2.ed25519_key().to_base64()}}),
            |e| matches!(e, CryptoError::WrongRecipientKey),
        ),
        (json!({"sender": ALICE}), |e| {
            matches!(e, CryptoError::SenderMismatch { .. })
        }),
        (
            json!({"keys": {"ed25519": w.bob.ed25519_key().to_base64()}}),
            |e| matches!(e, CryptoError::SenderKeyMismatch { .. }),
        ),
        (
            json!({"sender_device_keys": RawDevice::new(BOB, "M1").device_keys(mallory.account.curve25519_key())}),
            |e| matches!(e, CryptoError::SenderKeyMismatch { .. }),
        ),
    ];
    for (change, expected) in cases {
        let mut payload = good.clone();
        for (field, value) in change.as_object().unwrap() {
            payload[field] = value.clone();
        }
        let event = mallory.olm_event(&mut w.server, &w.alice1, &payload);
        let error = w.alice1.receive_to_device(&event).unwrap_err();
        assert!(expected(&error), "{change}: {error}");
    }

    // Room keys are taken only over Olm.
    let cleartext = json!({
        "type": "m.room_key",
        "sender": BOB,
        "content": {"algorithm": MEGOLM_ALGORITHM, "room_id": ROOM, "session_id": "x", "session_key": "y"},
    });
    assert!(matches!(
        w.alice1.receive_to_device(&cleartext),
        Err(CryptoError::NotEncrypted { .. })
    ));
}

#[test]
fn bad_signatures_are_refused() {
    let mut w = world();
    // Device keys changed in transit.
    let mut listed = w.server.query(&[BOB]);
    listed["device_keys"][BOB]["B1"]["algorithms"] = json!([OLM_ALGORITHM]);
    listed["device_keys"][BOB]["B2"] = json!({"user_id": BOB, "device_id": "B2"});
    let mut fresh = CryptoMachine::new(ALICE, "A9");
    let changes = fresh.receive_keys_query(&listed).unwrap();
    assert!(changes.added.is_empty());
    assert!(matches!(
        changes.rejected.as_slice(),
        [
            (_, _, CryptoError::BadSignature { .. }),
            (_, _, CryptoError::Malformed { .. })
        ]
    ));
    assert!(fresh.devices_of(BOB).is_empty());

    // A known device presenting a new Ed25519 key keeps its old one.
    let impostor = RawDevice::new(BOB, "B1");
    let mut replaced = w.server.query(&[BOB]);
    replaced["device_keys"][BOB]["B1"] = impostor.device_keys(impostor.account.curve25519_key());
    let changes = w.alice1.receive_keys_query(&replaced).unwrap();
    assert!(matches!(
        changes.rejected.as_slice(),
        [(_, _, CryptoError::DeviceKeyChanged { .. })]
    ));
    assert_eq!(
        w.alice1.device(BOB, "B1").unwrap().ed25519_key(),
        w.bob.ed25519_key()
    );

    // A one-time key the server swapped for its own.
    let mut claimed = w.server.claim(&w.alice1.missing_sessions(&[BOB]));
    let key = claimed["one_time_keys"][BOB]["B1"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    key["key"] = json!(Account::new().curve25519_key().to_base64());
    let outcome = w.alice1.receive_keys_claim(&claimed).unwrap();
    assert!(outcome.created.is_empty());
    assert!(matches!(
        outcome.failed.as_slice(),
        [(_, _, CryptoError::BadSignature { .. })]
    ));
    assert!(matches!(
        w.alice1.encrypt_to_device(BOB, "B1", "m.test", json!({})),
        Err(CryptoError::NoOlmSession { .. })
    ));
}

#[test]
fn a_room_key_for_one_room_does_not_decrypt_another_rooms_payload() {
    let mut w = world();
    let mallory = RawDevice::new(BOB, "M1");
    w.server
        .device_keys
        .entry(BOB.to_owned())
        .or_default()
        .insert(
            "M1".into(),
            mallory.device_keys(mallory.account.curve25519_key()),
        );
    w.alice1
        .receive_keys_query(&w.server.query(&[BOB]))
        .unwrap();

    // Mallory shares a key for ROOM but encrypts a payload naming another
    // room, as a server moving an event between rooms would produce.
    let mut group = GroupSession::new(MegolmConfig::version_1());
    let room_key = json!({
        "algorithm": MEGOLM_ALGORITHM,
        "room_id": ROOM,
        "session_id": group.session_id(),
        "session_key": group.session_key().to_base64(),
    });
    let payload = mallory.payload(&w.alice1, "m.room_key", room_key);
    let event = mallory.olm_event(&mut w.server, &w.alice1, &payload);
    w.alice1.receive_to_device(&event).unwrap();

    let plaintext =
        json!({"type": "m.room.message", "content": {}, "room_id": "!elsewhere:hanse.test"});
    let content = json!({
        "algorithm": MEGOLM_ALGORITHM,
        "sender_key": mallory.account.curve25519_key().to_base64(),
        "ciphertext": group.encrypt(plaintext.to_string()).to_base64(),
        "session_id": group.session_id(),
        "device_id": "M1",
    });
    assert!(matches!(
        w.alice1
            .decrypt_room_event(ROOM, &room_event(BOB, "$1", 1, content.clone())),
        Err(CryptoError::RoomMismatch { .. })
    ));
    // And the key is Bob's: an event claiming another sender is refused.
    assert!(matches!(
        w.alice1
            .decrypt_room_event(ROOM, &room_event(ALICE, "$1", 1, content)),
        Err(CryptoError::SenderMismatch { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// However the room's events arrive (any order, some twice), every
    /// device decrypts each to what was sent, and an index reused by
    /// another event is always refused.
    #[test]
    fn megolm_decrypts_in_any_order_and_catches_any_replay(
        bodies in proptest::collection::vec(".{0,40}", 1..12),
        order in proptest::collection::vec(any::<prop::sample::Index>(), 1..24),
        replayed in any::<prop::sample::Index>(),
    ) {
        let (mut w, _) = world_with_room_key(&EncryptionSettings::default());
        let events: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
                let content = w.alice1
                    .encrypt_room_event(ROOM, "m.room.message", json!({"body": body}))
                    .unwrap();
                room_event(ALICE, &format!("${i}"), i as i64, content)
            })
            .collect();
        for pick in order.iter().map(|index| index.index(events.len())).chain(0..events.len()) {
            for machine in [&mut w.alice2, &mut w.bob] {
                let decrypted = machine.decrypt_room_event(ROOM, &events[pick]).unwrap();
                prop_assert_eq!(&decrypted.content["body"], &json!(bodies[pick]));
                prop_assert_eq!(decrypted.message_index as usize, pick);
            }
        }
        let mut replay = events[replayed.index(events.len())].clone();
        replay["event_id"] = json!("$replay");
        prop_assert!(
            matches!(
                w.bob.decrypt_room_event(ROOM, &replay),
                Err(CryptoError::Replay { .. })
            ),
            "replay accepted"
        );
    }
}
