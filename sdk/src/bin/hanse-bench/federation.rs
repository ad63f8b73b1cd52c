//! What the federation scenarios share: joining a room through another
//! server, and waiting until a joined room shows in a user's /sync.

use std::time::{Duration, Instant};

use hanse_sdk::Client;
use serde_json::{json, Value};

use super::Failure;

/// A /sync long-poll: longer than any wait measured, shorter than a test
/// run, so a lost wake-up shows as a slow round rather than a hang.
pub(super) const LONG_POLL_MS: u64 = 30_000;

/// An inline /sync filter: only `room`, at most `timeline_limit` timeline
/// events per answer, members loaded lazily (as Element syncs), no
/// presence or account data.
pub(super) fn room_filter(room: &str, timeline_limit: u32) -> String {
    json!({
        "room": {
            "rooms": [room],
            "timeline": { "limit": timeline_limit },
            "state": { "lazy_load_members": true },
            "account_data": { "not_types": ["*"] },
            "ephemeral": { "not_types": ["*"] },
        },
        "presence": { "not_types": ["*"] },
        "account_data": { "not_types": ["*"] },
    })
    .to_string()
}

pub(super) fn next_batch(sync: &Value) -> Result<String, Failure> {
    Ok(sync["next_batch"]
        .as_str()
        .ok_or("/sync answered without next_batch")?
        .to_owned())
}

/// POST /join/{room}?server_name={via}: the client's server joins `room`
/// through `via` when it is not in the room itself.
pub(super) async fn join_through(client: &Client, room: &str, via: &str) -> Result<(), Failure> {
    let _: Value = client
        .post(
            &format!("/_matrix/client/v3/join/{room}?server_name={via}"),
            &json!({}),
        )
        .await?;
    Ok(())
}

/// Syncs from `since` until `room` shows among the joined rooms, for up
/// to `timeout`; the token after that answer.
pub(super) async fn until_joined(
    client: &Client,
    room: &str,
    since: Option<String>,
    filter: &str,
    timeout: Duration,
) -> Result<String, Failure> {
    let started = Instant::now();
    let mut since = since;
    loop {
        let sync = client
            .sync(since.as_deref(), LONG_POLL_MS, Some(filter))
            .await?;
        let token = next_batch(&sync)?;
        if sync["rooms"]["join"].get(room).is_some() {
            return Ok(token);
        }
        if started.elapsed() > timeout {
            return Err(format!("{room} did not show in /sync within {timeout:?}").into());
        }
        since = Some(token);
    }
}
