//! Reading and changing room states: the state trie over the store, with
//! a bounded cache of its immutable nodes and of interned strings.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use super::state_trie::{self, Edit, EventNid, Need, Node, NodeNid, NodeSource, Nodes, StateKey};
use crate::store::Store;
use crate::Result;

/// Nodes never change once stored, so a cached node is never stale.
pub(crate) struct NodeCache {
    nodes: Mutex<LruCache<NodeNid, Arc<Node>>>,
}

impl NodeCache {
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            nodes: Mutex::new(LruCache::new(capacity)),
        }
    }

    pub fn insert(&self, nid: NodeNid, node: Arc<Node>) {
        self.lock().put(nid, node);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<NodeNid, Arc<Node>>> {
        // A panic while holding the lock cannot leave the cache
        // inconsistent: every operation on it is a single LRU call.
        crate::lock(&self.nodes)
    }
}

impl NodeSource for NodeCache {
    fn node(&self, nid: NodeNid) -> Option<Arc<Node>> {
        self.lock().get(&nid).cloned()
    }
}

/// Nodes loaded for one operation, in front of the shared cache: an
/// operation that needs more nodes than the cache holds still finishes.
pub(crate) struct Layered<'a> {
    pub local: Nodes,
    pub cache: &'a NodeCache,
}

impl NodeSource for Layered<'_> {
    fn node(&self, nid: NodeNid) -> Option<Arc<Node>> {
        self.local
            .get(&nid)
            .cloned()
            .or_else(|| self.cache.node(nid))
    }
}

impl<'a> Layered<'a> {
    pub fn new(cache: &'a NodeCache) -> Self {
        Self {
            local: Nodes::new(),
            cache,
        }
    }

    /// Loads `missing` (and, for `subtrees`, everything below them).
    async fn load(&mut self, store: &Store, missing: &[NodeNid], subtrees: bool) -> Result<()> {
        let loaded = if subtrees {
            store.state_subtrees(missing).await?
        } else {
            store.state_nodes(missing).await?
        };
        if loaded.is_empty() {
            return Err(crate::Error::Internal(format!(
                "state nodes {missing:?} are referenced but not stored"
            )));
        }
        for (nid, node) in loaded {
            self.cache.insert(nid, node.clone());
            self.local.insert(nid, node);
        }
        Ok(())
    }

    /// The events at `keys` in the state rooted at `root`.
    pub async fn lookup(
        &mut self,
        store: &Store,
        root: NodeNid,
        keys: &[StateKey],
    ) -> Result<Vec<Option<EventNid>>> {
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            loop {
                match state_trie::lookup(self, root, *key) {
                    Need::Done(event) => {
                        found.push(event);
                        break;
                    }
                    Need::Nodes(missing) => self.load(store, &missing, false).await?,
                }
            }
        }
        Ok(found)
    }

    /// Every entry of the state rooted at `root`.
    pub async fn entries(
        &mut self,
        store: &Store,
        root: NodeNid,
    ) -> Result<Vec<(StateKey, EventNid)>> {
        loop {
            match state_trie::entries(self, root) {
                Need::Done(entries) => return Ok(entries),
                Need::Nodes(missing) => self.load(store, &missing, true).await?,
            }
        }
    }

    /// The entries of the state rooted at `new` that the state rooted at
    /// `old` does not hold.
    pub async fn changed(
        &mut self,
        store: &Store,
        new: NodeNid,
        old: NodeNid,
    ) -> Result<Vec<(StateKey, EventNid)>> {
        loop {
            match state_trie::changed(self, new, old) {
                Need::Done(entries) => return Ok(entries),
                Need::Nodes(missing) => self.load(store, &missing, false).await?,
            }
        }
    }

    /// The edit that applies `changes` to the state rooted at `root`.
    pub async fn apply(
        &mut self,
        store: &Store,
        root: NodeNid,
        changes: &BTreeMap<StateKey, Option<EventNid>>,
    ) -> Result<Edit> {
        loop {
            match state_trie::apply(self, root, changes) {
                Need::Done(edit) => return Ok(edit),
                Need::Nodes(missing) => self.load(store, &missing, false).await?,
            }
        }
    }
}

/// Interned event types and state keys, cached.
pub(crate) struct Interner {
    types: InternCache<i32>,
    keys: InternCache<i64>,
}

/// Strings and their numbers; numbers never change, so entries never go
/// stale.
struct InternCache<N> {
    cache: Mutex<LruCache<String, N>>,
}

impl<N: Copy> InternCache<N> {
    fn new(capacity: NonZeroUsize) -> Self {
        Self {
            cache: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The cached numbers of `names`, and the names not cached.
    fn cached<'n>(&self, names: &[&'n str]) -> (HashMap<String, N>, Vec<&'n str>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        for name in names {
            match cache.get(*name) {
                Some(nid) => {
                    found.insert((*name).to_owned(), *nid);
                }
                None => missing.push(*name),
            }
        }
        (found, missing)
    }

    fn remember(&self, loaded: HashMap<String, N>, found: &mut HashMap<String, N>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        for (name, nid) in loaded {
            cache.put(name.clone(), nid);
            found.insert(name, nid);
        }
    }
}

/// How many event types are kept: there are few in practice.
const TYPE_CACHE: usize = 10_000;

impl Interner {
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            types: InternCache::new(NonZeroUsize::new(TYPE_CACHE).expect("not zero")),
            keys: InternCache::new(capacity),
        }
    }

    /// The number of each event type; with `create`, types not seen before
    /// are interned, otherwise they are left out.
    pub async fn types(
        &self,
        store: &Store,
        names: &[&str],
        create: bool,
    ) -> Result<HashMap<String, i32>> {
        let (mut found, missing) = self.types.cached(names);
        if !missing.is_empty() {
            let loaded = if create {
                store.intern_event_types(&missing).await?
            } else {
                store.event_type_nids(&missing).await?
            };
            self.types.remember(loaded, &mut found);
        }
        Ok(found)
    }

    /// The number of each state key (or user ID), as [`Interner::types`].
    pub async fn keys(
        &self,
        store: &Store,
        names: &[&str],
        create: bool,
    ) -> Result<HashMap<String, i64>> {
        let (mut found, missing) = self.keys.cached(names);
        if !missing.is_empty() {
            let loaded = if create {
                store.intern_state_keys(&missing).await?
            } else {
                store.state_key_nids(&missing).await?
            };
            self.keys.remember(loaded, &mut found);
        }
        Ok(found)
    }

    /// The state keys of `pairs` as numbers; `None` where a type or key was
    /// never interned (so no state can hold it).
    pub async fn state_keys(
        &self,
        store: &Store,
        pairs: &[(&str, &str)],
        create: bool,
    ) -> Result<Vec<Option<StateKey>>> {
        let types: Vec<&str> = pairs.iter().map(|(t, _)| *t).collect();
        let keys: Vec<&str> = pairs.iter().map(|(_, k)| *k).collect();
        let type_nids = self.types(store, &types, create).await?;
        let key_nids = self.keys(store, &keys, create).await?;
        Ok(pairs
            .iter()
            .map(|(t, k)| {
                Some(StateKey {
                    type_nid: *type_nids.get(*t)?,
                    state_key_nid: *key_nids.get(*k)?,
                })
            })
            .collect())
    }
}
