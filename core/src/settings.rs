//! The parts of the operator's configuration that shape core behaviour.

use std::time::Duration;

use serde::Deserialize;

/// Who may create accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationPolicy {
    /// Only operators, through the admin CLI.
    Closed,
    /// Anyone holding a registration token.
    Token,
    /// Anyone.
    Open,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub registration: RegistrationPolicy,
    /// Lifetime of access tokens issued to clients that accept refresh
    /// tokens. Clients that do not get tokens that never expire.
    pub refreshable_token_lifetime: Duration,
    /// `None` lifts every rate limit.
    pub rate_limits: Option<crate::rate_limits::RateSettings>,
}

impl Settings {
    /// [`Settings::refreshable_token_lifetime`] in milliseconds.
    pub fn refreshable_token_lifetime_ms(&self) -> i64 {
        i64::try_from(self.refreshable_token_lifetime.as_millis()).unwrap_or(i64::MAX)
    }
}
