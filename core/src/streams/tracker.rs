//! Which positions of a stream are safe to hand out, and when to tell
//! waiting syncs about a change.
//!
//! Writes take their stream position from a sequence, but commit
//! independently: a write holding position 10 may commit after another
//! holding 11. A token at 11 handed out in between would let the client
//! skip 10 for good. So readers only go up to the *persisted* position:
//! everything at or below it is committed (or belongs to a write that
//! failed and never will be).
//!
//! Each write registers before it allocates anything, with the highest
//! position allocated so far as its lower bound: the sequence only grows,
//! so the write's own positions lie above it. The persisted position is
//! the lowest bound of the writes still running, or the highest position
//! allocated when none runs.
//!
//! A committed write's wake-ups wait until the persisted position covers
//! it: a sync woken earlier would find nothing it may read yet, and no
//! second wake-up would come when the slower write commits.
//!
//! This holds for one process writing the database. Several processes
//! sharing one would each publish their allocations and commits (DESIGN.md:
//! LISTEN/NOTIFY) into the same bookkeeping.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::notifier::{Notifier, Topic};
use crate::lock;
use crate::store::Store;
use crate::Result;

/// One stream's bookkeeping, shared by all its writers.
#[derive(Debug)]
pub(crate) struct StreamTracker {
    /// The sequence positions come from.
    sequence: &'static str,
    /// Read from the database once, before the first write or read.
    loaded: OnceCell<()>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    positions: Mutex<Positions>,
    notifier: Arc<Notifier>,
}

#[derive(Debug, Default)]
struct Positions {
    max_allocated: i64,
    next_ticket: u64,
    /// Running writes and the position their own ones lie above.
    running: BTreeMap<u64, i64>,
    /// Never goes down, so tokens handed out never do either.
    persisted: i64,
    /// Wake-ups of committed writes, by the highest position they wrote,
    /// waiting for the persisted position to reach it.
    pending: BTreeMap<i64, Vec<Topic>>,
}

impl Positions {
    fn persisted(&mut self) -> i64 {
        let now = self
            .running
            .values()
            .min()
            .copied()
            .unwrap_or(self.max_allocated);
        self.persisted = self.persisted.max(now);
        self.persisted
    }

    /// The wake-ups the persisted position now covers.
    fn due(&mut self) -> Vec<Topic> {
        let persisted = self.persisted();
        let later = self.pending.split_off(&(persisted + 1));
        std::mem::replace(&mut self.pending, later)
            .into_values()
            .flatten()
            .collect()
    }
}

/// A running write's registration; dropping it (after the commit, or on
/// failure) ends the write.
#[derive(Debug)]
pub(crate) struct StreamTicket {
    id: u64,
    shared: Arc<Shared>,
    highest: i64,
    /// Whom to wake once the write is committed and persisted.
    topics: Vec<Topic>,
}

impl StreamTicket {
    /// Records a position the write was given.
    pub fn allocated(&mut self, position: i64) {
        self.highest = self.highest.max(position);
        let mut positions = lock(&self.shared.positions);
        positions.max_allocated = positions.max_allocated.max(position);
    }

    /// Marks the write committed: `topics` hear of it once every earlier
    /// position is committed too.
    pub fn committed(mut self, topics: impl IntoIterator<Item = Topic>) {
        self.topics.extend(topics);
    }
}

impl Drop for StreamTicket {
    fn drop(&mut self) {
        let due = {
            let mut positions = lock(&self.shared.positions);
            positions.running.remove(&self.id);
            if !self.topics.is_empty() {
                positions
                    .pending
                    .entry(self.highest)
                    .or_default()
                    .append(&mut self.topics);
            }
            positions.due()
        };
        if !due.is_empty() {
            self.shared.notifier.publish(&due);
        }
    }
}

impl StreamTracker {
    /// A tracker of positions taken from `sequence`.
    pub fn new(sequence: &'static str, notifier: Arc<Notifier>) -> Self {
        Self {
            sequence,
            loaded: OnceCell::new(),
            shared: Arc::new(Shared {
                positions: Mutex::default(),
                notifier,
            }),
        }
    }

    async fn load(&self, store: &Store) -> Result<()> {
        self.loaded
            .get_or_try_init(|| async {
                let max = store.sequence_position(self.sequence).await?;
                let mut positions = lock(&self.shared.positions);
                positions.max_allocated = positions.max_allocated.max(max);
                Ok::<_, crate::Error>(())
            })
            .await?;
        Ok(())
    }

    /// Registers a write about to allocate positions.
    pub async fn begin(&self, store: &Store) -> Result<StreamTicket> {
        self.load(store).await?;
        Ok(self.begin_loaded())
    }

    fn begin_loaded(&self) -> StreamTicket {
        let mut positions = lock(&self.shared.positions);
        let id = positions.next_ticket;
        positions.next_ticket += 1;
        let bound = positions.max_allocated;
        positions.running.insert(id, bound);
        StreamTicket {
            id,
            shared: self.shared.clone(),
            highest: bound,
            topics: Vec::new(),
        }
    }

    /// The highest position at or below which every write is committed.
    pub async fn persisted(&self, store: &Store) -> Result<i64> {
        self.load(store).await?;
        Ok(lock(&self.shared.positions).persisted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> StreamTracker {
        StreamTracker::new("test", Arc::default())
    }

    fn persisted(tracker: &StreamTracker) -> i64 {
        lock(&tracker.shared.positions).persisted()
    }

    #[test]
    fn a_late_commit_holds_the_position_back() {
        let tracker = tracker();
        lock(&tracker.shared.positions).max_allocated = 9;
        let mut slow = tracker.begin_loaded();
        let mut fast = tracker.begin_loaded();
        slow.allocated(10);
        fast.allocated(11);
        drop(fast); // 11 commits first
        assert_eq!(persisted(&tracker), 9, "10 is not committed yet");
        drop(slow);
        assert_eq!(persisted(&tracker), 11);
        // A write that starts now can only get positions above 11.
        let mut next = tracker.begin_loaded();
        assert_eq!(persisted(&tracker), 11);
        next.allocated(12);
        assert_eq!(persisted(&tracker), 11);
        drop(next);
        assert_eq!(persisted(&tracker), 12);
    }

    #[test]
    fn the_persisted_position_never_goes_down() {
        let tracker = tracker();
        let mut first = tracker.begin_loaded();
        first.allocated(5);
        drop(first);
        assert_eq!(persisted(&tracker), 5);
        let _running = tracker.begin_loaded();
        assert_eq!(persisted(&tracker), 5);
    }

    #[tokio::test]
    async fn wake_ups_wait_for_earlier_writes() {
        let notifier = Arc::new(Notifier::default());
        let tracker = StreamTracker::new("test", notifier.clone());
        let listener = notifier.listen(vec![Topic::Room(2)]);
        let mut slow = tracker.begin_loaded();
        let mut fast = tracker.begin_loaded();
        slow.allocated(1);
        fast.allocated(2);
        fast.committed([Topic::Room(2)]);
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(50), listener.notified()).await;
        assert!(early.is_err(), "position 2 is not readable while 1 runs");
        drop(slow);
        tokio::time::timeout(std::time::Duration::from_secs(1), listener.notified())
            .await
            .expect("the wake-up comes once 1 is done");
    }
}
