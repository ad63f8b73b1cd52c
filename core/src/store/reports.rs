//! Content reports from users, for the operator.

use super::prepared::Prepared;
use super::{Store, StoreError};

/// What a report is about.
#[derive(Debug, Clone, Default)]
pub struct NewReport<'a> {
    pub reporter: &'a str,
    pub room_id: Option<&'a str>,
    pub event_id: Option<&'a str>,
    pub target_user: Option<&'a str>,
    pub reason: &'a str,
    pub now_ms: i64,
}

impl Store {
    pub async fn insert_report(&self, report: &NewReport<'_>) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "INSERT INTO reports (reporter, room_id, event_id, target_user, reason, created_ts)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &report.reporter,
                    &report.room_id,
                    &report.event_id,
                    &report.target_user,
                    &report.reason,
                    &report.now_ms,
                ],
            )
            .await?;
        Ok(())
    }
}
