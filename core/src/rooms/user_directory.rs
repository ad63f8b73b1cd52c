//! The user directory (POST /user_directory/search): users who share a
//! room with the searcher, or are in a public room.

use hanse_protocol::identifiers::UserId;
use serde_json::{json, Value};

use crate::{Homeserver, Result};

/// The most results one search returns.
pub const MAX_USER_DIRECTORY_LIMIT: usize = 100;

impl Homeserver {
    /// Up to `limit` matches, and whether there were more.
    pub async fn search_users(
        &self,
        searcher: &UserId,
        term: &str,
        limit: usize,
    ) -> Result<(Vec<Value>, bool)> {
        let limit = limit.clamp(1, MAX_USER_DIRECTORY_LIMIT);
        let mut rows = self
            .store
            .search_user_directory(
                searcher.as_str(),
                &term.to_lowercase(),
                i64::try_from(limit + 1).unwrap_or(i64::MAX),
            )
            .await?;
        let limited = rows.len() > limit;
        rows.truncate(limit);
        let results = rows
            .into_iter()
            .map(|(user_id, display_name, avatar_url)| {
                let mut result = json!({ "user_id": user_id });
                if let Some(name) = display_name {
                    result["display_name"] = json!(name);
                }
                if let Some(url) = avatar_url {
                    result["avatar_url"] = json!(url);
                }
                result
            })
            .collect();
        Ok((results, limited))
    }
}
