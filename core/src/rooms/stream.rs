//! Which positions of the event stream are safe to hand out.
//!
//! Events take their stream position from a sequence when inserted, but
//! room writers commit independently: a batch holding position 10 may
//! commit after another holding 11. A token at 11 handed out in between
//! would let the client skip 10 for good. So readers only go up to the
//! *persisted* position: everything at or below it is committed (or
//! belongs to a batch that failed and never will be).
//!
//! Each batch registers before it inserts anything, with the highest
//! position allocated so far as its lower bound: the sequence only grows,
//! so the batch's own positions lie above it. The persisted position is
//! the lowest bound of the batches still running, or the highest position
//! allocated when none runs. This holds for one process writing the
//! database; several processes sharing one will have to exchange their
//! positions (DESIGN.md's LISTEN/NOTIFY).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::{Homeserver, Result};

/// The event stream's bookkeeping, shared by all writers.
#[derive(Debug, Default)]
pub(crate) struct StreamTracker {
    /// Read from the database once, before the first write or read.
    loaded: OnceCell<()>,
    inner: Arc<Mutex<Positions>>,
}

#[derive(Debug, Default)]
struct Positions {
    max_allocated: i64,
    next_ticket: u64,
    /// Running batches and the position their own ones lie above.
    running: BTreeMap<u64, i64>,
    /// Never goes down, so tokens handed out never do either.
    persisted: i64,
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
}

/// A running batch's registration; dropping it (after the commit, or on
/// failure) ends the batch.
#[derive(Debug)]
pub(crate) struct StreamTicket {
    id: u64,
    inner: Arc<Mutex<Positions>>,
}

impl StreamTicket {
    /// Records a position the batch was given.
    pub fn allocated(&self, position: i64) {
        let mut positions = lock(&self.inner);
        positions.max_allocated = positions.max_allocated.max(position);
    }
}

impl Drop for StreamTicket {
    fn drop(&mut self) {
        lock(&self.inner).running.remove(&self.id);
    }
}

fn lock(inner: &Mutex<Positions>) -> std::sync::MutexGuard<'_, Positions> {
    inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl StreamTracker {
    fn begin(&self) -> StreamTicket {
        let mut positions = lock(&self.inner);
        let id = positions.next_ticket;
        positions.next_ticket += 1;
        let bound = positions.max_allocated;
        positions.running.insert(id, bound);
        StreamTicket {
            id,
            inner: self.inner.clone(),
        }
    }
}

impl Homeserver {
    async fn stream(&self) -> Result<&StreamTracker> {
        let tracker = &self.rooms.stream;
        tracker
            .loaded
            .get_or_try_init(|| async {
                let max = self.store.max_stream_ordering().await?;
                let mut positions = lock(&tracker.inner);
                positions.max_allocated = positions.max_allocated.max(max);
                Ok::<_, crate::Error>(())
            })
            .await?;
        Ok(tracker)
    }

    /// Registers a batch about to insert events.
    pub(crate) async fn begin_stream_batch(&self) -> Result<StreamTicket> {
        Ok(self.stream().await?.begin())
    }

    /// The highest stream position at or below which every event is
    /// committed.
    pub(crate) async fn persisted_position(&self) -> Result<i64> {
        Ok(lock(&self.stream().await?.inner).persisted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_commit_holds_the_position_back() {
        let tracker = StreamTracker::default();
        lock(&tracker.inner).max_allocated = 9;
        let slow = tracker.begin();
        let fast = tracker.begin();
        slow.allocated(10);
        fast.allocated(11);
        drop(fast); // 11 commits first
        assert_eq!(
            lock(&tracker.inner).persisted(),
            9,
            "10 is not committed yet"
        );
        drop(slow);
        assert_eq!(lock(&tracker.inner).persisted(), 11);
        // A batch that starts now can only get positions above 11.
        let next = tracker.begin();
        assert_eq!(lock(&tracker.inner).persisted(), 11);
        next.allocated(12);
        assert_eq!(lock(&tracker.inner).persisted(), 11);
        drop(next);
        assert_eq!(lock(&tracker.inner).persisted(), 12);
    }

    #[test]
    fn the_persisted_position_never_goes_down() {
        let tracker = StreamTracker::default();
        let first = tracker.begin();
        first.allocated(5);
        drop(first);
        assert_eq!(lock(&tracker.inner).persisted(), 5);
        let _running = tracker.begin();
        assert_eq!(lock(&tracker.inner).persisted(), 5);
    }
}
