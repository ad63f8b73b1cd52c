//! Push rules: which events notify a user, and how.
//!
//! A user's [`Ruleset`] holds rules of five kinds ([`RuleKind`]), tried in
//! the order override, content, room, sender, underride. The first enabled
//! rule that matches an event decides what happens to it
//! ([`Ruleset::evaluate`]); if none matches, nothing does. Every user starts
//! from [`Ruleset::server_default`]. Their own rules rank above the
//! server-default rules of the same kind, except `.m.rule.master`, which
//! ranks above everything.
//!
//! The types serialise to the client-server API's format, which is also the
//! `global` member of the `m.push_rules` account data. Deserialising is
//! lenient because stored rules may predate this code or come from newer
//! clients: the historical `dont_notify` and `coalesce` actions, and actions
//! this module does not know, are dropped; conditions it cannot interpret
//! become [`Condition::Unknown`], which keeps them for the client but never
//! matches. Rules a client submits go through the strict
//! [`PushRule::from_request`] instead, and are placed with
//! [`Ruleset::insert_user_rule`].

mod action;
mod condition;
mod defaults;
mod edit;
mod glob;
mod path;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use action::Action;
pub use condition::{Condition, ScalarValue};
pub use edit::{Position, PushRuleError};

use crate::power_levels::UserPowerLevel;

/// The rule that, when enabled, silences every event. It ranks above every
/// other rule, the user's own included.
const MASTER_RULE_ID: &str = ".m.rule.master";

/// The kinds of push rule, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    /// Highest priority; matches on [`PushRule::conditions`].
    Override,
    /// Matches [`PushRule::pattern`] against the words of `content.body`.
    Content,
    /// Matches every event in the room whose ID is the rule ID.
    Room,
    /// Matches every event from the user whose ID is the rule ID.
    Sender,
    /// Like override, but below all other kinds.
    Underride,
}

impl RuleKind {
    /// Every kind, in the order rules are tried.
    pub const ALL: [RuleKind; 5] = [
        Self::Override,
        Self::Content,
        Self::Room,
        Self::Sender,
        Self::Underride,
    ];

    /// The kind as it appears in URLs and in the ruleset's keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Override => "override",
            Self::Content => "content",
            Self::Room => "room",
            Self::Sender => "sender",
            Self::Underride => "underride",
        }
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuleKind {
    type Err = PushRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| PushRuleError::UnknownKind(s.to_owned()))
    }
}

/// One push rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRule {
    /// Unique within its kind. Server-default rules' IDs start with `.`;
    /// a room rule's is the room ID and a sender rule's the sender's user ID.
    pub rule_id: String,
    /// Whether this is a server-default rule.
    pub default: bool,
    /// Disabled rules never match.
    pub enabled: bool,
    /// What to do with a matching event; empty means do not notify.
    #[serde(deserialize_with = "action::deserialize_known")]
    pub actions: Vec<Action>,
    /// Override and underride rules: all must hold for the rule to match.
    /// An absent or empty list matches every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Content rules: the glob matched against the words of `content.body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

impl PushRule {
    /// Whether this is one of the server's rules rather than the user's:
    /// those, and only those, have IDs starting with `.`.
    pub fn is_server_default(&self) -> bool {
        self.rule_id.starts_with('.')
    }

    /// Whether the rule, read as a rule of `kind`, matches `event`. Does not
    /// look at [`PushRule::enabled`].
    fn matches(&self, kind: RuleKind, event: &Value, context: &EvalContext<'_>) -> bool {
        match kind {
            RuleKind::Override | RuleKind::Underride => self
                .conditions
                .iter()
                .flatten()
                .all(|condition| condition.matches(event, context)),
            RuleKind::Content => match (&self.pattern, condition::body(event)) {
                (Some(pattern), Some(body)) => {
                    glob::Glob::new(pattern).matches(body, glob::Extent::Words)
                }
                _ => false,
            },
            RuleKind::Room => string_field(event, "room_id") == Some(self.rule_id.as_str()),
            RuleKind::Sender => string_field(event, "sender") == Some(self.rule_id.as_str()),
        }
    }
}

/// A user's push rules, by kind, each list in priority order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {
    /// Override rules.
    #[serde(rename = "override", default)]
    pub override_: Vec<PushRule>,
    /// Content rules.
    #[serde(default)]
    pub content: Vec<PushRule>,
    /// Room rules.
    #[serde(default)]
    pub room: Vec<PushRule>,
    /// Sender rules.
    #[serde(default)]
    pub sender: Vec<PushRule>,
    /// Underride rules.
    #[serde(default)]
    pub underride: Vec<PushRule>,
}

impl Ruleset {
    /// The server-default rules of the specification (v1.17) for
    /// `user_id`, in its order, with no rules of the user's own.
    pub fn server_default(user_id: &str) -> Self {
        defaults::server_default(user_id)
    }

    /// The rules of `kind`, highest priority first.
    pub fn rules(&self, kind: RuleKind) -> &[PushRule] {
        match kind {
            RuleKind::Override => &self.override_,
            RuleKind::Content => &self.content,
            RuleKind::Room => &self.room,
            RuleKind::Sender => &self.sender,
            RuleKind::Underride => &self.underride,
        }
    }

    fn rules_mut(&mut self, kind: RuleKind) -> &mut Vec<PushRule> {
        match kind {
            RuleKind::Override => &mut self.override_,
            RuleKind::Content => &mut self.content,
            RuleKind::Room => &mut self.room,
            RuleKind::Sender => &mut self.sender,
            RuleKind::Underride => &mut self.underride,
        }
    }

    /// The rule of `kind` with ID `rule_id`.
    pub fn rule(&self, kind: RuleKind, rule_id: &str) -> Option<&PushRule> {
        self.rules(kind).iter().find(|rule| rule.rule_id == rule_id)
    }

    /// The rule of `kind` with ID `rule_id`, to enable, disable or change
    /// the actions of; that is all a user may change in server-default
    /// rules.
    pub fn rule_mut(&mut self, kind: RuleKind, rule_id: &str) -> Option<&mut PushRule> {
        self.rules_mut(kind)
            .iter_mut()
            .find(|rule| rule.rule_id == rule_id)
    }

    /// The rule deciding what `event` (in client format: `type`, `sender`,
    /// `room_id`, `content`, `state_key` if any) means to the user of
    /// `context`: the first enabled rule that matches, kinds tried in
    /// [`RuleKind::ALL`] order. `None` if no rule matches, and for the
    /// user's own events, which never notify them.
    pub fn evaluate<'r>(&'r self, event: &Value, context: &EvalContext<'_>) -> Option<Outcome<'r>> {
        if string_field(event, "sender") == Some(context.user_id) {
            return None;
        }
        RuleKind::ALL.into_iter().find_map(|kind| {
            self.rules(kind)
                .iter()
                .find(|rule| rule.enabled && rule.matches(kind, event, context))
                .map(|rule| Outcome { kind, rule })
        })
    }
}

/// What evaluation needs to know besides the event and the rules: the user
/// the rules belong to and the room as it is when the event arrives.
#[derive(Clone, Copy, Debug)]
pub struct EvalContext<'a> {
    /// The user whose rules are evaluated.
    pub user_id: &'a str,
    /// The user's display name in the room, for `contains_display_name`.
    pub display_name: Option<&'a str>,
    /// How many users are joined to the room, for `room_member_count`.
    pub member_count: u64,
    /// The sender's power level, for `sender_notification_permission`.
    pub sender_power_level: UserPowerLevel,
    /// The `notifications` levels of the room's power levels. Keys the room
    /// does not set, `room` included, require level 50.
    pub notification_power_levels: &'a BTreeMap<String, i64>,
}

/// The rule that matched an event, and what it says to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome<'r> {
    /// The kind of the matching rule.
    pub kind: RuleKind,
    /// The matching rule.
    pub rule: &'r PushRule,
}

impl<'r> Outcome<'r> {
    /// The matching rule's actions.
    pub fn actions(&self) -> &'r [Action] {
        &self.rule.actions
    }

    /// Whether the event notifies the user (counts as unread, goes to the
    /// push gateway).
    pub fn notify(&self) -> bool {
        self.rule.actions.contains(&Action::Notify)
    }

    /// Whether the event is a highlighted notification. False when it does
    /// not notify at all: a highlight only ever counts among notifications.
    pub fn highlight(&self) -> bool {
        let last_highlight = self
            .rule
            .actions
            .iter()
            .rev()
            .find_map(|action| match action {
                Action::SetTweak { tweak, value } if tweak == "highlight" => Some(value),
                _ => None,
            });
        // A highlight tweak without a value means true.
        self.notify() && matches!(last_highlight, Some(None | Some(Value::Bool(true))))
    }

    /// The `tweaks` to send the push gateway. A later tweak of the same name
    /// replaces an earlier one; a tweak without a value is `true`, which is
    /// how the specification reads a bare `highlight`.
    pub fn tweaks(&self) -> serde_json::Map<String, Value> {
        self.rule
            .actions
            .iter()
            .filter_map(|action| match action {
                Action::SetTweak { tweak, value } => {
                    Some((tweak.clone(), value.clone().unwrap_or(Value::Bool(true))))
                }
                Action::Notify => None,
            })
            .collect()
    }
}

/// A top-level string property of an event.
fn string_field<'v>(event: &'v Value, name: &str) -> Option<&'v str> {
    event.get(name).and_then(Value::as_str)
}

#[cfg(test)]
mod tests;
