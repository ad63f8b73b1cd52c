//! Evaluating a user's push rules against a room's events: the room as
//! the rules see it, and the thread an event belongs to.

use hanse_protocol::identifiers::UserId;
use hanse_protocol::power_levels::PowerLevels;
use hanse_protocol::push_rules::{EvalContext, Outcome, Ruleset};

use crate::rooms::state_trie::NodeNid;
use crate::rooms::{relation, RoomRef, StoredEvent};
use crate::{Error, Homeserver, Result};

/// The thread ID of the main timeline, in receipts and counts.
pub(crate) const MAIN_THREAD: &str = "main";

/// How many relations are followed to find an event's thread: a reaction
/// to a thread reply is in the thread, but the chain is not walked far.
const THREAD_HOPS: usize = 3;

/// What a user's rules need to know of a room besides the event, read
/// once for a batch of its events.
pub(crate) struct RoomPushContext {
    levels: PowerLevels,
    creators: Vec<UserId>,
    member_count: u64,
    display_name: Option<String>,
}

impl RoomPushContext {
    /// The rule that decides what `event` means to `user`; `None` for
    /// redacted events (nothing left to notify of) and the user's own.
    pub(crate) fn evaluate<'r>(
        &self,
        rules: &'r Ruleset,
        user: &UserId,
        event: &StoredEvent,
    ) -> Result<Option<Outcome<'r>>> {
        if event.redacted_by.is_some() {
            return Ok(None);
        }
        let context = EvalContext {
            user_id: user.as_str(),
            display_name: self.display_name.as_deref(),
            member_count: self.member_count,
            sender_power_level: self.levels.user_level(event.pdu.sender(), &self.creators),
            notification_power_levels: self.levels.notifications(),
        };
        let json = serde_json::to_value(event.pdu.as_object())
            .map_err(|e| Error::Internal(format!("event as JSON: {e}")))?;
        Ok(rules.evaluate(&json, &context))
    }
}

impl Homeserver {
    /// The room as `user`'s rules see it in the state rooted at `root`
    /// (power levels, their display name) with today's member count.
    pub(crate) async fn room_push_context(
        &self,
        room: &RoomRef,
        user: &UserId,
        root: NodeNid,
    ) -> Result<RoomPushContext> {
        let (levels, creators) = self.power_levels_at(room, root).await?;
        let member = self
            .state_event_at(root, "m.room.member", user.as_str())
            .await?;
        let display_name = member.and_then(|event| {
            event
                .pdu
                .content()
                .get("displayname")
                .and_then(|name| name.as_str())
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
        });
        let member_count = self.store.member_counts(room.nid).await?.joined as u64;
        Ok(RoomPushContext {
            levels,
            creators,
            member_count,
            display_name,
        })
    }

    /// The thread `event` belongs to: the root of its `m.thread` relation,
    /// found through at most [`THREAD_HOPS`] relations, else the main
    /// timeline (thread roots included).
    pub(crate) async fn thread_of(&self, event: &StoredEvent) -> Result<String> {
        let mut relation = relation_of(event);
        for _ in 0..THREAD_HOPS {
            let Some((target, rel_type)) = relation else {
                break;
            };
            if rel_type == "m.thread" {
                return Ok(target);
            }
            relation = self
                .event_by_id(&target)
                .await?
                .and_then(|parent| relation_of(&parent));
        }
        Ok(MAIN_THREAD.to_owned())
    }
}

fn relation_of(event: &StoredEvent) -> Option<(String, String)> {
    relation(event.pdu.content()).map(|(target, rel_type)| (target.to_owned(), rel_type.to_owned()))
}
