//! Nodes of the room state tries (see `rooms::state_trie`).

use std::sync::Arc;

use deadpool_postgres::GenericClient;

use super::prepared::Prepared;
use super::{Store, StoreError, Write};
use crate::rooms::state_trie::{Node, NodeNid, StateKey};

const NODE_COLUMNS: &str = "node_nid, children, type_nids, state_key_nids, event_nids";

fn node_from_row(row: &tokio_postgres::Row) -> (NodeNid, Arc<Node>) {
    let nid: i64 = row.get(0);
    let children: Option<Vec<i64>> = row.get(1);
    let node = match children {
        Some(children) => {
            let mut slots = [0; 16];
            for (slot, child) in slots.iter_mut().zip(children) {
                *slot = child;
            }
            Node::Branch(Box::new(slots))
        }
        None => {
            let types: Vec<i32> = row.get(2);
            let keys: Vec<i64> = row.get(3);
            let events: Vec<i64> = row.get(4);
            Node::Leaf(
                types
                    .into_iter()
                    .zip(keys)
                    .zip(events)
                    .map(|((type_nid, state_key_nid), event)| {
                        (
                            StateKey {
                                type_nid,
                                state_key_nid,
                            },
                            event,
                        )
                    })
                    .collect(),
            )
        }
    };
    (nid, Arc::new(node))
}

impl Store {
    /// The nodes `nids`.
    pub async fn state_nodes(
        &self,
        nids: &[NodeNid],
    ) -> Result<Vec<(NodeNid, Arc<Node>)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                &format!("SELECT {NODE_COLUMNS} FROM state_nodes WHERE node_nid = ANY($1)"),
                &[&nids],
            )
            .await?;
        Ok(rows.iter().map(node_from_row).collect())
    }

    /// The nodes `roots` and everything below them, in one query.
    pub async fn state_subtrees(
        &self,
        roots: &[NodeNid],
    ) -> Result<Vec<(NodeNid, Arc<Node>)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                &format!(
                    "WITH RECURSIVE tree AS (
                         SELECT {NODE_COLUMNS} FROM state_nodes WHERE node_nid = ANY($1)
                         UNION
                         SELECT n.node_nid, n.children, n.type_nids, n.state_key_nids, n.event_nids
                         FROM tree JOIN state_nodes n ON n.node_nid = ANY(tree.children)
                     )
                     SELECT {NODE_COLUMNS} FROM tree"
                ),
                &[&roots],
            )
            .await?;
        Ok(rows.iter().map(node_from_row).collect())
    }
}

impl Write {
    /// Stores `node` (or finds the identical stored one) and returns its
    /// number.
    pub async fn insert_state_node(&self, node: &Node) -> Result<NodeNid, StoreError> {
        insert_node(self.client(), node).await
    }
}

async fn insert_node(client: &impl GenericClient, node: &Node) -> Result<NodeNid, StoreError> {
    let hash = node.content_hash().to_vec();
    let mut children: Option<Vec<i64>> = None;
    let mut types: Option<Vec<i32>> = None;
    let mut keys: Option<Vec<i64>> = None;
    let mut events: Option<Vec<i64>> = None;
    match node {
        Node::Branch(slots) => children = Some(slots.to_vec()),
        Node::Leaf(entries) => {
            types = Some(entries.iter().map(|(k, _)| k.type_nid).collect());
            keys = Some(entries.iter().map(|(k, _)| k.state_key_nid).collect());
            events = Some(entries.iter().map(|(_, e)| *e).collect());
        }
    }
    let inserted = client
        .cached_query_opt(
            "INSERT INTO state_nodes (hash, children, type_nids, state_key_nids, event_nids)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash) DO NOTHING RETURNING node_nid",
            &[&hash, &children, &types, &keys, &events],
        )
        .await?;
    if let Some(row) = inserted {
        return Ok(row.get(0));
    }
    let existing = client
        .cached_query_one("SELECT node_nid FROM state_nodes WHERE hash = $1", &[&hash])
        .await?;
    Ok(existing.get(0))
}
