//! The split of the state sets into what they agree on and what has to be
//! resolved: the unconflicted state map and the full conflicted set.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::graph::{EventBits, EventGraph, EventIndex};
use super::NumberedState;

/// The state sets, split.
#[derive(Debug)]
pub(super) struct Conflicts<'s, K> {
    /// The entries present in every state set with the same event.
    pub(super) unconflicted: Unconflicted<'s, K>,
    /// The events to resolve: the conflicted state set, the auth difference
    /// and, in v2.1, the conflicted state subgraph.
    pub(super) full_conflicted_set: BTreeSet<EventIndex>,
}

/// The unconflicted state map, as a view of the state sets: the first
/// set's entries less the conflicted keys. Nothing is copied until the
/// resolved state is built from it.
#[derive(Debug)]
pub(super) struct Unconflicted<'s, K> {
    first: Option<&'s NumberedState<K>>,
    /// The keys of the conflicted state set, sorted.
    conflicted_keys: Vec<K>,
    /// The unconflicted events.
    ids: Vec<EventIndex>,
}

impl<K: Ord + Copy> Unconflicted<'_, K> {
    /// The unconflicted event for `key`, if there is one.
    pub(super) fn get(&self, key: &K) -> Option<EventIndex> {
        if self.conflicted_keys.binary_search(key).is_ok() {
            return None;
        }
        self.first?.get(key).copied()
    }

    /// The unconflicted state map with the entries of `others` whose keys
    /// it lacks: step 5 of the algorithm, when `others` is the state the
    /// iterative auth checks built.
    pub(super) fn into_state_map(self, others: NumberedState<K>) -> NumberedState<K> {
        let Some(first) = self.first else {
            return others;
        };
        let mut state = first.clone();
        for key in &self.conflicted_keys {
            state.remove(key);
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
    pub(super) fn to_state_map(&self) -> NumberedState<K> {
        Unconflicted {
            first: self.first,
            conflicted_keys: self.conflicted_keys.clone(),
            ids: Vec::new(),
        }
        .into_state_map(NumberedState::new())
    }
}

impl<'s, K: Ord + Copy> Conflicts<'s, K> {
    /// Splits `state_sets`. `with_subgraph` adds the conflicted state
    /// subgraph to the full conflicted set, as v2.1 does.
    pub(super) fn find(
        state_sets: &'s [NumberedState<K>],
        graph: &EventGraph<'_, K>,
        with_subgraph: bool,
    ) -> Self {
        let Split {
            unconflicted,
            conflicted,
            conflicted_by_set,
        } = split(state_sets);
        let mut full_conflicted_set = auth_difference(&unconflicted, &conflicted_by_set, graph);
        if with_subgraph {
            full_conflicted_set.extend(conflicted_subgraph(&conflicted, graph));
        }
        full_conflicted_set.extend(conflicted);
        Self {
            unconflicted,
            full_conflicted_set,
        }
    }
}

/// The state sets split into what they agree on and the rest.
struct Split<'s, K> {
    unconflicted: Unconflicted<'s, K>,
    conflicted: BTreeSet<EventIndex>,
    /// The conflicted events of each state set.
    conflicted_by_set: Vec<Vec<EventIndex>>,
}

/// The unconflicted state map and the conflicted state set. A key missing
/// from some state set is conflicted, even if all the others agree.
///
/// The state maps are sorted by key, so this walks them side by side once
/// rather than looking each key up in every set.
fn split<K: Ord + Copy>(state_sets: &[NumberedState<K>]) -> Split<'_, K> {
    let mut heads: Vec<_> = state_sets.iter().map(|set| set.iter().peekable()).collect();
    let mut unconflicted_ids = Vec::new();
    let mut conflicted_keys = Vec::new();
    let mut conflicted = BTreeSet::new();
    let mut conflicted_by_set = vec![Vec::new(); state_sets.len()];
    // The event each set has for the current key, if any.
    let mut ids: Vec<Option<EventIndex>> = Vec::with_capacity(state_sets.len());
    loop {
        ids.clear();
        let Some(key) = heads
            .iter_mut()
            .filter_map(|head| head.peek().map(|&(key, _)| *key))
            .min()
        else {
            break;
        };
        ids.extend(heads.iter_mut().map(|head| {
            head.next_if(|&(head_key, _)| *head_key == key)
                .map(|(_, id)| *id)
        }));
        match ids.first() {
            Some(&Some(first)) if ids.iter().all(|&id| id == Some(first)) => {
                unconflicted_ids.push(first);
            }
            _ => {
                conflicted_keys.push(key);
                for (set, id) in ids.iter().enumerate() {
                    if let Some(id) = *id {
                        conflicted_by_set[set].push(id);
                        conflicted.insert(id);
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

/// The events of an auth chain, as a set and in the order they were found.
pub(super) struct AuthChain {
    pub(super) bits: EventBits,
    pub(super) events: Vec<EventIndex>,
}

/// The auth chain of the events `starts`: every event reachable through
/// `auth_events`, not counting the starting events themselves unless one
/// cites another.
pub(super) fn auth_chain<K: Copy>(
    starts: impl IntoIterator<Item = EventIndex>,
    graph: &EventGraph<'_, K>,
) -> AuthChain {
    auth_chain_outside(starts, graph, None)
}

/// The part of the auth chain of `starts` outside `known`, an auth chain
/// the caller already has: the walk goes no further than an event of
/// `known`, whose own auth chain is in `known` too.
fn auth_chain_outside<K: Copy>(
    starts: impl IntoIterator<Item = EventIndex>,
    graph: &EventGraph<'_, K>,
    known: Option<&EventBits>,
) -> AuthChain {
    let mut chain = AuthChain {
        bits: EventBits::new(graph),
        events: Vec::new(),
    };
    let mut pending: Vec<EventIndex> = Vec::new();
    for start in starts {
        pending.extend_from_slice(graph.auth_events(start));
    }
    while let Some(id) = pending.pop() {
        if !known.is_some_and(|known| known.contains(id)) && chain.bits.insert(id) {
            chain.events.push(id);
            pending.extend_from_slice(graph.auth_events(id));
        }
    }
    chain
}

/// The events in some but not all of the state sets' full auth chains.
///
/// The unconflicted events are in every state set, so the auth chain `A`
/// of theirs is in every full auth chain: each full auth chain is `A`
/// together with the part `B`ᵢ of the auth chain of the set's other events
/// that lies outside `A`, and the auth difference is ∪`B`ᵢ − ∩`B`ᵢ. `A`
/// is walked once, however many sets there are, and the `B`ᵢ are small.
fn auth_difference<K: Copy>(
    unconflicted: &Unconflicted<'_, K>,
    conflicted_by_set: &[Vec<EventIndex>],
    graph: &EventGraph<'_, K>,
) -> BTreeSet<EventIndex> {
    let common = auth_chain(unconflicted.ids.iter().copied(), graph);
    // How many of the `B`ᵢ hold each event: each holds it at most once.
    let mut holders: BTreeMap<EventIndex, usize> = BTreeMap::new();
    for own in conflicted_by_set {
        let chain = auth_chain_outside(own.iter().copied(), graph, Some(&common.bits));
        for id in chain.events {
            *holders.entry(id).or_default() += 1;
        }
    }
    holders
        .into_iter()
        .filter(|&(_, count)| count < conflicted_by_set.len())
        .map(|(id, _)| id)
        .collect()
}

/// The conflicted state subgraph: every event on an `auth_events` path from
/// one conflicted event to another, endpoints included.
///
/// An event lies on such a path exactly when it is reachable from a
/// conflicted event and a conflicted event is reachable from it (an event
/// counts as reaching itself). So this walks the auth chains of the
/// conflicted events, then keeps what reaches back to a conflicted event
/// by following the `auth_events` edges backwards.
pub(super) fn conflicted_subgraph<K: Copy>(
    conflicted: &BTreeSet<EventIndex>,
    graph: &EventGraph<'_, K>,
) -> BTreeSet<EventIndex> {
    let mut reachable = auth_chain(conflicted.iter().copied(), graph);
    for &id in conflicted {
        if reachable.bits.insert(id) {
            reachable.events.push(id);
        }
    }

    let mut cited_by: HashMap<EventIndex, Vec<EventIndex>> = HashMap::new();
    for &id in &reachable.events {
        for &auth_id in graph.auth_events(id) {
            if reachable.bits.contains(auth_id) {
                cited_by.entry(auth_id).or_default().push(id);
            }
        }
    }
    let mut subgraph = BTreeSet::new();
    let mut pending: Vec<EventIndex> = conflicted.iter().copied().collect();
    while let Some(id) = pending.pop() {
        if subgraph.insert(id) {
            pending.extend(cited_by.get(&id).into_iter().flatten().copied());
        }
    }
    subgraph
}
