//! Rooms and their events: the local half of the event pipeline
//! (DESIGN.md), and what the client-server API does with rooms.

mod adopt;
mod aggregations;
mod build;
mod create;
mod directory;
mod events;
mod membership;
mod out_of_band;
mod receipts;
mod receive;
mod relations;
mod reports;
mod resolve;
mod search;
mod send;
mod state;
pub mod state_trie;
mod stripped;
mod timeline;
mod typing;
mod upgrade;
mod user_directory;
mod visibility;
mod writer;

use std::num::NonZeroUsize;
use std::sync::Arc;

use hanse_protocol::identifiers::{RoomId, UserId};
use hanse_protocol::pdu::Pdu;
use hanse_protocol::power_levels::{room_creators, PowerLevels};
use hanse_protocol::room_versions::{RoomVersion, RoomVersionId};

pub use adopt::JoinedRoom;
pub(crate) use build::{event_skeleton, relation, RoomRef};
pub use build::{Appended, ClientTransaction, EventDraft};
pub(crate) use create::object;
pub use create::{CreateRoom, Preset, CREATABLE};
pub use directory::{PublicRooms, PublicRoomsQuery};
pub use events::StoredEvent;
pub use membership::MembershipChange;
pub(crate) use out_of_band::{OutOfBand, OutOfBandMembership};
pub use receive::{Arrival, Receipt};
pub use relations::{Relations, RelationsQuery};
pub use search::{ContextQuery, SearchQuery};
pub(crate) use stripped::stripped;
pub(crate) use timeline::{token, Walk};
pub use timeline::{Context, Messages, MessagesQuery, MAX_MESSAGES_LIMIT};
pub(crate) use visibility::Reader;

use events::EventCache;
use state::{Interner, Layered, NodeCache};
use state_trie::{EventNid, NodeNid};
use writer::Writers;

use crate::store::MembershipRow;
use crate::{Error, Homeserver, Result};

/// The room machinery's shared parts: caches and writer queues.
pub struct Rooms {
    nodes: NodeCache,
    events: EventCache,
    interner: Interner,
    writers: Writers,
    /// Room IDs to their number and version, which never change: every
    /// request naming a room looks it up.
    refs: std::sync::Mutex<lru::LruCache<RoomId, RoomRef>>,
}

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rooms")
    }
}

/// Sizes of the caches, in entries. A parsed event takes about 6 KB, so
/// the event cache stays under 60 MB.
const NODE_CACHE: usize = 200_000;
const EVENT_CACHE: usize = 10_000;
const KEY_CACHE: usize = 200_000;
const ROOM_CACHE: usize = 10_000;

impl Rooms {
    /// Room machinery for a store of at most `connections` connections.
    pub fn new(connections: usize) -> Self {
        let size = |n| NonZeroUsize::new(n).expect("cache sizes are not zero");
        Self {
            nodes: NodeCache::new(size(NODE_CACHE)),
            events: EventCache::new(size(EVENT_CACHE)),
            interner: Interner::new(size(KEY_CACHE)),
            writers: Writers::new(connections),
            refs: std::sync::Mutex::new(lru::LruCache::new(size(ROOM_CACHE))),
        }
    }
}

impl Rooms {
    fn cached_ref<T>(&self, f: impl FnOnce(&mut lru::LruCache<RoomId, RoomRef>) -> T) -> T {
        f(&mut crate::lock(&self.refs))
    }
}

impl Homeserver {
    /// The room, or M_NOT_FOUND.
    pub(crate) async fn room(&self, room_id: &RoomId) -> Result<RoomRef> {
        let cached = self.rooms.cached_ref(|refs| refs.get(room_id).cloned());
        if let Some(room) = cached {
            return Ok(room);
        }
        let row = self
            .store
            .room_by_id(room_id.as_str())
            .await?
            .ok_or_else(|| Error::NotFound(format!("unknown room {room_id}")))?;
        let version: RoomVersionId = row
            .room_version
            .parse()
            .map_err(|_| Error::Internal(format!("room {room_id} has an unknown version")))?;
        let room = RoomRef {
            nid: row.room_nid,
            room_id: room_id.clone(),
            version,
        };
        self.rooms
            .cached_ref(|refs| refs.put(room_id.clone(), room.clone()));
        Ok(room)
    }

    /// The room of a membership row.
    pub(crate) async fn room_of(&self, row: &MembershipRow) -> Result<RoomRef> {
        let room_id = RoomId::parse(&row.room_id)
            .map_err(|e| Error::Internal(format!("stored room ID {}: {e}", row.room_id)))?;
        self.room(&room_id).await
    }

    /// The events at `pairs` of the state rooted at `root` (`None` where
    /// the state has no such event).
    pub(crate) async fn state_at(
        &self,
        root: NodeNid,
        pairs: &[(&str, &str)],
    ) -> Result<Vec<Option<Arc<StoredEvent>>>> {
        let keys = self
            .rooms
            .interner
            .state_keys(&self.store, pairs, false)
            .await?;
        let wanted: Vec<_> = keys.iter().flatten().copied().collect();
        let mut nodes = Layered::new(&self.rooms.nodes);
        let found = nodes.lookup(&self.store, root, &wanted).await?;
        let nids: Vec<EventNid> = found.iter().flatten().copied().collect();
        let mut events = self.events(&nids).await?.into_iter();
        let mut found = found.into_iter();
        Ok(keys
            .iter()
            .map(|key| {
                key.and_then(|_| found.next().flatten())
                    .map(|_| events.next().expect("one event per found number"))
            })
            .collect())
    }

    /// One state event of the state rooted at `root`.
    pub(crate) async fn state_event_at(
        &self,
        root: NodeNid,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<Arc<StoredEvent>>> {
        Ok(self
            .state_at(root, &[(event_type, state_key)])
            .await?
            .pop()
            .flatten())
    }

    /// Every event of the state rooted at `root`.
    pub(crate) async fn full_state_at(&self, root: NodeNid) -> Result<Vec<Arc<StoredEvent>>> {
        let mut nodes = Layered::new(&self.rooms.nodes);
        let entries = nodes.entries(&self.store, root).await?;
        let nids: Vec<EventNid> = entries.iter().map(|(_, nid)| *nid).collect();
        self.events(&nids).await
    }

    /// The events of the state rooted at `new` that the state rooted at
    /// `old` does not hold.
    pub(crate) async fn state_changes(
        &self,
        new: NodeNid,
        old: NodeNid,
    ) -> Result<Vec<Arc<StoredEvent>>> {
        let mut nodes = Layered::new(&self.rooms.nodes);
        let entries = nodes.changed(&self.store, new, old).await?;
        let nids: Vec<EventNid> = entries.iter().map(|(_, nid)| *nid).collect();
        self.events(&nids).await
    }

    /// The room state right after `event`.
    pub(crate) async fn state_after(
        &self,
        event: Arc<StoredEvent>,
    ) -> Result<Vec<Arc<StoredEvent>>> {
        let mut state = self.full_state_at(event.state_before).await?;
        if let Some(key) = event.pdu.state_key() {
            state.retain(|e| {
                !(e.pdu.event_type() == event.pdu.event_type() && e.pdu.state_key() == Some(key))
            });
            state.push(event);
        }
        Ok(state)
    }

    /// The membership of `user_id` in the state rooted at `root`.
    pub(crate) async fn membership_at(
        &self,
        root: NodeNid,
        user_id: &UserId,
    ) -> Result<Option<String>> {
        Ok(self
            .state_event_at(root, "m.room.member", user_id.as_str())
            .await?
            .and_then(|event| membership_of(&event)))
    }

    /// The room's power levels and creators in the state rooted at `root`.
    pub(crate) async fn power_levels_at(
        &self,
        room: &RoomRef,
        root: NodeNid,
    ) -> Result<(PowerLevels, Vec<UserId>)> {
        let state = self
            .state_at(root, &[("m.room.create", ""), ("m.room.power_levels", "")])
            .await?;
        power_levels(
            state[0].as_ref().map(|event| &event.pdu),
            state[1].as_ref().map(|event| &event.pdu),
            room.version.rules(),
        )
    }

    /// The room's current state root.
    pub(crate) async fn current_root(&self, room: &RoomRef) -> Result<NodeNid> {
        Ok(self.store.room_state_root(room.nid).await?)
    }
}

/// The room's power levels and creators, from its create and power levels
/// events (the defaults apply while there are no power levels yet).
pub(crate) fn power_levels(
    create: Option<&Pdu>,
    power_levels: Option<&Pdu>,
    version: &RoomVersion,
) -> Result<(PowerLevels, Vec<UserId>)> {
    let creators = create
        .map(|create| room_creators(create, version))
        .unwrap_or_default();
    let levels = match power_levels {
        Some(event) => PowerLevels::from_content(event.content(), version)
            .map_err(|e| Error::Internal(format!("stored power levels: {e}")))?,
        None => PowerLevels::initial(&creators, version),
    };
    Ok((levels, creators))
}

/// The `membership` of a member event's content.
pub(crate) fn membership_of(event: &StoredEvent) -> Option<String> {
    event
        .pdu
        .content()
        .get("membership")
        .and_then(|value| value.as_str())
        .map(str::to_owned)
}
