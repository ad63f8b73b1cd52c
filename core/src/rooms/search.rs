//! POST /search: full-text search over the events of the rooms a user is
//! joined to, through history visibility. Encrypted rooms hold only
//! ciphertext, so nothing in them is found.

use std::collections::HashMap;
use std::sync::Arc;

use hanse_protocol::identifiers::RoomId;
use serde_json::{json, Map, Value};

use super::events::StoredEvent;
use super::timeline::{token, MessagesQuery};
use super::visibility::Reader;
use crate::accounts::Session;
use crate::filters::RoomEventFilter;
use crate::store::{SearchFrom, SearchHit};
use crate::{Error, Homeserver, Result};

/// The parts of an event searched, as the spec names them.
pub const SEARCH_KEYS: [(&str, char); 3] = [
    ("content.body", 'a'),
    ("content.name", 'b'),
    ("content.topic", 'c'),
];

/// What `search_categories.room_events` asks.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub term: String,
    /// Empty: all of [`SEARCH_KEYS`].
    pub keys: Vec<String>,
    pub filter: RoomEventFilter,
    pub by_rank: bool,
    pub next_batch: Option<String>,
    pub context: Option<ContextQuery>,
    pub include_state: bool,
    pub group_by_room: bool,
    pub group_by_sender: bool,
}

/// How much surrounding timeline each result comes with.
#[derive(Debug, Clone, Copy)]
pub struct ContextQuery {
    pub before: usize,
    pub after: usize,
    pub include_profile: bool,
}

/// Results when the filter names no limit, and the most it may name.
const DEFAULT_LIMIT: u32 = 10;
const MAX_LIMIT: u32 = 100;
/// The longest search term taken.
const MAX_TERM_BYTES: usize = 1024;
/// At most this much surrounding timeline per result and side.
const MAX_CONTEXT: usize = 20;

impl Homeserver {
    /// POST /search, room events.
    pub async fn search(&self, session: &Session, query: SearchQuery) -> Result<Value> {
        if query.term.trim().is_empty() || query.term.len() > MAX_TERM_BYTES {
            return Err(Error::InvalidParam(format!(
                "search_term has 1 to {MAX_TERM_BYTES} bytes"
            )));
        }
        let weights = search_weights(&query.keys)?;
        let mut from = parse_batch(query.next_batch.as_deref(), query.by_rank)?;
        let limit = query
            .filter
            .events
            .limit
            .unwrap_or(DEFAULT_LIMIT)
            .min(MAX_LIMIT) as usize;
        let user = &session.user_id;
        let mut readers: HashMap<i64, (RoomId, Reader)> = HashMap::new();
        for row in self
            .store
            .memberships_of(user.as_str(), Some("join"))
            .await?
        {
            let allowed = query
                .filter
                .rooms
                .as_ref()
                .is_none_or(|r| r.contains(&row.room_id))
                && !query.filter.not_rooms.contains(&row.room_id);
            if allowed {
                let room_id = RoomId::parse(&row.room_id)
                    .map_err(|e| Error::Internal(format!("stored room ID: {e}")))?;
                let reader = self.reader_from(user, Some(row.clone())).await?;
                readers.insert(row.room_nid, (room_id, reader));
            }
        }
        let rooms: Vec<i64> = readers.keys().copied().collect();

        // Hits the user may not see or the filter drops are skipped; walk
        // on until the page is full or the hits run out.
        let mut results: Vec<(f64, Arc<StoredEvent>)> = Vec::new();
        let mut more = true;
        while results.len() < limit {
            let want = limit.max(20);
            let hits = self
                .store
                .search_events(&rooms, &query.term, &weights, from, want as i64)
                .await?;
            let nids: Vec<i64> = hits.iter().map(|hit| hit.event_nid).collect();
            let events = self.events(&nids).await?;
            let mut examined = 0;
            for (hit, event) in hits.iter().zip(events) {
                from = next_from(from, hit);
                examined += 1;
                let (_, reader) = &readers[&event.room_nid];
                if query.filter.matches(&event) && self.may_see(reader, &event).await? {
                    results.push((hit.rank, event));
                    if results.len() == limit {
                        break;
                    }
                }
            }
            if hits.len() < want && examined == hits.len() {
                more = false;
                break;
            }
        }
        let count = self
            .store
            .search_count(&rooms, &query.term, &weights)
            .await?;

        let events: Vec<Arc<StoredEvent>> = results.iter().map(|(_, e)| e.clone()).collect();
        let rendered = self.client_events(session, &events).await?;
        let mut out = Vec::with_capacity(results.len());
        for ((rank, event), rendered) in results.iter().zip(rendered) {
            let mut result = json!({ "rank": rank, "result": rendered });
            if let Some(context) = query.context {
                let (room_id, _) = &readers[&event.room_nid];
                result["context"] = self
                    .search_context(session, room_id, event, context)
                    .await?;
            }
            out.push(result);
        }
        let mut section = json!({
            "count": count,
            "highlights": highlights(&query.term),
            "results": out,
        });
        let next_batch = more.then(|| batch_token(from));
        if let Some(next) = &next_batch {
            section["next_batch"] = json!(next);
        }
        if query.include_state {
            let mut state = Map::new();
            for event in &events {
                let (room_id, _) = &readers[&event.room_nid];
                if !state.contains_key(room_id.as_str()) {
                    // Only joined rooms are searched: their current state.
                    let root = self.current_root(&self.room(room_id).await?).await?;
                    let current = self.full_state_at(root).await?;
                    state.insert(
                        room_id.as_str().to_owned(),
                        json!(self.client_events(session, &current).await?),
                    );
                }
            }
            section["state"] = Value::Object(state);
        }
        let mut groups = Map::new();
        for (key, wanted) in [
            ("room_id", query.group_by_room),
            ("sender", query.group_by_sender),
        ] {
            if wanted {
                groups.insert(key.into(), group(&events, key, next_batch.as_deref()));
            }
        }
        if !groups.is_empty() {
            section["groups"] = Value::Object(groups);
        }
        Ok(json!({ "search_categories": { "room_events": section } }))
    }

    /// Events before and after a result, and its senders' profiles.
    async fn search_context(
        &self,
        session: &Session,
        room_id: &RoomId,
        event: &StoredEvent,
        context: ContextQuery,
    ) -> Result<Value> {
        let around = |backward: bool, limit: usize| MessagesQuery {
            from: Some(token(event.stream_ordering)),
            to: None,
            backward,
            limit: limit.min(MAX_CONTEXT),
            filter: RoomEventFilter::default(),
        };
        let mut value = json!({ "events_before": [], "events_after": [] });
        if context.before > 0 {
            let page = self
                .messages(session, room_id, around(true, context.before))
                .await?;
            value["events_before"] = json!(page.chunk);
            value["start"] = json!(page.end.unwrap_or(page.start));
        }
        if context.after > 0 {
            let page = self
                .messages(session, room_id, around(false, context.after))
                .await?;
            value["events_after"] = json!(page.chunk);
            value["end"] = json!(page.end.unwrap_or(page.start));
        }
        if context.include_profile {
            let mut senders: Vec<&str> = [&value["events_before"], &value["events_after"]]
                .into_iter()
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(|e| e["sender"].as_str())
                .chain([event.pdu.sender().as_str()])
                .collect();
            senders.sort_unstable();
            senders.dedup();
            let pairs: Vec<(&str, &str)> = senders.iter().map(|s| ("m.room.member", *s)).collect();
            let members = self.state_at(event.state_before, &pairs).await?;
            let mut profiles = Map::new();
            for (sender, member) in senders.iter().zip(members) {
                let content = member.map(|m| json!(m.pdu.content())).unwrap_or_default();
                let mut profile = Map::new();
                for field in ["displayname", "avatar_url"] {
                    if let Some(text) = content.get(field).and_then(Value::as_str) {
                        profile.insert(field.into(), json!(text));
                    }
                }
                profiles.insert((*sender).to_owned(), Value::Object(profile));
            }
            value["profile_info"] = Value::Object(profiles);
        }
        Ok(value)
    }
}

/// The `"char"[]` of weights the keys searched map to.
fn search_weights(keys: &[String]) -> Result<String> {
    if keys.is_empty() {
        return Ok("{a,b,c}".into());
    }
    let mut weights = Vec::new();
    for key in keys {
        let (_, weight) = SEARCH_KEYS
            .iter()
            .find(|(name, _)| name == key)
            .ok_or_else(|| {
                Error::InvalidParam(format!(
                    "cannot search {key:?}: keys are content.body, content.name and content.topic"
                ))
            })?;
        weights.push(weight.to_string());
    }
    Ok(format!("{{{}}}", weights.join(",")))
}

/// Search tokens: `r<offset>` by rank, `s<position>` by recency.
fn parse_batch(batch: Option<&str>, by_rank: bool) -> Result<SearchFrom> {
    let invalid = || Error::InvalidParam(format!("{batch:?} is not a search batch token"));
    let number = |prefix: char| -> Result<i64> {
        batch
            .and_then(|b| b.strip_prefix(prefix))
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| *n >= 0)
            .ok_or_else(invalid)
    };
    Ok(match (batch, by_rank) {
        (None, true) => SearchFrom::Rank { offset: 0 },
        (None, false) => SearchFrom::Recent { before: None },
        (Some(_), true) => SearchFrom::Rank {
            offset: number('r')?,
        },
        (Some(_), false) => SearchFrom::Recent {
            before: Some(number('s')?),
        },
    })
}

fn batch_token(from: SearchFrom) -> String {
    match from {
        SearchFrom::Rank { offset } => format!("r{offset}"),
        SearchFrom::Recent { before } => format!("s{}", before.unwrap_or(0)),
    }
}

/// Where the next page starts once `hit` was examined.
fn next_from(from: SearchFrom, hit: &SearchHit) -> SearchFrom {
    match from {
        SearchFrom::Rank { offset } => SearchFrom::Rank { offset: offset + 1 },
        SearchFrom::Recent { .. } => SearchFrom::Recent {
            before: Some(hit.stream_ordering),
        },
    }
}

/// The words a client should highlight in results.
fn highlights(term: &str) -> Vec<String> {
    let mut words: Vec<String> = term
        .split(|c: char| c.is_whitespace() || c == '"')
        .filter(|word| !word.is_empty() && !word.starts_with('-') && *word != "or")
        .map(str::to_lowercase)
        .collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// Results grouped by room or sender, in the order of their best result.
fn group(events: &[Arc<StoredEvent>], key: &str, next_batch: Option<&str>) -> Value {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for event in events {
        let name = match key {
            "room_id" => event.pdu.room_id().as_str(),
            _ => event.pdu.sender().as_str(),
        };
        let id = event.pdu.event_id().as_str().to_owned();
        match groups.iter_mut().find(|(group, _)| group == name) {
            Some((_, ids)) => ids.push(id),
            None => groups.push((name.to_owned(), vec![id])),
        }
    }
    let mut out = Map::new();
    for (order, (name, results)) in groups.into_iter().enumerate() {
        let mut group = json!({ "order": order, "results": results });
        if let Some(next) = next_batch {
            group["next_batch"] = json!(next);
        }
        out.insert(name, group);
    }
    Value::Object(out)
}
