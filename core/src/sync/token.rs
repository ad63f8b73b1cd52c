//! /sync tokens: where a client stands in every stream, as
//! `s<events>_<account data>_<receipts>_<presence>_<typing>_<to-device>_<device lists>`. The first
//! part alone is a /messages token, so `next_batch` also works there.

use std::fmt;

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncToken {
    pub events: i64,
    pub account_data: i64,
    pub receipts: i64,
    pub presence: i64,
    pub typing: i64,
    pub to_device: i64,
    pub device_lists: i64,
}

impl SyncToken {
    pub fn parse(token: &str) -> Result<Self> {
        let invalid = || Error::InvalidParam(format!("{token:?} is not a sync token"));
        let parts: Vec<i64> = token
            .strip_prefix('s')
            .ok_or_else(invalid)?
            .split('_')
            .map(|part| part.parse::<i64>().ok().filter(|n| *n >= 0))
            .collect::<Option<_>>()
            .ok_or_else(invalid)?;
        // A bare /messages token stands for its event position, before
        // anything else happened.
        let part = |i: usize| parts.get(i).copied().unwrap_or(0);
        if parts.len() > 7 {
            return Err(invalid());
        }
        Ok(Self {
            events: part(0),
            account_data: part(1),
            receipts: part(2),
            presence: part(3),
            typing: part(4),
            to_device: part(5),
            device_lists: part(6),
        })
    }
}

impl fmt::Display for SyncToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "s{}_{}_{}_{}_{}_{}_{}",
            self.events,
            self.account_data,
            self.receipts,
            self.presence,
            self.typing,
            self.to_device,
            self.device_lists
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let token = SyncToken {
            events: 12,
            account_data: 3,
            receipts: 4,
            presence: 5,
            typing: 1_700_000_000_000,
            to_device: 6,
            device_lists: 7,
        };
        assert_eq!(SyncToken::parse(&token.to_string()).unwrap(), token);
        assert_eq!(SyncToken::parse("s7").unwrap().events, 7);
        for bad in ["", "7", "s", "s1_x", "s-1", "s1_2_3_4_5_6_7_8", "t1_2"] {
            assert!(SyncToken::parse(bad).is_err(), "{bad:?}");
        }
    }
}
