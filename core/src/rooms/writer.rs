//! One writer per room with group commit.
//!
//! Requests to add events to a room queue up; whoever finds the room idle
//! starts a writer task that drains the queue, runs everything it took in
//! one transaction ([`Batch`]) and answers each request after the commit
//! that holds its events. A busy room thus pays one commit for many events,
//! and rooms proceed in parallel. The room row's lock (taken in
//! [`Batch::open`]) serialises writers of several processes sharing one
//! database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::build::{Appended, Batch, EventDraft, JobError, RoomRef};
use crate::{Error, Homeserver, Result};

/// Events that must be persisted together, and who waits for them.
struct Job {
    drafts: Vec<EventDraft>,
    reply: Reply,
}

struct Queue {
    room: RoomRef,
    jobs: Vec<Job>,
}

/// The queues of rooms that have a writer running.
pub(crate) struct Writers {
    queues: Mutex<HashMap<i64, Queue>>,
    /// A write holds a connection for its transaction and reads through
    /// others; capping writes at half the pool keeps connections free for
    /// those reads, so writers cannot starve each other into a deadlock.
    permits: Arc<Semaphore>,
}

impl Writers {
    pub fn new(connections: usize) -> Self {
        Self {
            queues: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new((connections / 2).max(1))),
        }
    }

    /// Waits for a turn to write.
    pub async fn permit(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Queue>> {
        crate::lock(&self.queues)
    }
}

impl Homeserver {
    /// Persists `drafts` in `room`, all or none, after the events already
    /// queued there.
    pub(crate) async fn append_events(
        &self,
        room: &RoomRef,
        drafts: Vec<EventDraft>,
    ) -> Result<Vec<Appended>> {
        let (reply, answer) = oneshot::channel();
        let job = Job { drafts, reply };
        let start_writer = {
            let mut queues = self.rooms.writers.lock();
            match queues.get_mut(&room.nid) {
                Some(queue) => {
                    queue.jobs.push(job);
                    false
                }
                None => {
                    queues.insert(
                        room.nid,
                        Queue {
                            room: room.clone(),
                            jobs: vec![job],
                        },
                    );
                    true
                }
            }
        };
        if start_writer {
            // A task of its own: the writer must finish even if the request
            // that started it is dropped.
            tokio::spawn(self.clone().drain(room.nid));
        }
        answer
            .await
            .map_err(|_| Error::Internal("the room writer stopped without answering".into()))?
    }

    /// Runs batches until the room's queue is empty, then retires.
    async fn drain(self, room_nid: i64) {
        loop {
            let (room, jobs) = {
                let mut queues = self.rooms.writers.lock();
                let Some(queue) = queues.get_mut(&room_nid) else {
                    return;
                };
                if queue.jobs.is_empty() {
                    queues.remove(&room_nid);
                    return;
                }
                (queue.room.clone(), std::mem::take(&mut queue.jobs))
            };
            self.run_batch(room, jobs).await;
        }
    }

    async fn run_batch(&self, room: RoomRef, jobs: Vec<Job>) {
        let mut batch = match Batch::open(self, room).await {
            Ok(batch) => batch,
            Err(error) => return fail_all(jobs.into_iter().map(|job| job.reply), &error),
        };
        let mut answers = Vec::with_capacity(jobs.len());
        for job in jobs {
            match batch.append_all(job.drafts).await {
                Ok(appended) => answers.push((job.reply, Ok(appended))),
                Err(JobError::Fatal(error)) => {
                    tracing::error!(%error, "room write failed");
                    fail_all(
                        answers
                            .into_iter()
                            .map(|(reply, _)| reply)
                            .chain(std::iter::once(job.reply)),
                        &error,
                    );
                    return;
                }
                Err(JobError::Refused(error)) => answers.push((job.reply, Err(error))),
            }
        }
        match batch.commit().await {
            Ok(()) => {
                for (reply, answer) in answers {
                    // The requester may have gone; its events stay.
                    let _ = reply.send(answer);
                }
            }
            Err(error) => {
                tracing::error!(%error, "room write failed to commit");
                fail_all(answers.into_iter().map(|(reply, _)| reply), &error);
            }
        }
    }
}

type Reply = oneshot::Sender<Result<Vec<Appended>>>;

/// Answers every waiting request with (a description of) `error`.
fn fail_all(replies: impl IntoIterator<Item = Reply>, error: &Error) {
    for reply in replies {
        let _ = reply.send(Err(Error::Internal(format!(
            "the room write failed: {error}"
        ))));
    }
}
