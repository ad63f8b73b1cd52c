//! Push rules (the spec's "Push Notifications" module, rules part): the
//! server's default rules with each user's changes applied.
//!
//! What is stored is only the changes (the user's own rules, and the
//! enabled flag or actions the user set on default rules), as the
//! server-managed `m.push_rules` account data, so that a later server
//! version can change the defaults for everyone. Clients always see the
//! whole computed ruleset, through /pushrules and account data alike.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use hanse_protocol::identifiers::UserId;
use hanse_protocol::push_rules::{Action, Position, PushRule, PushRuleError, RuleKind, Ruleset};
use lru::LruCache;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Session;
use crate::{Error, Homeserver, Result};

/// The account data type clients read the ruleset from.
pub const PUSH_RULES: &str = "m.push_rules";

/// A user's changes to the server's default rules, as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Changes {
    /// The user's own rules by kind, highest priority first.
    #[serde(default)]
    rules: BTreeMap<RuleKind, Vec<PushRule>>,
    /// What the user changed of server-default rules, by kind and ID.
    #[serde(default)]
    defaults: BTreeMap<RuleKind, BTreeMap<String, DefaultChange>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct DefaultChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    actions: Option<Vec<Action>>,
}

impl Changes {
    fn parse(stored: Option<&str>) -> Self {
        // Unreadable changes (never written by this server) count as none.
        stored
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default()
    }

    /// The ruleset: the defaults with these changes applied.
    fn apply(&self, user: &UserId) -> Ruleset {
        let mut ruleset = Ruleset::server_default(user.as_str());
        for kind in RuleKind::ALL {
            for (rule_id, change) in self.defaults.get(&kind).into_iter().flatten() {
                // A default this server version no longer has is dropped.
                if let Some(rule) = ruleset.rule_mut(kind, rule_id) {
                    if let Some(enabled) = change.enabled {
                        rule.enabled = enabled;
                    }
                    if let Some(actions) = &change.actions {
                        rule.actions = actions.clone();
                    }
                }
            }
            let mut previous: Option<&str> = None;
            for rule in self.rules.get(&kind).into_iter().flatten() {
                let position = previous.map_or(Position::Unspecified, Position::After);
                // Stored rules passed validation when they were stored.
                if ruleset
                    .insert_user_rule(kind, rule.clone(), position)
                    .is_ok()
                {
                    previous = Some(&rule.rule_id);
                }
            }
        }
        ruleset
    }

    /// What `ruleset` changes of the defaults.
    fn of(ruleset: &Ruleset, user: &UserId) -> Self {
        let defaults = Ruleset::server_default(user.as_str());
        let mut changes = Self::default();
        for kind in RuleKind::ALL {
            let (own, server): (Vec<&PushRule>, Vec<&PushRule>) = ruleset
                .rules(kind)
                .iter()
                .partition(|rule| !rule.is_server_default());
            if !own.is_empty() {
                changes
                    .rules
                    .insert(kind, own.into_iter().cloned().collect());
            }
            for rule in server {
                let Some(default) = defaults.rule(kind, &rule.rule_id) else {
                    continue;
                };
                let change = DefaultChange {
                    enabled: (rule.enabled != default.enabled).then_some(rule.enabled),
                    actions: (rule.actions != default.actions).then(|| rule.actions.clone()),
                };
                if change.enabled.is_some() || change.actions.is_some() {
                    changes
                        .defaults
                        .entry(kind)
                        .or_default()
                        .insert(rule.rule_id.clone(), change);
                }
            }
        }
        changes
    }
}

fn rule_error(error: PushRuleError) -> Error {
    match error {
        PushRuleError::RuleNotFound(_) => Error::NotFound(error.to_string()),
        other => Error::InvalidParam(other.to_string()),
    }
}

/// A kind named in a request path.
pub fn rule_kind(kind: &str) -> Result<RuleKind> {
    kind.parse().map_err(rule_error)
}

impl Homeserver {
    /// The user's whole ruleset. Kept in memory once read (every sync
    /// needs it); this process's edits replace it.
    pub async fn push_rules(&self, user: &UserId) -> Result<Arc<Ruleset>> {
        if let Some(rules) = self.push_rule_cache.get(user) {
            return Ok(rules);
        }
        let stored = self
            .store
            .account_data(user.as_str(), None, PUSH_RULES)
            .await?;
        let rules = Arc::new(Changes::parse(stored.as_deref()).apply(user));
        self.push_rule_cache.put(user, rules.clone());
        Ok(rules)
    }

    /// The `m.push_rules` account data content clients read.
    pub(crate) async fn push_rules_content(&self, user: &UserId) -> Result<Value> {
        Ok(json!({ "global": *self.push_rules(user).await? }))
    }

    /// What the stored changes of `user` (text as stored) amount to, as
    /// `m.push_rules` content.
    pub(crate) fn push_rules_content_of(user: &UserId, stored: &str) -> Value {
        json!({ "global": Changes::parse(Some(stored)).apply(user) })
    }

    /// One rule of the session user's ruleset (M_NOT_FOUND if none).
    pub async fn push_rule(
        &self,
        session: &Session,
        kind: RuleKind,
        rule_id: &str,
    ) -> Result<PushRule> {
        self.push_rules(&session.user_id)
            .await?
            .rule(kind, rule_id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("no {kind} push rule {rule_id:?}")))
    }

    /// Changes the session user's ruleset by `edit`; nothing is stored
    /// when it fails. `edit` runs twice: once to check it against the
    /// rules as they are, again under the row lock.
    pub async fn edit_push_rules(
        &self,
        session: &Session,
        edit: impl Fn(&mut Ruleset) -> std::result::Result<(), PushRuleError>,
    ) -> Result<()> {
        let user = &session.user_id;
        edit(&mut Ruleset::clone(&*self.push_rules(user).await?)).map_err(rule_error)?;
        let mut failure = None;
        let mut edited = None;
        self.write_account_data(user, None, PUSH_RULES, |stored| {
            let changes = Changes::parse(stored.as_deref());
            let mut ruleset = changes.apply(user);
            let outcome = match edit(&mut ruleset) {
                Ok(()) => {
                    let changes = Changes::of(&ruleset, user);
                    edited = Some(ruleset);
                    changes
                }
                Err(error) => {
                    // Someone else's edit came first: keep theirs.
                    failure = Some(error);
                    changes
                }
            };
            serde_json::to_string(&outcome).unwrap_or_default()
        })
        .await?;
        if let Some(rules) = edited {
            self.push_rule_cache.put(user, Arc::new(rules));
        }
        match failure {
            Some(error) => Err(rule_error(error)),
            None => Ok(()),
        }
    }
}

/// The rule with `rule_id` of `kind`, for editing (a not-found error
/// otherwise).
pub fn rule_to_edit<'r>(
    ruleset: &'r mut Ruleset,
    kind: RuleKind,
    rule_id: &str,
) -> std::result::Result<&'r mut PushRule, PushRuleError> {
    ruleset
        .rule_mut(kind, rule_id)
        .ok_or_else(|| PushRuleError::RuleNotFound(rule_id.to_owned()))
}

/// Rulesets read, by user.
pub struct PushRuleCache {
    rules: Mutex<LruCache<UserId, Arc<Ruleset>>>,
}

/// Rulesets kept: a few KB each.
const CACHED_RULESETS: usize = 10_000;

impl Default for PushRuleCache {
    fn default() -> Self {
        Self {
            rules: Mutex::new(LruCache::new(
                NonZeroUsize::new(CACHED_RULESETS).expect("not zero"),
            )),
        }
    }
}

impl std::fmt::Debug for PushRuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushRuleCache")
    }
}

impl PushRuleCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<UserId, Arc<Ruleset>>> {
        crate::lock(&self.rules)
    }

    fn get(&self, user: &UserId) -> Option<Arc<Ruleset>> {
        self.lock().get(user).cloned()
    }

    fn put(&self, user: &UserId, rules: Arc<Ruleset>) {
        self.lock().put(user.clone(), rules);
    }
}
