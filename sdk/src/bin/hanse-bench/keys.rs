//! The end-to-end encryption routing scenarios: how fast a server hands
//! out one-time keys (each exactly once) and carries to-device messages
//! from a sender to a device's /sync.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hanse_sdk::crypto::CryptoMachine;
use hanse_sdk::{Client, LoginInfo};
use serde_json::{json, Value};

use super::{Bench, Failure, Timings, PASSWORD};

impl Bench {
    /// `devices` devices of one user publish their one-time keys, then
    /// `concurrency` claimers take them all, one claim per request: claim
    /// latency and throughput. Every key must come back exactly once.
    pub(super) async fn keys_claim(
        &self,
        devices: usize,
        concurrency: usize,
    ) -> Result<(), Failure> {
        let (owner, login) = self.new_user("keyowner").await?;
        let mut published = Vec::with_capacity(devices);
        for i in 0..devices {
            let device = if i == 0 {
                (owner.clone(), login.clone())
            } else {
                let login = self.anonymous.login(&login.user_id, PASSWORD).await?;
                (self.anonymous.with_token(&login.access_token), login)
            };
            let keys = publish_keys(&device.0, &device.1).await?;
            published.push((device.1.device_id, keys));
        }
        let total: u64 = published.iter().map(|(_, keys)| keys).sum();
        eprintln!("hanse-bench: {devices} devices published {total} one-time keys");
        let (claimer, _) = self.new_user("claimer").await?;

        // Each claim names one device; claimers go round the devices so
        // concurrent claims meet on the same device's keys.
        let claims: Vec<&str> = (0..total as usize)
            .map(|i| published[i % devices].0.as_str())
            .collect();
        let started = Instant::now();
        let mut latencies = Vec::with_capacity(claims.len());
        let mut handed_out = BTreeSet::new();
        for chunk in claims.chunks(concurrency.max(1)) {
            let batch = chunk.iter().map(|device| {
                let claimer = &claimer;
                let user = &login.user_id;
                async move {
                    let began = Instant::now();
                    let answer: Value = claimer
                        .post(
                            "/_matrix/client/v3/keys/claim",
                            &json!({ "one_time_keys": { user: { *device: "signed_curve25519" } } }),
                        )
                        .await?;
                    Ok::<_, Failure>((began.elapsed(), answer))
                }
            });
            for outcome in join_all(batch).await {
                let (took, answer) = outcome?;
                latencies.push(took);
                for (device, keys) in answer["one_time_keys"][&login.user_id]
                    .as_object()
                    .ok_or("a claim answered no key")?
                {
                    for key_id in keys.as_object().into_iter().flatten().map(|(id, _)| id) {
                        if !handed_out.insert((device.clone(), key_id.clone())) {
                            return Err(format!("{device} {key_id} was handed out twice").into());
                        }
                    }
                }
            }
        }
        Timings {
            latencies,
            elapsed: started.elapsed(),
        }
        .report(
            "keys-claim",
            json!({ "devices": devices, "keys": total, "concurrency": concurrency }),
        );
        Ok(())
    }

    /// One user sends `messages` to-device messages to another's device,
    /// `concurrency` requests at a time, while that device syncs them in:
    /// the send latency, and the time until the last one was received.
    pub(super) async fn to_device(
        &self,
        messages: usize,
        concurrency: usize,
    ) -> Result<(), Failure> {
        let (sender, _) = self.new_user("todevsender").await?;
        let (receiver, receiver_login) = self.new_user("todevreceiver").await?;
        let mut since = receiver.sync(None, 0, None).await?["next_batch"]
            .as_str()
            .ok_or("/sync answered without next_batch")?
            .to_owned();
        let receiving = tokio::spawn(async move {
            let mut received = 0;
            while received < messages {
                let sync = receiver.sync(Some(&since), 30_000, None).await?;
                received += sync["to_device"]["events"].as_array().map_or(0, Vec::len);
                since = sync["next_batch"]
                    .as_str()
                    .ok_or("/sync answered without next_batch")?
                    .to_owned();
            }
            Ok::<_, Failure>(Instant::now())
        });
        let started = Instant::now();
        let latencies = send_to_device(&sender, &receiver_login, messages, concurrency).await?;
        let sent = started.elapsed();
        let last_received = tokio::time::timeout(Duration::from_secs(300), receiving)
            .await
            .map_err(|_| "the receiving device did not get every message in 300 s")???;
        let delivered = last_received.duration_since(started);
        Timings {
            latencies,
            elapsed: sent,
        }
        .report(
            "to-device",
            json!({
                "concurrency": concurrency,
                "delivered_seconds": super::round(delivered.as_secs_f64()),
                "delivered_per_second": super::round(messages as f64 / delivered.as_secs_f64()),
            }),
        );
        Ok(())
    }
}

/// Publishes a device's keys as a client would; how many one-time keys
/// the server then holds.
async fn publish_keys(client: &Client, login: &LoginInfo) -> Result<u64, Failure> {
    let mut machine = CryptoMachine::new(&login.user_id, &login.device_id);
    let body = machine
        .keys_for_upload(&BTreeMap::new(), None)?
        .ok_or("the engine had no keys to publish")?;
    let answer: Value = client.post("/_matrix/client/v3/keys/upload", &body).await?;
    answer["one_time_key_counts"]["signed_curve25519"]
        .as_u64()
        .ok_or_else(|| "/keys/upload answered no signed_curve25519 count".into())
}

/// Sends `messages` one-message requests, `concurrency` at a time; each
/// request's latency.
async fn send_to_device(
    sender: &Client,
    receiver: &LoginInfo,
    messages: usize,
    concurrency: usize,
) -> Result<Vec<Duration>, Failure> {
    let mut latencies = Vec::with_capacity(messages);
    let indexes: Vec<usize> = (0..messages).collect();
    for chunk in indexes.chunks(concurrency.max(1)) {
        let batch = chunk.iter().map(|i| async move {
            let began = Instant::now();
            let _: Value = sender
                .put(
                    &format!("/_matrix/client/v3/sendToDevice/m.bench/t{i}"),
                    &json!({ "messages": { &receiver.user_id: {
                        &receiver.device_id: { "n": i, "padding": "x".repeat(200) }
                    } } }),
                )
                .await?;
            Ok::<_, Failure>(began.elapsed())
        });
        for took in join_all(batch).await {
            latencies.push(took?);
        }
        if latencies.len() % 1000 == 0 {
            eprintln!(
                "hanse-bench: {}/{messages} to-device messages sent",
                latencies.len()
            );
        }
    }
    Ok(latencies)
}
