//! Unread counts in /sync: the events after the user's read receipts that
//! their push rules say notify them (and of those, highlight), counted
//! from the stored events whenever a sync sends the room.
//!
//! Counting from the events costs the send path nothing and can never
//! disagree with the receipts. So that a room with many unread events
//! does not cost every sync a recount, each (user, room) keeps its count
//! in memory, and only events after it are evaluated; new read positions
//! or changed rules start the count over.
//!
//! Counts are kept per thread (the main timeline is the thread `main`):
//! an event is read once a receipt for its thread, or an unthreaded one,
//! reaches it.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::Mutex;

use hanse_protocol::identifiers::UserId;
use hanse_protocol::push_rules::Ruleset;
use lru::LruCache;
use serde_json::{json, Map, Value};

use super::evaluate::MAIN_THREAD;
use crate::rooms::RoomRef;
use crate::store::{Direction, MembershipRow};
use crate::sync::SyncToken;
use crate::{Homeserver, Result};

/// The most events evaluated per room and sync; a longer backlog is
/// counted on by the following syncs.
const MAX_EVALUATED: i64 = 1000;
/// Counts kept, one per (user, room): a few hundred bytes each.
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

/// Where a user has read up to in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadPositions {
    /// The unthreaded receipts' position (or the join, if later): every
    /// thread is read up to here.
    unthreaded: i64,
    /// Threaded receipts: thread ID (`main` or a root's event ID) to
    /// position.
    threads: BTreeMap<String, i64>,
}

impl ReadPositions {
    /// From the user's receipts in a room they joined at `row`: (thread ID,
    /// `""` when unthreaded; position).
    fn from_receipts(row: &MembershipRow, receipts: Vec<(String, i64)>) -> Self {
        let mut unthreaded = row.event_position;
        let mut threads = BTreeMap::new();
        for (thread, position) in receipts {
            if thread.is_empty() {
                unthreaded = unthreaded.max(position);
            } else {
                threads.insert(thread, position);
            }
        }
        Self {
            unthreaded,
            threads,
        }
    }

    /// Where the thread is read up to.
    pub(crate) fn of(&self, thread: &str) -> i64 {
        self.threads
            .get(thread)
            .map_or(self.unthreaded, |&position| position.max(self.unthreaded))
    }
}

/// Unread notifications and highlights.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Unread {
    pub(crate) notifications: u64,
    pub(crate) highlights: u64,
}

impl Unread {
    fn json(self) -> Value {
        json!({
            "notification_count": self.notifications,
            "highlight_count": self.highlights,
        })
    }
}

/// A count, valid for one set of read positions and ruleset.
#[derive(Debug, Clone)]
struct Count {
    read: ReadPositions,
    rules: u64,
    /// Events up to this position are counted.
    upto: i64,
    /// Per thread ID.
    threads: BTreeMap<String, Unread>,
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
pub(crate) fn rules_fingerprint(rules: &Ruleset) -> u64 {
    let mut hasher = DefaultHasher::new();
    serde_json::to_string(rules)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

/// How a sync wants the counts: threads apart or all in one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountRequest<'a> {
    pub(crate) rules: &'a Ruleset,
    pub(crate) fingerprint: u64,
    pub(crate) by_thread: bool,
}

impl Homeserver {
    /// Where `user` has read up to in the room they joined at `row`.
    pub(crate) async fn read_positions(
        &self,
        room_nid: i64,
        user: &UserId,
        row: &MembershipRow,
    ) -> Result<ReadPositions> {
        let receipts = self.store.read_positions(room_nid, user.as_str()).await?;
        Ok(ReadPositions::from_receipts(row, receipts))
    }

    /// How many of the user's joined rooms have unread notifications (the
    /// badge of push notifications).
    pub(crate) async fn rooms_with_unread(&self, user: &UserId, rules: &Ruleset) -> Result<u64> {
        let joined = self
            .store
            .memberships_of(user.as_str(), Some("join"))
            .await?;
        let now = self.sync_positions().await?;
        let nids: Vec<i64> = joined.iter().map(|row| row.room_nid).collect();
        let mut receipts: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
        for (room, thread, position) in self.store.read_positions_in(&nids, user.as_str()).await? {
            receipts.entry(room).or_default().push((thread, position));
        }
        let request = CountRequest {
            rules,
            fingerprint: rules_fingerprint(rules),
            by_thread: false,
        };
        let mut unread_rooms = 0;
        for row in &joined {
            let room = self.room_of(row).await?;
            let read = ReadPositions::from_receipts(
                row,
                receipts.remove(&row.room_nid).unwrap_or_default(),
            );
            let threads = self
                .unread_threads(&room, user, row, request, now, Some(read))
                .await?;
            if threads.values().any(|unread| unread.notifications > 0) {
                unread_rooms += 1;
            }
        }
        Ok(unread_rooms)
    }

    /// The unread counts of a joined room, up to the positions `now`, as
    /// `unread_notifications` and (when asked for by thread)
    /// `unread_thread_notifications`.
    pub(crate) async fn unread_counts(
        &self,
        room: &RoomRef,
        user: &UserId,
        row: &MembershipRow,
        request: CountRequest<'_>,
        now: SyncToken,
    ) -> Result<(Value, Option<Value>)> {
        let threads = self
            .unread_threads(room, user, row, request, now, None)
            .await?;
        if !request.by_thread {
            let total = threads
                .values()
                .fold(Unread::default(), |sum, unread| Unread {
                    notifications: sum.notifications + unread.notifications,
                    highlights: sum.highlights + unread.highlights,
                });
            return Ok((total.json(), None));
        }
        let main = threads.get(MAIN_THREAD).copied().unwrap_or_default();
        let by_root: Map<String, Value> = threads
            .iter()
            .filter(|(thread, unread)| *thread != MAIN_THREAD && unread.notifications > 0)
            .map(|(thread, unread)| (thread.clone(), unread.json()))
            .collect();
        Ok((
            main.json(),
            (!by_root.is_empty()).then_some(Value::Object(by_root)),
        ))
    }

    /// The unread counts of a joined room per thread; `read`: the read
    /// positions, if already known.
    async fn unread_threads(
        &self,
        room: &RoomRef,
        user: &UserId,
        row: &MembershipRow,
        request: CountRequest<'_>,
        now: SyncToken,
        read: Option<ReadPositions>,
    ) -> Result<BTreeMap<String, Unread>> {
        let key = (user.as_str().to_owned(), room.nid);
        let kept = self.unread.lock().get(&key).cloned();
        // No receipt committed since the kept count: the read positions
        // stand, and need not be read again.
        let read = match (read, &kept) {
            (Some(read), _) => read,
            (None, Some(count))
                if count.receipts == now.receipts && count.joined_at == row.event_position =>
            {
                count.read.clone()
            }
            (None, _) => self.read_positions(room.nid, user, row).await?,
        };
        let mut count = kept
            .filter(|c| c.read == read && c.rules == request.fingerprint && c.upto <= now.events)
            .unwrap_or_else(|| Count {
                upto: read.unthreaded,
                read,
                rules: request.fingerprint,
                threads: BTreeMap::new(),
                receipts: now.receipts,
                joined_at: row.event_position,
            });
        count.receipts = now.receipts;
        count.joined_at = row.event_position;
        if count.upto < now.events {
            self.count_events(room, user, request.rules, &mut count, now.events)
                .await?;
        }
        let threads = count.threads.clone();
        self.unread.lock().put(key, count);
        Ok(threads)
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
        // The room as the latest event found it: close enough for who may
        // notify the room, and read from cached state nodes.
        let root = events.last().map_or(0, |event| event.state_before);
        let context = self.room_push_context(room, user, root).await?;
        for event in &events {
            let Some(outcome) = context.evaluate(rules, user, event)? else {
                continue;
            };
            if !outcome.notify() {
                continue;
            }
            let thread = self.thread_of(event).await?;
            if event.stream_ordering <= count.read.of(&thread) {
                continue;
            }
            let unread = count.threads.entry(thread).or_default();
            unread.notifications += 1;
            unread.highlights += u64::from(outcome.highlight());
        }
        Ok(())
    }
}
