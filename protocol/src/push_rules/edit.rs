//! Changes a user makes to their rules: `PUT` and `DELETE` of
//! `/pushrules/global/{kind}/{ruleId}`.

use serde_json::Value;

use super::{Action, Condition, PushRule, RuleKind, Ruleset, MASTER_RULE_ID};
use crate::identifiers::{RoomId, UserId};

/// Why a rule a user submitted, or a change they asked for, is refused.
/// [`PushRuleError::RuleNotFound`] is a 404; everything else a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushRuleError {
    /// Not one of `override`, `content`, `room`, `sender`, `underride`.
    #[error("{0:?} is not a kind of push rule")]
    UnknownKind(String),
    /// Rule IDs starting with `.` belong to the server: users can neither
    /// create nor delete such rules.
    #[error("push rule ID {0:?} starts with '.', which is reserved for server-default rules")]
    ReservedRuleId(String),
    /// The rule ID is empty or contains `/` or `\`.
    #[error("push rule ID {0:?} is empty or contains '/' or '\\'")]
    MalformedRuleId(String),
    /// A room rule's ID must be the ID of its room.
    #[error("room push rule ID {0:?} is not a room ID")]
    NotARoomId(String),
    /// A sender rule's ID must be the ID of its sender.
    #[error("sender push rule ID {0:?} is not a user ID")]
    NotAUserId(String),
    /// The request body is not a JSON object.
    #[error("the push rule must be a JSON object")]
    NotAnObject,
    /// `actions` is absent or not an array.
    #[error("\"actions\" must be a list of actions")]
    ActionsNotAList,
    /// An action neither current nor historical.
    #[error("{0} is not a push rule action")]
    UnrecognisedAction(Value),
    /// `conditions` is present but not an array.
    #[error("\"conditions\" must be a list of conditions")]
    ConditionsNotAList,
    /// A condition without a string `kind`, or of a known kind with missing
    /// or mistyped parameters. Unrecognised kinds are accepted (and never
    /// match).
    #[error("{0} is not a valid push rule condition")]
    InvalidCondition(Value),
    /// A content rule without a string `pattern`.
    #[error("content push rules need a string \"pattern\"")]
    MissingPattern,
    /// `before` or `after` names a server-default rule.
    #[error("push rules cannot be placed relative to the server-default rule {0:?}")]
    RelativeToServerDefault(String),
    /// `before` or `after` names no other rule of the kind.
    #[error("before/after rule not found: {0}")]
    RelativeRuleNotFound(String),
    /// The rule to delete does not exist.
    #[error("push rule {0:?} not found")]
    RuleNotFound(String),
}

/// Where [`Ruleset::insert_user_rule`] puts a rule, from the `before` and
/// `after` query parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Position<'a> {
    /// Neither given: a rule being replaced keeps its place, a new one goes
    /// first among the user's rules of its kind.
    #[default]
    Unspecified,
    /// Just above the user's rule with this ID.
    Before(&'a str),
    /// Just below the user's rule with this ID.
    After(&'a str),
}

impl<'a> Position<'a> {
    /// Reads the query parameters. If both are given, `before` decides, as
    /// the specification says.
    pub fn from_query(before: Option<&'a str>, after: Option<&'a str>) -> Self {
        match (before, after) {
            (Some(before), _) => Self::Before(before),
            (None, Some(after)) => Self::After(after),
            (None, None) => Self::Unspecified,
        }
    }
}

impl PushRule {
    /// Reads the body of `PUT /pushrules/global/{kind}/{rule_id}` into a
    /// user rule: enabled, not a default, with only the fields of its kind
    /// (`conditions` for override and underride, always present; `pattern`
    /// for content). Other members of the body are ignored. Historical
    /// actions are accepted and dropped; unknown actions are refused.
    pub fn from_request(
        kind: RuleKind,
        rule_id: &str,
        body: &Value,
    ) -> Result<Self, PushRuleError> {
        check_user_rule_id(kind, rule_id)?;
        let body = body.as_object().ok_or(PushRuleError::NotAnObject)?;
        let actions =
            Action::list_from_request(body.get("actions").ok_or(PushRuleError::ActionsNotAList)?)?;
        let (conditions, pattern) = match kind {
            RuleKind::Override | RuleKind::Underride => {
                (Some(conditions_from_request(body.get("conditions"))?), None)
            }
            RuleKind::Content => {
                let pattern = body.get("pattern").and_then(Value::as_str);
                (
                    None,
                    Some(pattern.ok_or(PushRuleError::MissingPattern)?.to_owned()),
                )
            }
            RuleKind::Room | RuleKind::Sender => (None, None),
        };
        Ok(Self {
            rule_id: rule_id.to_owned(),
            default: false,
            enabled: true,
            actions,
            conditions,
            pattern,
        })
    }
}

/// Refuses IDs users may not give their rules. The ban on `/` and `\`
/// comes from the specification and applies to every kind, even to room
/// and user IDs that could contain them.
fn check_user_rule_id(kind: RuleKind, rule_id: &str) -> Result<(), PushRuleError> {
    if rule_id.starts_with('.') {
        return Err(PushRuleError::ReservedRuleId(rule_id.to_owned()));
    }
    if rule_id.is_empty() || rule_id.contains(['/', '\\']) {
        return Err(PushRuleError::MalformedRuleId(rule_id.to_owned()));
    }
    match kind {
        RuleKind::Room if RoomId::parse(rule_id).is_err() => {
            Err(PushRuleError::NotARoomId(rule_id.to_owned()))
        }
        RuleKind::Sender if UserId::parse(rule_id).is_err() => {
            Err(PushRuleError::NotAUserId(rule_id.to_owned()))
        }
        _ => Ok(()),
    }
}

fn conditions_from_request(raw: Option<&Value>) -> Result<Vec<Condition>, PushRuleError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.as_array()
        .ok_or(PushRuleError::ConditionsNotAList)?
        .iter()
        .map(|condition| {
            Condition::parse(condition)
                .ok_or_else(|| PushRuleError::InvalidCondition(condition.clone()))
        })
        .collect()
}

impl Ruleset {
    /// Adds a user rule of `kind`, or replaces the user's rule with the same
    /// ID, placing it at `position`. A replaced rule stays enabled or
    /// disabled as it was: `enabled` is not part of what a `PUT` sets.
    ///
    /// User rules always stay together, below `.m.rule.master` and above
    /// the other server-default rules of their kind. Nothing changes on
    /// error.
    pub fn insert_user_rule(
        &mut self,
        kind: RuleKind,
        mut rule: PushRule,
        position: Position<'_>,
    ) -> Result<(), PushRuleError> {
        if rule.is_server_default() {
            return Err(PushRuleError::ReservedRuleId(rule.rule_id));
        }
        let rules = self.rules_mut(kind);
        let existing = rules.iter().position(|r| r.rule_id == rule.rule_id);
        // Where the anchor is now, and whether the rule goes after it.
        let anchor = match position {
            Position::Unspecified => None,
            Position::Before(anchor_id) | Position::After(anchor_id) => {
                if anchor_id.starts_with('.') {
                    return Err(PushRuleError::RelativeToServerDefault(anchor_id.to_owned()));
                }
                // A rule cannot be placed relative to itself: once taken
                // out of the list, it is not there to be found.
                let index = rules
                    .iter()
                    .position(|r| r.rule_id == anchor_id && r.rule_id != rule.rule_id)
                    .ok_or_else(|| PushRuleError::RelativeRuleNotFound(anchor_id.to_owned()))?;
                Some((index, matches!(position, Position::After(_))))
            }
        };

        if let Some(index) = existing {
            rule.enabled = rules[index].enabled;
            if anchor.is_none() {
                rules[index] = rule;
                return Ok(());
            }
            rules.remove(index);
        }
        let index = match anchor {
            None => rules
                .iter()
                .position(|r| r.rule_id != MASTER_RULE_ID)
                .unwrap_or(rules.len()),
            Some((anchor_index, after)) => {
                // Taking the rule out moved the anchor up if it was below.
                let anchor_index = match existing {
                    Some(old) if old < anchor_index => anchor_index - 1,
                    _ => anchor_index,
                };
                anchor_index + usize::from(after)
            }
        };
        rules.insert(index, rule);
        Ok(())
    }

    /// Deletes the user's rule of `kind` with ID `rule_id`, returning it.
    /// Server-default rules can only be disabled, not deleted.
    pub fn remove_user_rule(
        &mut self,
        kind: RuleKind,
        rule_id: &str,
    ) -> Result<PushRule, PushRuleError> {
        if rule_id.starts_with('.') {
            return Err(PushRuleError::ReservedRuleId(rule_id.to_owned()));
        }
        let rules = self.rules_mut(kind);
        let index = rules
            .iter()
            .position(|r| r.rule_id == rule_id)
            .ok_or_else(|| PushRuleError::RuleNotFound(rule_id.to_owned()))?;
        Ok(rules.remove(index))
    }
}
