//! Room state as a persistent hash trie over interned numbers.
//!
//! A state maps `(event type, state key)` to an event. It is stored as a
//! trie of immutable nodes keyed by a hash of the key, four bits per level:
//! a branch has 16 children, a leaf holds up to [`LEAF_CAPACITY`] entries.
//! Changing one entry writes new nodes along one path (a leaf and a few
//! branches) and shares everything else with the previous state, so a join
//! in a room of 10,000 members costs a few hundred bytes, not a copy of the
//! member list. Nodes are content-addressed in storage, so identical states
//! are stored once.
//!
//! This module is pure: it works on nodes it is given ([`Nodes`]) and says
//! which ones it still needs; loading and storing them is the store's job.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// The interned `(event type, state key)` of a state entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateKey {
    pub type_nid: i32,
    pub state_key_nid: i64,
}

/// An event, by its interned number.
pub type EventNid = i64;
/// A stored node, by its number.
pub type NodeNid = i64;

/// Leaves split into a branch beyond this many entries.
pub const LEAF_CAPACITY: usize = 32;
const FANOUT: usize = 16;
/// 64 hash bits, four per level; below this depth leaves grow instead of
/// splitting (which only a hash collision on all 64 bits would reach).
const MAX_DEPTH: u32 = 16;

/// A stored node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Children by hash nibble; 0 is an empty slot.
    Branch(Box<[NodeNid; FANOUT]>),
    /// Entries sorted by key.
    Leaf(Vec<(StateKey, EventNid)>),
}

impl Node {
    pub fn empty() -> Self {
        Node::Leaf(Vec::new())
    }

    /// The SHA-256 its storage deduplicates on.
    pub fn content_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        match self {
            Node::Branch(children) => {
                hasher.update(b"b");
                for child in children.iter() {
                    hasher.update(child.to_be_bytes());
                }
            }
            Node::Leaf(entries) => {
                hasher.update(b"l");
                for (key, event) in entries {
                    hasher.update(key.type_nid.to_be_bytes());
                    hasher.update(key.state_key_nid.to_be_bytes());
                    hasher.update(event.to_be_bytes());
                }
            }
        }
        hasher.finalize().into()
    }
}

/// A fixed, process-independent hash of a key: every node and process
/// must place a key on the same path.
fn key_hash(key: StateKey) -> u64 {
    fn mix(mut z: u64) -> u64 {
        // splitmix64's finaliser: good avalanche, no state.
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    mix(mix(key.type_nid as u32 as u64) ^ key.state_key_nid as u64)
}

fn nibble(hash: u64, depth: u32) -> usize {
    ((hash >> (60 - 4 * depth)) & 0xf) as usize
}

/// The nodes at hand, by number.
pub type Nodes = HashMap<NodeNid, Arc<Node>>;

/// Where the trie functions find nodes: a map, a cache, or layers of both.
pub trait NodeSource {
    fn node(&self, nid: NodeNid) -> Option<Arc<Node>>;
}

impl NodeSource for Nodes {
    fn node(&self, nid: NodeNid) -> Option<Arc<Node>> {
        self.get(&nid).cloned()
    }
}

/// What a read needs before it can answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Need<T> {
    Done(T),
    /// These nodes must be loaded first.
    Nodes(Vec<NodeNid>),
}

/// The event at `key` in the state rooted at `root`, if any.
pub fn lookup(nodes: &impl NodeSource, root: NodeNid, key: StateKey) -> Need<Option<EventNid>> {
    let hash = key_hash(key);
    let mut current = root;
    for depth in 0..=MAX_DEPTH {
        let Some(node) = nodes.node(current) else {
            return Need::Nodes(vec![current]);
        };
        match node.as_ref() {
            Node::Leaf(entries) => {
                return Need::Done(
                    entries
                        .binary_search_by_key(&key, |(k, _)| *k)
                        .ok()
                        .map(|at| entries[at].1),
                );
            }
            Node::Branch(children) => {
                let child = children[nibble(hash, depth.min(MAX_DEPTH - 1))];
                if child == 0 {
                    return Need::Done(None);
                }
                current = child;
            }
        }
    }
    Need::Done(None)
}

/// Every entry of the state rooted at `root`, sorted by key.
pub fn entries(nodes: &impl NodeSource, root: NodeNid) -> Need<Vec<(StateKey, EventNid)>> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    let mut stack = vec![root];
    while let Some(nid) = stack.pop() {
        match nodes.node(nid).as_deref() {
            None => missing.push(nid),
            Some(Node::Leaf(entries)) => out.extend_from_slice(entries),
            Some(Node::Branch(children)) => {
                stack.extend(children.iter().copied().filter(|&c| c != 0));
            }
        }
    }
    if !missing.is_empty() {
        return Need::Nodes(missing);
    }
    out.sort_unstable_by_key(|(key, _)| *key);
    Need::Done(out)
}

/// The entries of the state rooted at `new` that the state rooted at
/// `old` does not hold (it lacks the key, or has another event there),
/// sorted by key. Subtrees both states share are skipped unread: two
/// states a few changes apart cost a few paths, whatever their size.
pub fn changed(
    nodes: &impl NodeSource,
    new: NodeNid,
    old: NodeNid,
) -> Need<Vec<(StateKey, EventNid)>> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    // Pairs of subtrees at the same place in both tries; 0 is empty.
    let mut stack = vec![(new, old)];
    while let Some((new, old)) = stack.pop() {
        if new == old || new == 0 {
            continue;
        }
        let old_node = match old {
            0 => Some(Arc::new(Node::empty())),
            nid => nodes.node(nid),
        };
        let (Some(new_node), Some(old_node)) = (nodes.node(new), old_node) else {
            missing.extend(
                [new, old]
                    .into_iter()
                    .filter(|&nid| nodes.node(nid).is_none() && nid != 0),
            );
            continue;
        };
        if let (Node::Branch(new_children), Node::Branch(old_children)) =
            (new_node.as_ref(), old_node.as_ref())
        {
            stack.extend(
                new_children
                    .iter()
                    .copied()
                    .zip(old_children.iter().copied()),
            );
            continue;
        }
        // A leaf on either side: compare the subtrees' entries.
        let old_entries = match old {
            0 => Need::Done(Vec::new()),
            nid => entries(nodes, nid),
        };
        match (entries(nodes, new), old_entries) {
            (Need::Done(new_entries), Need::Done(old_entries)) => {
                let old_entries: HashMap<StateKey, EventNid> = old_entries.into_iter().collect();
                out.extend(
                    new_entries
                        .into_iter()
                        .filter(|(key, event)| old_entries.get(key) != Some(event)),
                );
            }
            (new_need, old_need) => {
                for need in [new_need, old_need] {
                    if let Need::Nodes(nids) = need {
                        missing.extend(nids);
                    }
                }
            }
        }
    }
    if !missing.is_empty() {
        missing.sort_unstable();
        missing.dedup();
        return Need::Nodes(missing);
    }
    out.sort_unstable_by_key(|(key, _)| *key);
    Need::Done(out)
}

/// A reference to a node that is either stored or new in this edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRef {
    Stored(NodeNid),
    New(usize),
}

/// A node made by an edit, whose children may be new too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewNode {
    Branch(Box<[Option<NodeRef>; FANOUT]>),
    Leaf(Vec<(StateKey, EventNid)>),
}

impl NodeRef {
    /// The stored number, given the numbers the edit's new nodes got.
    pub fn resolve(self, assigned: &[NodeNid]) -> NodeNid {
        match self {
            NodeRef::Stored(nid) => nid,
            NodeRef::New(index) => assigned[index],
        }
    }
}

impl NewNode {
    /// The node to store, given the numbers the nodes before it got
    /// (an edit lists children before their parents).
    pub fn resolve(self, assigned: &[NodeNid]) -> Node {
        match self {
            NewNode::Leaf(entries) => Node::Leaf(entries),
            NewNode::Branch(slots) => Node::Branch(Box::new(std::array::from_fn(|i| {
                slots[i].map_or(0, |child| child.resolve(assigned))
            }))),
        }
    }
}

/// The outcome of [`apply`]: new nodes, children before parents, and the
/// new root (possibly an unchanged stored one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub nodes: Vec<NewNode>,
    pub root: NodeRef,
}

/// The state rooted at `root` with `changes` applied (`None` removes the
/// key). Returns [`Need::Nodes`] until every node on the changed paths is
/// in `nodes`.
pub fn apply(
    nodes: &impl NodeSource,
    root: NodeNid,
    changes: &BTreeMap<StateKey, Option<EventNid>>,
) -> Need<Edit> {
    let hashed: Vec<(u64, StateKey, Option<EventNid>)> = changes
        .iter()
        .map(|(key, value)| (key_hash(*key), *key, *value))
        .collect();
    let missing = missing_on_paths(nodes, root, &hashed);
    if !missing.is_empty() {
        return Need::Nodes(missing);
    }
    let mut edit = Editor {
        nodes,
        new: Vec::new(),
    };
    let root = edit.apply(Some(NodeRef::Stored(root)), 0, &hashed);
    let root = match root {
        Some(root) => root,
        None => edit.push(NewNode::Leaf(Vec::new())),
    };
    Need::Done(Edit {
        nodes: edit.new,
        root,
    })
}

fn missing_on_paths(
    nodes: &impl NodeSource,
    root: NodeNid,
    changes: &[(u64, StateKey, Option<EventNid>)],
) -> Vec<NodeNid> {
    let mut missing = Vec::new();
    let mut level = vec![(root, changes.to_vec())];
    let mut depth = 0;
    while !level.is_empty() && depth <= MAX_DEPTH {
        let mut next = Vec::new();
        for (nid, group) in level {
            match nodes.node(nid).as_deref() {
                None => missing.push(nid),
                Some(Node::Leaf(_)) => {}
                Some(Node::Branch(children)) => {
                    for (slot, part) in by_nibble(&group, depth) {
                        if children[slot] != 0 {
                            next.push((children[slot], part));
                        }
                    }
                }
            }
        }
        level = next;
        depth += 1;
    }
    missing.sort_unstable();
    missing.dedup();
    missing
}

fn by_nibble(
    changes: &[(u64, StateKey, Option<EventNid>)],
    depth: u32,
) -> BTreeMap<usize, Vec<(u64, StateKey, Option<EventNid>)>> {
    let mut groups: BTreeMap<usize, Vec<_>> = BTreeMap::new();
    for change in changes {
        groups
            .entry(nibble(change.0, depth.min(MAX_DEPTH - 1)))
            .or_default()
            .push(*change);
    }
    groups
}

struct Editor<'a, S: NodeSource> {
    nodes: &'a S,
    new: Vec<NewNode>,
}

impl<S: NodeSource> Editor<'_, S> {
    fn push(&mut self, node: NewNode) -> NodeRef {
        self.new.push(node);
        NodeRef::New(self.new.len() - 1)
    }

    /// The subtree at `node` (absent: empty) with `changes` applied;
    /// `None` when the result is empty below the root.
    fn apply(
        &mut self,
        node: Option<NodeRef>,
        depth: u32,
        changes: &[(u64, StateKey, Option<EventNid>)],
    ) -> Option<NodeRef> {
        let stored = match node {
            Some(NodeRef::Stored(nid)) => Some(
                self.nodes
                    .node(nid)
                    .expect("apply() checked that every node on the path is loaded"),
            ),
            _ => None,
        };
        match stored.as_deref() {
            Some(Node::Branch(children)) => {
                let mut slots: [Option<NodeRef>; FANOUT] = std::array::from_fn(|i| {
                    (children[i] != 0).then_some(NodeRef::Stored(children[i]))
                });
                let mut changed = false;
                for (slot, part) in by_nibble(changes, depth) {
                    let before = slots[slot];
                    slots[slot] = self.apply(before, depth + 1, &part);
                    changed |= slots[slot] != before;
                }
                if !changed {
                    return node;
                }
                if slots.iter().all(Option::is_none) {
                    return None;
                }
                Some(self.push(NewNode::Branch(Box::new(slots))))
            }
            Some(Node::Leaf(entries)) => {
                self.leaf(node, entries.iter().map(|(k, e)| (*k, *e)), depth, changes)
            }
            None => self.leaf(None, std::iter::empty(), depth, changes),
        }
    }

    fn leaf(
        &mut self,
        node: Option<NodeRef>,
        entries: impl Iterator<Item = (StateKey, EventNid)>,
        depth: u32,
        changes: &[(u64, StateKey, Option<EventNid>)],
    ) -> Option<NodeRef> {
        let mut map: BTreeMap<StateKey, EventNid> = entries.collect();
        let before = map.clone();
        for (_, key, value) in changes {
            match value {
                Some(event) => map.insert(*key, *event),
                None => map.remove(key),
            };
        }
        if node.is_some() && map == before {
            return node;
        }
        if map.is_empty() {
            return None;
        }
        if map.len() <= LEAF_CAPACITY || depth >= MAX_DEPTH {
            return Some(self.push(NewNode::Leaf(map.into_iter().collect())));
        }
        // Too full: spread the entries over a branch one level down.
        let all: Vec<(u64, StateKey, Option<EventNid>)> = map
            .into_iter()
            .map(|(key, event)| (key_hash(key), key, Some(event)))
            .collect();
        let mut slots: [Option<NodeRef>; FANOUT] = [None; FANOUT];
        for (slot, part) in by_nibble(&all, depth) {
            slots[slot] = self.apply(None, depth + 1, &part);
        }
        Some(self.push(NewNode::Branch(Box::new(slots))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Stores an edit's nodes the way the store does, numbering from
    /// `next`, and returns the new root.
    fn store(nodes: &mut Nodes, edit: Edit, next: &mut NodeNid) -> NodeNid {
        let mut assigned = Vec::new();
        for node in edit.nodes {
            *next += 1;
            nodes.insert(*next, Arc::new(node.resolve(&assigned)));
            assigned.push(*next);
        }
        edit.root.resolve(&assigned)
    }

    fn key(t: i32, s: i64) -> StateKey {
        StateKey {
            type_nid: t,
            state_key_nid: s,
        }
    }

    fn done<T: std::fmt::Debug>(need: Need<T>) -> T {
        match need {
            Need::Done(value) => value,
            Need::Nodes(missing) => panic!("missing nodes {missing:?}"),
        }
    }

    #[test]
    fn a_change_in_a_large_state_writes_one_short_path() {
        let mut nodes = Nodes::new();
        let mut next = 1;
        nodes.insert(1, Arc::new(Node::empty()));
        let members: BTreeMap<_, _> = (0..10_000).map(|i| (key(1, i), Some(i))).collect();
        let edit = done(apply(&nodes, 1, &members));
        let root = store(&mut nodes, edit, &mut next);
        assert_eq!(done(entries(&nodes, root)).len(), 10_000);

        let join = BTreeMap::from([(key(1, 20_000), Some(20_000))]);
        let edit = done(apply(&nodes, root, &join));
        assert!(edit.nodes.len() <= 5, "{} nodes", edit.nodes.len());
        let after = store(&mut nodes, edit, &mut next);
        assert_eq!(done(lookup(&nodes, after, key(1, 20_000))), Some(20_000));
        assert_eq!(done(lookup(&nodes, root, key(1, 20_000))), None);
        assert_eq!(done(lookup(&nodes, after, key(1, 42))), Some(42));
    }

    #[test]
    fn missing_nodes_are_reported_not_guessed() {
        let nodes = Nodes::new();
        assert_eq!(lookup(&nodes, 7, key(1, 1)), Need::Nodes(vec![7]));
        assert_eq!(
            apply(&nodes, 7, &BTreeMap::from([(key(1, 1), Some(1))])),
            Need::Nodes(vec![7])
        );
    }

    #[test]
    fn an_unchanged_state_keeps_its_root() {
        let mut nodes = Nodes::new();
        let mut next = 1;
        nodes.insert(1, Arc::new(Node::empty()));
        let set = BTreeMap::from([(key(2, 3), Some(9))]);
        let edit = done(apply(&nodes, 1, &set));
        let root = store(&mut nodes, edit, &mut next);
        let edit = done(apply(&nodes, root, &set));
        assert_eq!(edit.root, NodeRef::Stored(root));
        assert!(edit.nodes.is_empty());
    }

    proptest! {
        /// Whatever the sequence of changes, the trie answers like a map,
        /// and tells what changed from one state to the next.
        #[test]
        fn behaves_like_a_map(
            batches in prop::collection::vec(
                prop::collection::btree_map((0i32..4, 0i64..300), prop::option::of(0i64..1000), 1..60),
                1..12,
            )
        ) {
            let mut nodes = Nodes::new();
            let mut next = 1;
            nodes.insert(1, Arc::new(Node::empty()));
            let mut root = 1;
            let mut model = BTreeMap::new();
            let mut previous = BTreeMap::new();
            for batch in batches {
                let changes: BTreeMap<StateKey, Option<EventNid>> =
                    batch.into_iter().map(|((t, s), v)| (key(t, s), v)).collect();
                for (k, v) in &changes {
                    match v {
                        Some(e) => { model.insert(*k, *e); }
                        None => { model.remove(k); }
                    }
                }
                let edit = done(apply(&nodes, root, &changes));
                let before = std::mem::replace(&mut previous, model.clone());
                let old_root = root;
                root = store(&mut nodes, edit, &mut next);
                let listed: BTreeMap<_, _> = done(entries(&nodes, root)).into_iter().collect();
                prop_assert_eq!(&listed, &model);
                let expected: Vec<_> = model
                    .iter()
                    .filter(|(k, e)| before.get(k) != Some(e))
                    .map(|(k, e)| (*k, *e))
                    .collect();
                prop_assert_eq!(done(changed(&nodes, root, old_root)), expected);
                prop_assert_eq!(done(changed(&nodes, root, root)), vec![]);
                for (k, e) in &model {
                    prop_assert_eq!(done(lookup(&nodes, root, *k)), Some(*e));
                }
            }
        }
    }
}
