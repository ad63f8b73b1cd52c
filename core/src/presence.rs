//! Presence (the spec's "Presence" module): whether a user is online,
//! how recently they were active, and a status message; visible to the
//! user and to those who share a room with them.

use hanse_protocol::identifiers::UserId;
use serde::{Deserialize, Serialize};

use crate::accounts::Session;
use crate::clock::now_ms;
use crate::store::PresenceRow;
use crate::streams::Topic;
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
        self.store_presence(user, state, status_msg).await
    }

    /// Records presence at a new stream position and wakes the syncs of
    /// everyone sharing a room with the user.
    async fn store_presence(
        &self,
        user: &UserId,
        state: PresenceState,
        status_msg: Option<&str>,
    ) -> Result<()> {
        let mut ticket = self.streams.presence.begin(&self.store).await?;
        let position = self
            .store
            .set_presence(user.as_str(), state.as_str(), status_msg, now_ms())
            .await?;
        ticket.allocated(position);
        let rooms = self
            .store
            .memberships_of(user.as_str(), Some("join"))
            .await?;
        ticket.committed(
            rooms
                .iter()
                .map(|row| Topic::Room(row.room_nid))
                .chain([Topic::User(user.as_str().to_owned())]),
        );
        Ok(())
    }

    /// What a /sync with `set_presence` says of its user: the state, and
    /// activity when online. Writes only when the state changes or the
    /// last recorded activity is no longer current, so frequent syncs do
    /// not each cost a write.
    pub(crate) async fn presence_from_sync(
        &self,
        user: &UserId,
        state: PresenceState,
    ) -> Result<()> {
        if !self.settings.presence {
            return Ok(());
        }
        let stored = self.store.presence(user.as_str()).await?;
        let current = stored.as_ref().is_some_and(|row| {
            row.state == state.as_str()
                && (state != PresenceState::Online
                    || now_ms() - row.last_active_ts < ACTIVE_WITHIN_MS / 2)
        });
        if current {
            return Ok(());
        }
        let status_msg = stored.and_then(|row| row.status_msg);
        self.store_presence(user, state, status_msg.as_deref())
            .await
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
        Ok(match self.store.presence(user.as_str()).await? {
            Some(row) => presence_of(row),
            None => offline,
        })
    }
}

/// A stored presence as others see it now.
pub(crate) fn presence_of(row: PresenceRow) -> Presence {
    let ago = now_ms().saturating_sub(row.last_active_ts).max(0);
    let mut state = match row.state.as_str() {
        "online" => PresenceState::Online,
        "unavailable" => PresenceState::Unavailable,
        _ => PresenceState::Offline,
    };
    if state == PresenceState::Online && ago > IDLE_AFTER_MS {
        state = PresenceState::Unavailable;
    }
    Presence {
        presence: state,
        last_active_ago: Some(ago),
        status_msg: row.status_msg,
        currently_active: (state == PresenceState::Online).then_some(ago <= ACTIVE_WITHIN_MS),
    }
}
