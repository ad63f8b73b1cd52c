//! federated-fanout: messages sent on one server, delivered over
//! federation to users of the others, timed from the first send until
//! every remote user's /sync has shown all of them.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use hanse_sdk::Client;
use serde_json::{json, Value};

use super::federation::{join_through, next_batch, room_filter, until_joined, LONG_POLL_MS};
use super::{percentile_ms, round, server_name_of, unix_micros, Bench, Failure};

/// Timeline events one /sync answer may carry (Hanse's and the spec's
/// usual maximum); a receiver that falls further behind pages back.
const TIMELINE_LIMIT: u32 = 1000;

/// What one receiving user saw: each message's delivery latency (from
/// the sender's clock reading before its PUT to the /sync answer that
/// carried it), when the last one arrived, and how many sync answers were
/// cut short (`limited`) and had to be paged back through /messages.
struct Received {
    server: String,
    latencies: Vec<Duration>,
    finished: Instant,
    limited: usize,
}

impl Bench {
    /// A room on `servers[0]` joined by one user of every other server;
    /// `events` messages sent on the first by `concurrency` senders.
    pub(super) async fn federated_fanout(
        &self,
        servers: &[String],
        events: usize,
        concurrency: usize,
        timeout_secs: u64,
    ) -> Result<(), Failure> {
        let (home_url, remote_urls) = servers.split_first().ok_or("--servers names no server")?;
        if remote_urls.is_empty() {
            return Err("--servers needs the room's server and at least one other".into());
        }
        let home = self.at(home_url);
        let (owner, owner_login) = home.new_user("fanout-owner").await?;
        let home_name = server_name_of(&owner_login.user_id)?.to_owned();
        let created: Value = owner
            .post(
                "/_matrix/client/v3/createRoom",
                &json!({ "preset": "public_chat", "name": "federated fan-out" }),
            )
            .await?;
        let room = created["room_id"]
            .as_str()
            .ok_or("createRoom answered without room_id")?
            .to_owned();
        let senders = home
            .users_with("fanout-s", concurrency.max(1), concurrency.max(1), None)
            .await?;
        home.join_all(&room, &senders, concurrency).await?;

        let filter = room_filter(&room, TIMELINE_LIMIT);
        let mut receivers = Vec::with_capacity(remote_urls.len());
        for url in remote_urls {
            let remote = self.at(url);
            let (client, login) = remote.new_account("fanout-r", None).await?;
            let began = Instant::now();
            join_through(&client, &room, &home_name).await?;
            let token =
                until_joined(&client, &room, None, &filter, Duration::from_secs(120)).await?;
            let server = server_name_of(&login.user_id)?.to_owned();
            eprintln!(
                "hanse-bench: {server} joined {room} through {home_name} in {:.0} ms",
                began.elapsed().as_secs_f64() * 1000.0
            );
            receivers.push((server, client, token));
        }

        let receiving: Vec<_> = receivers
            .into_iter()
            .map(|(server, client, token)| {
                let room = room.clone();
                let filter = filter.clone();
                tokio::spawn(receive(server, client, token, room, filter, events))
            })
            .collect();

        let per_sender = events.div_ceil(concurrency.max(1));
        let started = Instant::now();
        let sending = senders.iter().enumerate().map(|(s, (client, _, _))| {
            let room = &room;
            async move {
                let mut latencies = Vec::with_capacity(per_sender);
                for seq in (s..events).step_by(concurrency.max(1)) {
                    let began = Instant::now();
                    let _: Value = client
                        .put(
                            &format!("/_matrix/client/v3/rooms/{room}/send/m.room.message/f{seq}"),
                            &json!({
                                "msgtype": "m.text",
                                "body": format!("fan-out {seq}"),
                                "bench_seq": seq,
                                "bench_sent_us": unix_micros(),
                            }),
                        )
                        .await?;
                    latencies.push(began.elapsed());
                }
                Ok::<_, Failure>(latencies)
            }
        });
        let mut send_latencies = Vec::with_capacity(events);
        for sent in join_all(sending).await {
            send_latencies.extend(sent?);
        }
        let sent = started.elapsed();
        eprintln!(
            "hanse-bench: {events} messages sent in {:.2} s",
            sent.as_secs_f64()
        );

        let deadline = Duration::from_secs(timeout_secs).saturating_sub(started.elapsed());
        let mut received = Vec::with_capacity(receiving.len());
        for task in receiving {
            let outcome = tokio::time::timeout(deadline, task)
                .await
                .map_err(|_| format!("not everything was delivered within {timeout_secs} s"))?;
            received.push(outcome??);
        }

        let finished = received
            .iter()
            .map(|r| r.finished)
            .max()
            .unwrap_or_else(Instant::now);
        let delivered = finished.duration_since(started);
        let mut all: Vec<Duration> = received
            .iter()
            .flat_map(|r| r.latencies.iter().copied())
            .collect();
        all.sort_unstable();
        send_latencies.sort_unstable();
        let per_receiver: Vec<Value> = received
            .iter_mut()
            .map(|r| {
                r.latencies.sort_unstable();
                json!({
                    "server": r.server,
                    "p50_ms": percentile_ms(&r.latencies, 50.0),
                    "p99_ms": percentile_ms(&r.latencies, 99.0),
                    "all_seen_after_seconds": round(r.finished.duration_since(started).as_secs_f64()),
                    "limited_syncs": r.limited,
                })
            })
            .collect();
        println!(
            "{}",
            json!({
                "scenario": "federated_fanout",
                "events": events,
                "concurrency": concurrency,
                "receivers": per_receiver.len(),
                "seconds": round(delivered.as_secs_f64()),
                "per_second": round(events as f64 / delivered.as_secs_f64()),
                "p50_ms": percentile_ms(&all, 50.0),
                "p95_ms": percentile_ms(&all, 95.0),
                "p99_ms": percentile_ms(&all, 99.0),
                "send_seconds": round(sent.as_secs_f64()),
                "send_per_second": round(events as f64 / sent.as_secs_f64()),
                "send_p50_ms": percentile_ms(&send_latencies, 50.0),
                "send_p99_ms": percentile_ms(&send_latencies, 99.0),
                "per_receiver": per_receiver,
            })
        );
        Ok(())
    }
}

/// Syncs `client` from `token` until it has seen messages 0..`events` of
/// `room`.
async fn receive(
    server: String,
    client: Client,
    mut token: String,
    room: String,
    filter: String,
    events: usize,
) -> Result<Received, Failure> {
    let mut seen: Vec<Option<Duration>> = vec![None; events];
    let mut count = 0;
    let mut limited = 0;
    while count < events {
        let sync = client
            .sync(Some(&token), LONG_POLL_MS, Some(&filter))
            .await?;
        let at = unix_micros();
        let timeline = &sync["rooms"]["join"][&room]["timeline"];
        for event in timeline["events"].as_array().into_iter().flatten() {
            count += usize::from(record(&mut seen, event, at));
        }
        if timeline["limited"].as_bool() == Some(true) {
            // More arrived than one answer carries: the rest, back to
            // what was seen before, through /messages (seen by now).
            limited += 1;
            let mut from = timeline["prev_batch"].as_str().map(str::to_owned);
            while let Some(page_from) = from.take() {
                let page: Value = client
                    .get(&format!(
                        "/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=1000&from={page_from}"
                    ))
                    .await?;
                let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
                let before = count;
                for event in &chunk {
                    count += usize::from(record(&mut seen, event, at));
                }
                if !chunk.is_empty() && count > before {
                    from = page["end"].as_str().map(str::to_owned);
                }
            }
        }
        token = next_batch(&sync)?;
    }
    Ok(Received {
        server,
        latencies: seen.into_iter().flatten().collect(),
        finished: Instant::now(),
        limited,
    })
}

/// Notes a bench message's latency the first time it is seen; whether it
/// was new.
fn record(seen: &mut [Option<Duration>], event: &Value, at: u64) -> bool {
    let content = &event["content"];
    let (Some(seq), Some(sent)) = (
        content["bench_seq"].as_u64(),
        content["bench_sent_us"].as_u64(),
    ) else {
        return false;
    };
    match seen.get_mut(seq as usize) {
        Some(slot @ None) => {
            *slot = Some(Duration::from_micros(at.saturating_sub(sent)));
            true
        }
        _ => false,
    }
}
