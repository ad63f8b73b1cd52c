//! Auth events selection: which state events an event cites as its
//! `auth_events`.
//!
//! Creating servers use it to fill in `auth_events`; receiving servers use
//! it to check that nothing else was cited (see
//! [`AuthEvents`](super::AuthEvents)).

use crate::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use crate::identifiers::UserId;
use crate::room_versions::RoomVersion;

/// The `(type, state_key)` pairs of the state events that an event with
/// these properties must cite as `auth_events`, where they exist in the
/// room state.
///
/// An `m.room.create` event cites nothing. Every other event cites the
/// create event (not from version 12, where the room ID stands for it), the
/// power levels and the sender's membership. Membership events add the
/// target's membership; the join rules for `join`, `invite` and `knock`;
/// for an invite from a third-party invite, the `m.room.third_party_invite`
/// its token names; and for a join vouched for by
/// `join_authorised_via_users_server` (versions 8 on), that user's
/// membership.
///
/// Pairs are listed once each, in the order above. Content values of the
/// wrong type are ignored rather than reported: which events are cited
/// follows from the event, whether it is allowed is for the authorisation
/// rules.
pub fn auth_types_for_event(
    event_type: &str,
    state_key: Option<&str>,
    sender: &UserId,
    content: &CanonicalJsonObject,
    version: &RoomVersion,
) -> Vec<(String, String)> {
    if event_type == "m.room.create" {
        return Vec::new();
    }
    let mut types = Vec::new();
    let mut add = |event_type: &str, state_key: &str| {
        let pair = (event_type.to_owned(), state_key.to_owned());
        if !types.contains(&pair) {
            types.push(pair);
        }
    };

    if version.create_event_has_room_id() {
        add("m.room.create", "");
    }
    add("m.room.power_levels", "");
    add("m.room.member", sender.as_str());

    if event_type == "m.room.member" {
        let membership = content
            .get("membership")
            .and_then(CanonicalJsonValue::as_str);
        if let Some(target) = state_key {
            add("m.room.member", target);
        }
        if matches!(membership, Some("join" | "invite" | "knock")) {
            add("m.room.join_rules", "");
        }
        if membership == Some("invite") {
            let token = content
                .get("third_party_invite")
                .and_then(CanonicalJsonValue::as_object)
                .and_then(|invite| invite.get("signed"))
                .and_then(CanonicalJsonValue::as_object)
                .and_then(|signed| signed.get("token"))
                .and_then(CanonicalJsonValue::as_str);
            if let Some(token) = token {
                add("m.room.third_party_invite", token);
            }
        }
        if membership == Some("join") && version.restricted_join_allowed {
            let authoriser = content
                .get("join_authorised_via_users_server")
                .and_then(CanonicalJsonValue::as_str);
            if let Some(authoriser) = authoriser {
                add("m.room.member", authoriser);
            }
        }
    }
    types
}
