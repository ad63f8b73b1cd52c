//! The `m.room.member` rules: rule 5 in versions 1–5 and 12, rule 4 in
//! versions 6–11. Sub-rule numbers below are those of versions 8 on, which
//! inserted the `join_authorised_via_users_server` rule as 2.

use crate::canonical_json::CanonicalJsonValue;
use crate::identifiers::UserId;
use crate::pdu::Pdu;

use super::context::RoomContext;
use super::third_party_invite::check_third_party_invite;
use super::{AuthError, AuthState};

/// The membership rules, which decide a member event on their own.
///
/// Rule 1: a target (`state_key`) and a `membership` are required.
///
/// Rule 2 (versions 8 on): `join_authorised_via_users_server`, if present,
/// must name a user whose server signed the event. Checking the signature
/// needs that server's keys, so it belongs to the signature check the
/// caller performs for [`required_signers`](super::required_signers); what
/// is checked here is that the value names a user at all, since nothing
/// else could have signed.
pub(super) fn check_member_event<S: AuthState + ?Sized>(
    pdu: &Pdu,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    let content = pdu.content();
    let target = pdu.state_key().ok_or(AuthError::MemberWithoutStateKey)?;
    let membership = content
        .get("membership")
        .and_then(CanonicalJsonValue::as_str)
        .ok_or(AuthError::MemberWithoutMembership)?;
    if room.version.restricted_join_allowed {
        if let Some(authoriser) = content.get("join_authorised_via_users_server") {
            let names_user = authoriser
                .as_str()
                .is_some_and(|user| UserId::parse(user).is_ok());
            if !names_user {
                return Err(AuthError::InvalidJoinAuthoriser);
            }
        }
    }
    match membership {
        "join" => check_join(pdu, target, room),
        "invite" => check_invite(pdu, target, room),
        "leave" => check_leave(pdu, target, room),
        "ban" => check_ban(pdu, target, room),
        "knock" if room.version.knock_allowed => check_knock(pdu, target, room),
        other => Err(AuthError::UnknownMembership(other.to_owned())),
    }
}

/// Rule 3: `membership` is `join`.
///
/// 3.1 the creator's first join straight after the create event; 3.2 only
/// for oneself; 3.3 not when banned; then by join rule: 3.4 `invite` (and
/// `knock`, versions 7 on) needs an invite or existing join, 3.5
/// `restricted` (versions 8 on) and `knock_restricted` (versions 10 on)
/// also accept a join vouched for by a joined user who may invite, 3.6
/// `public` lets anyone in, 3.7 anything else nobody.
fn check_join<S: AuthState + ?Sized>(
    pdu: &Pdu,
    target: &str,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    if let [only_prev] = pdu.prev_events() {
        if only_prev == room.create.event_id() && is_creator_for_first_join(target, room) {
            return Ok(());
        }
    }
    let sender = pdu.sender().as_str();
    if sender != target {
        return Err(AuthError::JoinForOtherUser);
    }
    let current = room.membership(sender);
    if current == Some("ban") {
        return Err(AuthError::SenderBanned);
    }
    let invited_or_joined = matches!(current, Some("invite" | "join"));
    let version = room.version;
    let join_rule = room.join_rule();
    let restricted = match join_rule {
        "restricted" => version.restricted_join_allowed,
        "knock_restricted" => version.knock_restricted_join_allowed,
        _ => false,
    };
    let allowed = match join_rule {
        "invite" => invited_or_joined,
        "knock" if version.knock_allowed => invited_or_joined,
        _ if restricted => {
            if !invited_or_joined {
                check_join_authoriser(pdu, room)?;
            }
            true
        }
        "public" => true,
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(AuthError::JoinNotAllowed {
            join_rule: join_rule.to_owned(),
        })
    }
}

/// Who may join without further checks right after the create event:
/// `content.creator` of the create event up to version 10, its sender from
/// version 11 (also in version 12, where additional creators join like
/// anyone else).
fn is_creator_for_first_join<S: AuthState + ?Sized>(
    target: &str,
    room: &RoomContext<'_, S>,
) -> bool {
    if room.version.creator_is_sender {
        room.create.sender().as_str() == target
    } else {
        room.create
            .content()
            .get("creator")
            .and_then(CanonicalJsonValue::as_str)
            == Some(target)
    }
}

/// Rule 3.5.2: a restricted join by someone neither invited nor joined must
/// name, in `join_authorised_via_users_server`, a joined user whose level
/// reaches the invite level.
fn check_join_authoriser<S: AuthState + ?Sized>(
    pdu: &Pdu,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    let authoriser = pdu
        .content()
        .get("join_authorised_via_users_server")
        .and_then(CanonicalJsonValue::as_str)
        .ok_or(AuthError::InvalidJoinAuthoriser)?;
    let invite_level = room.power_levels()?.invite();
    if room.membership(authoriser) == Some("join")
        && room.user_level(authoriser)?.at_least(invite_level)
    {
        Ok(())
    } else {
        Err(AuthError::InvalidJoinAuthoriser)
    }
}

/// Rule 4: `membership` is `invite`.
///
/// 4.1 an invite from a third-party invite is decided by that invite; 4.2
/// otherwise the sender must be joined, 4.3 the target neither joined nor
/// banned, and 4.4 the sender at the invite level.
fn check_invite<S: AuthState + ?Sized>(
    pdu: &Pdu,
    target: &str,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    if let Some(third_party_invite) = pdu.content().get("third_party_invite") {
        return check_third_party_invite(pdu, target, third_party_invite, room);
    }
    require_sender_joined(pdu, room)?;
    if matches!(room.membership(target), Some("join" | "ban")) {
        return Err(AuthError::TargetJoinedOrBanned);
    }
    if room
        .user_level(pdu.sender().as_str())?
        .at_least(room.power_levels()?.invite())
    {
        Ok(())
    } else {
        Err(AuthError::CannotInvite)
    }
}

/// Rule 5: `membership` is `leave`.
///
/// 5.1 leaving oneself needs a current invite, join or (versions 7 on)
/// knock; otherwise (a kick or unban) 5.2 the sender must be joined, 5.3
/// unbanning needs the ban level, and 5.4 the sender needs the kick level
/// and a higher level than the target.
fn check_leave<S: AuthState + ?Sized>(
    pdu: &Pdu,
    target: &str,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    let sender = pdu.sender().as_str();
    if sender == target {
        let may_leave = match room.membership(sender) {
            Some("invite" | "join") => true,
            Some("knock") => room.version.knock_allowed,
            _ => false,
        };
        return if may_leave {
            Ok(())
        } else {
            Err(AuthError::CannotLeave)
        };
    }
    require_sender_joined(pdu, room)?;
    let levels = room.power_levels()?;
    let sender_level = room.user_level(sender)?;
    if room.membership(target) == Some("ban") && !sender_level.at_least(levels.ban()) {
        return Err(AuthError::CannotUnban);
    }
    if sender_level.at_least(levels.kick()) && room.user_level(target)? < sender_level {
        Ok(())
    } else {
        Err(AuthError::CannotKick)
    }
}

/// Rule 6: `membership` is `ban`.
///
/// 6.1 the sender must be joined; 6.2 and have the ban level and a higher
/// level than the target.
fn check_ban<S: AuthState + ?Sized>(
    pdu: &Pdu,
    target: &str,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    require_sender_joined(pdu, room)?;
    let sender_level = room.user_level(pdu.sender().as_str())?;
    if sender_level.at_least(room.power_levels()?.ban()) && room.user_level(target)? < sender_level
    {
        Ok(())
    } else {
        Err(AuthError::CannotBan)
    }
}

/// Rule 7 (versions 7 on): `membership` is `knock`.
///
/// 7.1 the join rule must be `knock` (or, versions 10 on,
/// `knock_restricted`); 7.2 only for oneself; 7.3 not when banned, invited
/// or joined already.
fn check_knock<S: AuthState + ?Sized>(
    pdu: &Pdu,
    target: &str,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    let knockable = match room.join_rule() {
        "knock" => true,
        "knock_restricted" => room.version.knock_restricted_join_allowed,
        _ => false,
    };
    if !knockable {
        return Err(AuthError::KnockNotAllowed);
    }
    let sender = pdu.sender().as_str();
    if sender != target {
        return Err(AuthError::KnockForOtherUser);
    }
    if matches!(room.membership(sender), Some("ban" | "invite" | "join")) {
        Err(AuthError::CannotKnock)
    } else {
        Ok(())
    }
}

/// The sender must currently be joined: a sub-rule of several membership
/// rules, and the general rule every non-member event passes.
pub(super) fn require_sender_joined<S: AuthState + ?Sized>(
    pdu: &Pdu,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    if room.membership(pdu.sender().as_str()) == Some("join") {
        Ok(())
    } else {
        Err(AuthError::SenderNotJoined)
    }
}
