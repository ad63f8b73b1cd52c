//! Account data (the spec's "Client Config" module): JSON objects a user's
//! clients keep on the server, global or per room, readable only by that
//! user. One type is also read by the server: invite blocking.

use hanse_protocol::identifiers::{RoomId, UserId};
use serde_json::{Map, Value};

use super::push_rules::PUSH_RULES;
use super::Session;
use crate::streams::Topic;
use crate::{Error, Homeserver, Result};

/// Account data the server keeps itself (read markers, push rules):
/// clients may read it but not set it through account data.
const SERVER_MANAGED: [&str; 2] = ["m.fully_read", "m.push_rules"];

/// The spec's invite permission module: `{"default_action": "block"}`
/// refuses every invite to the user.
pub const INVITE_PERMISSION_CONFIG: &str = "m.invite_permission_config";

/// Longest account data type accepted: types are namespaced identifiers,
/// not payload.
const MAX_TYPE_BYTES: usize = 255;

impl Homeserver {
    /// Sets `owner`'s account data of `data_type` (in `room`, or global).
    pub async fn set_account_data(
        &self,
        session: &Session,
        owner: &UserId,
        room: Option<&RoomId>,
        data_type: &str,
        content: &Map<String, Value>,
    ) -> Result<()> {
        own_account_data(session, owner)?;
        if data_type.is_empty() || data_type.len() > MAX_TYPE_BYTES {
            return Err(Error::InvalidParam(format!(
                "an account data type has 1 to {MAX_TYPE_BYTES} bytes"
            )));
        }
        if SERVER_MANAGED.contains(&data_type) {
            return Err(Error::ServerManaged(format!(
                "{data_type} is managed by the server and cannot be set as account data"
            )));
        }
        let text = serde_json::to_string(content).map_err(|e| Error::Internal(e.to_string()))?;
        self.write_account_data(owner, room, data_type, |_| text)
            .await
    }

    /// Replaces `owner`'s account data of `data_type` by what `edit` makes
    /// of the stored text (`None`: none yet), at a new stream position, and
    /// wakes the owner's syncs.
    pub(crate) async fn write_account_data(
        &self,
        owner: &UserId,
        room: Option<&RoomId>,
        data_type: &str,
        edit: impl FnOnce(Option<String>) -> String,
    ) -> Result<()> {
        let mut ticket = self.streams.account_data.begin(&self.store).await?;
        let position = self
            .store
            .edit_account_data(owner.as_str(), room.map(RoomId::as_str), data_type, edit)
            .await?;
        ticket.allocated(position);
        ticket.committed([Topic::User(owner.as_str().to_owned())]);
        Ok(())
    }

    /// `owner`'s account data of `data_type` (M_NOT_FOUND if never set).
    pub async fn account_data(
        &self,
        session: &Session,
        owner: &UserId,
        room: Option<&RoomId>,
        data_type: &str,
    ) -> Result<Map<String, Value>> {
        own_account_data(session, owner)?;
        if data_type == PUSH_RULES && room.is_none() {
            // Stored are only the user's changes to the defaults.
            if let Value::Object(content) = self.push_rules_content(owner).await? {
                return Ok(content);
            }
        }
        self.stored_account_data(owner, room, data_type)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no account data of type {data_type}")))
    }

    async fn stored_account_data(
        &self,
        owner: &UserId,
        room: Option<&RoomId>,
        data_type: &str,
    ) -> Result<Option<Map<String, Value>>> {
        let Some(text) = self
            .store
            .account_data(owner.as_str(), room.map(RoomId::as_str), data_type)
            .await?
        else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Internal(format!("stored account data of {owner}: {e}")))
    }

    /// Fails with M_INVITE_BLOCKED when `invitee` (a local user) refuses
    /// all invites.
    pub(crate) async fn refuse_blocked_invite(&self, invitee: &UserId) -> Result<()> {
        let config = self
            .stored_account_data(invitee, None, INVITE_PERMISSION_CONFIG)
            .await?;
        // A missing or unknown default_action means invites are welcome.
        match config.as_ref().and_then(|c| c.get("default_action")) {
            Some(Value::String(action)) if action == "block" => Err(Error::InviteBlocked(format!(
                "{invitee} does not accept invites"
            ))),
            _ => Ok(()),
        }
    }
}

pub(super) fn own_account_data(session: &Session, owner: &UserId) -> Result<()> {
    if &session.user_id != owner {
        return Err(Error::Forbidden(
            "account data belongs to its user alone".into(),
        ));
    }
    Ok(())
}
