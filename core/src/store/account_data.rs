//! Account data of local users, global (room `""`) or per room.

use super::prepared::Prepared;
use super::{Store, StoreError};

/// Account data is global when stored under this room.
const GLOBAL: &str = "";

impl Store {
    /// The text of the user's account data of `data_type`, if any.
    pub async fn account_data(
        &self,
        user_id: &str,
        room_id: Option<&str>,
        data_type: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT content FROM account_data
                 WHERE user_id = $1 AND room_id = $2 AND data_type = $3",
                &[&user_id, &room_id.unwrap_or(GLOBAL), &data_type],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Replaces the user's account data of `data_type` by what `edit`
    /// makes of it (`None`: there is none yet), with the row locked so
    /// concurrent edits (two tags added at once) both take effect. Returns
    /// the new stream position.
    pub async fn edit_account_data(
        &self,
        user_id: &str,
        room_id: Option<&str>,
        data_type: &str,
        edit: impl FnOnce(Option<String>) -> String,
    ) -> Result<i64, StoreError> {
        let room_id = room_id.unwrap_or(GLOBAL);
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // A row to lock even for the first edit; it only becomes visible
        // with the edited content.
        let created = tx
            .cached_execute(
                "INSERT INTO account_data (user_id, room_id, data_type, content, stream_pos)
                 VALUES ($1, $2, $3, '{}', nextval('account_data_stream'))
                 ON CONFLICT (user_id, room_id, data_type) DO NOTHING",
                &[&user_id, &room_id, &data_type],
            )
            .await?;
        let current: String = tx
            .cached_query_one(
                "SELECT content FROM account_data
                 WHERE user_id = $1 AND room_id = $2 AND data_type = $3 FOR UPDATE",
                &[&user_id, &room_id, &data_type],
            )
            .await?
            .get(0);
        let edited = edit((created == 0).then_some(current));
        let position = tx
            .cached_query_one(
                "UPDATE account_data SET content = $4, stream_pos = nextval('account_data_stream')
                 WHERE user_id = $1 AND room_id = $2 AND data_type = $3
                 RETURNING stream_pos",
                &[&user_id, &room_id, &data_type, &edited],
            )
            .await?
            .get(0);
        tx.commit().await?;
        Ok(position)
    }
}
