//! The Megolm scenario: how many room messages hanse-sdk's encryption
//! engine encrypts and decrypts per second, with no server involved. Two
//! devices set up an Olm session and a room key in memory, as a server
//! would have relayed them; then one encrypts the messages and the other
//! decrypts them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use hanse_sdk::crypto::{CryptoMachine, EncryptionSettings};
use serde_json::{json, Value};

use super::{Failure, Timings};

const ALICE: &str = "@alice:bench.invalid";
const BOB: &str = "@bob:bench.invalid";
const BOB_DEVICE: &str = "BOB";
const ROOM: &str = "!room:bench.invalid";

/// Store directories of a persistent run, removed when dropped.
struct StoreDirs(PathBuf);

impl Drop for StoreDirs {
    fn drop(&mut self) {
        // Best effort: a leftover directory in the temp dir harms nothing.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Encrypts `messages` text messages with `body_bytes` of text each, then
/// decrypts them. `persistent`: both engines keep their state in a store
/// directory (as clients do), so every message also costs a synced write
/// of the session; otherwise the figures are the cryptography alone.
pub(super) fn megolm(messages: usize, body_bytes: usize, persistent: bool) -> Result<(), Failure> {
    let dirs = persistent.then(|| {
        StoreDirs(std::env::temp_dir().join(format!("hanse-bench-megolm-{}", std::process::id())))
    });
    let open = |user: &str, device: &str| -> Result<CryptoMachine, Failure> {
        Ok(match &dirs {
            Some(StoreDirs(root)) => {
                CryptoMachine::open(&root.join(device), [7; 32], user, device)?
            }
            None => CryptoMachine::new(user, device),
        })
    };
    let mut alice = open(ALICE, "ALICE")?;
    let mut bob = open(BOB, BOB_DEVICE)?;

    // Bob publishes his keys; Alice learns them, claims a one-time key and
    // hands Bob the room key over Olm.
    let bob_keys = bob
        .keys_for_upload(&BTreeMap::new(), None)?
        .ok_or("the engine offered no keys to publish")?;
    bob.mark_keys_as_published()?;
    alice.receive_keys_query(
        &json!({ "device_keys": { BOB: { BOB_DEVICE: bob_keys["device_keys"] } } }),
    )?;
    let (key_id, key) = bob_keys["one_time_keys"]
        .as_object()
        .and_then(|keys| keys.iter().next())
        .ok_or("no one-time key published")?;
    alice.receive_keys_claim(
        &json!({ "one_time_keys": { BOB: { BOB_DEVICE: { key_id.clone(): key } } } }),
    )?;
    // One session for the whole run: rotation is key sharing, not Megolm.
    let settings = EncryptionSettings {
        rotation_period_ms: u64::MAX,
        rotation_period_msgs: messages as u64 + 1,
    };
    let share = alice.share_room_key(ROOM, &[BOB], &settings)?;
    let room_key = share
        .messages
        .get(BOB)
        .and_then(|devices| devices.get(BOB_DEVICE))
        .ok_or("the room key was not shared with Bob")?;
    bob.receive_to_device(
        &json!({ "type": "m.room.encrypted", "sender": ALICE, "content": room_key }),
    )?;

    let content = json!({ "msgtype": "m.text", "body": "x".repeat(body_bytes) });
    let extra = json!({ "body_bytes": body_bytes, "persistent": persistent });

    let mut encrypted: Vec<Value> = Vec::with_capacity(messages);
    let mut latencies = Vec::with_capacity(messages);
    let started = Instant::now();
    for _ in 0..messages {
        let content = content.clone();
        let began = Instant::now();
        encrypted.push(alice.encrypt_room_event(ROOM, "m.room.message", content)?);
        latencies.push(began.elapsed());
    }
    Timings {
        latencies,
        elapsed: started.elapsed(),
    }
    .report("megolm_encrypt", extra.clone());

    let events: Vec<Value> = encrypted
        .into_iter()
        .enumerate()
        .map(|(i, content)| {
            json!({
                "type": "m.room.encrypted",
                "sender": ALICE,
                "event_id": format!("$bench{i}"),
                "origin_server_ts": i,
                "content": content,
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(messages);
    let started = Instant::now();
    for event in &events {
        let began = Instant::now();
        let decrypted = bob.decrypt_room_event(ROOM, event)?;
        latencies.push(began.elapsed());
        if decrypted.content != content {
            return Err("a message decrypted to something else".into());
        }
    }
    Timings {
        latencies,
        elapsed: started.elapsed(),
    }
    .report("megolm_decrypt", extra);
    Ok(())
}
