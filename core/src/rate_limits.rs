//! Rate limits: the spec's 429 M_LIMIT_EXCEEDED on the endpoints it marks
//! as rate-limited. One GCRA limiter (the governor crate) per action, keyed
//! by user, or by client address before anyone is logged in. Kept in
//! memory: each process limits what it serves.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;

use crate::{Error, Result};

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

/// The operator's limits; `None` lifts them all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSettings {
    /// Events sent: messages, state, redactions (per user).
    pub message: Rate,
    /// Account creation (per client address).
    pub registration: Rate,
    /// Password logins (per client address).
    pub login: Rate,
    /// Rooms created (per user).
    pub room_creation: Rate,
    /// Joins and knocks (per user).
    pub join: Rate,
    /// Invites sent (per user).
    pub invite: Rate,
}

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Message,
    Registration,
    Login,
    RoomCreation,
    Join,
    Invite,
}

/// Keys (users, addresses) remembered before idle ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug)]
pub struct RateLimits {
    /// One limiter per [`Action`], in its order; empty when lifted.
    limiters: Vec<DefaultKeyedRateLimiter<String>>,
}

impl RateLimits {
    pub fn new(settings: Option<&RateSettings>) -> Result<Self> {
        let Some(settings) = settings else {
            return Ok(Self {
                limiters: Vec::new(),
            });
        };
        let limiters = [
            ("message", settings.message),
            ("registration", settings.registration),
            ("login", settings.login),
            ("room_creation", settings.room_creation),
            ("join", settings.join),
            ("invite", settings.invite),
        ]
        .into_iter()
        .map(|(name, rate)| Ok(RateLimiter::keyed(quota(name, rate)?)))
        .collect::<Result<_>>()?;
        Ok(Self { limiters })
    }

    /// Counts one `action` by `key`; M_LIMIT_EXCEEDED, with how long to
    /// wait, when it comes too soon.
    pub fn check(&self, action: Action, key: &str) -> Result<()> {
        let Some(limiter) = self.limiters.get(action as usize) else {
            return Ok(());
        };
        if limiter.len() > PRUNE_ABOVE {
            limiter.retain_recent();
        }
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::LimitExceeded {
                retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
            }
        })
    }
}

fn quota(name: &str, rate: Rate) -> Result<Quota> {
    let invalid = || {
        Error::InvalidParam(format!(
            "rate_limits.{name} needs per_second above 0 and burst of at least 1"
        ))
    };
    if !(rate.per_second > 0.0 && rate.per_second.is_finite()) {
        return Err(invalid());
    }
    let period = Duration::try_from_secs_f64(1.0 / rate.per_second).map_err(|_| invalid())?;
    let burst = NonZeroU32::new(rate.burst).ok_or_else(invalid)?;
    Ok(Quota::with_period(period)
        .ok_or_else(invalid)?
        .allow_burst(burst))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(rate: Rate) -> RateSettings {
        RateSettings {
            message: rate,
            registration: rate,
            login: rate,
            room_creation: rate,
            join: rate,
            invite: rate,
        }
    }

    #[test]
    fn a_burst_passes_then_the_next_waits() {
        let limits = RateLimits::new(Some(&settings(Rate {
            per_second: 0.5,
            burst: 3,
        })))
        .expect("valid limits");
        for _ in 0..3 {
            limits
                .check(Action::Message, "@a:x")
                .expect("within the burst");
        }
        let Err(Error::LimitExceeded { retry_after_ms }) = limits.check(Action::Message, "@a:x")
        else {
            panic!("the fourth message must wait");
        };
        assert!((1..=2_000).contains(&retry_after_ms), "{retry_after_ms}");
        // Other users and other actions have their own allowance.
        limits.check(Action::Message, "@b:x").expect("another user");
        limits.check(Action::Join, "@a:x").expect("another action");
    }

    #[test]
    fn lifted_limits_never_refuse_and_bad_ones_are_refused() {
        let lifted = RateLimits::new(None).expect("no limits");
        for _ in 0..1000 {
            lifted.check(Action::Login, "127.0.0.1").expect("lifted");
        }
        for bad in [
            Rate {
                per_second: 0.0,
                burst: 1,
            },
            Rate {
                per_second: 1.0,
                burst: 0,
            },
            Rate {
                per_second: f64::NAN,
                burst: 1,
            },
        ] {
            assert!(RateLimits::new(Some(&settings(bad))).is_err(), "{bad:?}");
        }
    }
}
