//! Room tags (the spec's "Room Tagging"): the `m.tag` room account data,
//! `{"tags": {<tag>: {"order": <number>}}}`, edited one tag at a time.

use hanse_protocol::identifiers::{RoomId, UserId};
use serde_json::{Map, Value};

use super::account_data::own_account_data;
use super::Session;
use crate::{Error, Homeserver, Result};

const TAGS: &str = "m.tag";
/// The spec's bound on a tag's name.
const MAX_TAG_BYTES: usize = 255;

impl Homeserver {
    /// The user's tags on a room (none: an empty object).
    pub async fn room_tags(
        &self,
        session: &Session,
        owner: &UserId,
        room: &RoomId,
    ) -> Result<Map<String, Value>> {
        own_account_data(session, owner)?;
        let stored = self
            .store
            .account_data(owner.as_str(), Some(room.as_str()), TAGS)
            .await?;
        Ok(tags_of(stored))
    }

    /// Adds `tag` to the room, or replaces its information.
    pub async fn set_room_tag(
        &self,
        session: &Session,
        owner: &UserId,
        room: &RoomId,
        tag: &str,
        info: Map<String, Value>,
    ) -> Result<()> {
        own_account_data(session, owner)?;
        if tag.is_empty() || tag.len() > MAX_TAG_BYTES {
            return Err(Error::InvalidParam(format!(
                "a tag has 1 to {MAX_TAG_BYTES} bytes"
            )));
        }
        if info.get("order").is_some_and(|order| !order.is_number()) {
            return Err(Error::BadJson("a tag's `order` is a number".into()));
        }
        self.edit_tags(owner, room, |tags| {
            tags.insert(tag.to_owned(), Value::Object(info));
        })
        .await
    }

    /// Removes `tag` from the room (nothing to do if it is not there).
    pub async fn delete_room_tag(
        &self,
        session: &Session,
        owner: &UserId,
        room: &RoomId,
        tag: &str,
    ) -> Result<()> {
        own_account_data(session, owner)?;
        self.edit_tags(owner, room, |tags| {
            tags.remove(tag);
        })
        .await
    }

    async fn edit_tags(
        &self,
        owner: &UserId,
        room: &RoomId,
        edit: impl FnOnce(&mut Map<String, Value>),
    ) -> Result<()> {
        self.write_account_data(owner, Some(room), TAGS, |stored| {
            let mut tags = tags_of(stored);
            edit(&mut tags);
            serde_json::json!({ "tags": tags }).to_string()
        })
        .await
    }
}

/// The tags in stored `m.tag` content; content a client set to something
/// else through the account data API counts as no tags.
fn tags_of(stored: Option<String>) -> Map<String, Value> {
    let content: Option<Value> = stored.and_then(|text| serde_json::from_str(&text).ok());
    match content {
        Some(Value::Object(mut content)) => match content.remove("tags") {
            Some(Value::Object(tags)) => tags,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}
