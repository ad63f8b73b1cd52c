//! remote-join: a user of one server joins a large room of another,
//! timed from POST /join until the room shows in the joiner's /sync. The
//! joining server receives the room's whole state and auth chain
//! (send_join), checks and stores it, so this is the cost of a join over
//! federation as the room grows. Each timed join is into a new room of
//! the same members: Hanse cannot yet join a room through another server
//! once it has known it (after its users left), and a server already in
//! the room joins further users locally.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::federation::{join_through, next_batch, room_filter, until_joined};
use super::{round, server_name_of, Bench, Failure};

/// How long one join may take before the run fails.
const JOIN_TIMEOUT: Duration = Duration::from_secs(600);

impl Bench {
    /// `members` users of `resident_url` fill a room there, then a fresh
    /// user of `joiner_url` joins it through the resident server; `joins`
    /// times, each into a new room (the same members), since a server
    /// that once took part in a room joins it again locally or not at all.
    pub(super) async fn remote_join(
        &self,
        resident_url: &str,
        joiner_url: &str,
        members: usize,
        joins: usize,
        concurrency: usize,
    ) -> Result<(), Failure> {
        let resident = self.at(resident_url);
        let joiner = self.at(joiner_url);
        let (owner, owner_login) = resident.new_user("rj-owner").await?;
        let resident_name = server_name_of(&owner_login.user_id)?.to_owned();
        let started = Instant::now();
        let users = resident
            .users_with("rj-m", members, concurrency, None)
            .await?;
        let registered = started.elapsed();
        eprintln!(
            "hanse-bench: {members} members registered on {resident_name} in {:.1} s",
            registered.as_secs_f64()
        );

        let mut answered = Vec::with_capacity(joins);
        let mut in_sync = Vec::with_capacity(joins);
        for i in 0..joins {
            let created: Value = owner
                .post(
                    "/_matrix/client/v3/createRoom",
                    &json!({ "preset": "public_chat", "name": format!("remote join {i}") }),
                )
                .await?;
            let room = created["room_id"]
                .as_str()
                .ok_or("createRoom answered without room_id")?
                .to_owned();
            let filled = resident.join_all(&room, &users, concurrency).await?;
            let fill_seconds = filled.elapsed.as_secs_f64();
            filled.report(
                "remote_join_setup",
                json!({
                    "members": members,
                    "concurrency": concurrency,
                    "register_seconds": round(registered.as_secs_f64()),
                    "register_per_second": round(members as f64 / registered.as_secs_f64()),
                    "fill_seconds": round(fill_seconds),
                }),
            );

            let filter = room_filter(&room, 10);
            let (client, _) = joiner.new_account(&format!("rj-j{i}"), None).await?;
            let since = next_batch(&client.sync(None, 0, Some(&filter)).await?)?;
            let began = Instant::now();
            join_through(&client, &room, &resident_name).await?;
            let answer = began.elapsed();
            until_joined(&client, &room, Some(since), &filter, JOIN_TIMEOUT).await?;
            let shown = began.elapsed();
            println!(
                "{}",
                json!({
                    "scenario": "remote_join",
                    "join": i + 1,
                    "members": members + 1,
                    "join_answered_ms": round(answer.as_secs_f64() * 1000.0),
                    "in_sync_ms": round(shown.as_secs_f64() * 1000.0),
                })
            );
            answered.push(answer);
            in_sync.push(shown);
        }
        let each: Vec<f64> = in_sync
            .iter()
            .map(|t| round(t.as_secs_f64() * 1000.0))
            .collect();
        println!(
            "{}",
            json!({
                "scenario": "remote_join_summary",
                "members": members + 1,
                "joins": joins,
                "in_sync_ms": each,
                "median_in_sync_ms": median_ms(&mut in_sync),
                "median_join_answered_ms": median_ms(&mut answered),
            })
        );
        Ok(())
    }
}

/// The median in ms (the mean of the middle two of an even count).
fn median_ms(times: &mut [Duration]) -> f64 {
    times.sort_unstable();
    let n = times.len();
    if n == 0 {
        return 0.0;
    }
    let middle = if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2
    };
    round(middle.as_secs_f64() * 1000.0)
}
