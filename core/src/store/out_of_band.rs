//! Memberships of local users in rooms this server is not in (an invite
//! received over federation, a knock sent through another server): what
//! the room looked like, and whom to ask to leave it.

use super::prepared::Prepared;
use super::{Store, StoreError, Write};

/// What is kept beside an out-of-band member event.
#[derive(Debug, Clone)]
pub struct OutOfBandRow {
    /// The room's stripped state as JSON (an array of events).
    pub stripped_state: String,
    /// The server that can make a leave event for the user.
    pub through: String,
}

impl Write {
    pub async fn insert_out_of_band(
        &self,
        event_nid: i64,
        row: &OutOfBandRow,
    ) -> Result<(), StoreError> {
        self.client()
            .cached_execute(
                "INSERT INTO out_of_band_memberships (event_nid, stripped_state, through)
                 VALUES ($1, $2, $3)",
                &[&event_nid, &row.stripped_state, &row.through],
            )
            .await?;
        Ok(())
    }
}

impl Store {
    /// The row kept beside the member event `event_nid`, if it is out of
    /// band.
    pub async fn out_of_band(&self, event_nid: i64) -> Result<Option<OutOfBandRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT stripped_state, through FROM out_of_band_memberships
                 WHERE event_nid = $1",
                &[&event_nid],
            )
            .await?;
        Ok(row.map(|row| OutOfBandRow {
            stripped_state: row.get(0),
            through: row.get(1),
        }))
    }
}
