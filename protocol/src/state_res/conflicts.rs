//! The split of the state sets into what they agree on and what has to be
//! resolved: the unconflicted state map and the full conflicted set.

use std::collections::{BTreeMap, BTreeSet};

use crate::identifiers::EventId;

use super::events::{fetch, EventSource};
use super::{StateMap, StateResError};

/// The state sets, split.
#[derive(Debug)]
pub(super) struct Conflicts {
    /// The entries present in every state set with the same event.
    pub(super) unconflicted: StateMap,
    /// The events to resolve: the conflicted state set, the auth difference
    /// and, in v2.1, the conflicted state subgraph.
    pub(super) full_conflicted_set: BTreeSet<EventId>,
}

impl Conflicts {
    /// Splits `state_sets`. `with_subgraph` adds the conflicted state
    /// subgraph to the full conflicted set, as v2.1 does.
    pub(super) fn find(
        state_sets: &[StateMap],
        events: &(impl EventSource + ?Sized),
        with_subgraph: bool,
    ) -> Result<Self, StateResError> {
        let (unconflicted, conflicted) = split(state_sets);
        let mut full_conflicted_set = auth_difference(state_sets, events)?;
        if with_subgraph {
            full_conflicted_set.extend(conflicted_subgraph(&conflicted, events)?);
        }
        full_conflicted_set.extend(conflicted);
        Ok(Self {
            unconflicted,
            full_conflicted_set,
        })
    }
}

/// The unconflicted state map and the conflicted state set. A key missing
/// from some state set is conflicted, even if all the others agree.
fn split(state_sets: &[StateMap]) -> (StateMap, BTreeSet<EventId>) {
    let mut candidates: BTreeMap<&(String, String), BTreeSet<&EventId>> = BTreeMap::new();
    for set in state_sets {
        for (key, id) in set {
            candidates.entry(key).or_default().insert(id);
        }
    }
    let mut unconflicted = StateMap::new();
    let mut conflicted = BTreeSet::new();
    for (key, ids) in candidates {
        let in_every_set = state_sets.iter().all(|set| set.contains_key(key));
        match (ids.first(), ids.len()) {
            (Some(&id), 1) if in_every_set => {
                unconflicted.insert(key.clone(), id.clone());
            }
            _ => conflicted.extend(ids.into_iter().cloned()),
        }
    }
    (unconflicted, conflicted)
}

/// The auth chain of the events `starts`: every event reachable through
/// `auth_events`, not counting the starting events themselves unless one
/// cites another.
pub(super) fn auth_chain<'a>(
    starts: impl IntoIterator<Item = &'a EventId>,
    events: &(impl EventSource + ?Sized),
) -> Result<BTreeSet<EventId>, StateResError> {
    let mut chain = BTreeSet::new();
    let mut pending: Vec<EventId> = Vec::new();
    for start in starts {
        pending.extend(fetch(events, start)?.auth_events().iter().cloned());
    }
    while let Some(id) = pending.pop() {
        if chain.insert(id.clone()) {
            pending.extend(fetch(events, &id)?.auth_events().iter().cloned());
        }
    }
    Ok(chain)
}

/// The events in some but not all of the state sets' full auth chains.
fn auth_difference(
    state_sets: &[StateMap],
    events: &(impl EventSource + ?Sized),
) -> Result<BTreeSet<EventId>, StateResError> {
    let chains = state_sets
        .iter()
        .map(|set| auth_chain(set.values(), events))
        .collect::<Result<Vec<_>, _>>()?;
    let union: BTreeSet<&EventId> = chains.iter().flatten().collect();
    Ok(union
        .into_iter()
        .filter(|id| !chains.iter().all(|chain| chain.contains(*id)))
        .cloned()
        .collect())
}

/// The conflicted state subgraph: every event on an `auth_events` path from
/// one conflicted event to another, endpoints included.
///
/// An event lies on such a path exactly when it is reachable from a
/// conflicted event and a conflicted event is reachable from it (an event
/// counts as reaching itself). So this walks the auth chains of the
/// conflicted events, then keeps what reaches back to a conflicted event
/// by following the `auth_events` edges backwards.
pub(super) fn conflicted_subgraph(
    conflicted: &BTreeSet<EventId>,
    events: &(impl EventSource + ?Sized),
) -> Result<BTreeSet<EventId>, StateResError> {
    let mut reachable = auth_chain(conflicted, events)?;
    reachable.extend(conflicted.iter().cloned());

    let mut cited_by: BTreeMap<&EventId, Vec<&EventId>> = BTreeMap::new();
    for id in &reachable {
        for auth_id in fetch(events, id)?.auth_events() {
            if let Some(auth_id) = reachable.get(auth_id) {
                cited_by.entry(auth_id).or_default().push(id);
            }
        }
    }
    let mut subgraph: BTreeSet<EventId> = BTreeSet::new();
    let mut pending: Vec<&EventId> = conflicted.iter().collect();
    while let Some(id) = pending.pop() {
        if subgraph.insert(id.clone()) {
            pending.extend(cited_by.get(id).into_iter().flatten().copied());
        }
    }
    Ok(subgraph)
}
