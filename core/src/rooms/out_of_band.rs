//! Member events of local users in rooms this server is not in: an invite
//! another server sent, a knock sent through another server, and the
//! leave that rejects or retracts either. Such an event is in no room
//! state here; it is stored with a stream position (so the user's /sync
//! sees it) and a membership row (so it counts as the user's membership),
//! beside the room's stripped state as the other server described it.

use hanse_protocol::canonical_json::CanonicalJsonValue;
use hanse_protocol::identifiers::{RoomId, ServerName, UserId};
use hanse_protocol::pdu::Pdu;
use hanse_protocol::room_versions::RoomVersionId;
use serde_json::Value;

use super::build::{Batch, EventStatus, RoomRef};
use crate::clock::now_ms;
use crate::store::OutOfBandRow;
use crate::{Error, Homeserver, Result};

/// A member event of a local user in a room this server is not in, past
/// steps 1–3 of the checks.
#[derive(Debug, Clone)]
pub(crate) struct OutOfBand {
    pub version: RoomVersionId,
    pub event: Pdu,
    /// The room's name, topic and the like, as stripped state events.
    pub stripped_state: Vec<Value>,
    /// The server that can make a leave event for the user.
    pub through: ServerName,
}

/// A local user's current membership of a room this server is not in.
#[derive(Debug, Clone)]
pub(crate) struct OutOfBandMembership {
    pub membership: String,
    pub event_nid: i64,
    pub stripped_state: Vec<Value>,
    pub through: ServerName,
}

impl Homeserver {
    /// The user's membership of `room_id` with the room known here, when
    /// that membership is out of band.
    pub(crate) async fn out_of_band_membership(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Option<(RoomRef, OutOfBandMembership)>> {
        let room = match self.room(room_id).await {
            Ok(room) => room,
            Err(Error::NotFound(_)) => return Ok(None),
            Err(error) => return Err(error),
        };
        let Some(row) = self.store.membership(room.nid, user_id.as_str()).await? else {
            return Ok(None);
        };
        let Some(out_of_band) = self.store.out_of_band(row.event_nid).await? else {
            return Ok(None);
        };
        let corrupt = |what: String| Error::Internal(format!("out-of-band membership: {what}"));
        let member = OutOfBandMembership {
            membership: row.membership,
            event_nid: row.event_nid,
            stripped_state: serde_json::from_str(&out_of_band.stripped_state)
                .map_err(|e| corrupt(e.to_string()))?,
            through: ServerName::parse(&out_of_band.through).map_err(|e| corrupt(e.to_string()))?,
        };
        Ok(Some((room, member)))
    }

    /// Stores `member` as its user's membership of the room, creating the
    /// room's row if this server has never known the room.
    pub(crate) async fn store_out_of_band(&self, member: OutOfBand) -> Result<()> {
        let room_id = member.event.room_id().clone();
        let mut batch = match self.room(&room_id).await {
            Ok(room) if room.version != member.version => {
                return Err(Error::Forbidden(format!(
                    "{room_id} is of version {} here, not {}",
                    room.version.as_str(),
                    member.version.as_str()
                )));
            }
            Ok(room) => Batch::open(self, room).await?,
            Err(Error::NotFound(_)) => {
                let placeholder = RoomRef {
                    nid: 0,
                    room_id: room_id.clone(),
                    version: member.version,
                };
                let (mut batch, empty) = Batch::on_empty_room(self, placeholder).await?;
                batch.room.nid = batch
                    .write
                    .insert_room(room_id.as_str(), member.version.as_str(), empty, now_ms())
                    .await?;
                batch
            }
            Err(error) => return Err(error),
        };
        let event = member.event;
        let membership = event
            .content()
            .get("membership")
            .and_then(CanonicalJsonValue::as_str)
            .ok_or_else(|| {
                Error::Internal("an out-of-band member event without membership".into())
            })?
            .to_owned();
        // The room's state here is empty or stale: the event follows it in
        // name only.
        let state_before = batch.head.state_root;
        let row = batch
            .store_event(&event, state_before, EventStatus::OutOfBand, None)
            .await?;
        let key = row
            .state_key
            .ok_or_else(|| Error::Internal("a member event without a state key".into()))?;
        batch
            .write
            .set_membership(batch.room.nid, key.state_key_nid, &membership, row.nid)
            .await?;
        let stripped_state = serde_json::to_string(&member.stripped_state)
            .map_err(|e| Error::Internal(e.to_string()))?;
        batch
            .write
            .insert_out_of_band(
                row.nid,
                &OutOfBandRow {
                    stripped_state,
                    through: member.through.as_str().to_owned(),
                },
            )
            .await?;
        batch.remember(&row, event, state_before, EventStatus::OutOfBand);
        batch.commit().await
    }
}
