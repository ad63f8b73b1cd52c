//! The durable federation sender: one ordered queue per destination in
//! PostgreSQL, and one task per destination with pending work.
//!
//! - Queue ([`queue`]): a local event is queued for every other server
//!   with members joined to its room (and, for a membership event, the
//!   server of its target) by the statement that inserts it, so the room
//!   batch's commit is the enqueue. EDUs are queued by
//!   [`Homeserver::enqueue_edu`].
//! - Delivery ([`transaction`]): a destination's task leases it, forms a
//!   transaction of the oldest 50 PDUs and 100 EDUs, records it (so a
//!   retry, here or in another process, sends the same ID and contents),
//!   PUTs it, and removes its entries on a 200. Failures wait with
//!   exponential back-off stored per destination.
//! - Wake-up (here): a commit wakes the tasks of the destinations it
//!   queued for; a slow sweep finds work left by stopped processes.

pub mod queue;
pub mod transaction;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::task::JoinHandle;

use crate::clock::now_ms;
use crate::{Homeserver, Result};

/// Wait after an error of this server's own (the database), before the
/// destination's task tries again.
const ERROR_PAUSE: Duration = Duration::from_secs(10);

/// The running destination tasks of this process, and what it has
/// interned.
#[derive(Debug)]
pub struct FederationSender {
    /// This process's name in destination leases.
    node: String,
    tasks: Mutex<HashMap<i32, JoinHandle<()>>>,
    sweeper: Mutex<Option<JoinHandle<()>>>,
    /// Set by [`Homeserver::stop_federation_sender`]: no new tasks.
    stopped: std::sync::atomic::AtomicBool,
    /// Destination numbers by server name (they never change).
    destinations: Mutex<HashMap<String, i32>>,
}

impl Default for FederationSender {
    fn default() -> Self {
        let node: String = rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(16)
            .map(char::from)
            .collect();
        Self {
            node,
            tasks: Mutex::default(),
            sweeper: Mutex::default(),
            stopped: Default::default(),
            destinations: Mutex::default(),
        }
    }
}

/// What one step of a destination's task came to.
pub(crate) enum Step {
    /// A transaction went (or was dropped): go on.
    Sent,
    /// Backing off: try again after this wait.
    Wait(Duration),
    /// Nothing left to send.
    Idle,
    /// Another process holds the destination.
    Elsewhere,
}

impl Homeserver {
    /// Resumes every destination with pending work and starts the sweep
    /// that finds work other processes left (at start-up).
    pub async fn start_federation_sender(&self) -> Result<()> {
        self.federation_sender
            .stopped
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.local_destination().await?;
        let pending = self.resume_destinations().await?;
        if pending > 0 {
            tracing::info!(
                destinations = pending,
                "resuming federation deliveries left pending"
            );
        }
        let homeserver = self.clone();
        let interval = self.settings.federation_sender.sweep_interval;
        let sweeper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                if let Err(e) = homeserver.resume_destinations().await {
                    tracing::warn!(error = %e, "looking for pending federation deliveries");
                }
            }
        });
        if let Some(old) = crate::lock(&self.federation_sender.sweeper).replace(sweeper) {
            old.abort();
        }
        Ok(())
    }

    /// Stops every destination task of this process and gives up its
    /// leases, so another process can go on at once. Pending work stays
    /// queued.
    pub async fn stop_federation_sender(&self) {
        let sender = &self.federation_sender;
        sender
            .stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(sweeper) = crate::lock(&sender.sweeper).take() {
            sweeper.abort();
        }
        let tasks: Vec<JoinHandle<()>> = crate::lock(&sender.tasks)
            .drain()
            .map(|(_, task)| task)
            .collect();
        for task in tasks {
            task.abort();
            // Cancelled, or finished: either way it no longer sends.
            drop(task.await);
        }
        if let Err(e) = self.store.release_destinations(&sender.node, None).await {
            tracing::warn!(error = %e, "releasing federation destinations");
        }
    }

    /// Wakes the destinations with pending work this process may take;
    /// returns how many.
    async fn resume_destinations(&self) -> Result<usize> {
        let sender = &self.federation_sender;
        let pending = self
            .store
            .destinations_with_work(&sender.node, now_ms(), None)
            .await?;
        for &destination in &pending {
            self.wake_destination(destination);
        }
        Ok(pending.len())
    }

    /// Makes sure the destination has a running task (after its queue
    /// grew).
    pub(crate) fn wake_destination(&self, destination: i32) {
        let sender = &self.federation_sender;
        let mut tasks = crate::lock(&sender.tasks);
        if sender.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if tasks
            .get(&destination)
            .is_some_and(|task| !task.is_finished())
        {
            return;
        }
        let homeserver = self.clone();
        let task = tokio::spawn(async move { homeserver.run_destination(destination).await });
        tasks.insert(destination, task);
    }

    /// A destination's task: sends until its queue is empty, then ends.
    async fn run_destination(self, destination: i32) {
        let mut progress = transaction::Progress::default();
        let step = loop {
            match self.send_next(destination, &mut progress).await {
                Ok(Step::Sent) => {}
                Ok(Step::Wait(wait)) => tokio::time::sleep(wait).await,
                Ok(step @ (Step::Idle | Step::Elsewhere)) => break step,
                Err(e) => {
                    tracing::warn!(destination, error = %e,
                        "federation sender failed; trying again shortly");
                    tokio::time::sleep(ERROR_PAUSE).await;
                }
            }
        };
        progress.log_drained();
        crate::lock(&self.federation_sender.tasks).remove(&destination);
        if matches!(step, Step::Idle) {
            // Queued between the last look and the removal: the enqueue's
            // wake-up found this task still there, so start over.
            let node = &self.federation_sender.node;
            let pending = self
                .store
                .destinations_with_work(node, now_ms(), Some(destination))
                .await;
            match pending {
                Ok(pending) if !pending.is_empty() => {
                    self.wake_destination(destination);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(destination, error = %e,
                    "checking for federation work; the sweep will"),
            }
        }
    }
}
