//! Steps 4 to 6 of the checks on receipt of a PDU, run by the room writer
//! so they see the room as it is while the event is added: the event
//! against its auth events (4), against the state before it (5), against
//! the room's current state (6, soft failure); then the event is stored
//! and the room's head and current state follow.
//!
//! Steps 1 to 3 (format, signatures, content hash) happened before, in
//! `federation::checks`. Events this server does not have are not fetched
//! here: the writer holds the room, and fetching means waiting on other
//! servers. The writer answers with what is missing; the caller fetches it
//! and tries again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use hanse_protocol::auth::{self, auth_types_for_event};
use hanse_protocol::identifiers::EventId;
use hanse_protocol::pdu::Pdu;

use super::build::{Batch, EventStatus, StoredRow};
use super::events::StoredEvent;
use super::power_levels;
use super::state_trie::{EventNid, NodeNid, StateKey};
use crate::{Error, Result};

/// How a received event enters the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// Sent or fetched for the live room: every check, and it moves the
    /// room's head. The state before it comes from its prev events, or is
    /// `state` when given: the state before it as the server it came from
    /// says, when the graph between here and there could not be filled.
    Live { state: Option<Vec<EventId>> },
    /// An auth event fetched for another: step 4 only, stored as an
    /// outlier.
    Outlier,
    /// Older history, fetched with /backfill: checked against the state
    /// before it (from its prev events, or `state` when given: the state
    /// before it as the server it came from says) and stored at `position`
    /// (negative: before the room's earliest events), never moving the
    /// head or failing softly.
    Historical {
        state: Option<Vec<EventId>>,
        position: i64,
    },
}

/// What became of a received event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receipt {
    /// Stored and part of the room.
    Accepted,
    /// Stored as an outlier: known, outside the timeline.
    Outlier,
    /// Allowed by the state before it but not by the current state: kept
    /// out of the timeline and of the room's state.
    SoftFailed,
    /// Failed a check; stored as rejected, with the reason.
    Rejected(String),
    /// This server had it already.
    AlreadyKnown,
    /// These auth events are not stored here yet.
    MissingAuthEvents(Vec<EventId>),
    /// These prev events are not stored here yet (or only as outliers,
    /// without the state the event follows from).
    MissingPrevEvents(Vec<EventId>),
}

impl Batch<'_> {
    /// The stored events with these IDs, this batch's included.
    pub(super) async fn events_by_id(&self, ids: &[EventId]) -> Result<Vec<Arc<StoredEvent>>> {
        let mut found: Vec<Arc<StoredEvent>> = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match self.event_ids.get(id).and_then(|nid| self.events.get(nid)) {
                Some(event) => found.push((*event).clone()),
                None => missing.push(id.as_str()),
            }
        }
        if !missing.is_empty() {
            found.extend(self.homeserver.events_by_ids(&missing).await?);
        }
        Ok(found)
    }

    /// Queues `event_id`, accepted in this batch, for the room's servers
    /// but this one and the destination `except`, in the batch's
    /// transaction; they are woken after the commit.
    pub(super) async fn forward_received(&mut self, event_id: &EventId, except: i32) -> Result<()> {
        let nid = *self
            .event_ids
            .get(event_id)
            .ok_or_else(|| Error::Internal(format!("{event_id} was accepted but not kept")))?;
        let local = self.homeserver.local_destination().await?;
        let destinations = self
            .write
            .forward_pdu(self.room.nid, nid, &[local, except])
            .await?;
        self.destinations.extend(destinations);
        Ok(())
    }

    /// Runs steps 4 to 6 on `pdu` as its `arrival` asks and stores it.
    pub async fn receive(&mut self, pdu: Pdu, arrival: Arrival) -> Result<Receipt> {
        let outlier = arrival == Arrival::Outlier;
        // An outlier received again as part of the graph (it was fetched
        // for auth first, then turns up as a prev event or in /send) goes
        // through the checks and takes its place; anything else known is
        // done with.
        // Events of this batch first: they may not be in the table yet.
        let in_batch = self
            .event_ids
            .get(pdu.event_id())
            .and_then(|nid| self.events.get(nid))
            .map(|event| event.outlier);
        let standing = match in_batch {
            Some(outlier) => Some(outlier),
            None if self.new_room => None,
            None => self.write.event_standing(pdu.event_id().as_str()).await?,
        };
        let known_outlier = match standing {
            Some(is_outlier) if outlier || !is_outlier => return Ok(Receipt::AlreadyKnown),
            Some(_) => true,
            None => false,
        };
        let auth_events = self.events_by_id(pdu.auth_events()).await?;
        if auth_events.len() < pdu.auth_events().len() {
            let missing = missing(pdu.auth_events(), auth_events.iter());
            return Ok(Receipt::MissingAuthEvents(missing));
        }
        let empty = self.empty_root().await?;
        // Step 4: the event against the auth events it cites.
        if let Err(reason) = self.check_against_auth_events(&pdu, &auth_events).await? {
            return self.store_rejected(&pdu, empty, &reason).await;
        }
        if outlier {
            let stored = self
                .store_event(&pdu, empty, EventStatus::Outlier, None)
                .await?;
            self.remember(&stored, pdu, empty, EventStatus::Outlier);
            return Ok(Receipt::Outlier);
        }

        // Step 5: the state before the event, from its prev events. Only
        // the create event may have none.
        let is_create = pdu.event_type() == "m.room.create" && pdu.state_key() == Some("");
        if let (true, Arrival::Historical { position, .. }) = (is_create, &arrival) {
            // The beginning of the room's history: nothing before it.
            let allowed = self.authorize_at(&pdu, empty).await?;
            let status = match &allowed {
                Ok(()) => EventStatus::Historical(*position),
                Err(reason) => EventStatus::Rejected(reason),
            };
            let stored = self.place(&pdu, empty, status, known_outlier).await?;
            self.remember(&stored, pdu, empty, status);
            return Ok(allowed.map_or_else(Receipt::Rejected, |()| Receipt::Accepted));
        }
        if pdu.prev_events().is_empty() {
            if known_outlier {
                // The create event, known for auth already: it has no
                // state before it to be placed on.
                return Ok(Receipt::AlreadyKnown);
            }
            let reason = "the event has no prev events";
            return self.store_rejected(&pdu, empty, reason).await;
        }
        let given_state = match &arrival {
            Arrival::Live { state: Some(state) }
            | Arrival::Historical {
                state: Some(state), ..
            } => Some(state.as_slice()),
            _ => None,
        };
        let state_before = match given_state {
            Some(state) => match self.state_of(state).await? {
                Ok(root) => root,
                Err(missing) => return Ok(Receipt::MissingAuthEvents(missing)),
            },
            None => match self.state_after_prevs(&pdu).await? {
                Ok(root) => root,
                Err(missing) => return Ok(Receipt::MissingPrevEvents(missing)),
            },
        };
        if let Err(reason) = self.authorize_at(&pdu, state_before).await? {
            let status = EventStatus::Rejected(&reason);
            tracing::info!(event_id = %pdu.event_id(), %reason, "rejecting an event");
            let stored = self
                .place(&pdu, state_before, status, known_outlier)
                .await?;
            self.remember(&stored, pdu.clone(), state_before, status);
            return Ok(Receipt::Rejected(reason));
        }

        if let Arrival::Historical { position, .. } = arrival {
            let status = EventStatus::Historical(position);
            let stored = self
                .place(&pdu, state_before, status, known_outlier)
                .await?;
            self.remember(&stored, pdu.clone(), state_before, status);
            self.apply_pending_redactions(stored.nid, &stored.pending_redactions)
                .await?;
            if pdu.event_type() == "m.room.redaction" {
                self.apply_received_redaction(&pdu, stored.nid, state_before)
                    .await?;
            }
            return Ok(Receipt::Accepted);
        }

        // Step 6: soft failure, against the room's current state.
        if let Err(reason) = self.authorize_at(&pdu, self.head.state_root).await? {
            tracing::info!(event_id = %pdu.event_id(), %reason, "soft-failing an event");
            let stored = self
                .place(&pdu, state_before, EventStatus::SoftFailed, known_outlier)
                .await?;
            self.remember(&stored, pdu, state_before, EventStatus::SoftFailed);
            return Ok(Receipt::SoftFailed);
        }

        let stored = self
            .place(&pdu, state_before, EventStatus::Timeline, known_outlier)
            .await?;
        let state_after = match stored.state_key {
            Some(key) => {
                let changes = BTreeMap::from([(key, Some(stored.nid))]);
                self.write_state_changes(state_before, &changes).await?
            }
            None => state_before,
        };
        // Remembered first: the head's side effects read the event back.
        self.remember(&stored, pdu.clone(), state_before, EventStatus::Timeline);
        self.advance_head(&pdu, stored.nid, stored.depth, state_after)
            .await?;
        if pdu.event_type() == "m.room.redaction" {
            self.apply_received_redaction(&pdu, stored.nid, state_before)
                .await?;
        }
        self.apply_pending_redactions(stored.nid, &stored.pending_redactions)
            .await?;
        Ok(Receipt::Accepted)
    }

    /// The empty state, which outliers are stored with.
    pub(super) async fn empty_root(&mut self) -> Result<NodeNid> {
        if let Some(nid) = self.empty {
            return Ok(nid);
        }
        let empty = super::state_trie::Node::empty();
        let nid = self.write.insert_state_node(&empty).await?;
        self.nodes.local.insert(nid, Arc::new(empty));
        self.empty = Some(nid);
        Ok(nid)
    }

    /// Step 5's state before `pdu`: the resolution of the states after its
    /// prev events, or the prev events this server lacks (or knows only as
    /// outliers, without the state before them).
    async fn state_after_prevs(
        &mut self,
        pdu: &Pdu,
    ) -> Result<std::result::Result<NodeNid, Vec<EventId>>> {
        let prevs = self.events_by_id(pdu.prev_events()).await?;
        let with_state: Vec<&Arc<StoredEvent>> =
            prevs.iter().filter(|prev| !prev.outlier).collect();
        if with_state.len() < pdu.prev_events().len() {
            return Ok(Err(missing(pdu.prev_events(), with_state.into_iter())));
        }
        let mut roots = Vec::with_capacity(with_state.len());
        for prev in &with_state {
            roots.push(self.state_after(prev).await?);
        }
        Ok(Ok(self.resolve_roots(&roots).await?))
    }

    /// The state made of the events `ids` (rejected ones left out), or the
    /// events of it this server does not have.
    async fn state_of(
        &mut self,
        ids: &[EventId],
    ) -> Result<std::result::Result<NodeNid, Vec<EventId>>> {
        let events = self.events_by_id(ids).await?;
        if events.len() < ids.len() {
            return Ok(Err(missing(ids, events.iter())));
        }
        let mut changes: BTreeMap<StateKey, Option<EventNid>> = BTreeMap::new();
        for event in events.iter().filter(|event| !event.rejected) {
            if let Some(state_key) = event.pdu.state_key() {
                let key = self.state_key(event.pdu.event_type(), state_key).await?;
                changes.insert(key, Some(event.nid));
            }
        }
        let empty = self.empty_root().await?;
        Ok(Ok(self.write_state_changes(empty, &changes).await?))
    }

    /// The room state after `event`: its state before, plus the event
    /// itself when it is a state event that was not rejected.
    async fn state_after(&mut self, event: &StoredEvent) -> Result<NodeNid> {
        let Some(state_key) = event.pdu.state_key() else {
            return Ok(event.state_before);
        };
        if event.rejected {
            return Ok(event.state_before);
        }
        let key = self.state_key(event.pdu.event_type(), state_key).await?;
        let changes = BTreeMap::from([(key, Some(event.nid))]);
        self.write_state_changes(event.state_before, &changes).await
    }

    /// Whether the auth rules allow `pdu` in the state rooted at `root`.
    pub(super) async fn authorize_at(
        &mut self,
        pdu: &Pdu,
        root: NodeNid,
    ) -> Result<std::result::Result<(), String>> {
        let version = self.room.version.rules();
        let state = self.auth_state_at(pdu, root).await?;
        Ok(auth::authorize(pdu, version, &state).map_err(|error| error.to_string()))
    }

    /// The entries of the state rooted at `root` that the auth rules read
    /// for `pdu`, and the create event.
    async fn auth_state_at(
        &mut self,
        pdu: &Pdu,
        root: NodeNid,
    ) -> Result<HashMap<(String, String), Pdu>> {
        let version = self.room.version.rules();
        let mut pairs = auth_types_for_event(
            pdu.event_type(),
            pdu.state_key(),
            pdu.sender(),
            pdu.content(),
            version,
        );
        pairs.push(("m.room.create".to_owned(), String::new()));
        let borrowed: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(t, k)| (t.as_str(), k.as_str()))
            .collect();
        let keys = self
            .homeserver
            .rooms
            .interner
            .state_keys(&self.homeserver.store, &borrowed, false)
            .await?;
        let wanted: Vec<StateKey> = keys.iter().flatten().copied().collect();
        let found = self
            .nodes
            .lookup(&self.homeserver.store, root, &wanted)
            .await?;
        let nids: Vec<EventNid> = found.into_iter().flatten().collect();
        let events = self.events_by_nid(&nids).await?;
        Ok(events
            .iter()
            .map(|event| {
                let pdu = &event.pdu;
                (
                    (
                        pdu.event_type().to_owned(),
                        pdu.state_key().unwrap_or_default().to_owned(),
                    ),
                    pdu.clone(),
                )
            })
            .collect())
    }

    /// Applies a received redaction the room accepted. From room version 3
    /// on the auth rules let any member send one; it takes effect only on
    /// an event of this room sent from the redaction sender's own server,
    /// or when the sender may redact others' events in the state before
    /// it. One whose target is not here (yet) stays without effect.
    async fn apply_received_redaction(
        &mut self,
        pdu: &Pdu,
        redaction: EventNid,
        state_before: NodeNid,
    ) -> Result<()> {
        let Some(target) = pdu.redacts() else {
            return Ok(());
        };
        let Some(nid) = self.write.event_nid(target.as_str()).await? else {
            tracing::info!(event_id = %pdu.event_id(), %target, "a redaction of an event not here yet");
            self.write
                .add_pending_redaction(target.as_str(), redaction)
                .await?;
            return Ok(());
        };
        self.redact_if_allowed(pdu, redaction, state_before, nid)
            .await
    }

    /// Applies the redactions of `target` that arrived before it.
    async fn apply_pending_redactions(
        &mut self,
        target: EventNid,
        redactions: &[EventNid],
    ) -> Result<()> {
        for redaction in self.events_by_nid(redactions).await? {
            if redaction.rejected || redaction.outlier {
                continue;
            }
            let (pdu, state_before) = (redaction.pdu.clone(), redaction.state_before);
            self.redact_if_allowed(&pdu, redaction.nid, state_before, target)
                .await?;
        }
        Ok(())
    }

    /// Redacts `target` for the redaction `pdu` (stored as `redaction`,
    /// with the state before it at `state_before`), when the target is of
    /// this room and the redaction's sender may redact it.
    async fn redact_if_allowed(
        &mut self,
        pdu: &Pdu,
        redaction: EventNid,
        state_before: NodeNid,
        target: EventNid,
    ) -> Result<()> {
        let target_event = self.events_by_nid(&[target]).await?.remove(0);
        if target_event.room_nid != self.room.nid {
            return Ok(());
        }
        let allowed = target_event.pdu.sender().server_name() == pdu.sender().server_name() || {
            let state = self.auth_state_at(pdu, state_before).await?;
            let key = |t: &str| (t.to_owned(), String::new());
            let (levels, creators) = power_levels(
                state.get(&key("m.room.create")),
                state.get(&key("m.room.power_levels")),
                self.room.version.rules(),
            )?;
            levels
                .user_level(pdu.sender(), &creators)
                .at_least(levels.redact())
        };
        if allowed {
            self.redact(target, redaction).await?;
        } else {
            tracing::info!(event_id = %pdu.event_id(), target = %target_event.pdu.event_id(), "a redaction without effect: its sender may not redact the event");
        }
        Ok(())
    }

    /// Step 4: the auth events must be the ones the rules select (no
    /// duplicates, none rejected, of the room) and must allow the event.
    async fn check_against_auth_events(
        &mut self,
        pdu: &Pdu,
        auth_events: &[Arc<StoredEvent>],
    ) -> Result<std::result::Result<(), String>> {
        let version = self.room.version.rules();
        let expected: HashSet<(String, String)> = auth_types_for_event(
            pdu.event_type(),
            pdu.state_key(),
            pdu.sender(),
            pdu.content(),
            version,
        )
        .into_iter()
        .collect();
        let mut state: HashMap<(String, String), Pdu> = HashMap::new();
        for event in auth_events {
            let key = (
                event.pdu.event_type().to_owned(),
                event.pdu.state_key().unwrap_or_default().to_owned(),
            );
            if event.rejected {
                return Ok(Err(format!(
                    "auth event {} was rejected",
                    event.pdu.event_id()
                )));
            }
            if event.pdu.room_id() != pdu.room_id() {
                return Ok(Err(format!(
                    "auth event {} belongs to another room",
                    event.pdu.event_id()
                )));
            }
            if event.pdu.state_key().is_none() || !expected.contains(&key) {
                return Ok(Err(format!(
                    "auth event {} is not one the auth rules select",
                    event.pdu.event_id()
                )));
            }
            if state.insert(key, event.pdu.clone()).is_some() {
                return Ok(Err("two auth events of the same type and state key".into()));
            }
        }
        if pdu.event_type() != "m.room.create" && !state.contains_key(&create_key()) {
            // Version 12 events do not cite the create event; the rules
            // still read it.
            let create = self.room_create_event().await?;
            state.insert(create_key(), create);
        }
        Ok(auth::authorize(pdu, version, &state).map_err(|error| error.to_string()))
    }

    /// The room's create event: from its current state, or, while the
    /// state is still being put together (a join through another server),
    /// from its ID, which version 12 room IDs are made of.
    async fn room_create_event(&mut self) -> Result<Pdu> {
        let key = self.state_key("m.room.create", "").await?;
        let found = self
            .nodes
            .lookup(&self.homeserver.store, self.head.state_root, &[key])
            .await?;
        if let Some(nid) = found.into_iter().flatten().next() {
            return Ok(self.events_by_nid(&[nid]).await?.remove(0).pdu.clone());
        }
        let room_id = self.room.room_id.as_str();
        let create_id = room_id
            .strip_prefix('!')
            .filter(|hash| !hash.contains(':'))
            .and_then(|hash| EventId::parse(&format!("${hash}")).ok());
        if let Some(create_id) = create_id {
            if let Some(create) = self.events_by_id(&[create_id]).await?.pop() {
                return Ok(create.pdu.clone());
            }
        }
        Err(Error::Internal(format!(
            "room {room_id} has no create event"
        )))
    }

    /// Stores an event past step 4: a new row, or the outlier row it had,
    /// given its place in the graph. Remembered by the caller.
    async fn place(
        &mut self,
        pdu: &Pdu,
        state_before: NodeNid,
        status: EventStatus<'_>,
        known_outlier: bool,
    ) -> Result<StoredRow> {
        if !known_outlier {
            return self.store_event(pdu, state_before, status, None).await;
        }
        self.flush_outliers().await?;
        let (rejected, soft_failed) = match status {
            EventStatus::Rejected(reason) => (Some(reason), false),
            EventStatus::SoftFailed => (None, true),
            _ => (None, false),
        };
        let in_timeline = rejected.is_none() && !soft_failed;
        let historical_position = match status {
            EventStatus::Historical(position) => Some(position),
            _ => None,
        };
        let (nid, stream_ordering, pending_redactions) = self
            .write
            .promote_outlier(
                pdu.event_id().as_str(),
                state_before,
                (in_timeline, historical_position),
                rejected,
                soft_failed,
            )
            .await?;
        if let (Some(position), None) = (stream_ordering, historical_position) {
            self.stream.allocated(position);
        }
        let state_key = match pdu.state_key() {
            Some(key) => Some(self.state_key(pdu.event_type(), key).await?),
            None => None,
        };
        Ok(StoredRow {
            nid,
            stream_ordering,
            depth: i64::try_from(pdu.depth()).map_err(|e| Error::Internal(e.to_string()))?,
            state_key,
            pending_redactions,
        })
    }

    async fn store_rejected(
        &mut self,
        pdu: &Pdu,
        state_before: NodeNid,
        reason: &str,
    ) -> Result<Receipt> {
        tracing::info!(event_id = %pdu.event_id(), %reason, "rejecting an event");
        let status = EventStatus::Rejected(reason);
        let stored = self.store_event(pdu, state_before, status, None).await?;
        self.remember(&stored, pdu.clone(), state_before, status);
        Ok(Receipt::Rejected(reason.to_owned()))
    }

    /// Moves the room's head past an accepted event: it replaces its prev
    /// events among the forward extremities, and the room's current state
    /// becomes the resolution of the state after it with the current one
    /// (or simply the state after it, when it follows every extremity).
    async fn advance_head(
        &mut self,
        pdu: &Pdu,
        nid: EventNid,
        depth: i64,
        state_after: NodeNid,
    ) -> Result<()> {
        let prevs: HashSet<&EventId> = pdu.prev_events().iter().collect();
        let follows_all = self
            .head
            .extremities
            .iter()
            .all(|(_, id)| prevs.contains(id));
        let old_root = self.head.state_root;
        let new_root = if follows_all {
            state_after
        } else {
            self.resolve_roots(&[old_root, state_after]).await?
        };
        self.head.extremities.retain(|(_, id)| !prevs.contains(id));
        self.head.extremities.push((nid, pdu.event_id().clone()));
        self.head.max_depth = self.head.max_depth.max(depth);
        self.head.state_root = new_root;
        self.apply_changed_state(old_root, new_root).await
    }

    /// Applies the side effects of every state entry that changed between
    /// two states of the room (see `apply_state_effects`).
    pub(super) async fn apply_changed_state(&mut self, old: NodeNid, new: NodeNid) -> Result<()> {
        if old == new {
            return Ok(());
        }
        let changed = self.nodes.changed(&self.homeserver.store, new, old).await?;
        let nids: Vec<EventNid> = changed.iter().map(|(_, nid)| *nid).collect();
        let events = self.events_by_nid(&nids).await?;
        // Member events, most of a room's state, are written together: a
        // join through another server brings thousands.
        let mut members = Vec::new();
        for ((key, nid), event) in changed.into_iter().zip(events) {
            if event.pdu.event_type() == "m.room.member" {
                members.push((event, key));
            } else {
                let pdu = event.pdu.clone();
                self.apply_state_effects(&pdu, nid, key, false).await?;
            }
        }
        self.apply_member_changes(&members).await
    }
}

/// The IDs among `wanted` that none of `found` has.
fn missing<'e>(
    wanted: &[EventId],
    found: impl Iterator<Item = &'e Arc<StoredEvent>>,
) -> Vec<EventId> {
    let known: HashSet<&EventId> = found.map(|event| event.pdu.event_id()).collect();
    wanted
        .iter()
        .filter(|id| !known.contains(id))
        .cloned()
        .collect()
}

fn create_key() -> (String, String) {
    ("m.room.create".to_owned(), String::new())
}
