//! Unread counts in /sync: the events after the user's read receipt that
//! their push rules say notify them (and of those, highlight), counted
//! from the stored events whenever a sync sends the room.
//!
//! Counting from the events costs the send path nothing and can never
//! disagree with the receipts. So that a room with many unread events
//! does not cost every sync a recount, each (user, room) keeps its count
//! in memory, and only events after it are evaluated; a new read
//! position or changed rules start the count over.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::Mutex;

use hanse_protocol::identifiers::UserId;
use hanse_protocol::push_rules::{EvalContext, Ruleset};
use lru::LruCache;
use serde_json::{json, Value};

use super::SyncToken;
use crate::rooms::RoomRef;
use crate::store::{Direction, MembershipRow};
use crate::{Error, Homeserver, Result};

/// The most events evaluated per room and sync; a longer backlog is
/// counted on by the following syncs.
const MAX_EVALUATED: i64 = 1000;
/// Counts kept, one per (user, room): about 100 bytes each.
const CACHED_COUNTS: usize = 100_000;

/// Counts kept between syncs.
pub struct UnreadCounts {
    counts: Mutex<LruCache<(String, i64), Count>>,
}

impl std::fmt::Debug for UnreadCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnreadCounts")
    }
}

impl Default for UnreadCounts {
    fn default() -> Self {
        Self {
            counts: Mutex::new(LruCache::new(
                NonZeroUsize::new(CACHED_COUNTS).expect("not zero"),
            )),
        }
    }
}

/// A count, valid for one read position and ruleset.
#[derive(Debug, Clone, Copy)]
struct Count {
    read: i64,
    rules: u64,
    /// Events up to this position are counted.
    upto: i64,
    notifications: u64,
    highlights: u64,
    /// The receipts stream position when `read` was read, and the join it
    /// counts from.
    receipts: i64,
    joined_at: i64,
}

impl UnreadCounts {
    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<(String, i64), Count>> {
        crate::lock(&self.counts)
    }
}

/// Which rules a count was made with.
pub(super) fn rules_fingerprint(rules: &Ruleset) -> u64 {
    let mut hasher = DefaultHasher::new();
    serde_json::to_string(rules)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

impl Homeserver {
    /// `unread_notifications` of a joined room, up to the positions `now`.
    pub(super) async fn unread_counts(
        &self,
        room: &RoomRef,
        user: &UserId,
        row: &MembershipRow,
        (rules, fingerprint): (&Ruleset, u64),
        now: SyncToken,
    ) -> Result<Value> {
        let key = (user.as_str().to_owned(), room.nid);
        let kept = self.unread.lock().get(&key).copied();
        // No receipt committed since the kept count: the read position
        // stands, and need not be read again.
        let read = match kept {
            Some(count)
                if count.receipts == now.receipts && count.joined_at == row.event_position =>
            {
                count.read
            }
            // Nothing from before the user joined is unread.
            _ => self
                .store
                .read_position(room.nid, user.as_str())
                .await?
                .map_or(row.event_position, |read| read.max(row.event_position)),
        };
        let mut count = kept
            .filter(|c| c.read == read && c.rules == fingerprint && c.upto <= now.events)
            .unwrap_or(Count {
                read,
                rules: fingerprint,
                upto: read,
                notifications: 0,
                highlights: 0,
                receipts: now.receipts,
                joined_at: row.event_position,
            });
        count.receipts = now.receipts;
        count.joined_at = row.event_position;
        if count.upto < now.events {
            self.count_events(room, user, rules, &mut count, now.events)
                .await?;
        }
        self.unread.lock().put(key, count);
        Ok(json!({
            "notification_count": count.notifications,
            "highlight_count": count.highlights,
        }))
    }

    /// Adds the events after `count.upto` (up to `upto`, at most
    /// [`MAX_EVALUATED`]) to the count.
    async fn count_events(
        &self,
        room: &RoomRef,
        user: &UserId,
        rules: &Ruleset,
        count: &mut Count,
        upto: i64,
    ) -> Result<()> {
        let page = self
            .store
            .room_timeline(
                room.nid,
                count.upto,
                Some(upto),
                Direction::Forward,
                MAX_EVALUATED,
            )
            .await?;
        count.upto = match page.last() {
            Some(&(_, last)) if page.len() as i64 == MAX_EVALUATED => last,
            _ => upto,
        };
        if page.is_empty() {
            return Ok(());
        }
        let nids: Vec<i64> = page.iter().map(|(nid, _)| *nid).collect();
        let events = self.events(&nids).await?;
        // The power levels as the latest event found them: close enough
        // for who may notify the room, and read from cached state nodes.
        let root = events.last().map_or(0, |event| event.state_before);
        let (levels, creators) = self.power_levels_at(room, root).await?;
        let member_count = self.store.member_counts(room.nid).await?.joined as u64;
        for event in events.iter().filter(|e| e.redacted_by.is_none()) {
            let context = EvalContext {
                user_id: user.as_str(),
                display_name: None,
                member_count,
                sender_power_level: levels.user_level(event.pdu.sender(), &creators),
                notification_power_levels: levels.notifications(),
            };
            let json = serde_json::to_value(event.pdu.as_object())
                .map_err(|e| Error::Internal(format!("event as JSON: {e}")))?;
            if let Some(outcome) = rules.evaluate(&json, &context) {
                count.notifications += u64::from(outcome.notify());
                count.highlights += u64::from(outcome.highlight());
            }
        }
        Ok(())
    }
}
