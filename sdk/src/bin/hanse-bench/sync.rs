//! The /sync scenarios: how fast a waiting sync hears of a new event, how
//! long an initial sync of many rooms takes, and what a waiting client
//! costs the server in memory.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};

use super::{memory_kib, round, Bench, Failure, Timings, PASSWORD};

/// What a waiting sync is given before it times out: longer than any
/// measured wait, so a timeout shows as an error.
const LONG_POLL_MS: u64 = 120_000;

fn next_batch(sync: &Value) -> Result<String, Failure> {
    Ok(sync["next_batch"]
        .as_str()
        .ok_or("/sync answered without next_batch")?
        .to_owned())
}

impl Bench {
    /// One user sends `events` messages one at a time while another's
    /// /sync waits: the time from starting the send to the waiting sync's
    /// answer.
    pub(super) async fn sync_wakeup(&self, events: usize) -> Result<(), Failure> {
        let (sender, room) = self.public_room().await?;
        let (receiver, _) = self.new_user("listener").await?;
        let _: Value = receiver
            .post(&format!("/_matrix/client/v3/rooms/{room}/join"), &json!({}))
            .await?;
        let mut token = next_batch(&receiver.sync(None, 0, None).await?)?;
        let started = Instant::now();
        let mut latencies = Vec::with_capacity(events);
        for i in 0..events {
            let waiting = {
                let receiver = receiver.clone();
                let token = token.clone();
                tokio::spawn(async move { receiver.sync(Some(&token), LONG_POLL_MS, None).await })
            };
            // Give the sync time to reach the server and park.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let began = Instant::now();
            let _: Value = sender
                .put(
                    &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/w{i}"),
                    &json!({ "msgtype": "m.text", "body": format!("wake-up {i}") }),
                )
                .await?;
            let mut sync = waiting.await??;
            // A sync that answered for something else (the sender's read
            // receipt, presence) waits again from its new token.
            while sync["rooms"]["join"][&room]["timeline"]["events"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                sync = receiver
                    .sync(Some(&next_batch(&sync)?), LONG_POLL_MS, None)
                    .await?;
            }
            latencies.push(began.elapsed());
            token = next_batch(&sync)?;
            if (i + 1) % 250 == 0 {
                eprintln!("hanse-bench: {}/{events} wake-ups", i + 1);
            }
        }
        Timings {
            latencies,
            elapsed: started.elapsed(),
        }
        .report("sync_wakeup", json!({}));
        Ok(())
    }

    /// A user in `rooms` rooms (each named, with a few messages) syncs from
    /// nothing, `repeats` times, each time as a new device (servers may
    /// cache a device's sync answer).
    pub(super) async fn initial_sync(&self, rooms: usize, repeats: usize) -> Result<(), Failure> {
        let (client, login) = self.new_user("many-rooms").await?;
        let setup = Instant::now();
        for i in 0..rooms {
            let created: Value = client
                .post(
                    "/_matrix/client/v3/createRoom",
                    &json!({ "preset": "private_chat", "name": format!("room {i}") }),
                )
                .await?;
            let room = created["room_id"]
                .as_str()
                .ok_or("createRoom answered without room_id")?;
            for m in 0..3 {
                let _: Value = client
                    .put(
                        &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/r{i}m{m}"),
                        &json!({ "msgtype": "m.text", "body": format!("message {m}") }),
                    )
                    .await?;
            }
            if (i + 1) % 100 == 0 {
                eprintln!(
                    "hanse-bench: {}/{rooms} rooms made ({:.0} s)",
                    i + 1,
                    setup.elapsed().as_secs_f64()
                );
            }
        }
        let started = Instant::now();
        let mut latencies = Vec::with_capacity(repeats);
        let mut bytes = 0;
        for _ in 0..repeats {
            let device = self.anonymous.login(&login.user_id, PASSWORD).await?;
            let device = self.anonymous.with_token(&device.access_token);
            let began = Instant::now();
            let sync = device.sync(None, 0, None).await?;
            latencies.push(began.elapsed());
            let joined = sync["rooms"]["join"].as_object().map_or(0, |j| j.len());
            if joined != rooms {
                return Err(format!("the initial sync listed {joined} of {rooms} rooms").into());
            }
            bytes = sync.to_string().len();
        }
        Timings {
            latencies,
            elapsed: started.elapsed(),
        }
        .report(
            "initial_sync",
            json!({ "rooms": rooms, "response_bytes": bytes }),
        );
        Ok(())
    }

    /// `clients` users in one room each hold a waiting /sync; the server's
    /// memory is read before and while they wait, then one message wakes
    /// them all.
    pub(super) async fn idle_clients(
        &self,
        clients: usize,
        server_pid: u32,
    ) -> Result<(), Failure> {
        let (owner, room) = self.public_room().await?;
        let users = self.users_with("idle", clients, 8, None).await?;
        self.join_all(&room, &users, 8).await?;
        let mut tokens = Vec::with_capacity(clients);
        for (client, _, _) in &users {
            tokens.push(next_batch(&client.sync(None, 0, None).await?)?);
        }
        // Let the initial syncs' garbage settle before the baseline.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (idle_kib, _) = memory_kib(server_pid)?;
        let waiting: Vec<_> = users
            .iter()
            .zip(&tokens)
            .map(|((client, _, _), token)| {
                let client = client.clone();
                let token = token.clone();
                tokio::spawn(async move { client.sync(Some(&token), LONG_POLL_MS, None).await })
            })
            .collect();
        // Wait for every request to arrive and park.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (waiting_kib, _) = memory_kib(server_pid)?;
        let finished = waiting.iter().filter(|task| task.is_finished()).count();
        if finished > 0 {
            return Err(format!("{finished} syncs answered before anything happened").into());
        }
        let began = Instant::now();
        let _: Value = owner
            .put(
                &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/wake-all"),
                &json!({ "msgtype": "m.text", "body": "everyone up" }),
            )
            .await?;
        let mut latencies = Vec::with_capacity(clients);
        for answer in join_all(waiting).await {
            answer??;
            latencies.push(began.elapsed());
        }
        let extra_kib = waiting_kib.saturating_sub(idle_kib);
        Timings {
            latencies,
            elapsed: began.elapsed(),
        }
        .report(
            "idle_clients",
            json!({
                "clients": clients,
                "server_rss_idle_mib": round(idle_kib as f64 / 1024.0),
                "server_rss_waiting_mib": round(waiting_kib as f64 / 1024.0),
                "extra_mib": round(extra_kib as f64 / 1024.0),
                "extra_kib_per_client": round(extra_kib as f64 / clients.max(1) as f64),
            }),
        );
        Ok(())
    }
}
