//! The mainline ordering: the order in which the conflicted events that are
//! not power events are replayed, by how far back in the chain of the
//! resolved power levels their own power levels branched off.

use std::collections::{BTreeMap, BTreeSet};

use crate::identifiers::EventId;

use super::events::{fetch, EventSource};
use super::StateResError;

/// Where an event's chain of power levels meets the mainline. Derived
/// ordering puts [`MainlinePosition::Unrelated`] after every index, as
/// the specification's sentinel ∞.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum MainlinePosition {
    /// The mainline index (0 for the resolved power levels themselves) of
    /// the first power levels event in the chain that is on the mainline.
    At(usize),
    /// No power levels event in the chain is on the mainline.
    Unrelated,
}

/// Sorts `set` by mainline position relative to `power_levels` (the
/// resolved `m.room.power_levels`, if any), greatest position first, then
/// by `origin_server_ts`, then by event ID.
pub(super) fn sort(
    set: &BTreeSet<EventId>,
    power_levels: Option<&EventId>,
    events: &(impl EventSource + ?Sized),
) -> Result<Vec<EventId>, StateResError> {
    let mainline = mainline_indices(power_levels, events)?;
    let mut keyed = set
        .iter()
        .map(|id| {
            let position = position(id, &mainline, events)?;
            let ts = fetch(events, id)?.origin_server_ts();
            Ok((std::cmp::Reverse(position), ts, id))
        })
        .collect::<Result<Vec<_>, StateResError>>()?;
    keyed.sort();
    Ok(keyed.into_iter().map(|(_, _, id)| id.clone()).collect())
}

/// The mainline of `power_levels`, each event mapped to its index.
pub(super) fn mainline_indices(
    power_levels: Option<&EventId>,
    events: &(impl EventSource + ?Sized),
) -> Result<BTreeMap<EventId, usize>, StateResError> {
    let mut indices = BTreeMap::new();
    let mut next = power_levels.cloned();
    while let Some(id) = next {
        next = cited_power_levels(&id, events)?;
        // A cycle is impossible with hash-based IDs; this keeps a
        // malformed DAG from looping forever all the same.
        if indices.insert(id, indices.len()).is_some() {
            break;
        }
    }
    Ok(indices)
}

/// The mainline position of the event `id`, starting the walk from the
/// power levels it cites (the event itself does not count).
pub(super) fn position(
    id: &EventId,
    mainline: &BTreeMap<EventId, usize>,
    events: &(impl EventSource + ?Sized),
) -> Result<MainlinePosition, StateResError> {
    let mut visited = BTreeSet::new();
    let mut next = cited_power_levels(id, events)?;
    while let Some(current) = next {
        if let Some(&index) = mainline.get(&current) {
            return Ok(MainlinePosition::At(index));
        }
        next = cited_power_levels(&current, events)?;
        if !visited.insert(current) {
            break;
        }
    }
    Ok(MainlinePosition::Unrelated)
}

/// The `m.room.power_levels` event among the auth events of `id`, if any.
fn cited_power_levels(
    id: &EventId,
    events: &(impl EventSource + ?Sized),
) -> Result<Option<EventId>, StateResError> {
    for auth_id in fetch(events, id)?.auth_events() {
        let auth_event = fetch(events, auth_id)?;
        if auth_event.event_type() == "m.room.power_levels" && auth_event.state_key() == Some("") {
            return Ok(Some(auth_id.clone()));
        }
    }
    Ok(None)
}
