//! EDUs: what other servers say that is not part of a room's graph.
//! Typing notifications and public read receipts travel both ways; other
//! kinds are logged and dropped until their features cross servers.

use std::time::Duration;

use hanse_protocol::identifiers::{EventId, RoomId, ServerName, UserId};
use serde_json::{json, Value};

use crate::rooms::RoomRef;
use crate::{Homeserver, Result};

/// How long a remote user's typing lasts unless renewed: servers resend
/// while their user types, and the spec leaves the timeout to receivers.
const REMOTE_TYPING: Duration = Duration::from_secs(30);

impl Homeserver {
    /// Takes in the EDUs of a transaction from `origin`. A malformed EDU
    /// or one about a user of another server is dropped; it never fails
    /// the transaction.
    pub(crate) async fn receive_edus(&self, origin: &ServerName, edus: &[Value]) -> Result<()> {
        for edu in edus {
            match edu.get("edu_type").and_then(Value::as_str) {
                Some("m.typing") => self.receive_typing(origin, &edu["content"]).await?,
                Some("m.receipt") => self.receive_receipts(origin, &edu["content"]).await?,
                Some(other) => tracing::debug!(%origin, edu_type = other, "EDU not handled"),
                None => tracing::debug!(%origin, "an EDU without edu_type"),
            }
        }
        Ok(())
    }

    async fn receive_typing(&self, origin: &ServerName, content: &Value) -> Result<()> {
        let (Some(room_id), Some(user), Some(typing)) = (
            content["room_id"]
                .as_str()
                .and_then(|id| RoomId::parse(id).ok()),
            content["user_id"]
                .as_str()
                .and_then(|id| UserId::parse(id).ok()),
            content["typing"].as_bool(),
        ) else {
            tracing::debug!(%origin, "a malformed m.typing EDU");
            return Ok(());
        };
        if user.server_name() != origin {
            tracing::info!(%origin, %user, "dropping typing of another server's user");
            return Ok(());
        }
        let Ok(room) = self.room(&room_id).await else {
            return Ok(());
        };
        let joined = self
            .store
            .membership(room.nid, user.as_str())
            .await?
            .is_some_and(|row| row.membership == "join");
        if joined && self.acl_allows(&room, origin).await? {
            self.streams
                .typing
                .set(room.nid, user.as_str(), typing.then_some(REMOTE_TYPING));
        }
        Ok(())
    }

    /// Tells the room's other servers that `user` is typing or stopped.
    pub(crate) async fn send_typing(
        &self,
        room_nid: i64,
        room_id: &RoomId,
        user: &UserId,
        typing: bool,
    ) -> Result<()> {
        let content =
            json!({ "room_id": room_id.as_str(), "user_id": user.as_str(), "typing": typing });
        self.send_edu_to_room(room_nid, "m.typing", &content).await
    }

    /// Takes in public read receipts of `origin`'s users: `{room ID:
    /// {"m.read": {user ID: {event_ids, data: {ts, thread_id?}}}}}`.
    async fn receive_receipts(&self, origin: &ServerName, content: &Value) -> Result<()> {
        let Some(rooms) = content.as_object() else {
            return Ok(());
        };
        for (room_id, receipts) in rooms {
            let Some(room_id) = RoomId::parse(room_id).ok() else {
                continue;
            };
            let Ok(room) = self.room(&room_id).await else {
                continue;
            };
            if !self.acl_allows(&room, origin).await? {
                continue;
            }
            let Some(users) = receipts["m.read"].as_object() else {
                continue;
            };
            for (user, receipt) in users {
                let Some(user) = UserId::parse(user).ok() else {
                    continue;
                };
                if user.server_name() != origin {
                    tracing::info!(%origin, %user, "dropping a receipt of another server's user");
                    continue;
                }
                let joined = self
                    .store
                    .membership(room.nid, user.as_str())
                    .await?
                    .is_some_and(|row| row.membership == "join");
                let event_id = receipt["event_ids"][0].as_str();
                let Some(event) = (match event_id {
                    Some(id) if joined => self.event_by_id(id).await?,
                    _ => None,
                }) else {
                    continue;
                };
                if event.room_nid != room.nid || event.rejected || event.outlier {
                    continue;
                }
                let data = &receipt["data"];
                let thread = data["thread_id"].as_str().unwrap_or_default();
                let ts = data["ts"].as_i64().unwrap_or_else(crate::clock::now_ms);
                self.record_receipt(&room, user.as_str(), "m.read", thread, event.nid, ts)
                    .await?;
            }
        }
        Ok(())
    }

    /// Tells the room's other servers how far `user` has read.
    pub(crate) async fn send_receipt_edu(
        &self,
        room: &RoomRef,
        user: &UserId,
        event_id: &EventId,
        thread_id: Option<&str>,
        ts: i64,
    ) -> Result<()> {
        let mut data = json!({ "ts": ts });
        if let Some(thread) = thread_id {
            data["thread_id"] = json!(thread);
        }
        let content = json!({ room.room_id.as_str(): { "m.read": { user.as_str(): {
            "event_ids": [event_id.as_str()],
            "data": data,
        } } } });
        self.send_edu_to_room(room.nid, "m.receipt", &content).await
    }

    /// Queues an EDU for every other server joined to the room.
    async fn send_edu_to_room(&self, room_nid: i64, edu_type: &str, content: &Value) -> Result<()> {
        for server in self.store.joined_servers(room_nid).await? {
            let Ok(server) = ServerName::parse(&server) else {
                continue;
            };
            self.enqueue_edu(&server, edu_type, content).await?;
        }
        Ok(())
    }
}
