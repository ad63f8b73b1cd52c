//! The redaction algorithm: what survives when an event is redacted.
//!
//! Besides serving redacted events, redaction underlies event signatures
//! and reference hashes (and so event IDs): both cover only the redacted
//! form, so a redacted copy still verifies and keeps its ID.
//!
//! The version differences come from [`RedactionRules`] flags on the
//! [`RoomVersion`]; this module only knows the keys that every version keeps.

use crate::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use crate::room_versions::{RedactionRules, RoomVersion};

/// Top-level keys kept by every room version.
const ALWAYS_KEPT: [&str; 12] = [
    "event_id",
    "type",
    "room_id",
    "sender",
    "state_key",
    "content",
    "hashes",
    "signatures",
    "depth",
    "prev_events",
    "auth_events",
    "origin_server_ts",
];

/// Top-level keys kept only while
/// [`RedactionRules::keep_origin_membership_prev_state`] holds.
const KEPT_BEFORE_V11: [&str; 3] = ["origin", "membership", "prev_state"];

/// Content keys of `m.room.power_levels` kept by every version.
const POWER_LEVELS_KEPT: [&str; 8] = [
    "ban",
    "events",
    "events_default",
    "kick",
    "redact",
    "state_default",
    "users",
    "users_default",
];

/// The event cannot be redacted because it lacks the structure every event
/// has. Such an event is malformed and has no valid ID or signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedactionError {
    /// A required top-level key is absent.
    #[error("event has no {0:?} key")]
    MissingField(&'static str),
    /// A top-level key has the wrong JSON type.
    #[error("event key {field:?} must be {expected}")]
    WrongType {
        /// The key.
        field: &'static str,
        /// The JSON type it must have.
        expected: &'static str,
    },
}

/// Returns the redacted form of `event` under the rules of `version`.
///
/// Only the kept parts are copied. The event must have a string `type` and an
/// object `content`; redacting an already-redacted event changes nothing.
pub fn redact(
    event: &CanonicalJsonObject,
    version: &RoomVersion,
) -> Result<CanonicalJsonObject, RedactionError> {
    let rules = &version.redaction;
    let event_type = match event.get("type") {
        Some(CanonicalJsonValue::String(t)) => t.as_str(),
        Some(_) => {
            return Err(RedactionError::WrongType {
                field: "type",
                expected: "a string",
            })
        }
        None => return Err(RedactionError::MissingField("type")),
    };
    let content = match event.get("content") {
        Some(CanonicalJsonValue::Object(c)) => c,
        Some(_) => {
            return Err(RedactionError::WrongType {
                field: "content",
                expected: "an object",
            })
        }
        None => return Err(RedactionError::MissingField("content")),
    };

    let kept_top_level = |key: &str| {
        ALWAYS_KEPT.contains(&key)
            || (rules.keep_origin_membership_prev_state && KEPT_BEFORE_V11.contains(&key))
    };
    Ok(event
        .iter()
        .filter(|(key, _)| kept_top_level(key))
        .map(|(key, value)| {
            let value = if key == "content" {
                CanonicalJsonValue::Object(redact_content(event_type, content, rules))
            } else {
                value.clone()
            };
            (key.clone(), value)
        })
        .collect())
}

fn redact_content(
    event_type: &str,
    content: &CanonicalJsonObject,
    rules: &RedactionRules,
) -> CanonicalJsonObject {
    let mut kept: Vec<&str> = Vec::new();
    match event_type {
        "m.room.member" => {
            kept.push("membership");
            if rules.keep_member_join_authorised_via_users_server {
                kept.push("join_authorised_via_users_server");
            }
        }
        "m.room.create" => {
            if rules.keep_create_content {
                return content.clone();
            }
            kept.push("creator");
        }
        "m.room.join_rules" => {
            kept.push("join_rule");
            if rules.keep_join_rules_allow {
                kept.push("allow");
            }
        }
        "m.room.power_levels" => {
            kept.extend(POWER_LEVELS_KEPT);
            if rules.keep_power_levels_invite {
                kept.push("invite");
            }
        }
        "m.room.aliases" if rules.keep_aliases_content => kept.push("aliases"),
        "m.room.history_visibility" => kept.push("history_visibility"),
        "m.room.redaction" if rules.keep_redaction_redacts => kept.push("redacts"),
        _ => {}
    }

    let mut redacted: CanonicalJsonObject = content
        .iter()
        .filter(|(key, _)| kept.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();

    if event_type == "m.room.member" && rules.keep_member_third_party_invite_signed {
        // Like Synapse, the reference implementation: an object
        // `third_party_invite` survives holding at most its `signed` key
        // (possibly empty); any other value is dropped.
        if let Some(CanonicalJsonValue::Object(invite)) = content.get("third_party_invite") {
            let signed: CanonicalJsonObject = invite
                .get("signed")
                .map(|signed| ("signed".to_owned(), signed.clone()))
                .into_iter()
                .collect();
            redacted.insert(
                "third_party_invite".to_owned(),
                CanonicalJsonValue::Object(signed),
            );
        }
    }
    redacted
}

#[cfg(test)]
pub(crate) mod tests;
