//! The mainline ordering: the order in which the conflicted events that are
//! not power events are replayed, by how far back in the chain of the
//! resolved power levels their own power levels branched off.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::graph::{EventGraph, EventIndex};

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
pub(super) fn sort<K>(
    set: &BTreeSet<EventIndex>,
    power_levels: Option<EventIndex>,
    graph: &EventGraph<'_, K>,
) -> Vec<EventIndex> {
    let mainline = mainline_indices(power_levels, graph);
    let mut keyed: Vec<_> = set
        .iter()
        .map(|&id| {
            let pdu = graph.pdu(id);
            let position = position(id, &mainline, graph);
            (
                std::cmp::Reverse(position),
                pdu.origin_server_ts(),
                pdu.event_id(),
                id,
            )
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, _, _, id)| id).collect()
}

/// The mainline of `power_levels`, each event mapped to its index.
pub(super) fn mainline_indices<K>(
    power_levels: Option<EventIndex>,
    graph: &EventGraph<'_, K>,
) -> HashMap<EventIndex, usize> {
    let mut indices = HashMap::new();
    let mut next = power_levels;
    while let Some(id) = next {
        next = cited_power_levels(id, graph);
        // A cycle is impossible with hash-based IDs; this keeps a
        // malformed DAG from looping forever all the same.
        if indices.insert(id, indices.len()).is_some() {
            break;
        }
    }
    indices
}

/// The mainline position of the event `id`, starting the walk from the
/// power levels it cites (the event itself does not count).
pub(super) fn position<K>(
    id: EventIndex,
    mainline: &HashMap<EventIndex, usize>,
    graph: &EventGraph<'_, K>,
) -> MainlinePosition {
    let mut visited = HashSet::new();
    let mut next = cited_power_levels(id, graph);
    while let Some(current) = next {
        if let Some(&index) = mainline.get(&current) {
            return MainlinePosition::At(index);
        }
        next = cited_power_levels(current, graph);
        if !visited.insert(current) {
            break;
        }
    }
    MainlinePosition::Unrelated
}

/// The `m.room.power_levels` event among the auth events of `id`, if any.
fn cited_power_levels<K>(id: EventIndex, graph: &EventGraph<'_, K>) -> Option<EventIndex> {
    graph.auth_events(id).iter().copied().find(|&auth_id| {
        let auth_event = graph.pdu(auth_id);
        auth_event.event_type() == "m.room.power_levels" && auth_event.state_key() == Some("")
    })
}
