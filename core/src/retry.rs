//! Exponential back-off, shared by everything that retries another
//! server: push gateways and federation destinations.

use std::time::Duration;

/// Waits that start at `initial` and double with each failure in a row,
/// up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after the `failures`-th failure in a row (1: the first).
    pub fn after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1 << doublings)
            .map_or(self.max, |wait| wait.min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let backoff = Backoff {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(3600),
        };
        let waits: Vec<u64> = (1..=12).map(|n| backoff.after(n).as_secs()).collect();
        assert_eq!(
            waits,
            [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(backoff.after(0).as_secs(), 5);
        assert_eq!(backoff.after(u32::MAX).as_secs(), 3600);
    }
}
