//! Bundled aggregations (`unsigned.m.relations`): what the server sums up
//! of an event's children when it serves the event. Threads (`m.thread`:
//! count, latest reply, participation), the latest valid edit
//! (`m.replace`) and references (`m.reference`). Annotations are not
//! aggregated, state events get none (both as the spec says), and only
//! children the viewer may see are counted in.

use std::collections::HashMap;
use std::sync::Arc;

use hanse_protocol::canonical_json::CanonicalJsonValue;
use serde_json::{json, Map, Value};

use super::events::StoredEvent;
use super::state_trie::EventNid;
use super::visibility::Reader;
use crate::accounts::Session;
use crate::store::ThreadSummaryRow;
use crate::{Homeserver, Result};

/// Thread replies looked at, newest first, for the latest one the viewer
/// may see; a thread whose newest replies are all hidden shows none.
const LATEST_CANDIDATES: i32 = 8;

/// The aggregations of some events, and the latest thread replies they
/// name (rendered by the caller, with their own aggregations).
#[derive(Debug, Default)]
pub(crate) struct Bundles {
    pub relations: HashMap<EventNid, Map<String, Value>>,
    /// Thread root -> its latest reply the viewer may see.
    pub latest_replies: HashMap<EventNid, Arc<StoredEvent>>,
}

impl Homeserver {
    /// The bundled aggregations of `events` (all of one room) for `viewer`;
    /// threads only when `threads` (the latest reply of a thread gets its
    /// edits and references, not a thread of its own).
    pub(crate) async fn bundled_aggregations(
        &self,
        viewer: &Session,
        events: &[Arc<StoredEvent>],
        threads: bool,
    ) -> Result<Bundles> {
        let parents: Vec<&Arc<StoredEvent>> = events
            .iter()
            .filter(|event| event.pdu.state_key().is_none())
            .collect();
        let mut bundles = Bundles::default();
        let Some(first) = parents.first() else {
            return Ok(bundles);
        };
        let nids: Vec<EventNid> = parents.iter().map(|event| event.nid).collect();
        let summaries = if threads {
            let viewer_id = viewer.user_id.as_str();
            let sender = self
                .rooms
                .interner
                .keys(&self.store, &[viewer_id], false)
                .await?
                .get(viewer_id)
                .copied();
            self.store
                .thread_summaries(&nids, sender, LATEST_CANDIDATES)
                .await?
        } else {
            Vec::new()
        };
        let children = self.store.edits_and_references(&nids).await?;
        if summaries.is_empty() && children.is_empty() {
            // Most pages: nothing to sum up, and no reader needed.
            return Ok(bundles);
        }
        let room = self.room(first.pdu.room_id()).await?;
        let reader = self.reader(&room, &viewer.user_id).await?;
        self.bundle_threads(viewer, &reader, &parents, summaries, &mut bundles)
            .await?;
        self.bundle_edits_and_references(&reader, &parents, children, &mut bundles)
            .await?;
        Ok(bundles)
    }

    async fn bundle_threads(
        &self,
        viewer: &Session,
        reader: &Reader,
        roots: &[&Arc<StoredEvent>],
        summaries: Vec<ThreadSummaryRow>,
        bundles: &mut Bundles,
    ) -> Result<()> {
        for summary in summaries {
            let Some(root) = roots.iter().find(|root| root.nid == summary.root) else {
                continue;
            };
            let mut latest = None;
            for candidate in self.events(&summary.newest).await? {
                if candidate.room_nid == root.room_nid && self.may_see(reader, &candidate).await? {
                    latest = Some(candidate);
                    break;
                }
            }
            let Some(latest) = latest else { continue };
            let participated = summary.participated || root.pdu.sender() == &viewer.user_id;
            bundles.relations.entry(root.nid).or_default().insert(
                "m.thread".into(),
                json!({
                    // Filled in with the rendered reply by the caller.
                    "latest_event": Value::Null,
                    "count": summary.count,
                    "current_user_participated": participated,
                }),
            );
            bundles.latest_replies.insert(root.nid, latest);
        }
        Ok(())
    }

    async fn bundle_edits_and_references(
        &self,
        reader: &Reader,
        parents: &[&Arc<StoredEvent>],
        children: Vec<(EventNid, String, EventNid)>,
        bundles: &mut Bundles,
    ) -> Result<()> {
        if children.is_empty() {
            return Ok(());
        }
        let child_nids: Vec<EventNid> = children.iter().map(|(_, _, child)| *child).collect();
        let loaded: HashMap<EventNid, Arc<StoredEvent>> = self
            .events(&child_nids)
            .await?
            .into_iter()
            .map(|event| (event.nid, event))
            .collect();
        let mut edits: HashMap<EventNid, Arc<StoredEvent>> = HashMap::new();
        let mut references: HashMap<EventNid, Vec<Value>> = HashMap::new();
        for (parent_nid, rel_type, child_nid) in children {
            let (Some(parent), Some(child)) = (
                parents.iter().find(|parent| parent.nid == parent_nid),
                loaded.get(&child_nid),
            ) else {
                continue;
            };
            if child.room_nid != parent.room_nid || !self.may_see(reader, child).await? {
                continue;
            }
            if rel_type == "m.reference" {
                references
                    .entry(parent_nid)
                    .or_default()
                    .push(json!({ "event_id": child.pdu.event_id().as_str() }));
            } else if valid_edit(parent, child) {
                let newer = edits.get(&parent_nid).is_none_or(|current| {
                    (child.pdu.origin_server_ts(), child.pdu.event_id().as_str())
                        > (
                            current.pdu.origin_server_ts(),
                            current.pdu.event_id().as_str(),
                        )
                });
                if newer {
                    edits.insert(parent_nid, child.clone());
                }
            }
        }
        for (parent, edit) in edits {
            bundles
                .relations
                .entry(parent)
                .or_default()
                .insert("m.replace".into(), edit.client_format());
        }
        for (parent, chunk) in references {
            bundles
                .relations
                .entry(parent)
                .or_default()
                .insert("m.reference".into(), json!({ "chunk": chunk }));
        }
        Ok(())
    }
}

/// The spec's validity of a replacement: same sender and type, neither a
/// state event, the original not itself an edit, and new content (which
/// an encrypted edit carries inside its ciphertext).
fn valid_edit(original: &StoredEvent, edit: &StoredEvent) -> bool {
    let (original, edit) = (&original.pdu, &edit.pdu);
    let is_edit = |content: &hanse_protocol::canonical_json::CanonicalJsonObject| {
        matches!(
            content.get("m.relates_to"),
            Some(CanonicalJsonValue::Object(relation))
                if relation.get("rel_type").and_then(CanonicalJsonValue::as_str) == Some("m.replace")
        )
    };
    original.sender() == edit.sender()
        && original.event_type() == edit.event_type()
        && original.state_key().is_none()
        && edit.state_key().is_none()
        && !is_edit(original.content())
        && (edit.event_type() == "m.room.encrypted"
            || matches!(
                edit.content().get("m.new_content"),
                Some(CanonicalJsonValue::Object(_))
            ))
}
