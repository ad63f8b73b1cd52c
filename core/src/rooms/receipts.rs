//! Read receipts and the read marker (POST /rooms/{roomId}/receipt/...,
//! POST /rooms/{roomId}/read_markers): how far a user has read, public
//! (`m.read`), private (`m.read.private`), or as the marker their clients
//! share (`m.fully_read`, kept as room account data).

use hanse_protocol::identifiers::{EventId, RoomId};

use super::build::{relation, RoomRef};
use crate::accounts::Session;
use crate::clock::now_ms;
use crate::store::NewReceipt;
use crate::streams::Topic;
use crate::{Error, Homeserver, Result};

/// The thread ID of the main timeline (events in no thread).
const MAIN_TIMELINE: &str = "main";

impl Homeserver {
    /// Records that the session's user has read up to `event_id`
    /// (`receipt_type` one of `m.read`, `m.read.private`, `m.fully_read`),
    /// in a thread when `thread_id` is given.
    pub async fn send_receipt(
        &self,
        session: &Session,
        room_id: &RoomId,
        receipt_type: &str,
        event_id: &EventId,
        thread_id: Option<&str>,
    ) -> Result<()> {
        if !matches!(receipt_type, "m.read" | "m.read.private" | "m.fully_read") {
            return Err(Error::InvalidParam(format!(
                "unknown receipt type {receipt_type:?}"
            )));
        }
        let user = &session.user_id;
        let (room, _, event) = self.visible_event(user, room_id, event_id).await?;
        let root = self.current_root(&room).await?;
        if self.membership_at(root, user).await?.as_deref() != Some("join") {
            return Err(Error::Forbidden("you are not in this room".into()));
        }
        if receipt_type == "m.fully_read" {
            if thread_id.is_some() {
                return Err(Error::InvalidParam(
                    "the read marker (m.fully_read) cannot be threaded".into(),
                ));
            }
            let content = serde_json::json!({ "event_id": event_id.as_str() }).to_string();
            return self
                .write_account_data(user, Some(room_id), "m.fully_read", |_| content)
                .await;
        }
        if let Some(thread) = thread_id {
            // The event's own thread: the root of its m.thread relation,
            // else the main timeline (thread roots belong to it too).
            let own_thread = match relation(event.pdu.content()) {
                Some((root, "m.thread")) => root,
                _ => MAIN_TIMELINE,
            };
            let is_root = thread == event_id.as_str();
            if thread.is_empty() || (thread != own_thread && !is_root) {
                return Err(Error::InvalidParam(format!(
                    "{event_id} is not in the thread {thread:?}"
                )));
            }
        }
        let thread = thread_id.unwrap_or_default();
        self.record_receipt(
            &room,
            user.as_str(),
            receipt_type,
            thread,
            event.nid,
            now_ms(),
        )
        .await?;
        if receipt_type == "m.read" {
            self.send_receipt_edu(&room, user, event_id, thread_id, now_ms())
                .await?;
        }
        Ok(())
    }

    /// Stores a receipt and wakes who may see it; a receipt that does not
    /// move changes nothing.
    pub(crate) async fn record_receipt(
        &self,
        room: &RoomRef,
        user: &str,
        receipt_type: &str,
        thread_id: &str,
        event_nid: i64,
        ts: i64,
    ) -> Result<()> {
        let mut ticket = self.streams.receipts.begin(&self.store).await?;
        let moved = self
            .store
            .put_receipt(&NewReceipt {
                room_nid: room.nid,
                user_id: user,
                receipt_type,
                thread_id,
                event_nid,
                ts,
            })
            .await?;
        if let Some(position) = moved {
            ticket.allocated(position);
            // A private receipt is for its owner's eyes only.
            ticket.committed([if receipt_type == "m.read.private" {
                Topic::User(user.to_owned())
            } else {
                Topic::Room(room.nid)
            }]);
        }
        Ok(())
    }
}
