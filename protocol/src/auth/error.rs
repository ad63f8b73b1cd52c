//! Why an event is not authorised.

use crate::identifiers::{EventId, UserId};
use crate::power_levels::PowerLevelsError;

/// The authorisation rule an event failed.
///
/// Variants are grouped like the specification's rules; each names the
/// rule it stands for. Rule numbers shift between room versions (version 6
/// dropped the `m.room.aliases` rule, version 12 inserted one), so the
/// documentation gives the number in versions 1–5 / 6–11 / 12 where they
/// differ.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    // Rule 1: m.room.create.
    /// Rule 1.1: a create event must not follow other events.
    #[error("m.room.create must not have prev_events")]
    CreateHasPrevEvents,
    /// Rule 1.2 (version 12): the room ID is derived from the create event,
    /// which therefore must not name one.
    #[error("m.room.create must not have a room_id in this room version")]
    CreateHasRoomId,
    /// Rule 1.2 (versions 1–11): the room must be created by a user of the
    /// server named in the room ID.
    #[error("the room ID's server does not match the sender's of m.room.create")]
    CreateRoomIdServerMismatch,
    /// Rule 1.3: `content.room_version` names no known version.
    #[error("m.room.create names an unknown room version")]
    CreateUnknownRoomVersion,
    /// Rule 1.4 (versions 1–10): `content.creator` is required.
    #[error("m.room.create has no creator")]
    CreateWithoutCreator,
    /// Rule 1.4 (version 12): `content.additional_creators` must be an array
    /// of user IDs.
    #[error("m.room.create has malformed additional_creators")]
    CreateInvalidAdditionalCreators,

    // Rule 2 (version 12): the room ID.
    /// Rule 2 (version 12): the room ID must be the ID of the room's
    /// (accepted) create event with the `!` sigil.
    #[error("the room ID does not belong to an accepted m.room.create event")]
    RoomIdNotFromCreateEvent,

    // Rule 2 (versions 1–11) / 3 (version 12): the auth events.
    /// Rule 2.1 / 3.1: two auth events for the same state key.
    #[error("more than one auth event for ({event_type:?}, {state_key:?})")]
    DuplicateAuthEvent {
        /// The duplicated event type.
        event_type: String,
        /// The duplicated state key.
        state_key: String,
    },
    /// Rule 2.2 / 3.2: an auth event the selection algorithm would not pick
    /// for this event (including, in version 12, the create event).
    #[error("auth event {0} is not one this event may cite")]
    UnexpectedAuthEvent(EventId),
    /// Rule 2.3 / 3.3: a cited auth event is unknown or was rejected.
    #[error("auth event {0} is unknown or was rejected")]
    UnknownAuthEvent(EventId),
    /// Rule 2.4 (versions 1–11): the create event must be among the auth
    /// events. Also returned when a state given to
    /// [`authorize`](super::authorize) has no create event, without which
    /// no rule can be evaluated.
    #[error("no m.room.create event among the auth events or state")]
    MissingCreateEvent,
    /// Rule 2.5 / 3.5: an auth event from another room.
    #[error("auth event {0} belongs to another room")]
    AuthEventFromOtherRoom(EventId),

    // Rule 3 / 4: m.federate.
    /// Rule 3 (versions 1–11) / 4 (version 12): the room is closed to users
    /// of other servers than the creator's.
    #[error("the room does not federate and the sender is on another server")]
    FederationDisabled,

    // Rule 4 (versions 1–5): m.room.aliases.
    /// Rule 4.1 (versions 1–5): aliases events must be state events.
    #[error("m.room.aliases must have a state_key")]
    AliasesWithoutStateKey,
    /// Rule 4.2 (versions 1–5): a server may only set its own aliases.
    #[error("m.room.aliases state_key is not the sender's server")]
    AliasesForOtherServer,

    // Rule 5 (versions 1–5) / 4 (6–11) / 5 (12): m.room.member.
    /// Member rule 1: the target user must be given.
    #[error("m.room.member has no state_key")]
    MemberWithoutStateKey,
    /// Member rule 1: the membership must be given, as a string.
    #[error("m.room.member has no membership string")]
    MemberWithoutMembership,
    /// Join rule 2: users can only join themselves.
    #[error("the sender cannot join another user")]
    JoinForOtherUser,
    /// Join rule 3: a banned user cannot join.
    #[error("the sender is banned")]
    SenderBanned,
    /// Join rules 4–7: the join rule does not let the sender in.
    #[error("the join rule {join_rule:?} does not allow the sender to join")]
    JoinNotAllowed {
        /// The room's join rule (`invite` when there is none).
        join_rule: String,
    },
    /// Join rule 5.2 (versions 8 on): a restricted join must be vouched for
    /// by a joined user who may invite.
    #[error("join_authorised_via_users_server is missing, not joined or may not invite")]
    InvalidJoinAuthoriser,
    /// Third-party invite rule 1: the invited user is banned.
    #[error("the target user is banned")]
    TargetBanned,
    /// Third-party invite rule 2: `third_party_invite.signed` is required.
    #[error("third_party_invite has no signed object")]
    ThirdPartyInviteNotSigned,
    /// Third-party invite rule 3: `signed` needs `mxid` and `token`.
    #[error("third_party_invite.signed lacks mxid or token")]
    ThirdPartyInviteIncomplete,
    /// Third-party invite rule 4: `signed.mxid` must be the invited user.
    #[error("third_party_invite.signed.mxid is not the target user")]
    ThirdPartyInviteWrongUser,
    /// Third-party invite rule 5: no `m.room.third_party_invite` for the
    /// token.
    #[error("no m.room.third_party_invite matches the token")]
    ThirdPartyInviteUnknownToken,
    /// Third-party invite rule 6: only the user who issued the third-party
    /// invite may turn it into an invite.
    #[error("the sender did not issue the m.room.third_party_invite")]
    ThirdPartyInviteWrongSender,
    /// Third-party invite rule 8: no signature in `signed` verifies with the
    /// invite's public keys.
    #[error("no valid identity server signature on third_party_invite.signed")]
    ThirdPartyInviteBadSignature,
    /// Rules requiring the sender to be joined: invite 2, leave 2, ban 1 and
    /// the general rule 6 (versions 1–5) / 5 (6–11) / 6 (12).
    #[error("the sender is not joined to the room")]
    SenderNotJoined,
    /// Invite rule 3: the target is already joined or banned.
    #[error("the target user is already joined or banned")]
    TargetJoinedOrBanned,
    /// Invite rule 4, and rule 7 (versions 1–5) / 6 (6–11) / 7 (12) for
    /// `m.room.third_party_invite`: the sender's level is below the invite
    /// level.
    #[error("the sender's power level is below the invite level")]
    CannotInvite,
    /// Leave rule 1: leaving requires being invited, joined or (versions 7
    /// on) knocking.
    #[error("the sender is not invited, joined or knocking, so cannot leave")]
    CannotLeave,
    /// Leave rule 3: unbanning needs the ban level.
    #[error("the sender's power level is below the ban level, so cannot unban")]
    CannotUnban,
    /// Leave rule 4: kicking needs the kick level and a higher level than
    /// the target.
    #[error("the sender's power level does not allow kicking the target")]
    CannotKick,
    /// Ban rule 2: banning needs the ban level and a higher level than the
    /// target.
    #[error("the sender's power level does not allow banning the target")]
    CannotBan,
    /// Knock rule 1 (versions 7 on): the join rule does not allow knocking.
    #[error("the join rule does not allow knocking")]
    KnockNotAllowed,
    /// Knock rule 2: users can only knock for themselves.
    #[error("the sender cannot knock for another user")]
    KnockForOtherUser,
    /// Knock rule 4: banned, invited and joined users cannot knock.
    #[error("the sender is banned, invited or joined, so cannot knock")]
    CannotKnock,
    /// Member rule "otherwise": the membership is not one the version knows.
    #[error("unknown membership {0:?}")]
    UnknownMembership(String),

    // Rules 8–9 (versions 1–5) / 7–8 (6–11) / 8–9 (12).
    /// The required power level: the sender's level is below the level the
    /// power levels set for this event type.
    #[error("sending {event_type:?} requires power level {required}")]
    InsufficientPower {
        /// The event type.
        event_type: String,
        /// The level required.
        required: i64,
    },
    /// A state key starting with `@` is reserved for that user.
    #[error("the state_key names another user")]
    StateKeyOfOtherUser,

    // Rule 10 (versions 1–5) / 9 (6–11) / 10 (12): m.room.power_levels.
    /// The new power levels are malformed: rule 10.1 / 9.1–9.3 / 10.1–10.3,
    /// or (before version 10) values that cannot be compared with the
    /// current ones.
    #[error("the new power levels are malformed: {0}")]
    InvalidPowerLevels(PowerLevelsError),
    /// The power levels in force cannot be read, so no rule consulting them
    /// can pass.
    #[error("the current power levels are malformed: {0}")]
    InvalidCurrentPowerLevels(PowerLevelsError),
    /// Rule 10.4 (version 12): creators cannot be listed in `users`.
    #[error("{0} is a room creator and cannot be listed in power levels")]
    CreatorInPowerLevels(UserId),
    /// The change rules for levels: a changed value (old or new) above the
    /// sender's own level.
    #[error("the sender cannot change {key:?}: a value exceeds their own level")]
    PowerLevelAboveSender {
        /// The changed key, e.g. `ban`, `events.m.room.name` or
        /// `users.@alice:example.org`.
        key: String,
    },
    /// The change rule for `users`: the sender cannot change or remove the
    /// level of a user whose level is not below their own.
    #[error("the sender cannot change the level of {user}, which is not below their own")]
    PowerLevelOfPeer {
        /// The user whose level would change.
        user: String,
    },

    // Rule 11 (versions 1–2): m.room.redaction.
    /// Rule 11 (versions 1–2): redacting needs the redact level or an event
    /// from the redaction's own server.
    #[error("the sender may not redact that event")]
    CannotRedact,
}
