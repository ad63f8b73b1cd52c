//! Power events: the state events that may take an ability away from
//! someone, and are therefore resolved first.

use crate::canonical_json::CanonicalJsonValue;
use crate::pdu::Pdu;

/// Whether `pdu` is a power event: power levels, join rules, or a kick or
/// ban (a `leave` or `ban` membership sent by someone else than its
/// target).
pub(super) fn is_power_event(pdu: &Pdu) -> bool {
    let Some(state_key) = pdu.state_key() else {
        return false;
    };
    match pdu.event_type() {
        "m.room.power_levels" | "m.room.join_rules" => true,
        "m.room.member" => {
            let membership = pdu
                .content()
                .get("membership")
                .and_then(CanonicalJsonValue::as_str);
            matches!(membership, Some("leave" | "ban")) && state_key != pdu.sender().as_str()
        }
        _ => false,
    }
}
