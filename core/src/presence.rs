//! Presence (the spec's "Presence" module): whether a user is online,
//! how recently they were active, and a status message; visible to the
//! user and to those who share a room with them.

use hanse_protocol::identifiers::UserId;
use serde::{Deserialize, Serialize};

use crate::accounts::Session;
use crate::clock::now_ms;
use crate::{Error, Homeserver, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceState {
    Online,
    Unavailable,
    Offline,
}

impl PresenceState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Unavailable => "unavailable",
            Self::Offline => "offline",
        }
    }
}

/// What GET /presence/{userId}/status answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Presence {
    pub presence: PresenceState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_active_ago: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_msg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currently_active: Option<bool>,
}

/// After this long without activity an online user shows as unavailable.
const IDLE_AFTER_MS: i64 = 5 * 60 * 1000;
/// Activity this recent counts as "currently active".
const ACTIVE_WITHIN_MS: i64 = 60 * 1000;
/// The longest status message kept.
const MAX_STATUS_BYTES: usize = 1024;

impl Homeserver {
    /// Sets the session user's presence (a no-op when presence is off).
    pub async fn set_presence(
        &self,
        session: &Session,
        user: &UserId,
        state: PresenceState,
        status_msg: Option<&str>,
    ) -> Result<()> {
        if &session.user_id != user {
            return Err(Error::Forbidden(
                "you may only set your own presence".into(),
            ));
        }
        if status_msg.is_some_and(|msg| msg.len() > MAX_STATUS_BYTES) {
            return Err(Error::TooLarge(format!(
                "a status message has at most {MAX_STATUS_BYTES} bytes"
            )));
        }
        if !self.settings.presence {
            return Ok(());
        }
        self.store
            .set_presence(user.as_str(), state.as_str(), status_msg, now_ms())
            .await?;
        Ok(())
    }

    /// A user's presence, for themselves or someone sharing a room with
    /// them.
    pub async fn presence(&self, session: &Session, user: &UserId) -> Result<Presence> {
        self.require_local_account(user).await?;
        if &session.user_id != user
            && !self
                .store
                .share_a_room(session.user_id.as_str(), user.as_str())
                .await?
        {
            return Err(Error::Forbidden(format!(
                "you share no room with {user}, so you may not see their presence"
            )));
        }
        let offline = Presence {
            presence: PresenceState::Offline,
            last_active_ago: None,
            status_msg: None,
            currently_active: None,
        };
        if !self.settings.presence {
            return Ok(offline);
        }
        let Some(row) = self.store.presence(user.as_str()).await? else {
            return Ok(offline);
        };
        let ago = now_ms().saturating_sub(row.last_active_ts).max(0);
        let mut state = match row.state.as_str() {
            "online" => PresenceState::Online,
            "unavailable" => PresenceState::Unavailable,
            _ => PresenceState::Offline,
        };
        if state == PresenceState::Online && ago > IDLE_AFTER_MS {
            state = PresenceState::Unavailable;
        }
        Ok(Presence {
            presence: state,
            last_active_ago: Some(ago),
            status_msg: row.status_msg,
            currently_active: (state == PresenceState::Online).then_some(ago <= ACTIVE_WITHIN_MS),
        })
    }
}
