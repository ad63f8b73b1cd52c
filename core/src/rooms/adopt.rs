//! Joining a room through another server: the room arrives whole (its
//! state before the join and the auth chain, from send_join) and is stored
//! here for the first time, in one transaction with the join.

use std::collections::{BTreeMap, HashMap};

use hanse_protocol::identifiers::{EventId, RoomId};
use hanse_protocol::pdu::Pdu;
use hanse_protocol::room_versions::RoomVersionId;

use super::build::{Appended, Batch, EventStatus, RoomRef};
use super::receive::{Arrival, Receipt};
use super::state_trie::{EventNid, StateKey};
use crate::clock::now_ms;
use crate::{Error, Homeserver, Result};

/// What send_join brought, each event past steps 1–3 of the checks.
#[derive(Debug, Clone)]
pub struct JoinedRoom {
    pub version: RoomVersionId,
    pub room_id: RoomId,
    /// The room's state before the join.
    pub state: Vec<Pdu>,
    pub auth_chain: Vec<Pdu>,
    pub join: Pdu,
}

impl Homeserver {
    /// Stores a room joined through another server: its state and auth
    /// chain as outliers (each checked against its own auth events), the
    /// state before the join from them, and the join itself, which must be
    /// allowed by that state.
    ///
    /// A room known here already (one this server left, or one a local
    /// user was invited to from elsewhere) keeps its events; its state and
    /// head become those the join brought.
    pub(crate) async fn adopt_room(&self, joined: JoinedRoom) -> Result<Appended> {
        let (mut batch, known_state) = match self.room(&joined.room_id).await {
            Ok(room) if room.version != joined.version => {
                return Err(Error::Forbidden(format!(
                    "{} is of version {} here, but the server joined through says {}",
                    joined.room_id,
                    room.version.as_str(),
                    joined.version.as_str()
                )));
            }
            Ok(room) => {
                let batch = Batch::open(self, room).await?;
                let known_state = batch.head.state_root;
                (batch, known_state)
            }
            Err(Error::NotFound(_)) => {
                let placeholder = RoomRef {
                    nid: 0,
                    room_id: joined.room_id.clone(),
                    version: joined.version,
                };
                let (mut batch, empty) = Batch::on_empty_room(self, placeholder).await?;
                batch.room.nid = batch
                    .write
                    .insert_room(
                        joined.room_id.as_str(),
                        joined.version.as_str(),
                        empty,
                        now_ms(),
                    )
                    .await?;
                (batch, empty)
            }
            Err(error) => return Err(error),
        };
        let empty = batch.empty_root().await?;

        let brought = joined.auth_chain.iter().chain(&joined.state);
        batch
            .intern_names(brought.chain(std::iter::once(&joined.join)))
            .await?;
        let mut events: BTreeMap<(u64, EventId), Pdu> = BTreeMap::new();
        for pdu in joined.auth_chain.iter().chain(&joined.state) {
            events.insert((pdu.depth(), pdu.event_id().clone()), pdu.clone());
        }
        batch.defer_outliers();
        for pdu in events.into_values() {
            match batch.receive(pdu.clone(), Arrival::Outlier).await? {
                Receipt::Outlier | Receipt::AlreadyKnown => {}
                other => tracing::info!(
                    event_id = %pdu.event_id(), receipt = ?other,
                    "an event of a joined room's state is not used"
                ),
            }
        }

        batch.flush_outliers().await?;
        let ids: Vec<EventId> = joined
            .state
            .iter()
            .map(|pdu| pdu.event_id().clone())
            .collect();
        let stored: HashMap<EventId, EventNid> = batch
            .events_by_id(&ids)
            .await?
            .into_iter()
            .filter(|event| !event.rejected)
            .map(|event| (event.pdu.event_id().clone(), event.nid))
            .collect();
        let mut changes: BTreeMap<StateKey, Option<EventNid>> = BTreeMap::new();
        for pdu in &joined.state {
            let (Some(state_key), Some(nid)) = (pdu.state_key(), stored.get(pdu.event_id())) else {
                continue;
            };
            let key = batch.state_key(pdu.event_type(), state_key).await?;
            changes.insert(key, Some(*nid));
        }
        let state_before = batch.write_state_changes(empty, &changes).await?;

        let join = joined.join;
        if let Err(reason) = batch.authorize_at(&join, state_before).await? {
            return Err(Error::Forbidden(format!(
                "the room's state does not allow the join: {reason}"
            )));
        }
        let row = batch
            .store_event(&join, state_before, EventStatus::Timeline, None)
            .await?;
        let key = row
            .state_key
            .ok_or_else(|| Error::Internal("a join without a state key".into()))?;
        let state_after = batch
            .write_state_changes(state_before, &BTreeMap::from([(key, Some(row.nid))]))
            .await?;
        batch.head.state_root = state_after;
        batch.head.extremities = vec![(row.nid, join.event_id().clone())];
        batch.head.max_depth = row.depth;
        let appended = Appended {
            event_id: join.event_id().clone(),
            stream_ordering: row
                .stream_ordering
                .expect("a timeline event has a position"),
        };
        // Remembered first: the state's side effects read the join back.
        batch.remember(&row, join, state_before, EventStatus::Timeline);
        batch.apply_changed_state(known_state, state_after).await?;
        batch.commit().await?;
        Ok(appended)
    }
}
