//! Unread counts in /sync: the events after the user's read receipt that
//! their push rules say notify them (and of those, highlight), counted
//! from the stored events whenever a sync sends the room.

use hanse_protocol::identifiers::UserId;
use hanse_protocol::push_rules::{EvalContext, Ruleset};
use serde_json::{json, Value};

use crate::rooms::RoomRef;
use crate::store::{Direction, MembershipRow};
use crate::{Error, Homeserver, Result};

/// The most unread events examined per room: a count beyond it is shown as
/// at most this (a client shows "99+" long before).
const MAX_COUNTED: i64 = 1000;

impl Homeserver {
    /// `unread_notifications` of a joined room, up to position `upto`.
    pub(super) async fn unread_counts(
        &self,
        room: &RoomRef,
        user: &UserId,
        row: &MembershipRow,
        rules: &Ruleset,
        upto: i64,
    ) -> Result<Value> {
        // Nothing from before the user joined is unread.
        let read = self
            .store
            .read_position(room.nid, user.as_str())
            .await?
            .map_or(row.event_position, |read| read.max(row.event_position));
        let page = self
            .store
            .room_timeline(room.nid, read, Some(upto), Direction::Forward, MAX_COUNTED)
            .await?;
        let mut notifications = 0;
        let mut highlights = 0;
        if !page.is_empty() {
            let nids: Vec<i64> = page.iter().map(|(nid, _)| *nid).collect();
            let events = self.events(&nids).await?;
            let root = self.current_root(room).await?;
            let (levels, creators) = self.power_levels_at(room, root).await?;
            let member_count = self.store.member_counts(room.nid).await?.joined as u64;
            for event in events.iter().filter(|e| e.redacted_by.is_none()) {
                let context = EvalContext {
                    user_id: user.as_str(),
                    display_name: None,
                    member_count,
                    sender_power_level: levels.user_level(event.pdu.sender(), &creators),
                    notification_power_levels: levels.notifications(),
                };
                let json = serde_json::to_value(event.pdu.as_object())
                    .map_err(|e| Error::Internal(format!("event as JSON: {e}")))?;
                if let Some(outcome) = rules.evaluate(&json, &context) {
                    notifications += u64::from(outcome.notify());
                    highlights += u64::from(outcome.highlight());
                }
            }
        }
        Ok(json!({
            "notification_count": notifications,
            "highlight_count": highlights,
        }))
    }
}
