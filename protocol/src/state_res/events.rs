//! Where state resolution reads events from.

use crate::identifiers::EventId;
use crate::pdu::Pdu;

use super::StateResError;

/// The events state resolution may need: those in the state sets and
/// everything in their auth chains.
pub trait EventSource {
    /// The event with ID `id`, if it is known.
    fn event(&self, id: &EventId) -> Option<&Pdu>;

    /// Whether the event with ID `id` was rejected. The iterative auth
    /// checks do not fall back on rejected auth events.
    fn is_rejected(&self, id: &EventId) -> bool;
}

/// The event with ID `id`, or the error naming it as missing.
pub(super) fn fetch<'a>(
    events: &'a (impl EventSource + ?Sized),
    id: &EventId,
) -> Result<&'a Pdu, StateResError> {
    events
        .event(id)
        .ok_or_else(|| StateResError::MissingEvent(id.clone()))
}
