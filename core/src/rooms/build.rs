//! Steps 1–3 of the event pipeline for local events: build the event on the
//! room's head, hash and sign it, authorize it, and persist it with its
//! state, within a [`Batch`] (one transaction for everything a room writer
//! drained from its queue).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use hanse_protocol::auth::{self, auth_types_for_event};
use hanse_protocol::canonical_json::{
    object_to_canonical_string, CanonicalJsonObject, CanonicalJsonValue,
};
use hanse_protocol::identifiers::{EventId, RoomId, UserId};
use hanse_protocol::pdu::{Pdu, PduError};
use hanse_protocol::redaction::redact;
use hanse_protocol::room_versions::{RoomVersion, RoomVersionId};
use tokio::sync::OwnedSemaphorePermit;

use super::events::StoredEvent;
use super::power_levels;
use super::state::Layered;
use super::state_trie::{EventNid, Node, NodeNid, StateKey};
use crate::clock::now_ms;
use crate::store::{NewEventRow, NewOutlierRow, RoomHeadRow, Write};
use crate::streams::{StreamTicket, Topic};
use crate::{Error, Homeserver, Result};

/// A local event to be made.
#[derive(Debug, Clone)]
pub struct EventDraft {
    pub event_type: String,
    pub state_key: Option<String>,
    pub sender: UserId,
    pub content: CanonicalJsonObject,
    /// For `m.room.redaction` in versions where `redacts` is a top-level
    /// key (up to 10); later versions carry it in the content.
    pub redacts: Option<EventId>,
    /// The client transaction that asked for it, for idempotency.
    pub transaction: Option<ClientTransaction>,
}

impl EventDraft {
    pub fn new(event_type: &str, sender: &UserId, content: CanonicalJsonObject) -> Self {
        Self {
            event_type: event_type.to_owned(),
            state_key: None,
            sender: sender.clone(),
            content,
            redacts: None,
            transaction: None,
        }
    }

    pub fn state(
        event_type: &str,
        state_key: &str,
        sender: &UserId,
        content: CanonicalJsonObject,
    ) -> Self {
        Self {
            state_key: Some(state_key.to_owned()),
            ..Self::new(event_type, sender, content)
        }
    }
}

impl EventDraft {
    /// The `(type, state_key)` of the state events the event must cite as
    /// its auth events.
    fn auth_types(&self, version: &RoomVersion) -> Vec<(String, String)> {
        auth_types_for_event(
            &self.event_type,
            self.state_key.as_deref(),
            &self.sender,
            &self.content,
            version,
        )
    }
}

/// The device and transaction ID a client sent an event with.
#[derive(Debug, Clone)]
pub struct ClientTransaction {
    pub user_id: String,
    pub device_id: String,
    pub txn_id: String,
}

/// A persisted local event.
#[derive(Debug, Clone)]
pub struct Appended {
    pub event_id: EventId,
    pub stream_ordering: i64,
}

/// A room as the writer knows it.
#[derive(Debug, Clone)]
pub(crate) struct RoomRef {
    pub nid: i64,
    pub room_id: RoomId,
    pub version: RoomVersionId,
}

/// The room's head while a batch extends it.
#[derive(Debug, Clone)]
pub(super) struct Head {
    pub state_root: NodeNid,
    pub extremities: Vec<(EventNid, EventId)>,
    pub max_depth: i64,
}

/// One transaction's worth of local events for one room.
pub(crate) struct Batch<'a> {
    pub(super) homeserver: &'a Homeserver,
    pub(super) write: Write,
    pub(super) room: RoomRef,
    pub(super) head: Head,
    pub(super) nodes: Layered<'a>,
    /// Events persisted by this batch, not visible outside it until commit.
    pub(super) events: HashMap<EventNid, Arc<StoredEvent>>,
    /// The same events by ID: a batch that takes in a whole room (a join
    /// through another server) looks up thousands of auth events in it.
    pub(super) event_ids: HashMap<EventId, EventNid>,
    /// The empty state's node, once this batch has needed it (every
    /// outlier is stored with it).
    pub(super) empty: Option<NodeNid>,
    /// Whether this batch creates the room: then none of its events is
    /// stored outside the batch, and looking for them can skip the table.
    pub(super) new_room: bool,
    /// Outliers are held back and inserted together (a join through
    /// another server stores thousands): see [`Batch::defer_outliers`].
    deferred: Option<DeferredOutliers>,
    /// Events whose content this batch removed: cached copies must go.
    redacted: Vec<EventNid>,
    /// This batch's turn among the writers (see `Writers::permit`).
    _permit: OwnedSemaphorePermit,
    /// Its registration as a writer of the event stream, ended after the
    /// commit (see `crate::streams`).
    pub(super) stream: StreamTicket,
    /// Federation destinations its events were queued for: woken after
    /// the commit.
    pub(super) destinations: Vec<i32>,
}

/// Why a job of a batch failed.
#[derive(Debug)]
pub(crate) enum JobError {
    /// The job is refused (not authorized, invalid); the batch goes on.
    Refused(Error),
    /// The transaction is unusable or holds part of the job: nothing of the
    /// batch may commit.
    Fatal(Error),
}

impl From<Error> for JobError {
    /// Database errors leave the transaction aborted; others are refusals.
    fn from(error: Error) -> Self {
        match error {
            Error::Store(_) => Self::Fatal(error),
            other => Self::Refused(other),
        }
    }
}

fn fatal(error: crate::store::StoreError) -> JobError {
    JobError::Fatal(error.into())
}

/// Outliers waiting to be inserted together, and event numbers allocated
/// for them.
#[derive(Debug, Default)]
struct DeferredOutliers {
    rows: Vec<NewOutlierRow>,
    spare_nids: Vec<i64>,
}

/// How many event numbers deferred outliers take from the sequence at once.
const NID_BLOCK: i64 = 512;

/// A built, signed event that passed authorization, before it is stored.
struct Built {
    pdu: Pdu,
    draft: EventDraft,
    /// The event a redaction removes the content of.
    redacts: Option<EventNid>,
}

impl<'a> Batch<'a> {
    /// Opens a batch on an existing room, locking its head.
    pub async fn open(homeserver: &'a Homeserver, room: RoomRef) -> Result<Batch<'a>> {
        let permit = homeserver.rooms.writers.permit().await;
        let write = homeserver.store.begin().await?;
        let stream = homeserver.streams.events.begin(&homeserver.store).await?;
        let row = write.lock_room_head(room.nid).await?;
        let extremities = homeserver
            .events(&row.forward_extremities)
            .await?
            .into_iter()
            .map(|event| (event.nid, event.pdu.event_id().clone()))
            .collect();
        Ok(Batch {
            homeserver,
            write,
            room,
            head: Head {
                state_root: row.state_root,
                extremities,
                max_depth: row.max_depth,
            },
            nodes: Layered::new(&homeserver.rooms.nodes),
            events: HashMap::new(),
            event_ids: HashMap::new(),
            empty: None,
            new_room: false,
            deferred: None,
            redacted: Vec::new(),
            _permit: permit,
            stream,
            destinations: Vec::new(),
        })
    }

    /// Creates a room from its create event; the batch then continues in
    /// the new room. Returns the room.
    pub async fn create_room(
        homeserver: &'a Homeserver,
        version: RoomVersionId,
        room_id: Option<RoomId>,
        create: EventDraft,
    ) -> Result<(Batch<'a>, RoomRef, Appended)> {
        let placeholder = RoomRef {
            nid: 0,
            room_id: room_id.clone().unwrap_or_else(|| {
                RoomId::parse("!pending:localhost").expect("a valid placeholder room ID")
            }),
            version,
        };
        let (mut batch, empty_root) = Batch::on_empty_room(homeserver, placeholder).await?;
        let built = batch.build(create, room_id.as_ref()).await?;
        let room_id = built.pdu.room_id().clone();
        let nid = batch
            .write
            .insert_room(room_id.as_str(), version.as_str(), empty_root, now_ms())
            .await?;
        batch.room = RoomRef {
            nid,
            room_id,
            version,
        };
        let appended = batch.persist(built).await?;
        let room = batch.room.clone();
        Ok((batch, room, appended))
    }

    /// A batch on a room not stored yet, whose state is empty; returns it
    /// and the empty state's root. `room.nid` is for the caller to set
    /// once the room row exists.
    pub(super) async fn on_empty_room(
        homeserver: &'a Homeserver,
        room: RoomRef,
    ) -> Result<(Batch<'a>, NodeNid)> {
        let permit = homeserver.rooms.writers.permit().await;
        let write = homeserver.store.begin().await?;
        let stream = homeserver.streams.events.begin(&homeserver.store).await?;
        let empty = Node::empty();
        let empty_root = write.insert_state_node(&empty).await?;
        let mut nodes = Layered::new(&homeserver.rooms.nodes);
        nodes.local.insert(empty_root, Arc::new(empty));
        let batch = Batch {
            homeserver,
            write,
            room,
            head: Head {
                state_root: empty_root,
                extremities: Vec::new(),
                max_depth: 0,
            },
            nodes,
            events: HashMap::new(),
            event_ids: HashMap::new(),
            empty: Some(empty_root),
            new_room: true,
            deferred: None,
            redacted: Vec::new(),
            _permit: permit,
            stream,
            destinations: Vec::new(),
        };
        Ok((batch, empty_root))
    }

    /// The batch's transaction, for what else must commit with its events.
    pub fn write(&self) -> &Write {
        &self.write
    }

    /// Builds, authorizes and persists one event.
    pub async fn append(&mut self, draft: EventDraft) -> Result<Appended> {
        let room_id = self.room.room_id.clone();
        let built = self.build(draft, Some(&room_id)).await?;
        self.persist(built).await
    }

    /// Runs `drafts` as a unit: all are persisted, or none. A refused job
    /// leaves the batch as it was; a fatal error leaves it unusable.
    pub async fn append_all(&mut self, drafts: Vec<EventDraft>) -> Result<Vec<Appended>, JobError> {
        let room_id = self.room.room_id.clone();
        if let [_] = drafts.as_slice() {
            // One event needs no savepoint: building it writes nothing, so
            // a refusal leaves the transaction as it was, and a failure
            // while storing it is fatal to the batch anyway. Most jobs are
            // one message; this saves them a round trip.
            let draft = drafts.into_iter().next().expect("one draft");
            let built = self
                .build(draft, Some(&room_id))
                .await
                .map_err(JobError::from)?;
            return Ok(vec![self.persist(built).await.map_err(JobError::Fatal)?]);
        }
        self.write.savepoint().await.map_err(fatal)?;
        let head = self.head.clone();
        let mut appended = Vec::with_capacity(drafts.len());
        for draft in drafts {
            match self.append(draft).await.map_err(JobError::from) {
                Ok(event) => appended.push(event),
                Err(JobError::Refused(error)) => {
                    self.write.rollback_to_savepoint().await.map_err(fatal)?;
                    self.head = head;
                    return Err(JobError::Refused(error));
                }
                Err(fatal) => return Err(fatal),
            }
        }
        Ok(appended)
    }

    /// From now on outliers are held back and inserted together, at the
    /// latest before any other event row or at commit; each gets its
    /// number at once, so the batch works with it as if stored.
    pub(super) fn defer_outliers(&mut self) {
        self.deferred.get_or_insert_with(DeferredOutliers::default);
    }

    /// Inserts the outliers held back so far.
    pub(super) async fn flush_outliers(&mut self) -> Result<()> {
        if let Some(deferred) = &mut self.deferred {
            if !deferred.rows.is_empty() {
                let rows = std::mem::take(&mut deferred.rows);
                self.write.insert_outliers(self.room.nid, &rows).await?;
            }
        }
        Ok(())
    }

    /// Stores the new head and commits; then the batch's nodes and events
    /// become visible to everyone.
    pub async fn commit(mut self) -> Result<()> {
        self.flush_outliers().await?;
        let head = RoomHeadRow {
            state_root: self.head.state_root,
            forward_extremities: self.head.extremities.iter().map(|(nid, _)| *nid).collect(),
            max_depth: self.head.max_depth,
        };
        self.write.update_room_head(self.room.nid, &head).await?;
        self.write.commit().await?;
        let rooms = &self.homeserver.rooms;
        for (nid, node) in self.nodes.local {
            rooms.nodes.insert(nid, node);
        }
        for nid in self.redacted {
            rooms.events.forget(nid);
        }
        // The room's members hear of the events; so does everyone whose
        // membership changed, joined to the room or not (yet).
        let mut topics = vec![Topic::Room(self.room.nid)];
        for event in self.events.into_values() {
            if event.pdu.event_type() == "m.room.member" {
                topics.extend(
                    event
                        .pdu
                        .state_key()
                        .map(|user| Topic::User(user.to_owned())),
                );
            }
            rooms.events.insert(event);
        }
        self.stream.committed(topics);
        let mut destinations = self.destinations;
        destinations.sort_unstable();
        destinations.dedup();
        for destination in destinations {
            self.homeserver.wake_destination(destination);
        }
        Ok(())
    }

    /// The room state before the next event, at the given keys.
    async fn current_state(
        &mut self,
        pairs: &[(&str, &str)],
    ) -> Result<HashMap<(String, String), Pdu>> {
        let store = &self.homeserver.store;
        let keys = self
            .homeserver
            .rooms
            .interner
            .state_keys(store, pairs, false)
            .await?;
        let wanted: Vec<StateKey> = keys.iter().flatten().copied().collect();
        let found = self
            .nodes
            .lookup(store, self.head.state_root, &wanted)
            .await?;
        let mut nids = Vec::new();
        let mut at = found.into_iter();
        let mut which = Vec::new();
        for (pair, key) in pairs.iter().zip(&keys) {
            if key.is_some() {
                if let Some(Some(nid)) = at.next() {
                    nids.push(nid);
                    which.push(*pair);
                }
            }
        }
        let events = self.events_by_nid(&nids).await?;
        Ok(which
            .into_iter()
            .zip(events)
            .map(|((t, k), event)| ((t.to_owned(), k.to_owned()), event.pdu.clone()))
            .collect())
    }

    pub(super) async fn events_by_nid(&self, nids: &[EventNid]) -> Result<Vec<Arc<StoredEvent>>> {
        let missing: Vec<EventNid> = nids
            .iter()
            .copied()
            .filter(|nid| !self.events.contains_key(nid))
            .collect();
        let loaded = self.homeserver.events(&missing).await?;
        let loaded: HashMap<EventNid, Arc<StoredEvent>> =
            loaded.into_iter().map(|event| (event.nid, event)).collect();
        Ok(nids
            .iter()
            .map(|nid| {
                self.events
                    .get(nid)
                    .or_else(|| loaded.get(nid))
                    .cloned()
                    .expect("every number was either in the batch or loaded")
            })
            .collect())
    }

    /// Step 1 and 2: the event on the current head, signed, and authorized
    /// against the state it will follow.
    async fn build(&mut self, draft: EventDraft, room_id: Option<&RoomId>) -> Result<Built> {
        let version: &RoomVersion = self.room.version.rules();
        let cited = draft.auth_types(version);
        let mut pairs: Vec<(&str, &str)> = cited
            .iter()
            .map(|(t, k)| (t.as_str(), k.as_str()))
            .collect();
        if draft.event_type != "m.room.create" && !pairs.contains(&("m.room.create", "")) {
            // Version 12 events do not cite the create event, but the
            // rules still read it.
            pairs.push(("m.room.create", ""));
        }
        let state = self.current_state(&pairs).await?;

        let auth_events: Vec<&EventId> = cited
            .iter()
            .filter_map(|pair| state.get(pair))
            .map(|pdu| pdu.event_id())
            .collect();
        let prev_events: Vec<&EventId> = self.head.extremities.iter().map(|(_, id)| id).collect();
        let mut event = event_skeleton(
            &draft,
            room_id,
            &auth_events,
            &prev_events,
            self.head.max_depth + 1,
        )?;
        self.homeserver
            .identity
            .sign_event(&mut event, version)
            .map_err(internal)?;
        let pdu = Pdu::from_canonical(event, version).map_err(|error| match error {
            PduError::TooLarge { .. } => Error::TooLarge(error.to_string()),
            _ => Error::InvalidParam(format!("the event would not be a valid event: {error}")),
        })?;
        auth::authorize(&pdu, version, &state)
            .map_err(|error| Error::Forbidden(error.to_string()))?;
        let redacts = match pdu.redacts() {
            Some(target) if pdu.event_type() == "m.room.redaction" => {
                Some(self.check_redaction(&pdu, target, &state).await?)
            }
            _ => None,
        };
        Ok(Built {
            pdu,
            draft,
            redacts,
        })
    }

    /// A redaction takes effect if its sender may redact others' events or
    /// sent the target; a local one that would not is refused outright.
    /// Returns the target.
    async fn check_redaction(
        &self,
        pdu: &Pdu,
        target: &EventId,
        state: &HashMap<(String, String), Pdu>,
    ) -> Result<EventNid> {
        let not_found = || Error::NotFound(format!("no event {target} in this room"));
        let nid = self
            .write
            .event_nid(target.as_str())
            .await?
            .ok_or_else(not_found)?;
        let target_event = self.events_by_nid(&[nid]).await?.remove(0);
        if target_event.room_nid != self.room.nid {
            return Err(not_found());
        }
        if target_event.pdu.sender() == pdu.sender() {
            return Ok(nid);
        }
        let version = self.room.version.rules();
        let key = |t: &str| (t.to_owned(), String::new());
        let (levels, creators) = power_levels(
            state.get(&key("m.room.create")),
            state.get(&key("m.room.power_levels")),
            version,
        )?;
        if levels
            .user_level(pdu.sender(), &creators)
            .at_least(levels.redact())
        {
            Ok(nid)
        } else {
            Err(Error::Forbidden(
                "you may only redact your own events in this room".into(),
            ))
        }
    }

    /// Step 3: the event and its consequences, in the batch's transaction.
    async fn persist(&mut self, built: Built) -> Result<Appended> {
        let Built {
            pdu,
            draft,
            redacts,
        } = built;
        let state_before = self.head.state_root;
        let transaction = draft.transaction.as_ref().map(|txn| {
            (
                txn.user_id.as_str(),
                txn.device_id.as_str(),
                txn.txn_id.as_str(),
            )
        });
        let stored = self
            .store_event(&pdu, state_before, EventStatus::Built, transaction)
            .await?;
        let stream_ordering = stored
            .stream_ordering
            .expect("timeline events have a position");
        if let Some(key) = stored.state_key {
            let changes = BTreeMap::from([(key, Some(stored.nid))]);
            self.head.state_root = self
                .write_state_changes(self.head.state_root, &changes)
                .await?;
            self.apply_state_effects(&pdu, stored.nid, key, true)
                .await?;
        }
        if let Some(target) = redacts {
            self.redact(target, stored.nid).await?;
        }
        self.head.extremities = vec![(stored.nid, pdu.event_id().clone())];
        self.head.max_depth = stored.depth;
        let event_id = pdu.event_id().clone();
        self.remember(&stored, pdu, state_before, EventStatus::Built);
        Ok(Appended {
            event_id,
            stream_ordering,
        })
    }

    /// Keeps an event this batch stored, for reads within the batch (the
    /// store's other connections do not see it before commit) and for the
    /// caches and wake-ups after commit.
    pub(super) fn remember(
        &mut self,
        row: &StoredRow,
        pdu: Pdu,
        state_before: NodeNid,
        status: EventStatus<'_>,
    ) {
        self.event_ids.insert(pdu.event_id().clone(), row.nid);
        self.events.insert(
            row.nid,
            Arc::new(StoredEvent {
                nid: row.nid,
                room_nid: self.room.nid,
                pdu,
                stream_ordering: row.stream_ordering.unwrap_or(0),
                state_before,
                redacted_by: None,
                rejected: matches!(status, EventStatus::Rejected(_)),
                outlier: matches!(status, EventStatus::Outlier | EventStatus::OutOfBand),
            }),
        );
    }

    /// Inserts the event row (interning its type, sender and state key);
    /// a timeline event gets its stream position.
    pub(super) async fn store_event(
        &mut self,
        pdu: &Pdu,
        state_before: NodeNid,
        status: EventStatus<'_>,
        transaction: Option<(&str, &str, &str)>,
    ) -> Result<StoredRow> {
        let store = &self.homeserver.store;
        let interner = &self.homeserver.rooms.interner;
        let type_nid = interner.types(store, &[pdu.event_type()], true).await?[pdu.event_type()];
        let mut names = vec![pdu.sender().as_str()];
        names.extend(pdu.state_key());
        let keys = interner.keys(store, &names, true).await?;
        let sender_nid = keys[pdu.sender().as_str()];
        let state_key_nid = pdu.state_key().map(|key| keys[key]);

        let (relates_to_nid, rel_type) = match relation(pdu.content()) {
            Some((target, rel_type)) => match self.write.event_nid(target).await? {
                Some(nid) => (Some(nid), Some(rel_type)),
                None => (None, None),
            },
            None => (None, None),
        };
        let json = object_to_canonical_string(pdu.as_object());
        let depth = i64::try_from(pdu.depth()).map_err(internal)?;
        let state_key = state_key_nid.map(|state_key_nid| StateKey {
            type_nid,
            state_key_nid,
        });
        if let (Some(deferred), EventStatus::Outlier) = (&mut self.deferred, status) {
            if deferred.spare_nids.is_empty() {
                let mut nids = self.write.allocate_event_nids(NID_BLOCK).await?;
                nids.reverse();
                deferred.spare_nids = nids;
            }
            let nid = deferred
                .spare_nids
                .pop()
                .ok_or_else(|| Error::Internal("no event number allocated".into()))?;
            deferred.rows.push(NewOutlierRow {
                event_nid: nid,
                event_id: pdu.event_id().as_str().to_owned(),
                type_nid,
                state_key_nid,
                sender_nid,
                depth,
                origin_server_ts: pdu.origin_server_ts(),
                state_before,
                relates_to_nid,
                rel_type: rel_type.map(str::to_owned),
                json,
            });
            return Ok(StoredRow {
                nid,
                stream_ordering: None,
                depth,
                state_key,
                pending_redactions: Vec::new(),
            });
        }
        // Other rows may refer to held-back outliers.
        self.flush_outliers().await?;
        let local_destination = self.homeserver.local_destination().await?;
        let row = NewEventRow {
            event_id: pdu.event_id().as_str(),
            room_nid: self.room.nid,
            type_nid,
            state_key_nid,
            sender_nid,
            depth,
            origin_server_ts: pdu.origin_server_ts(),
            state_before,
            relates_to_nid,
            rel_type,
            json: &json,
            transaction,
            now_ms: now_ms(),
            in_timeline: matches!(
                status,
                EventStatus::Built
                    | EventStatus::Timeline
                    | EventStatus::OutOfBand
                    | EventStatus::Historical(_)
            ),
            historical_position: match status {
                EventStatus::Historical(position) => Some(position),
                _ => None,
            },
            outlier: matches!(status, EventStatus::Outlier | EventStatus::OutOfBand),
            rejected: match status {
                EventStatus::Rejected(reason) => Some(reason),
                _ => None,
            },
            soft_failed: matches!(status, EventStatus::SoftFailed),
            // Only events built here go out from here; sending a
            // received one is its origin's business.
            queue_except: matches!(status, EventStatus::Built).then_some(local_destination),
        };
        let inserted = self.write.insert_event(&row).await?;

        let (nid, stream_ordering) = (inserted.event_nid, inserted.stream_ordering);
        // Older history counts down below the stream, which never reaches it.
        if let (Some(position), None) = (stream_ordering, row.historical_position) {
            self.stream.allocated(position);
        }
        self.destinations.extend(inserted.destinations);
        Ok(StoredRow {
            nid,
            stream_ordering,
            depth,
            state_key,
            pending_redactions: inserted.pending_redactions,
        })
    }

    /// What a state event that entered the room's current state changes
    /// beside the state itself: the room's join rule, its encryption flag,
    /// the member's row in `memberships`, and which servers are in the room
    /// (the federation sender's destinations). A member event `built_here`
    /// also goes to the member's server.
    pub(super) async fn apply_state_effects(
        &mut self,
        pdu: &Pdu,
        nid: EventNid,
        key: StateKey,
        built_here: bool,
    ) -> Result<()> {
        let setting = |name: &str| {
            pdu.content()
                .get(name)
                .and_then(CanonicalJsonValue::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match (pdu.event_type(), pdu.state_key()) {
            ("m.room.join_rules", Some("")) => {
                self.write
                    .set_join_rule(self.room.nid, &setting("join_rule"))
                    .await?;
            }
            ("m.room.encryption", Some("")) => self.write.set_encrypted(self.room.nid).await?,
            ("m.room.member", Some(target)) => {
                let membership = setting("membership");
                let before = self
                    .write
                    .set_membership(self.room.nid, key.state_key_nid, &membership, nid)
                    .await?;
                let queued = self
                    .homeserver
                    .queue_membership_change(
                        &self.write,
                        self.room.nid,
                        nid,
                        target,
                        (before.as_deref(), &membership),
                        built_here,
                    )
                    .await?;
                self.destinations.extend(queued);
            }
            _ => {}
        }
        Ok(())
    }

    /// What received member events that entered the room's current state
    /// change beside it, all at once: the members' rows in `memberships`,
    /// and the count of each server's joined members.
    pub(super) async fn apply_member_changes(
        &mut self,
        members: &[(Arc<StoredEvent>, StateKey)],
    ) -> Result<()> {
        if members.is_empty() {
            return Ok(());
        }
        let changes: Vec<(i64, String, i64)> = members
            .iter()
            .map(|(event, key)| {
                let membership = event
                    .pdu
                    .content()
                    .get("membership")
                    .and_then(CanonicalJsonValue::as_str)
                    .unwrap_or_default()
                    .to_owned();
                (key.state_key_nid, membership, event.nid)
            })
            .collect();
        let before = self.write.set_memberships(self.room.nid, &changes).await?;
        let mut joined: BTreeMap<&str, i32> = BTreeMap::new();
        for (((event, _), (_, after, _)), before) in members.iter().zip(&changes).zip(&before) {
            let delta = i32::from(after == "join") - i32::from(before.as_deref() == Some("join"));
            if delta != 0 {
                let server = event
                    .pdu
                    .state_key()
                    .and_then(|user| user.split_once(':'))
                    .map(|(_, server)| server)
                    .ok_or_else(|| Error::Internal("a member event without a user".into()))?;
                *joined.entry(server).or_default() += delta;
            }
        }
        for (server, delta) in joined {
            let destination = self.homeserver.destination_nid(server).await?;
            self.write
                .count_room_server(self.room.nid, destination, delta)
                .await?;
        }
        Ok(())
    }

    /// Interns the types, senders and state keys of `pdus` at once, so
    /// storing them one by one finds every number cached.
    pub(super) async fn intern_names<'p>(
        &self,
        pdus: impl Iterator<Item = &'p Pdu> + Clone,
    ) -> Result<()> {
        let store = &self.homeserver.store;
        let interner = &self.homeserver.rooms.interner;
        let types: HashSet<&str> = pdus.clone().map(Pdu::event_type).collect();
        let names: HashSet<&str> = pdus
            .flat_map(|pdu| std::iter::once(pdu.sender().as_str()).chain(pdu.state_key()))
            .collect();
        let types: Vec<&str> = types.into_iter().collect();
        let names: Vec<&str> = names.into_iter().collect();
        interner.types(store, &types, true).await?;
        interner.keys(store, &names, true).await?;
        Ok(())
    }

    /// Replaces the target's stored JSON by its redacted form.
    pub(super) async fn redact(&mut self, target: EventNid, redaction: EventNid) -> Result<()> {
        let event = self.events_by_nid(&[target]).await?.remove(0);
        let redacted =
            redact(event.pdu.as_object(), self.room.version.rules()).map_err(internal)?;
        self.write
            .redact_event(target, &object_to_canonical_string(&redacted), redaction)
            .await?;
        // An event of this batch is not readable elsewhere before the
        // commit: the batch keeps its redacted form. Others are read anew.
        if self.events.contains_key(&target) {
            let pdu = Pdu::from_canonical(redacted, self.room.version.rules()).map_err(internal)?;
            let redacted_event = StoredEvent {
                pdu,
                redacted_by: Some(redaction),
                ..(*event).clone()
            };
            self.events.insert(target, Arc::new(redacted_event));
        } else {
            self.events.remove(&target);
        }
        self.redacted.push(target);
        Ok(())
    }

    /// Writes the trie paths for `changes` on the state rooted at `root`;
    /// returns the new root.
    pub(super) async fn write_state_changes(
        &mut self,
        root: NodeNid,
        changes: &BTreeMap<StateKey, Option<EventNid>>,
    ) -> Result<NodeNid> {
        if changes.is_empty() {
            return Ok(root);
        }
        let edit = self
            .nodes
            .apply(&self.homeserver.store, root, changes)
            .await?;
        let mut assigned = Vec::with_capacity(edit.nodes.len());
        for node in edit.nodes {
            let node = node.resolve(&assigned);
            let nid = self.write.insert_state_node(&node).await?;
            self.nodes.local.insert(nid, Arc::new(node));
            assigned.push(nid);
        }
        Ok(edit.root.resolve(&assigned))
    }
}

/// Where a stored event stands.
#[derive(Debug, Clone, Copy)]
pub(super) enum EventStatus<'a> {
    /// Built by this server: in the room's timeline and state, and queued
    /// for the room's other servers.
    Built,
    /// Received: in the room's timeline and its state.
    Timeline,
    /// Known for auth or state only; no place in the timeline.
    Outlier,
    /// A local user's member event in a room this server is not in: an
    /// outlier with a stream position, so the user hears of it.
    OutOfBand,
    /// Failed the checks; kept, never used, with the reason.
    Rejected(&'a str),
    /// Older history from another server: in the timeline before the
    /// room's earliest events, at the (negative) position given, not in its
    /// current state.
    Historical(i64),
    /// Allowed by the state before it, not by the room's current state:
    /// kept in the graph, shown to no one.
    SoftFailed,
}

/// What storing an event assigned.
#[derive(Debug, Clone)]
pub(super) struct StoredRow {
    pub nid: EventNid,
    pub stream_ordering: Option<i64>,
    pub depth: i64,
    pub state_key: Option<StateKey>,
    /// Redactions of the event received before it, to apply now.
    pub pending_redactions: Vec<EventNid>,
}

impl Homeserver {
    /// The unsigned event `draft` would be on the room's current head, for
    /// another server to sign (make_join), and whether the auth rules
    /// would allow it now.
    pub(crate) async fn event_template(
        &self,
        room: &RoomRef,
        draft: &EventDraft,
    ) -> Result<(CanonicalJsonObject, std::result::Result<(), String>)> {
        let version = room.version.rules();
        let head = self.store.room_head(room.nid).await?;
        let cited = draft.auth_types(version);
        let mut pairs: Vec<(&str, &str)> = cited
            .iter()
            .map(|(t, k)| (t.as_str(), k.as_str()))
            .collect();
        pairs.push(("m.room.create", ""));
        let found = self.state_at(head.state_root, &pairs).await?;
        let state: HashMap<(String, String), Pdu> = pairs
            .iter()
            .zip(found)
            .filter_map(|((t, k), event)| {
                event.map(|event| (((*t).to_owned(), (*k).to_owned()), event.pdu.clone()))
            })
            .collect();
        let auth_events: Vec<&EventId> = cited
            .iter()
            .filter_map(|pair| state.get(pair))
            .map(|pdu| pdu.event_id())
            .collect();
        let extremities = self.events(&head.forward_extremities).await?;
        let prev_events: Vec<&EventId> = extremities.iter().map(|e| e.pdu.event_id()).collect();
        let template = event_skeleton(
            draft,
            Some(&room.room_id),
            &auth_events,
            &prev_events,
            head.max_depth + 1,
        )?;
        // The rules read only the event's fields, not who signed it: a
        // copy signed here tells whether the joining server's will pass.
        let mut trial = template.clone();
        self.identity
            .sign_event(&mut trial, version)
            .map_err(internal)?;
        let allowed = Pdu::from_canonical(trial, version)
            .map_err(|error| error.to_string())
            .and_then(|pdu| auth::authorize(&pdu, version, &state).map_err(|e| e.to_string()));
        Ok((template, allowed))
    }
}

/// The unsigned event `draft` makes on the given auth and prev events:
/// what the local pipeline signs, and what make_join hands to a joining
/// server to sign.
pub(crate) fn event_skeleton(
    draft: &EventDraft,
    room_id: Option<&RoomId>,
    auth_events: &[&EventId],
    prev_events: &[&EventId],
    depth: i64,
) -> Result<CanonicalJsonObject> {
    let string = |s: &str| CanonicalJsonValue::String(s.to_owned());
    let ids = |ids: &[&EventId]| {
        CanonicalJsonValue::Array(ids.iter().map(|id| string(id.as_str())).collect())
    };
    let mut event = CanonicalJsonObject::new();
    event.insert("auth_events".into(), ids(auth_events));
    event.insert("prev_events".into(), ids(prev_events));
    event.insert(
        "depth".into(),
        CanonicalJsonValue::integer(depth).map_err(internal)?,
    );
    event.insert(
        "origin_server_ts".into(),
        CanonicalJsonValue::integer(now_ms()).map_err(internal)?,
    );
    event.insert("sender".into(), string(draft.sender.as_str()));
    event.insert("type".into(), string(&draft.event_type));
    event.insert(
        "content".into(),
        CanonicalJsonValue::Object(draft.content.clone()),
    );
    if let Some(state_key) = &draft.state_key {
        event.insert("state_key".into(), string(state_key));
    }
    if let Some(redacts) = &draft.redacts {
        event.insert("redacts".into(), string(redacts.as_str()));
    }
    if let Some(room_id) = room_id {
        event.insert("room_id".into(), string(room_id.as_str()));
    }
    Ok(event)
}

/// The event an event relates to and how (`m.relates_to`), if it says.
pub(crate) fn relation(content: &CanonicalJsonObject) -> Option<(&str, &str)> {
    let CanonicalJsonValue::Object(relates_to) = content.get("m.relates_to")? else {
        return None;
    };
    let event_id = relates_to.get("event_id")?.as_str()?;
    let rel_type = relates_to.get("rel_type")?.as_str()?;
    Some((event_id, rel_type))
}

fn internal(error: impl std::fmt::Display) -> Error {
    Error::Internal(error.to_string())
}
