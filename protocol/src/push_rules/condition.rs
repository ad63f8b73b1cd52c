//! Conditions of override and underride rules.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};

use super::glob::{Extent, Glob};
use super::{path, EvalContext};
use crate::canonical_json::{MAX_SAFE_INTEGER, MIN_SAFE_INTEGER};

/// The property whose glob matches are made against words, not the whole
/// value.
const BODY_PATH: &str = "content.body";

/// The level `sender_notification_permission` requires when the room's
/// power levels do not set one for its key. The specification gives 50 as
/// the default of `room`, the only key it defines; other keys get the same
/// rather than being unreachable or open to everyone.
const DEFAULT_NOTIFICATION_LEVEL: i64 = 50;

/// A condition of an override or underride rule. Property keys are
/// dot-separated paths into the event, in which `\.` and `\\` stand for a
/// literal dot and backslash inside a property name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// The string at `key` matches the glob `pattern` (`*`, `?`),
    /// case-insensitively: as a whole, except that for `content.body` it
    /// may match any run of whole words.
    EventMatch {
        /// Path of the property.
        key: String,
        /// The glob.
        pattern: String,
    },
    /// The property at `key` is exactly `value`.
    EventPropertyIs {
        /// Path of the property.
        key: String,
        /// The value it must have.
        value: ScalarValue,
    },
    /// The property at `key` is an array with `value` among its items.
    EventPropertyContains {
        /// Path of the property.
        key: String,
        /// The value it must contain.
        value: ScalarValue,
    },
    /// `content.body` contains the user's display name as whole words.
    /// Deprecated since v1.17 but still defined.
    ContainsDisplayName,
    /// The number of joined members compares with `is`: a decimal integer
    /// after an optional `==`, `<`, `>`, `<=` or `>=` (no prefix is `==`).
    /// Kept as written so that rules read back as the client wrote them.
    RoomMemberCount {
        /// The comparison.
        is: String,
    },
    /// The sender's power level reaches the room's `notifications` level
    /// for `key`.
    SenderNotificationPermission {
        /// The key in the power levels' `notifications`, such as `room`.
        key: String,
    },
    /// A condition of an unrecognised kind, or of a known kind without the
    /// parameters it needs, kept as written. Never matches.
    Unknown(Value),
}

/// A value an event property is compared with: the JSON values that are not
/// compound and that canonical JSON can carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScalarValue {
    /// A string.
    String(String),
    /// An integer within the canonical JSON range, ±(2^53 - 1).
    Integer(i64),
    /// A boolean.
    Boolean(bool),
    /// `null`.
    Null,
}

impl ScalarValue {
    fn from_json(value: &Value) -> Option<Self> {
        match value {
            Value::String(string) => Some(Self::String(string.clone())),
            Value::Number(number) => number
                .as_i64()
                .filter(|integer| (MIN_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(integer))
                .map(Self::Integer),
            Value::Bool(boolean) => Some(Self::Boolean(*boolean)),
            Value::Null => Some(Self::Null),
            Value::Array(_) | Value::Object(_) => None,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Self::String(string) => Value::from(string.as_str()),
            Self::Integer(integer) => Value::from(*integer),
            Self::Boolean(boolean) => Value::Bool(*boolean),
            Self::Null => Value::Null,
        }
    }

    /// Exact equality, without conversions: `"1"`, `1.0` and `true` are not
    /// `1`.
    fn is(&self, value: &Value) -> bool {
        match (self, value) {
            (Self::String(expected), Value::String(actual)) => expected == actual,
            // `as_i64` is `None` for floats, so `1.0` is not the integer 1.
            (Self::Integer(expected), Value::Number(actual)) => actual.as_i64() == Some(*expected),
            (Self::Boolean(expected), Value::Bool(actual)) => expected == actual,
            (Self::Null, Value::Null) => true,
            _ => false,
        }
    }
}

impl Condition {
    /// Reads a condition. An unrecognised kind gives [`Condition::Unknown`];
    /// `None` means the condition is malformed: not an object, without a
    /// string `kind`, or of a known kind with missing or mistyped
    /// parameters.
    pub(super) fn parse(raw: &Value) -> Option<Self> {
        let string = |name: &str| raw.get(name)?.as_str().map(str::to_owned);
        let scalar = |name: &str| ScalarValue::from_json(raw.get(name)?);
        Some(match raw.get("kind")?.as_str()? {
            "event_match" => Self::EventMatch {
                key: string("key")?,
                pattern: string("pattern")?,
            },
            "event_property_is" => Self::EventPropertyIs {
                key: string("key")?,
                value: scalar("value")?,
            },
            "event_property_contains" => Self::EventPropertyContains {
                key: string("key")?,
                value: scalar("value")?,
            },
            "contains_display_name" => Self::ContainsDisplayName,
            "room_member_count" => {
                let is = string("is")?;
                // Any member count will do: this only checks the syntax.
                compare_member_count(&is, 0)?;
                Self::RoomMemberCount { is }
            }
            "sender_notification_permission" => Self::SenderNotificationPermission {
                key: string("key")?,
            },
            _ => Self::Unknown(raw.clone()),
        })
    }

    fn to_json(&self) -> Value {
        match self {
            Self::EventMatch { key, pattern } => {
                json!({ "kind": "event_match", "key": key, "pattern": pattern })
            }
            Self::EventPropertyIs { key, value } => {
                json!({ "kind": "event_property_is", "key": key, "value": value.to_json() })
            }
            Self::EventPropertyContains { key, value } => json!({
                "kind": "event_property_contains",
                "key": key,
                "value": value.to_json(),
            }),
            Self::ContainsDisplayName => json!({ "kind": "contains_display_name" }),
            Self::RoomMemberCount { is } => json!({ "kind": "room_member_count", "is": is }),
            Self::SenderNotificationPermission { key } => {
                json!({ "kind": "sender_notification_permission", "key": key })
            }
            Self::Unknown(raw) => raw.clone(),
        }
    }

    pub(super) fn matches(&self, event: &Value, context: &EvalContext<'_>) -> bool {
        match self {
            Self::EventMatch { key, pattern } => {
                let Some(value) = path::lookup(event, key).and_then(Value::as_str) else {
                    return false;
                };
                let extent = if key == BODY_PATH {
                    Extent::Words
                } else {
                    Extent::WholeValue
                };
                Glob::new(pattern).matches(value, extent)
            }
            Self::EventPropertyIs { key, value } => {
                path::lookup(event, key).is_some_and(|actual| value.is(actual))
            }
            Self::EventPropertyContains { key, value } => path::lookup(event, key)
                .and_then(Value::as_array)
                .is_some_and(|items| items.iter().any(|item| value.is(item))),
            Self::ContainsDisplayName => match (context.display_name, body(event)) {
                // An empty name would be found in every body.
                (Some(name), Some(body)) if !name.is_empty() => {
                    Glob::literal(name).matches(body, Extent::Words)
                }
                _ => false,
            },
            Self::RoomMemberCount { is } => {
                compare_member_count(is, context.member_count) == Some(true)
            }
            Self::SenderNotificationPermission { key } => {
                let required = context
                    .notification_power_levels
                    .get(key)
                    .copied()
                    .unwrap_or(DEFAULT_NOTIFICATION_LEVEL);
                context.sender_power_level.at_least(required)
            }
            Self::Unknown(_) => false,
        }
    }
}

/// `content.body`, if it is a string.
pub(super) fn body(event: &Value) -> Option<&str> {
    event.get("content")?.get("body")?.as_str()
}

/// Whether `member_count` satisfies the `room_member_count` comparison
/// `is`; `None` if `is` is malformed.
fn compare_member_count(is: &str, member_count: u64) -> Option<bool> {
    type Comparison = fn(&u64, &u64) -> bool;
    // Two-character prefixes first, so that "<=" is not read as "<".
    const PREFIXES: [(&str, Comparison); 5] = [
        ("==", u64::eq),
        ("<=", u64::le),
        (">=", u64::ge),
        ("<", u64::lt),
        (">", u64::gt),
    ];
    let (compare, number) = PREFIXES
        .into_iter()
        .find_map(|(prefix, compare)| Some((compare, is.strip_prefix(prefix)?)))
        .unwrap_or((u64::eq, is));
    // `u64::from_str` would also take a leading `+`.
    if !number.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let bound = number.parse().ok()?;
    Some(compare(&member_count, &bound))
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// Never fails on a JSON value: what cannot be read becomes
/// [`Condition::Unknown`].
impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        Ok(Self::parse(&raw).unwrap_or(Self::Unknown(raw)))
    }
}
