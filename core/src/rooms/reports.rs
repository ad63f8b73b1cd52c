//! Reporting rooms, events and users to the operator.

use hanse_protocol::identifiers::{EventId, RoomId, UserId};

use crate::accounts::Session;
use crate::clock::now_ms;
use crate::store::NewReport;
use crate::{Error, Homeserver, Result};

/// The longest reason kept, in bytes: enough for any honest report.
const MAX_REASON_BYTES: usize = 4096;

impl Homeserver {
    /// Reports a room; the reporter need not be in it.
    pub async fn report_room(
        &self,
        session: &Session,
        room_id: &RoomId,
        reason: &str,
    ) -> Result<()> {
        check_reason(reason)?;
        self.room(room_id).await?;
        self.store
            .insert_report(&NewReport {
                reporter: session.user_id.as_str(),
                room_id: Some(room_id.as_str()),
                reason,
                now_ms: now_ms(),
                ..NewReport::default()
            })
            .await?;
        tracing::info!(reporter = %session.user_id, %room_id, "room reported");
        Ok(())
    }

    /// Reports an event the reporter can see (M_NOT_FOUND otherwise).
    pub async fn report_event(
        &self,
        session: &Session,
        room_id: &RoomId,
        event_id: &EventId,
        reason: &str,
    ) -> Result<()> {
        check_reason(reason)?;
        // The same visibility as fetching the event: no reporting (or
        // probing for) events one cannot read.
        self.room_event(session, room_id, event_id).await?;
        self.store
            .insert_report(&NewReport {
                reporter: session.user_id.as_str(),
                room_id: Some(room_id.as_str()),
                event_id: Some(event_id.as_str()),
                reason,
                now_ms: now_ms(),
                ..NewReport::default()
            })
            .await?;
        tracing::info!(reporter = %session.user_id, %room_id, %event_id, "event reported");
        Ok(())
    }

    /// Reports a user of this server.
    pub async fn report_user(
        &self,
        session: &Session,
        user_id: &UserId,
        reason: &str,
    ) -> Result<()> {
        check_reason(reason)?;
        self.require_local_account(user_id).await?;
        self.store
            .insert_report(&NewReport {
                reporter: session.user_id.as_str(),
                target_user: Some(user_id.as_str()),
                reason,
                now_ms: now_ms(),
                ..NewReport::default()
            })
            .await?;
        tracing::info!(reporter = %session.user_id, reported = %user_id, "user reported");
        Ok(())
    }
}

fn check_reason(reason: &str) -> Result<()> {
    if reason.len() > MAX_REASON_BYTES {
        return Err(Error::TooLarge(format!(
            "the reason is longer than {MAX_REASON_BYTES} bytes"
        )));
    }
    Ok(())
}
