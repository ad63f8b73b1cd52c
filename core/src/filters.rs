//! Filters (the spec's "Filtering"): which events a client wants from
//! /sync and the room reading endpoints. Clients upload them once
//! (POST /user/{userId}/filter) and name them by ID, or pass them inline.
//!
//! Fields the spec does not define are ignored, as the spec's schemas
//! allow; fields it defines must have its types (M_BAD_JSON otherwise).

use hanse_protocol::canonical_json::CanonicalJsonValue;
use hanse_protocol::identifiers::UserId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::accounts::Session;
use crate::rooms::StoredEvent;
use crate::{Error, Homeserver, Result};

/// A whole filter, as /sync takes it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Filter {
    pub event_fields: Option<Vec<String>>,
    #[serde(default)]
    pub event_format: EventFormat,
    #[serde(default)]
    pub presence: EventFilter,
    #[serde(default)]
    pub account_data: EventFilter,
    #[serde(default)]
    pub room: RoomFilter,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventFormat {
    #[default]
    Client,
    Federation,
}

/// What of the rooms to send.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct RoomFilter {
    pub rooms: Option<Vec<String>>,
    #[serde(default)]
    pub not_rooms: Vec<String>,
    #[serde(default)]
    pub include_leave: bool,
    #[serde(default)]
    pub ephemeral: RoomEventFilter,
    #[serde(default)]
    pub state: RoomEventFilter,
    #[serde(default)]
    pub timeline: RoomEventFilter,
    #[serde(default)]
    pub account_data: RoomEventFilter,
}

/// Events by type and sender.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct EventFilter {
    pub limit: Option<u32>,
    pub types: Option<Vec<String>>,
    #[serde(default)]
    pub not_types: Vec<String>,
    pub senders: Option<Vec<String>>,
    #[serde(default)]
    pub not_senders: Vec<String>,
}

/// Room events: by type, sender, room and URL, and how members are sent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct RoomEventFilter {
    #[serde(flatten)]
    pub events: EventFilter,
    pub rooms: Option<Vec<String>>,
    #[serde(default)]
    pub not_rooms: Vec<String>,
    pub contains_url: Option<bool>,
    /// Send only the member events of the senders shown (the client loads
    /// the others when it needs them).
    #[serde(default)]
    pub lazy_load_members: bool,
    #[serde(default)]
    pub include_redundant_members: bool,
    #[serde(default)]
    pub unread_thread_notifications: bool,
}

/// The longest filter stored: Element's are a few hundred bytes.
const MAX_FILTER_BYTES: usize = 16 * 1024;

impl Filter {
    /// A filter from its JSON, checked against the spec's schema.
    pub fn from_json(json: &Value) -> Result<Self> {
        let filter: Self = parse(json)?;
        filter.presence.check("presence")?;
        filter.account_data.check("account_data")?;
        let room = &filter.room;
        check_ids(
            room.rooms.iter().flatten().chain(&room.not_rooms),
            '!',
            "room",
        )?;
        for (name, part) in [
            ("ephemeral", &room.ephemeral),
            ("state", &room.state),
            ("timeline", &room.timeline),
            ("account_data", &room.account_data),
        ] {
            part.check(&format!("room.{name}"))?;
        }
        Ok(filter)
    }
}

impl RoomEventFilter {
    /// A filter from its JSON, checked against the spec's schema.
    pub fn from_json(json: &Value) -> Result<Self> {
        let filter: Self = parse(json)?;
        filter.check("filter")?;
        Ok(filter)
    }

    fn check(&self, name: &str) -> Result<()> {
        self.events.check(name)?;
        check_ids(
            self.rooms.iter().flatten().chain(&self.not_rooms),
            '!',
            "room",
        )
    }

    /// Whether `event` passes the filter (the room is not checked: callers
    /// read one room).
    pub fn matches(&self, event: &StoredEvent) -> bool {
        let pdu = &event.pdu;
        if !self.events.matches(pdu.event_type(), pdu.sender().as_str()) {
            return false;
        }
        match self.contains_url {
            Some(wanted) => {
                let has_url = matches!(
                    pdu.content().get("url"),
                    Some(CanonicalJsonValue::String(_))
                );
                has_url == wanted
            }
            None => true,
        }
    }
}

impl EventFilter {
    fn check(&self, name: &str) -> Result<()> {
        if self.limit == Some(0) {
            return Err(Error::BadJson(format!("{name}.limit must be at least 1")));
        }
        check_ids(
            self.senders.iter().flatten().chain(&self.not_senders),
            '@',
            "user",
        )
    }

    /// Whether an event of `event_type` from `sender` passes.
    pub fn matches(&self, event_type: &str, sender: &str) -> bool {
        let typed = |patterns: &[String]| patterns.iter().any(|p| glob_matches(p, event_type));
        self.types.as_deref().is_none_or(typed)
            && !typed(&self.not_types)
            && self
                .senders
                .as_deref()
                .is_none_or(|senders| senders.iter().any(|s| s == sender))
            && !self.not_senders.iter().any(|s| s == sender)
    }
}

fn parse<T: serde::de::DeserializeOwned>(json: &Value) -> Result<T> {
    if !json.is_object() {
        return Err(Error::BadJson("a filter is a JSON object".into()));
    }
    serde_path_to_error::deserialize(json)
        .map_err(|e| Error::BadJson(format!("invalid filter at {}: {}", e.path(), e.inner())))
}

/// Room and user IDs in a filter must at least look like them (the
/// schema's patterns); unknown ones simply match nothing.
fn check_ids<'a>(ids: impl Iterator<Item = &'a String>, sigil: char, what: &str) -> Result<()> {
    match ids.into_iter().find(|id| !id.starts_with(sigil)) {
        Some(bad) => Err(Error::BadJson(format!("{bad:?} is not a {what} ID"))),
        None => Ok(()),
    }
}

/// `*` matches any run of characters; everything else itself.
pub fn glob_matches(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl Homeserver {
    /// Stores `owner`'s filter; returns its ID.
    pub async fn create_filter(
        &self,
        session: &Session,
        owner: &UserId,
        json: &Map<String, Value>,
    ) -> Result<String> {
        own_filters(session, owner)?;
        let value = Value::Object(json.clone());
        Filter::from_json(&value)?;
        let text = value.to_string();
        if text.len() > MAX_FILTER_BYTES {
            return Err(Error::TooLarge(format!(
                "a filter has at most {MAX_FILTER_BYTES} bytes"
            )));
        }
        let id = self.store.insert_filter(owner.as_str(), &text).await?;
        Ok(id.to_string())
    }

    /// The filter as it was uploaded (M_NOT_FOUND for an unknown ID).
    pub async fn filter_json(
        &self,
        session: &Session,
        owner: &UserId,
        filter_id: &str,
    ) -> Result<Value> {
        own_filters(session, owner)?;
        let not_found = || Error::NotFound(format!("no filter {filter_id}"));
        let id: i64 = filter_id.parse().map_err(|_| not_found())?;
        let text = self
            .store
            .filter(owner.as_str(), id)
            .await?
            .ok_or_else(not_found)?;
        serde_json::from_str(&text).map_err(|e| Error::Internal(format!("stored filter: {e}")))
    }

    /// The filter a /sync names: a filter ID of the session's user, or a
    /// filter inline as JSON (anything starting with `{`).
    pub async fn sync_filter(&self, session: &Session, filter: Option<&str>) -> Result<Filter> {
        let json = match filter {
            None => return Ok(Filter::default()),
            Some(inline) if inline.starts_with('{') => serde_json::from_str(inline)
                .map_err(|e| Error::BadJson(format!("the inline filter is not JSON: {e}")))?,
            Some(id) => self.filter_json(session, &session.user_id, id).await?,
        };
        Filter::from_json(&json)
    }
}

fn own_filters(session: &Session, owner: &UserId) -> Result<()> {
    if &session.user_id != owner {
        return Err(Error::Forbidden(
            "filters belong to their user alone".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn wildcards_match_any_run_of_characters() {
        for (pattern, value, expected) in [
            ("m.room.*", "m.room.message", true),
            ("m.room.*", "m.room.", true),
            ("m.room.*", "m.call.invite", false),
            ("*.member", "m.room.member", true),
            ("m.*.member", "m.room.member", true),
            ("m.*.member", "m.member", false),
            ("*", "anything", true),
            ("m.room.message", "m.room.message", true),
            ("m.room.message", "m.room.messages", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
        ] {
            assert_eq!(
                glob_matches(pattern, value),
                expected,
                "{pattern} ~ {value}"
            );
        }
    }

    #[test]
    fn filters_follow_the_schema() {
        let filter = Filter::from_json(&json!({
            "room": {
                "timeline": { "limit": 10, "types": ["m.room.*"], "lazy_load_members": true },
                "rooms": ["!a:example.org"],
            },
            "presence": { "not_types": ["*"] },
            "org.example.unknown": true,
        }))
        .expect("valid filter");
        assert_eq!(filter.room.timeline.events.limit, Some(10));
        assert!(filter.room.timeline.lazy_load_members);
        assert!(filter
            .room
            .timeline
            .events
            .matches("m.room.message", "@a:b"));
        assert!(!filter.room.timeline.events.matches("m.reaction", "@a:b"));
        for bad in [
            json!([]),
            json!({ "room": { "timeline": { "limit": "ten" } } }),
            json!({ "room": { "timeline": { "limit": 0 } } }),
            json!({ "room": { "rooms": ["#alias:example.org"] } }),
            json!({ "presence": { "senders": ["alice"] } }),
            json!({ "event_format": "xml" }),
        ] {
            assert!(
                matches!(Filter::from_json(&bad), Err(Error::BadJson(_))),
                "{bad}"
            );
        }
    }
}
