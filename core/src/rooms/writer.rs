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

use hanse_protocol::pdu::Pdu;

use super::build::{Appended, Batch, EventDraft, JobError, RoomRef};
use super::receive::{Arrival, Receipt};
use crate::{Error, Homeserver, Result};

/// Work for a room's writer, and who waits for it.
enum Job {
    /// Local events that must be persisted together.
    Local {
        drafts: Vec<EventDraft>,
        reply: Reply,
    },
    /// An event from another server, checked and stored (see
    /// `rooms::receive`); if accepted and `forward_except` is given, queued
    /// in the same commit for the room's servers but that destination (the
    /// server that handed it over) and this one.
    Received {
        pdu: Pdu,
        arrival: Arrival,
        forward_except: Option<i32>,
        reply: oneshot::Sender<Result<Receipt>>,
    },
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
        self.queue(room, Job::Local { drafts, reply });
        answer
            .await
            .map_err(|_| Error::Internal("the room writer stopped without answering".into()))?
    }

    /// Runs the room-dependent checks on a received event and stores it
    /// as its `arrival` asks, in turn with the room's other writes.
    pub(crate) async fn receive_event(
        &self,
        room: &RoomRef,
        pdu: Pdu,
        arrival: Arrival,
    ) -> Result<Receipt> {
        self.queue_received(room, pdu, arrival, None).await
    }

    /// [`Homeserver::receive_event`] for an event its sender's server
    /// handed to this one to pass on (an invite, a send_join): if accepted,
    /// it is queued for the room's other servers in the same commit, so
    /// that it cannot be stored without being passed on. `from` is the
    /// destination number of the server it came from.
    pub(crate) async fn receive_event_for_others(
        &self,
        room: &RoomRef,
        pdu: Pdu,
        arrival: Arrival,
        from: i32,
    ) -> Result<Receipt> {
        self.queue_received(room, pdu, arrival, Some(from)).await
    }

    async fn queue_received(
        &self,
        room: &RoomRef,
        pdu: Pdu,
        arrival: Arrival,
        forward_except: Option<i32>,
    ) -> Result<Receipt> {
        let (reply, answer) = oneshot::channel();
        self.queue(
            room,
            Job::Received {
                pdu,
                arrival,
                forward_except,
                reply,
            },
        );
        answer
            .await
            .map_err(|_| Error::Internal("the room writer stopped without answering".into()))?
    }

    fn queue(&self, room: &RoomRef, job: Job) {
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
    }

    /// Runs batches until the room's queue is empty, then retires.
    async fn drain(self, room_nid: i64) {
        let _retire = RetireOnPanic {
            writers: &self.rooms.writers,
            room_nid,
        };
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
            Err(error) => return fail_all(jobs.into_iter().map(Job::into_reply), &error),
        };
        let mut answers: Vec<Answer> = Vec::with_capacity(jobs.len());
        for job in jobs {
            let outcome = match job {
                Job::Local { drafts, reply } => match batch.append_all(drafts).await {
                    Ok(appended) => Ok(Answer::Local(reply, Ok(appended))),
                    Err(JobError::Refused(error)) => Ok(Answer::Local(reply, Err(error))),
                    Err(JobError::Fatal(error)) => Err((AnyReply::Local(reply), error)),
                },
                Job::Received {
                    pdu,
                    arrival,
                    forward_except,
                    reply,
                } => {
                    // Only events to pass on need their ID after `receive`.
                    let forward = forward_except.map(|except| (pdu.event_id().clone(), except));
                    let received = match (batch.receive(pdu, arrival).await, forward) {
                        (Ok(Receipt::Accepted), Some((event_id, except))) => batch
                            .forward_received(&event_id, except)
                            .await
                            .map(|()| Receipt::Accepted),
                        (other, _) => other,
                    };
                    match received {
                        Ok(receipt) => Ok(Answer::Received(reply, receipt)),
                        Err(error) => Err((AnyReply::Received(reply), error)),
                    }
                }
            };
            match outcome {
                Ok(answer) => answers.push(answer),
                Err((reply, error)) => {
                    // The transaction may hold part of the job: nothing of
                    // the batch commits.
                    tracing::error!(%error, "room write failed");
                    fail_all(
                        answers
                            .into_iter()
                            .map(Answer::into_reply)
                            .chain(std::iter::once(reply)),
                        &error,
                    );
                    return;
                }
            }
        }
        match batch.commit().await {
            Ok(()) => {
                for answer in answers {
                    // The requester may have gone; its events stay.
                    match answer {
                        Answer::Local(reply, result) => {
                            let _ = reply.send(result);
                        }
                        Answer::Received(reply, receipt) => {
                            let _ = reply.send(Ok(receipt));
                        }
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "room write failed to commit");
                fail_all(answers.into_iter().map(Answer::into_reply), &error);
            }
        }
    }
}

/// Takes a writer that panicked out of the room's queue, so the room's
/// next write starts a new one instead of waiting forever; the jobs it
/// held are answered with an error (their reply channels drop).
struct RetireOnPanic<'a> {
    writers: &'a Writers,
    room_nid: i64,
}

impl Drop for RetireOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!(room_nid = self.room_nid, "a room writer panicked");
            self.writers.lock().remove(&self.room_nid);
        }
    }
}

/// A finished job, answered once the batch commits.
enum Answer {
    Local(Reply, Result<Vec<Appended>>),
    Received(oneshot::Sender<Result<Receipt>>, Receipt),
}

impl Answer {
    fn into_reply(self) -> AnyReply {
        match self {
            Self::Local(reply, _) => AnyReply::Local(reply),
            Self::Received(reply, _) => AnyReply::Received(reply),
        }
    }
}

impl Job {
    fn into_reply(self) -> AnyReply {
        match self {
            Self::Local { reply, .. } => AnyReply::Local(reply),
            Self::Received { reply, .. } => AnyReply::Received(reply),
        }
    }
}

/// Whoever waits for a job.
enum AnyReply {
    Local(Reply),
    Received(oneshot::Sender<Result<Receipt>>),
}

type Reply = oneshot::Sender<Result<Vec<Appended>>>;

/// Answers every waiting request with (a description of) `error`.
fn fail_all(replies: impl IntoIterator<Item = AnyReply>, error: &Error) {
    for reply in replies {
        let error = Error::Internal(format!("the room write failed: {error}"));
        match reply {
            AnyReply::Local(reply) => {
                let _ = reply.send(Err(error));
            }
            AnyReply::Received(reply) => {
                let _ = reply.send(Err(error));
            }
        }
    }
}
