//! Actions: what a matching rule does with an event.

use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::PushRuleError;

/// What a matching rule does with an event.
///
/// The historical `dont_notify` and `coalesce` have no variant: the
/// specification makes them equivalent to nothing, so they are dropped
/// when read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Notify the user of the event.
    Notify,
    /// Set an entry of the `tweaks` sent to the push gateway. The
    /// specification defines `sound` (a string) and `highlight` (a
    /// boolean, true if the value is absent); others pass through.
    SetTweak {
        /// The tweak's name.
        tweak: String,
        /// Its value, if the rule gives one.
        value: Option<Value>,
    },
}

/// An action as written in a rule, before unusable ones are dropped.
enum ReadAction {
    Known(Action),
    /// `dont_notify` or `coalesce`, which mean nothing any more.
    Historical,
    Unrecognised,
}

impl Action {
    /// A sound tweak.
    pub(super) fn sound(sound: &str) -> Self {
        Self::SetTweak {
            tweak: "sound".to_owned(),
            value: Some(Value::from(sound)),
        }
    }

    /// A highlight tweak without a value, which means true.
    pub(super) fn highlight() -> Self {
        Self::SetTweak {
            tweak: "highlight".to_owned(),
            value: None,
        }
    }

    /// Reads the `actions` a client submitted: a list in which every entry
    /// must be an action this module knows or a historical one, which is
    /// dropped.
    pub fn list_from_request(actions: &Value) -> Result<Vec<Self>, PushRuleError> {
        let actions = actions.as_array().ok_or(PushRuleError::ActionsNotAList)?;
        let mut known = Vec::with_capacity(actions.len());
        for raw in actions {
            match read(raw) {
                ReadAction::Known(action) => known.push(action),
                ReadAction::Historical => {}
                ReadAction::Unrecognised => {
                    return Err(PushRuleError::UnrecognisedAction(raw.clone()))
                }
            }
        }
        Ok(known)
    }
}

fn read(raw: &Value) -> ReadAction {
    match raw {
        Value::String(name) => match name.as_str() {
            "notify" => ReadAction::Known(Action::Notify),
            "dont_notify" | "coalesce" => ReadAction::Historical,
            _ => ReadAction::Unrecognised,
        },
        Value::Object(object) => match object.get("set_tweak") {
            Some(Value::String(tweak)) => ReadAction::Known(Action::SetTweak {
                tweak: tweak.clone(),
                value: object.get("value").cloned(),
            }),
            _ => ReadAction::Unrecognised,
        },
        _ => ReadAction::Unrecognised,
    }
}

/// Deserialises a stored list of actions, keeping only the known ones.
pub(super) fn deserialize_known<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Action>, D::Error> {
    let raw = Vec::<Value>::deserialize(deserializer)?;
    Ok(raw
        .iter()
        .filter_map(|action| match read(action) {
            ReadAction::Known(action) => Some(action),
            ReadAction::Historical | ReadAction::Unrecognised => None,
        })
        .collect())
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Notify => serializer.serialize_str("notify"),
            Self::SetTweak { tweak, value } => {
                let mut object = serializer.serialize_map(None)?;
                object.serialize_entry("set_tweak", tweak)?;
                if let Some(value) = value {
                    object.serialize_entry("value", value)?;
                }
                object.end()
            }
        }
    }
}

/// Accepts only actions with a variant; lists of actions in rules are read
/// with a lenient reader that drops the others instead.
impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        match read(&raw) {
            ReadAction::Known(action) => Ok(action),
            ReadAction::Historical => Err(D::Error::custom(format!(
                "{raw} is a historical push rule action"
            ))),
            ReadAction::Unrecognised => {
                Err(D::Error::custom(format!("{raw} is not a push rule action")))
            }
        }
    }
}
