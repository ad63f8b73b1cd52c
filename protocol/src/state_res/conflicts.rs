//! The split of the state sets into what they agree on and what has to be
//! resolved: the unconflicted state map and the full conflicted set.

use std::collections::{BTreeMap, BTreeSet};

use crate::identifiers::EventId;

use super::events::{fetch, EventSource};
use super::{StateMap, StateResError};

/// The state sets, split.
#[derive(Debug)]
pub(super) struct Conflicts<'s> {
    /// The entries present in every state set with the same event.
    pub(super) unconflicted: Unconflicted<'s>,
    /// The events to resolve: the conflicted state set, the auth difference
    /// and, in v2.1, the conflicted state subgraph.
    pub(super) full_conflicted_set: BTreeSet<EventId>,
}

/// The unconflicted state map, as a view of the state sets: the first
/// set's entries less the conflicted keys. Nothing is copied until the
/// resolved state is built from it.
#[derive(Debug)]
pub(super) struct Unconflicted<'s> {
    first: Option<&'s StateMap>,
    /// The keys of the conflicted state set, sorted.
    conflicted_keys: Vec<&'s (String, String)>,
    /// The unconflicted events.
    ids: Vec<&'s EventId>,
}

impl<'s> Unconflicted<'s> {
    /// The unconflicted event for `key`, if there is one.
    pub(super) fn get(&self, key: &(String, String)) -> Option<&'s EventId> {
        if self.conflicted_keys.binary_search(&key).is_ok() {
            return None;
        }
        self.first?.get(key)
    }

    /// The unconflicted state map with the entries of `others` whose keys
    /// it lacks: step 5 of the algorithm, when `others` is the state the
    /// iterative auth checks built.
    pub(super) fn into_state_map(self, others: StateMap) -> StateMap {
        let Some(first) = self.first else {
            return others;
        };
        let mut state = first.clone();
        for key in &self.conflicted_keys {
            state.remove(*key);
        }
        for (key, id) in others {
            if self.get(&key).is_none() {
                state.insert(key, id);
            }
        }
        state
    }

    /// The unconflicted state map alone.
    #[cfg(test)]
    pub(super) fn to_state_map(&self) -> StateMap {
        Unconflicted {
            first: self.first,
            conflicted_keys: self.conflicted_keys.clone(),
            ids: Vec::new(),
        }
        .into_state_map(StateMap::new())
    }
}

impl<'s> Conflicts<'s> {
    /// Splits `state_sets`. `with_subgraph` adds the conflicted state
    /// subgraph to the full conflicted set, as v2.1 does.
    pub(super) fn find(
        state_sets: &'s [StateMap],
        events: &(impl EventSource + ?Sized),
        with_subgraph: bool,
    ) -> Result<Self, StateResError> {
        let Split {
            unconflicted,
            conflicted,
            conflicted_by_set,
        } = split(state_sets);
        let mut full_conflicted_set = auth_difference(&unconflicted, &conflicted_by_set, events)?;
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

/// The state sets split into what they agree on and the rest.
struct Split<'s> {
    unconflicted: Unconflicted<'s>,
    conflicted: BTreeSet<EventId>,
    /// The conflicted events of each state set.
    conflicted_by_set: Vec<Vec<&'s EventId>>,
}

/// The unconflicted state map and the conflicted state set. A key missing
/// from some state set is conflicted, even if all the others agree.
///
/// The state maps are sorted by key, so this walks them side by side once
/// rather than looking each key up in every set.
fn split(state_sets: &[StateMap]) -> Split<'_> {
    let mut heads: Vec<_> = state_sets.iter().map(|set| set.iter().peekable()).collect();
    let mut unconflicted_ids = Vec::new();
    let mut conflicted_keys = Vec::new();
    let mut conflicted = BTreeSet::new();
    let mut conflicted_by_set = vec![Vec::new(); state_sets.len()];
    // The event each set has for the current key, if any.
    let mut ids: Vec<Option<&EventId>> = Vec::with_capacity(state_sets.len());
    loop {
        ids.clear();
        // Mostly every set has the same next key: checking that first costs
        // one comparison per set instead of finding the smallest key.
        let first_key = heads
            .first_mut()
            .and_then(|head| head.peek().map(|&(key, _)| key));
        let all_same = first_key.is_some_and(|first_key| {
            heads[1..].iter_mut().all(|head| {
                head.peek()
                    .is_some_and(|&(key, _)| std::ptr::eq(key, first_key) || key == first_key)
            })
        });
        let key = if all_same {
            ids.extend(heads.iter_mut().map(|head| head.next().map(|(_, id)| id)));
            first_key.expect("checked")
        } else {
            let Some(key) = heads
                .iter_mut()
                .filter_map(|head| head.peek().map(|&(key, _)| key))
                .min()
            else {
                break;
            };
            ids.extend(heads.iter_mut().map(|head| {
                head.next_if(|&(head_key, _)| head_key == key)
                    .map(|(_, id)| id)
            }));
            key
        };
        match ids.first() {
            Some(&Some(first)) if ids.iter().all(|&id| id == Some(first)) => {
                unconflicted_ids.push(first);
            }
            _ => {
                conflicted_keys.push(key);
                for (set, id) in ids.iter().enumerate() {
                    if let Some(id) = *id {
                        conflicted_by_set[set].push(id);
                        conflicted.insert(id.clone());
                    }
                }
            }
        }
    }
    Split {
        unconflicted: Unconflicted {
            first: state_sets.first(),
            // In key order, as the walk went.
            conflicted_keys,
            ids: unconflicted_ids,
        },
        conflicted,
        conflicted_by_set,
    }
}

/// The auth chain of the events `starts`: every event reachable through
/// `auth_events`, not counting the starting events themselves unless one
/// cites another.
pub(super) fn auth_chain<'a, 's>(
    starts: impl IntoIterator<Item = &'s EventId>,
    events: &'a (impl EventSource + ?Sized),
) -> Result<BTreeSet<&'a EventId>, StateResError> {
    auth_chain_outside(starts, events, &BTreeSet::new())
}

/// The part of the auth chain of `starts` outside `known`, an auth chain
/// the caller already has: the walk goes no further than an event of
/// `known`, whose own auth chain is in `known` too.
fn auth_chain_outside<'a, 's>(
    starts: impl IntoIterator<Item = &'s EventId>,
    events: &'a (impl EventSource + ?Sized),
    known: &BTreeSet<&'a EventId>,
) -> Result<BTreeSet<&'a EventId>, StateResError> {
    let mut chain = BTreeSet::new();
    let mut pending: Vec<&'a EventId> = Vec::new();
    for start in starts {
        pending.extend(fetch(events, start)?.auth_events());
    }
    while let Some(id) = pending.pop() {
        if !known.contains(id) && chain.insert(id) {
            pending.extend(fetch(events, id)?.auth_events());
        }
    }
    Ok(chain)
}

/// The events in some but not all of the state sets' full auth chains.
///
/// The unconflicted events are in every state set, so the auth chain `A`
/// of theirs is in every full auth chain: each full auth chain is `A`
/// together with the part `B`ᵢ of the auth chain of the set's other events
/// that lies outside `A`, and the auth difference is ∪`B`ᵢ − ∩`B`ᵢ. `A`
/// is walked once, however many sets there are, and the `B`ᵢ are small.
fn auth_difference(
    unconflicted: &Unconflicted<'_>,
    conflicted_by_set: &[Vec<&EventId>],
    events: &(impl EventSource + ?Sized),
) -> Result<BTreeSet<EventId>, StateResError> {
    let common = auth_chain(unconflicted.ids.iter().copied(), events)?;
    let chains = conflicted_by_set
        .iter()
        .map(|own| auth_chain_outside(own.iter().copied(), events, &common))
        .collect::<Result<Vec<_>, _>>()?;
    let union: BTreeSet<&EventId> = chains.iter().flatten().copied().collect();
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
    let mut reachable: BTreeSet<&EventId> = auth_chain(conflicted, events)?;
    reachable.extend(conflicted);

    let mut cited_by: BTreeMap<&EventId, Vec<&EventId>> = BTreeMap::new();
    for &id in &reachable {
        for auth_id in fetch(events, id)?.auth_events() {
            if let Some(&auth_id) = reachable.get(auth_id) {
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
