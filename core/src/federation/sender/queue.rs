//! What goes into the destinations' queues: local events (by the room
//! writer's batch, in its transaction) and EDUs.
//!
//! A queue entry is a row per (destination, event): an event costs one row
//! per other server in its room, none per member, and rows leave once the
//! destination took them, so the table holds what is in flight plus the
//! backlog of servers that are down. Which servers are in a room is kept
//! as a count of joined members per (room, server) (`room_servers`),
//! updated when a membership enters or leaves `join`.

use hanse_protocol::identifiers::{ServerName, UserId};

use crate::store::Write;
use crate::{Error, Homeserver, Result};

impl Homeserver {
    /// Queues an EDU for `destination` (durably: it survives a restart) and
    /// wakes its task. EDUs for this server itself are ignored.
    pub async fn enqueue_edu(
        &self,
        destination: &ServerName,
        edu_type: &str,
        content: &serde_json::Value,
    ) -> Result<()> {
        if destination == &self.identity.server_name {
            return Ok(());
        }
        let nid = self.destination_nid(destination.as_str()).await?;
        self.store
            .enqueue_edu(nid, edu_type, &content.to_string())
            .await?;
        self.wake_destination(nid);
        Ok(())
    }

    /// The number of a destination (interned once, then cached).
    pub(crate) async fn destination_nid(&self, server_name: &str) -> Result<i32> {
        let cache = &self.federation_sender.destinations;
        if let Some(&nid) = crate::lock(cache).get(server_name) {
            return Ok(nid);
        }
        let nid = self.store.intern_destination(server_name).await?;
        crate::lock(cache).insert(server_name.to_owned(), nid);
        Ok(nid)
    }

    /// This server's own number among destinations: never sent to.
    pub(crate) async fn local_destination(&self) -> Result<i32> {
        self.destination_nid(self.identity.server_name.as_str())
            .await
    }

    /// Counts the target's server in or out of the room's servers when a
    /// membership enters or leaves `join` (for every membership change of
    /// the room's current state, local or received), and queues a local
    /// membership event for the target's server too (an invite, kick or
    /// ban reaches the affected server even with no one joined there).
    /// Interns the server (on its own connection) before writing. Returns
    /// the destination queued for, if any.
    pub(crate) async fn queue_membership_change(
        &self,
        write: &Write,
        room_nid: i64,
        event_nid: i64,
        target: &str,
        (before, after): (Option<&str>, &str),
        local_event: bool,
    ) -> Result<Option<i32>> {
        let target = UserId::parse(target)
            .map_err(|e| Error::Internal(format!("membership of {target}: {e}")))?;
        let destination = self.destination_nid(target.server_name().as_str()).await?;
        let (was, is) = (before == Some("join"), after == "join");
        if was != is {
            write
                .count_room_server(room_nid, destination, if is { 1 } else { -1 })
                .await?;
        }
        if !local_event || destination == self.local_destination().await? {
            return Ok(None);
        }
        write.enqueue_pdu(destination, event_nid).await?;
        Ok(Some(destination))
    }

    /// Queues `event`, taken in from `origin` on behalf of its sender (a
    /// send_join and the like), for the room's other servers: `origin`
    /// cannot reach servers it does not know are in the room yet.
    pub(crate) async fn forward_event(
        &self,
        room_nid: i64,
        event_nid: i64,
        origin: &ServerName,
    ) -> Result<()> {
        let except = [
            self.local_destination().await?,
            self.destination_nid(origin.as_str()).await?,
        ];
        for destination in self.store.forward_pdu(room_nid, event_nid, &except).await? {
            self.wake_destination(destination);
        }
        Ok(())
    }
}
