//! State resolution v2 (room versions 2–11) and v2.1 (room version 12):
//! the room state that follows from several forks of it.
//!
//! [`resolve_numbered`] takes the state sets of the forks over an
//! [`EventGraph`], the events numbered with their auth edges (`graph`), and
//! runs the specification's five steps; [`resolve`] takes them by event ID
//! from an [`EventSource`] and numbers them first:
//!
//! 1. split the sets into the unconflicted state and the full conflicted
//!    set (`conflicts`), and sort the power events among the latter by the
//!    reverse topological power ordering (`power_ordering`);
//! 2. replay them through the iterative auth checks (`iterative_auth`),
//!    from the unconflicted state (v2) or from an empty state (v2.1);
//! 3. sort the remaining conflicted events by their position on the
//!    mainline of the power levels resolved so far (`mainline`);
//! 4. replay those on top;
//! 5. put the unconflicted state back over the result.

mod conflicts;
mod error;
mod events;
mod graph;
mod iterative_auth;
mod mainline;
mod power_event;
mod power_ordering;

use std::collections::{BTreeMap, BTreeSet};

pub use error::StateResError;
pub use events::EventSource;
pub use graph::{EventGraph, EventIndex, GraphEvent};

use crate::identifiers::EventId;
use crate::room_versions::{RoomVersion, StateResolutionVersion};

use conflicts::{Conflicts, Unconflicted};
use graph::EventBits;

/// A room state: the event ID in force for each `(type, state_key)`.
pub type StateMap = BTreeMap<(String, String), EventId>;

/// A room state over an [`EventGraph`]: the number of the event in force
/// for each of the caller's keys.
pub type NumberedState<K> = BTreeMap<K, EventIndex>;

/// Resolves `state_sets`, the states after each fork, into one state under
/// the rules of `version`.
///
/// The result does not depend on the order of `state_sets`. Every event
/// named in the sets, and every event in their auth chains, must be
/// available from `events`; otherwise the resolution fails with
/// [`StateResError::MissingEvent`]. Room version 1 uses the original
/// algorithm, which this does not implement.
///
/// This numbers the events first; [`resolve_numbered`] takes them numbered.
pub fn resolve(
    version: &RoomVersion,
    state_sets: &[StateMap],
    events: &(impl EventSource + ?Sized),
) -> Result<StateMap, StateResError> {
    let (graph, sets) = events::number(state_sets, events)?;
    let resolved = resolve_numbered(version, &sets, &graph)?;
    Ok(resolved
        .into_iter()
        .map(|((event_type, state_key), index)| {
            let key = (event_type.to_owned(), state_key.to_owned());
            (key, graph.pdu(index).event_id().clone())
        })
        .collect())
}

/// [`resolve`] on numbered events: `state_sets` name events of `graph`,
/// which must hold every event in their auth chains.
pub fn resolve_numbered<K: Ord + Copy>(
    version: &RoomVersion,
    state_sets: &[NumberedState<K>],
    graph: &EventGraph<'_, K>,
) -> Result<NumberedState<K>, StateResError> {
    let is_v2_1 = match version.state_resolution {
        StateResolutionVersion::V1 => return Err(StateResError::UnsupportedAlgorithm),
        StateResolutionVersion::V2 => false,
        StateResolutionVersion::V2_1 => true,
    };
    let conflicts = Conflicts::find(state_sets, graph, is_v2_1);
    if conflicts.full_conflicted_set.is_empty() {
        return Ok(conflicts.unconflicted.into_state_map(NumberedState::new()));
    }

    let power_events = power_events_with_auth_chains(&conflicts.full_conflicted_set, graph);
    let sorted_power_events = power_ordering::sort(&power_events, version, graph)?;
    // v2 replays onto the unconflicted state, v2.1 onto an empty one; either
    // way only the replayed entries are kept apart from it (step 5 puts the
    // unconflicted state back over them).
    let mut partial = PartialState {
        base: (!is_v2_1).then_some(&conflicts.unconflicted),
        changes: NumberedState::new(),
    };
    iterative_auth::apply_to(version, &mut partial, &sorted_power_events, graph)?;

    let others: BTreeSet<EventIndex> = conflicts
        .full_conflicted_set
        .difference(&power_events)
        .copied()
        .collect();
    let power_levels = graph
        .key("m.room.power_levels", "")
        .and_then(|key| partial.get(&key));
    let sorted_others = mainline::sort(&others, power_levels, graph);
    iterative_auth::apply_to(version, &mut partial, &sorted_others, graph)?;

    let PartialState { changes, .. } = partial;
    Ok(conflicts.unconflicted.into_state_map(changes))
}

/// The state the iterative auth checks build: the entries they set, over
/// an optional base state that is read but never copied.
#[derive(Debug)]
pub(super) struct PartialState<'s, K> {
    base: Option<&'s Unconflicted<'s, K>>,
    changes: NumberedState<K>,
}

impl<K: Ord + Copy> PartialState<'_, K> {
    /// The event in force for `key`.
    pub(super) fn get(&self, key: &K) -> Option<EventIndex> {
        self.changes
            .get(key)
            .copied()
            .or_else(|| self.base.and_then(|base| base.get(key)))
    }
}

/// Step 1's set: the power events of the full conflicted set together with
/// the events of their auth chains that are in the full conflicted set too.
fn power_events_with_auth_chains<K: Copy>(
    full_conflicted_set: &BTreeSet<EventIndex>,
    graph: &EventGraph<'_, K>,
) -> BTreeSet<EventIndex> {
    let mut selected: BTreeSet<EventIndex> = full_conflicted_set
        .iter()
        .copied()
        .filter(|&id| power_event::is_power_event(graph.pdu(id)))
        .collect();
    // The auth chains of the power events together are the auth chain of
    // all of them: one walk.
    let mut in_full_set = EventBits::new(graph);
    for &id in full_conflicted_set {
        in_full_set.insert(id);
    }
    let chain = conflicts::auth_chain(selected.iter().copied(), graph);
    selected.extend(
        chain
            .events
            .into_iter()
            .filter(|&id| in_full_set.contains(id)),
    );
    selected
}

#[cfg(test)]
mod tests;
