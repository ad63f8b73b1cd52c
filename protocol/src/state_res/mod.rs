//! State resolution v2 (room versions 2–11) and v2.1 (room version 12):
//! the room state that follows from several forks of it.
//!
//! [`resolve`] takes the state sets of the forks and an [`EventSource`] to
//! read events and their rejection status from, and runs the
//! specification's five steps:
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
mod iterative_auth;
mod mainline;
mod power_event;
mod power_ordering;

use std::collections::{BTreeMap, BTreeSet};

pub use error::StateResError;
pub use events::EventSource;

use crate::identifiers::EventId;
use crate::room_versions::{RoomVersion, StateResolutionVersion};

use conflicts::{Conflicts, Unconflicted};

/// A room state: the event ID in force for each `(type, state_key)`.
pub type StateMap = BTreeMap<(String, String), EventId>;

/// Resolves `state_sets`, the states after each fork, into one state under
/// the rules of `version`.
///
/// The result does not depend on the order of `state_sets`. Every event
/// named in the sets, and every event in their auth chains, must be
/// available from `events`; otherwise the resolution fails with
/// [`StateResError::MissingEvent`]. Room version 1 uses the original
/// algorithm, which this does not implement.
pub fn resolve(
    version: &RoomVersion,
    state_sets: &[StateMap],
    events: &(impl EventSource + ?Sized),
) -> Result<StateMap, StateResError> {
    let is_v2_1 = match version.state_resolution {
        StateResolutionVersion::V1 => return Err(StateResError::UnsupportedAlgorithm),
        StateResolutionVersion::V2 => false,
        StateResolutionVersion::V2_1 => true,
    };
    let conflicts = Conflicts::find(state_sets, events, is_v2_1)?;
    if conflicts.full_conflicted_set.is_empty() {
        return Ok(conflicts.unconflicted.into_state_map(StateMap::new()));
    }

    let power_events = power_events_with_auth_chains(&conflicts.full_conflicted_set, events)?;
    let sorted_power_events = power_ordering::sort(&power_events, version, events)?;
    // v2 replays onto the unconflicted state, v2.1 onto an empty one; either
    // way only the replayed entries are kept apart from it (step 5 puts the
    // unconflicted state back over them).
    let mut partial = PartialState {
        base: (!is_v2_1).then_some(&conflicts.unconflicted),
        changes: StateMap::new(),
    };
    iterative_auth::apply_to(version, &mut partial, &sorted_power_events, events)?;

    let others: BTreeSet<EventId> = conflicts
        .full_conflicted_set
        .difference(&power_events)
        .cloned()
        .collect();
    let power_levels = partial
        .get(&("m.room.power_levels".to_owned(), String::new()))
        .cloned();
    let sorted_others = mainline::sort(&others, power_levels.as_ref(), events)?;
    iterative_auth::apply_to(version, &mut partial, &sorted_others, events)?;

    let PartialState { changes, .. } = partial;
    Ok(conflicts.unconflicted.into_state_map(changes))
}

/// The state the iterative auth checks build: the entries they set, over
/// an optional base state that is read but never copied.
#[derive(Debug)]
pub(super) struct PartialState<'s> {
    base: Option<&'s Unconflicted<'s>>,
    changes: StateMap,
}

impl PartialState<'_> {
    /// The event in force for `key`.
    pub(super) fn get(&self, key: &(String, String)) -> Option<&EventId> {
        self.changes
            .get(key)
            .or_else(|| self.base.and_then(|base| base.get(key)))
    }
}

/// Step 1's set: the power events of the full conflicted set together with
/// the events of their auth chains that are in the full conflicted set too.
fn power_events_with_auth_chains(
    full_conflicted_set: &BTreeSet<EventId>,
    events: &(impl EventSource + ?Sized),
) -> Result<BTreeSet<EventId>, StateResError> {
    let mut selected = BTreeSet::new();
    for id in full_conflicted_set {
        if power_event::is_power_event(events::fetch(events, id)?) {
            selected.insert(id.clone());
            let chain = conflicts::auth_chain([id], events)?;
            selected.extend(
                chain
                    .into_iter()
                    .filter(|id| full_conflicted_set.contains(*id))
                    .cloned(),
            );
        }
    }
    Ok(selected)
}

#[cfg(test)]
mod tests;
