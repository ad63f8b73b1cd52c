//! The client side of memberships in rooms this server is not in:
//! knocking through another server, and leaving again (rejecting an
//! invite from another server, retracting a knock) through the server the
//! invite came from or the knock went through.

use hanse_protocol::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use hanse_protocol::identifiers::{RoomId, ServerName, UserId};
use hanse_protocol::pdu::Pdu;
use serde_json::Value;

use super::resident::RemoteMembership;
use crate::accounts::Session;
use crate::rate_limits::Action;
use crate::rooms::{event_skeleton, EventDraft, OutOfBand, OutOfBandMembership, RoomRef};
use crate::{Error, Homeserver, Result};

impl Homeserver {
    /// Knocks on `room_id`, a room this server is not in, through one of
    /// `via` or the server named in the room ID; the knock and the room's
    /// stripped state become the user's membership here.
    pub async fn knock_remote(
        &self,
        session: &Session,
        room_id: &RoomId,
        via: &[ServerName],
        reason: Option<String>,
    ) -> Result<()> {
        self.rate_limits
            .check(Action::Join, session.user_id.as_str())?;
        let user = &session.user_id;
        let mut content = crate::rooms::object(serde_json::json!({ "membership": "knock" }));
        self.add_profile(&mut content, user).await?;
        if let Some(reason) = reason {
            content.insert("reason".into(), CanonicalJsonValue::String(reason));
        }
        let mut last_error = None;
        for server in self.servers_to_go_through(room_id, via)? {
            let (version, knock, answer) = match self
                .handshake(
                    &server,
                    room_id,
                    user,
                    RemoteMembership::Knock,
                    content.clone(),
                )
                .await
            {
                Ok(done) => done,
                Err(error @ Error::Forbidden(_)) => return Err(error),
                Err(error) => {
                    tracing::info!(%room_id, %server, %error, "knocking through a server failed");
                    last_error = Some(error);
                    continue;
                }
            };
            let entries = answer
                .get("knock_room_state")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let stripped_state = self
                .received_stripped_state(&version, room_id, entries, false)
                .await?;
            self.store_out_of_band(OutOfBand {
                version,
                event: knock,
                stripped_state,
                through: server.clone(),
            })
            .await?;
            tracing::info!(%room_id, %server, "knocked on a room through another server");
            return Ok(());
        }
        Err(last_error.expect("servers_to_go_through names at least one server"))
    }

    /// Leaves a room this server is not in, where the session's user is
    /// invited (from another server) or knocking: a leave made through the
    /// server the membership came from, or, when that server cannot make
    /// one, a leave made here that only this server knows of, so the
    /// invite or knock goes away all the same.
    pub(crate) async fn leave_out_of_band(
        &self,
        session: &Session,
        room: &RoomRef,
        member: OutOfBandMembership,
        reason: Option<String>,
    ) -> Result<()> {
        let user = &session.user_id;
        let mut content = crate::rooms::object(serde_json::json!({ "membership": "leave" }));
        if let Some(reason) = reason {
            content.insert("reason".into(), CanonicalJsonValue::String(reason));
        }
        let through = member.through.clone();
        let leave = match self
            .handshake(
                &through,
                &room.room_id,
                user,
                RemoteMembership::Leave,
                content.clone(),
            )
            .await
        {
            Ok((_, leave, _)) => leave,
            Err(error) => {
                tracing::info!(
                    room_id = %room.room_id, server = %through, %error,
                    "leaving through the other server failed; leaving here only"
                );
                self.local_leave(room, user, &member, content).await?
            }
        };
        self.store_out_of_band(OutOfBand {
            version: room.version,
            event: leave,
            stripped_state: member.stripped_state,
            through,
        })
        .await?;
        tracing::info!(room_id = %room.room_id, %user, membership = %member.membership, "left a room on another server");
        Ok(())
    }

    /// A leave that follows the user's out-of-band invite or knock and
    /// cites it alone: this server's record that the user is out, which
    /// no other server needs to accept.
    async fn local_leave(
        &self,
        room: &RoomRef,
        user: &UserId,
        member: &OutOfBandMembership,
        content: CanonicalJsonObject,
    ) -> Result<Pdu> {
        let rules = room.version.rules();
        let previous = self
            .events(&[member.event_nid])
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Internal("an out-of-band member event is not stored".into()))?;
        let draft = EventDraft::state("m.room.member", user.as_str(), user, content);
        let cited = [previous.pdu.event_id()];
        let depth = i64::try_from(previous.pdu.depth())
            .map_err(|e| Error::Internal(e.to_string()))?
            .saturating_add(1);
        let mut event = event_skeleton(&draft, Some(&room.room_id), &cited, &cited, depth)?;
        self.identity
            .sign_event(&mut event, rules)
            .map_err(|e| Error::Internal(format!("signing a leave: {e}")))?;
        Pdu::from_canonical(event, rules).map_err(|e| Error::Internal(e.to_string()))
    }
}
