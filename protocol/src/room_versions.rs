//! Room versions and the rules each one selects.
//!
//! Algorithms in this crate (and in the server) take a [`RoomVersion`] and
//! consult its flags, rather than comparing version numbers, so the
//! differences between versions are written down in exactly one place: the
//! constants at the bottom of this file.

use std::fmt;
use std::str::FromStr;

/// Longest room version string the grammar allows, in code points.
const MAX_ROOM_VERSION_CHARS: usize = 32;

/// A room version this server implements.
///
/// Parsing a syntactically valid but unknown version is an error
/// ([`RoomVersionError::Unsupported`]): without its rules the server can
/// neither authorise nor hash events of such a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RoomVersionId {
    /// Room version 1.
    V1,
    /// Room version 2.
    V2,
    /// Room version 3.
    V3,
    /// Room version 4.
    V4,
    /// Room version 5.
    V5,
    /// Room version 6.
    V6,
    /// Room version 7.
    V7,
    /// Room version 8.
    V8,
    /// Room version 9.
    V9,
    /// Room version 10.
    V10,
    /// Room version 11.
    V11,
    /// Room version 12.
    V12,
}

/// Why a string does not name a supported room version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoomVersionError {
    /// Not a room version at all: empty, longer than 32 code points, or
    /// using characters other than `a-z`, `0-9`, `.` and `-`.
    #[error("{0:?} is not a valid room version identifier")]
    Invalid(String),
    /// Well-formed, but not a version this server implements.
    #[error("unsupported room version {0:?}")]
    Unsupported(String),
}

impl RoomVersionId {
    /// Every supported version, oldest first.
    pub const ALL: [RoomVersionId; 12] = [
        Self::V1,
        Self::V2,
        Self::V3,
        Self::V4,
        Self::V5,
        Self::V6,
        Self::V7,
        Self::V8,
        Self::V9,
        Self::V10,
        Self::V11,
        Self::V12,
    ];

    /// The version the specification recommends for new rooms.
    pub const DEFAULT: RoomVersionId = Self::V12;

    /// The identifier as used in `m.room.create` and the federation API.
    pub fn as_str(self) -> &'static str {
        self.rules().name
    }

    /// The rules of this version.
    pub fn rules(self) -> &'static RoomVersion {
        match self {
            Self::V1 => &RoomVersion::V1,
            Self::V2 => &RoomVersion::V2,
            Self::V3 => &RoomVersion::V3,
            Self::V4 => &RoomVersion::V4,
            Self::V5 => &RoomVersion::V5,
            Self::V6 => &RoomVersion::V6,
            Self::V7 => &RoomVersion::V7,
            Self::V8 => &RoomVersion::V8,
            Self::V9 => &RoomVersion::V9,
            Self::V10 => &RoomVersion::V10,
            Self::V11 => &RoomVersion::V11,
            Self::V12 => &RoomVersion::V12,
        }
    }
}

impl FromStr for RoomVersionId {
    type Err = RoomVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let well_formed = !s.is_empty()
            && s.chars().count() <= MAX_ROOM_VERSION_CHARS
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
        if !well_formed {
            return Err(RoomVersionError::Invalid(s.to_owned()));
        }
        Self::ALL
            .into_iter()
            .find(|id| id.as_str() == s)
            .ok_or_else(|| RoomVersionError::Unsupported(s.to_owned()))
    }
}

impl TryFrom<&str> for RoomVersionId {
    type Error = RoomVersionError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for RoomVersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for RoomVersionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RoomVersionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether a version may be used for new rooms without warning users.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomVersionStability {
    /// Safe to use.
    Stable,
    /// Experimental or deprecated.
    Unstable,
}

/// How event IDs are obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventIdFormat {
    /// `$opaque:server`, chosen by the originating server and carried in the
    /// event's `event_id` field (versions 1–2).
    ServerAssigned,
    /// `$` + standard unpadded base64 of the reference hash (version 3).
    ReferenceHash,
    /// `$` + URL-safe unpadded base64 of the reference hash (version 4 on).
    ReferenceHashUrlSafe,
}

/// How room IDs are obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomIdFormat {
    /// `!opaque:server`, chosen by the creating server and carried in every
    /// event, including `m.room.create` (versions 1–11).
    ServerAssigned,
    /// `!` + URL-safe unpadded base64 of the create event's reference hash;
    /// the create event itself has no `room_id` (version 12 on).
    CreateEventHash,
}

/// Which state resolution algorithm applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateResolutionVersion {
    /// The original algorithm (version 1).
    V1,
    /// State resolution v2 (versions 2–11).
    V2,
    /// State resolution v2 with the version 12 changes: iterative auth
    /// checks start from an empty state, and the full conflicted set includes
    /// the conflicted state subgraph.
    V2_1,
}

/// The parts of the redaction algorithm that vary between versions. The
/// keys every version keeps are fixed in [`crate::redaction`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedactionRules {
    /// Keep the top-level `origin`, `membership` and `prev_state` (up to
    /// version 10).
    pub keep_origin_membership_prev_state: bool,
    /// Keep `aliases` in `m.room.aliases` content (up to version 5).
    pub keep_aliases_content: bool,
    /// Keep `allow` in `m.room.join_rules` content (version 8 on).
    pub keep_join_rules_allow: bool,
    /// Keep `join_authorised_via_users_server` in `m.room.member` content
    /// (version 9 on).
    pub keep_member_join_authorised_via_users_server: bool,
    /// Keep `third_party_invite`, reduced to its `signed` key, in
    /// `m.room.member` content (version 11 on).
    pub keep_member_third_party_invite_signed: bool,
    /// Keep all of `m.room.create` content, not only `creator` (version 11
    /// on).
    pub keep_create_content: bool,
    /// Keep `invite` in `m.room.power_levels` content (version 11 on).
    pub keep_power_levels_invite: bool,
    /// Keep `redacts` in `m.room.redaction` content (version 11 on).
    pub keep_redaction_redacts: bool,
}

/// Everything that differs between room versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoomVersion {
    /// Which version this is.
    pub id: RoomVersionId,
    name: &'static str,
    /// Whether the version is stable.
    pub stability: RoomVersionStability,
    /// How event IDs are formed.
    pub event_id_format: EventIdFormat,
    /// How room IDs are formed.
    pub room_id_format: RoomIdFormat,
    /// Which state resolution algorithm resolves forks.
    pub state_resolution: StateResolutionVersion,
    /// Signatures only count if the key's `valid_until_ts` covers the
    /// event's `origin_server_ts` (version 5 on).
    pub enforce_key_validity: bool,
    /// `m.room.aliases` events have their own authorisation rule, bypassing
    /// the usual membership and power checks (up to version 5).
    pub special_case_aliases_auth: bool,
    /// `m.room.redaction` events are checked against the redact level by the
    /// authorisation rules themselves (versions 1–2); later versions defer
    /// that check to when the redaction is applied.
    pub redaction_auth_rule: bool,
    /// Events must be strict canonical JSON: no floats, integers in range
    /// (version 6 on). Earlier versions tolerate, and must still hash,
    /// events that break these rules.
    pub strict_canonical_json: bool,
    /// The `notifications` keys of power levels are subject to the same
    /// change restrictions as `events` (version 6 on).
    pub limit_notifications_power_levels: bool,
    /// The `knock` join rule and membership exist (version 7 on).
    pub knock_allowed: bool,
    /// The `restricted` join rule exists (version 8 on).
    pub restricted_join_allowed: bool,
    /// The `knock_restricted` join rule exists (version 10 on).
    pub knock_restricted_join_allowed: bool,
    /// Power level values must be JSON integers, not numeric strings
    /// (version 10 on).
    pub integer_power_levels: bool,
    /// The room creator is the `sender` of `m.room.create`; its content has
    /// no `creator` key (version 11 on).
    pub creator_is_sender: bool,
    /// `m.room.create` may list `additional_creators`, and all creators have
    /// infinite power level that `m.room.power_levels` cannot change
    /// (version 12 on).
    pub additional_creators: bool,
    /// `m.room.redaction` names its target in `content.redacts` instead of a
    /// top-level `redacts` (version 11 on).
    pub redacts_in_content: bool,
    /// The version's redaction algorithm.
    pub redaction: RedactionRules,
}

impl RoomVersion {
    /// The rules of a version.
    pub fn for_id(id: RoomVersionId) -> &'static RoomVersion {
        id.rules()
    }

    /// Whether `m.room.create` carries a `room_id` and is selected as an auth
    /// event. Neither holds once the room ID is derived from the create event.
    pub fn create_event_has_room_id(&self) -> bool {
        self.room_id_format == RoomIdFormat::ServerAssigned
    }

    /// Room version 1: the base rules.
    pub const V1: RoomVersion = RoomVersion {
        id: RoomVersionId::V1,
        name: "1",
        stability: RoomVersionStability::Stable,
        event_id_format: EventIdFormat::ServerAssigned,
        room_id_format: RoomIdFormat::ServerAssigned,
        state_resolution: StateResolutionVersion::V1,
        enforce_key_validity: false,
        special_case_aliases_auth: true,
        redaction_auth_rule: true,
        strict_canonical_json: false,
        limit_notifications_power_levels: false,
        knock_allowed: false,
        restricted_join_allowed: false,
        knock_restricted_join_allowed: false,
        integer_power_levels: false,
        creator_is_sender: false,
        additional_creators: false,
        redacts_in_content: false,
        redaction: RedactionRules {
            keep_origin_membership_prev_state: true,
            keep_aliases_content: true,
            keep_join_rules_allow: false,
            keep_member_join_authorised_via_users_server: false,
            keep_member_third_party_invite_signed: false,
            keep_create_content: false,
            keep_power_levels_invite: false,
            keep_redaction_redacts: false,
        },
    };

    /// Room version 2: state resolution v2.
    pub const V2: RoomVersion = RoomVersion {
        id: RoomVersionId::V2,
        name: "2",
        state_resolution: StateResolutionVersion::V2,
        ..Self::V1
    };

    /// Room version 3: event IDs are reference hashes; redactions leave the
    /// authorisation rules.
    pub const V3: RoomVersion = RoomVersion {
        id: RoomVersionId::V3,
        name: "3",
        event_id_format: EventIdFormat::ReferenceHash,
        redaction_auth_rule: false,
        ..Self::V2
    };

    /// Room version 4: URL-safe event IDs.
    pub const V4: RoomVersion = RoomVersion {
        id: RoomVersionId::V4,
        name: "4",
        event_id_format: EventIdFormat::ReferenceHashUrlSafe,
        ..Self::V3
    };

    /// Room version 5: signing key validity periods are enforced.
    pub const V5: RoomVersion = RoomVersion {
        id: RoomVersionId::V5,
        name: "5",
        enforce_key_validity: true,
        ..Self::V4
    };

    /// Room version 6: strict canonical JSON, no special `m.room.aliases`
    /// handling, `notifications` power levels are protected.
    pub const V6: RoomVersion = RoomVersion {
        id: RoomVersionId::V6,
        name: "6",
        special_case_aliases_auth: false,
        strict_canonical_json: true,
        limit_notifications_power_levels: true,
        redaction: RedactionRules {
            keep_aliases_content: false,
            ..Self::V5.redaction
        },
        ..Self::V5
    };

    /// Room version 7: knocking.
    pub const V7: RoomVersion = RoomVersion {
        id: RoomVersionId::V7,
        name: "7",
        knock_allowed: true,
        ..Self::V6
    };

    /// Room version 8: restricted join rule.
    pub const V8: RoomVersion = RoomVersion {
        id: RoomVersionId::V8,
        name: "8",
        restricted_join_allowed: true,
        redaction: RedactionRules {
            keep_join_rules_allow: true,
            ..Self::V7.redaction
        },
        ..Self::V7
    };

    /// Room version 9: redaction keeps `join_authorised_via_users_server`.
    pub const V9: RoomVersion = RoomVersion {
        id: RoomVersionId::V9,
        name: "9",
        redaction: RedactionRules {
            keep_member_join_authorised_via_users_server: true,
            ..Self::V8.redaction
        },
        ..Self::V8
    };

    /// Room version 10: integer power levels, `knock_restricted`.
    pub const V10: RoomVersion = RoomVersion {
        id: RoomVersionId::V10,
        name: "10",
        knock_restricted_join_allowed: true,
        integer_power_levels: true,
        ..Self::V9
    };

    /// Room version 11: creator is the create event's sender, `redacts`
    /// moves into content, revised redaction algorithm.
    pub const V11: RoomVersion = RoomVersion {
        id: RoomVersionId::V11,
        name: "11",
        creator_is_sender: true,
        redacts_in_content: true,
        redaction: RedactionRules {
            keep_origin_membership_prev_state: false,
            keep_member_third_party_invite_signed: true,
            keep_create_content: true,
            keep_power_levels_invite: true,
            keep_redaction_redacts: true,
            ..Self::V10.redaction
        },
        ..Self::V10
    };

    /// Room version 12: room IDs are create event hashes, privileged room
    /// creators, state resolution v2.1.
    pub const V12: RoomVersion = RoomVersion {
        id: RoomVersionId::V12,
        name: "12",
        room_id_format: RoomIdFormat::CreateEventHash,
        state_resolution: StateResolutionVersion::V2_1,
        additional_creators: true,
        ..Self::V11
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        for (index, id) in RoomVersionId::ALL.into_iter().enumerate() {
            let text = (index + 1).to_string();
            assert_eq!(id.as_str(), text);
            assert_eq!(text.parse::<RoomVersionId>(), Ok(id));
            assert_eq!(id.rules().id, id);
            assert_eq!(RoomVersion::for_id(id).id, id);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<RoomVersionId>(&json).unwrap(), id);
        }
    }

    #[test]
    fn unknown_and_invalid_versions() {
        for unknown in ["13", "0", "1.2", "org.matrix.msc1234", "01"] {
            assert_eq!(
                unknown.parse::<RoomVersionId>(),
                Err(RoomVersionError::Unsupported(unknown.into()))
            );
        }
        let too_long = "1".repeat(33);
        for invalid in ["", "V1", "1 ", "v_1", too_long.as_str()] {
            assert_eq!(
                invalid.parse::<RoomVersionId>(),
                Err(RoomVersionError::Invalid(invalid.into()))
            );
        }
        assert!(serde_json::from_str::<RoomVersionId>("\"99\"")
            .unwrap_err()
            .to_string()
            .contains("unsupported room version"));
    }

    /// The client-facing feature matrix of the room versions overview.
    #[test]
    fn feature_matrix() {
        let versions_where = |flag: fn(&RoomVersion) -> bool| -> Vec<&str> {
            RoomVersionId::ALL
                .into_iter()
                .filter(|id| flag(id.rules()))
                .map(RoomVersionId::as_str)
                .collect()
        };
        let from = |first: usize| -> Vec<&str> {
            RoomVersionId::ALL[first - 1..]
                .iter()
                .map(|id| id.as_str())
                .collect()
        };
        assert_eq!(versions_where(|v| v.knock_allowed), from(7));
        assert_eq!(versions_where(|v| v.restricted_join_allowed), from(8));
        assert_eq!(
            versions_where(|v| v.knock_restricted_join_allowed),
            from(10)
        );
        assert_eq!(versions_where(|v| v.additional_creators), from(12));
        assert_eq!(versions_where(|v| v.enforce_key_validity), from(5));
        assert_eq!(versions_where(|v| v.strict_canonical_json), from(6));
        assert_eq!(versions_where(|v| v.integer_power_levels), from(10));
        assert_eq!(versions_where(|v| v.creator_is_sender), from(11));
        assert_eq!(
            versions_where(|v| v.special_case_aliases_auth),
            ["1", "2", "3", "4", "5"]
        );
        assert_eq!(versions_where(|v| v.redaction_auth_rule), ["1", "2"]);
        assert_eq!(versions_where(|v| !v.create_event_has_room_id()), ["12"]);
        assert!(RoomVersionId::ALL
            .iter()
            .all(|id| id.rules().stability == RoomVersionStability::Stable));
    }

    #[test]
    fn id_and_state_resolution_formats() {
        use EventIdFormat::*;
        use StateResolutionVersion as S;
        let table: Vec<(EventIdFormat, StateResolutionVersion)> = RoomVersionId::ALL
            .iter()
            .map(|id| (id.rules().event_id_format, id.rules().state_resolution))
            .collect();
        assert_eq!(
            table,
            [
                (ServerAssigned, S::V1),
                (ServerAssigned, S::V2),
                (ReferenceHash, S::V2),
                (ReferenceHashUrlSafe, S::V2),
                (ReferenceHashUrlSafe, S::V2),
                (ReferenceHashUrlSafe, S::V2),
                (ReferenceHashUrlSafe, S::V2),
                (ReferenceHashUrlSafe, S::V2),
                (ReferenceHashUrlSafe, S::V2),
                (ReferenceHashUrlSafe, S::V2),
                (ReferenceHashUrlSafe, S::V2),
                (ReferenceHashUrlSafe, S::V2_1),
            ]
        );
    }
}
