//! Membership changes: invite, join, knock, leave, kick, ban, unban,
//! forget. The authorization rules decide who may do what; this module
//! builds the right member event and handles what the rules leave to the
//! server (restricted joins, aliases, profile data in the event).

use hanse_protocol::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use hanse_protocol::identifiers::{RoomAlias, RoomId, UserId};
use serde_json::json;

use super::build::{EventDraft, RoomRef};
use super::create::object;
use super::membership_of;
use crate::accounts::{Session, AVATAR_URL, DISPLAYNAME};
use crate::rate_limits::Action;
use crate::{Error, Homeserver, Result};

/// What a membership request does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipChange {
    Invite,
    Join,
    Knock,
    /// Leaving, rejecting an invite or withdrawing a knock (target: self).
    Leave,
    Kick,
    Ban,
    Unban,
}

impl MembershipChange {
    fn membership(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Join => "join",
            Self::Knock => "knock",
            Self::Leave | Self::Kick | Self::Unban => "leave",
            Self::Ban => "ban",
        }
    }
}

impl Homeserver {
    /// Applies `change` to `target` (the session's user for join, knock and
    /// leave) in `room_id`.
    pub async fn change_membership(
        &self,
        session: &Session,
        room_id: &RoomId,
        target: &UserId,
        change: MembershipChange,
        reason: Option<String>,
    ) -> Result<()> {
        let limited = match change {
            MembershipChange::Join | MembershipChange::Knock => Some(Action::Join),
            MembershipChange::Invite => Some(Action::Invite),
            _ => None,
        };
        if let Some(action) = limited {
            self.rate_limits.check(action, session.user_id.as_str())?;
        }
        let room = self.room(room_id).await?;
        if change == MembershipChange::Leave {
            if let Some((room, member)) = self.out_of_band_membership(room_id, target).await? {
                return self.leave_out_of_band(session, &room, member, reason).await;
            }
        }
        let root = self.current_root(&room).await?;
        let current = self.membership_at(root, target).await?;
        let remote_target = target.server_name() != &self.identity.server_name;
        match change {
            MembershipChange::Invite if !remote_target => {
                self.require_local_account(target).await?;
                self.refuse_blocked_invite(target).await?;
            }
            MembershipChange::Unban if current.as_deref() != Some("ban") => {
                return Err(Error::Forbidden(format!("{target} is not banned")));
            }
            MembershipChange::Kick
                if !matches!(current.as_deref(), Some("join" | "invite" | "knock")) =>
            {
                return Err(Error::Forbidden(format!("{target} is not in the room")));
            }
            MembershipChange::Leave if current.is_none() => {
                return Err(Error::Forbidden("you are not in this room".into()));
            }
            _ => {}
        }

        let mut content = object(json!({ "membership": change.membership() }));
        if let Some(reason) = reason {
            content.insert("reason".into(), CanonicalJsonValue::String(reason));
        }
        if matches!(change, MembershipChange::Join | MembershipChange::Knock) {
            self.add_profile(&mut content, target).await?;
        }
        if change == MembershipChange::Join && current.as_deref() != Some("invite") {
            if let Some(authoriser) = self.restricted_join_authoriser(&room, root, target).await? {
                content.insert(
                    "join_authorised_via_users_server".into(),
                    CanonicalJsonValue::String(authoriser.to_string()),
                );
            }
        }
        if change == MembershipChange::Invite && remote_target {
            return self
                .invite_remote(&session.user_id, &room, target, content)
                .await;
        }
        let draft = EventDraft::state("m.room.member", target.as_str(), &session.user_id, content);
        self.append_events(&room, vec![draft]).await?;
        Ok(())
    }

    /// The room an ID or alias names (POST /join/{roomIdOrAlias}, knock).
    pub async fn resolve_room(&self, room_id_or_alias: &str) -> Result<RoomId> {
        if room_id_or_alias.starts_with('#') {
            let alias = RoomAlias::parse(room_id_or_alias)
                .map_err(|e| Error::InvalidParam(format!("{room_id_or_alias:?}: {e}")))?;
            let room_id = self
                .store
                .alias_room(alias.as_str())
                .await?
                .ok_or_else(|| Error::NotFound(format!("no room has the alias {alias}")))?;
            return RoomId::parse(&room_id).map_err(|e| Error::Internal(e.to_string()));
        }
        RoomId::parse(room_id_or_alias)
            .map_err(|e| Error::InvalidParam(format!("{room_id_or_alias:?}: {e}")))
    }

    /// Hides a room the user left from their room lists (POST /forget).
    pub async fn forget_room(&self, session: &Session, room_id: &RoomId) -> Result<()> {
        let room = self.room(room_id).await?;
        if self
            .store
            .forget_room(room.nid, session.user_id.as_str())
            .await?
        {
            return Ok(());
        }
        match self
            .store
            .membership(room.nid, session.user_id.as_str())
            .await?
        {
            Some(row) if matches!(row.membership.as_str(), "join" | "invite" | "knock") => {
                Err(Error::Unknown("leave the room before forgetting it".into()))
            }
            _ => Err(Error::NotFound("you were never in this room".into())),
        }
    }

    /// The rooms the user is joined to.
    pub async fn joined_rooms(&self, user_id: &UserId) -> Result<Vec<String>> {
        Ok(self
            .store
            .memberships_of(user_id.as_str(), Some("join"))
            .await?
            .into_iter()
            .map(|row| row.room_id)
            .collect())
    }

    /// Leaves (or declines) every room a deactivated user is in. Best
    /// effort: a room that refuses is logged and the others proceed.
    pub(crate) async fn leave_all_rooms(&self, user_id: &UserId) {
        let rooms = match self.store.memberships_of(user_id.as_str(), None).await {
            Ok(rooms) => rooms,
            Err(error) => {
                tracing::warn!(%user_id, %error, "could not list the rooms to leave");
                return;
            }
        };
        for row in rooms {
            if !matches!(row.membership.as_str(), "join" | "invite" | "knock") {
                continue;
            }
            let left = async {
                let room_id =
                    RoomId::parse(&row.room_id).map_err(|e| Error::Internal(e.to_string()))?;
                let room = self.room(&room_id).await?;
                let content = object(json!({ "membership": "leave" }));
                let draft = EventDraft::state("m.room.member", user_id.as_str(), user_id, content);
                self.append_events(&room, vec![draft]).await
            };
            if let Err(error) = left.await {
                tracing::warn!(%user_id, room_id = %row.room_id, %error, "deactivated user did not leave the room");
            }
        }
    }

    /// Sends a member event with the user's new displayname and avatar to
    /// every room they are joined to. Best effort: the profile change
    /// stands even if a room refuses the update.
    pub(crate) async fn propagate_profile(&self, user_id: &UserId) {
        let rooms = match self.joined_rooms(user_id).await {
            Ok(rooms) => rooms,
            Err(error) => {
                tracing::warn!(%user_id, %error, "profile not propagated to rooms");
                return;
            }
        };
        for room_id in rooms {
            if let Err(error) = self.update_member_profile(user_id, &room_id).await {
                tracing::warn!(%user_id, %room_id, %error, "profile not propagated to room");
            }
        }
    }

    async fn update_member_profile(&self, user_id: &UserId, room_id: &str) -> Result<()> {
        let room_id = RoomId::parse(room_id).map_err(|e| Error::Internal(e.to_string()))?;
        let room = self.room(&room_id).await?;
        let root = self.current_root(&room).await?;
        let Some(member) = self
            .state_event_at(root, "m.room.member", user_id.as_str())
            .await?
        else {
            return Ok(());
        };
        let mut content = member.pdu.content().clone();
        content.remove(DISPLAYNAME);
        content.remove(AVATAR_URL);
        self.add_profile(&mut content, user_id).await?;
        if &content == member.pdu.content() {
            return Ok(());
        }
        let draft = EventDraft::state("m.room.member", user_id.as_str(), user_id, content);
        self.append_events(&room, vec![draft]).await?;
        Ok(())
    }

    /// Displayname and avatar from the user's profile, as member events
    /// carry them.
    pub(crate) async fn add_profile(
        &self,
        content: &mut CanonicalJsonObject,
        user_id: &UserId,
    ) -> Result<()> {
        let profile = self.store.profile_fields(user_id.as_str()).await?;
        for field in [DISPLAYNAME, AVATAR_URL] {
            if let Some(serde_json::Value::String(value)) = profile.get(field) {
                content.insert(field.into(), CanonicalJsonValue::String(value.clone()));
            }
        }
        Ok(())
    }

    /// For a room whose join rule is `restricted` or `knock_restricted`:
    /// a local member who may invite, vouching for a user who is in one of
    /// the allowed rooms. `None` for other join rules, or when nobody can
    /// vouch (the authorization rules then refuse the join).
    async fn restricted_join_authoriser(
        &self,
        room: &RoomRef,
        root: i64,
        user: &UserId,
    ) -> Result<Option<UserId>> {
        let Some(join_rules) = self.state_event_at(root, "m.room.join_rules", "").await? else {
            return Ok(None);
        };
        let content = join_rules.pdu.content();
        if !matches!(
            content
                .get("join_rule")
                .and_then(CanonicalJsonValue::as_str),
            Some("restricted" | "knock_restricted")
        ) {
            return Ok(None);
        }
        let allowed_rooms = content
            .get("allow")
            .and_then(CanonicalJsonValue::as_array)
            .into_iter()
            .flatten()
            .filter_map(CanonicalJsonValue::as_object)
            .filter(|entry| {
                entry.get("type").and_then(CanonicalJsonValue::as_str) == Some("m.room_membership")
            })
            .filter_map(|entry| entry.get("room_id").and_then(CanonicalJsonValue::as_str));
        let joined = self.joined_rooms(user).await?;
        let mut qualifies = false;
        for allowed in allowed_rooms {
            qualifies |= joined.iter().any(|room_id| room_id == allowed);
        }
        if !qualifies {
            return Ok(None);
        }
        let (levels, creators) = self.power_levels_at(room, root).await?;
        for member in self.full_state_at(root).await? {
            let pdu = &member.pdu;
            if pdu.event_type() != "m.room.member"
                || membership_of(&member).as_deref() != Some("join")
            {
                continue;
            }
            let Some(Ok(candidate)) = pdu.state_key().map(UserId::parse) else {
                continue;
            };
            if candidate.server_name() == &self.identity.server_name
                && levels
                    .user_level(&candidate, &creators)
                    .at_least(levels.invite())
            {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }
}
