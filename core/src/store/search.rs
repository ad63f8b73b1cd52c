//! Full-text search over room events (the `search` column, V10).

use super::prepared::Prepared;
use super::{Store, StoreError};

/// Where a page of search hits starts.
#[derive(Debug, Clone, Copy)]
pub enum SearchFrom {
    /// Best first: skip this many hits.
    Rank { offset: i64 },
    /// Newest first: hits before this stream position (`None`: from now).
    Recent { before: Option<i64> },
}

/// One hit: the event, its stream position and its rank.
#[derive(Debug, Clone, Copy)]
pub struct SearchHit {
    pub event_nid: i64,
    pub stream_ordering: i64,
    pub rank: f64,
}

impl Store {
    /// Up to `limit` events of the rooms whose text in the weighted parts
    /// `weights` (A body, B name, C topic) matches `term` (web search
    /// syntax: words, "phrases", -exclusions, or).
    pub async fn search_events(
        &self,
        room_nids: &[i64],
        term: &str,
        weights: &str,
        from: SearchFrom,
        limit: i64,
    ) -> Result<Vec<SearchHit>, StoreError> {
        const MATCHES: &str = "FROM events, websearch_to_tsquery('simple', $2) AS q
             WHERE room_nid = ANY($1) AND search @@ q
               AND ts_filter(search, $3::text::\"char\"[]) @@ q";
        let client = self.client().await?;
        let rows = match from {
            SearchFrom::Rank { offset } => {
                client
                    .cached_query(
                        &format!(
                            "SELECT event_nid, stream_ordering, ts_rank(search, q)::float8
                             {MATCHES}
                             ORDER BY 3 DESC, stream_ordering DESC OFFSET $4 LIMIT $5"
                        ),
                        &[&room_nids, &term, &weights, &offset, &limit],
                    )
                    .await?
            }
            SearchFrom::Recent { before } => {
                client
                    .cached_query(
                        &format!(
                            "SELECT event_nid, stream_ordering, ts_rank(search, q)::float8
                             {MATCHES}
                               AND ($4::bigint IS NULL OR stream_ordering < $4)
                             ORDER BY stream_ordering DESC LIMIT $5"
                        ),
                        &[&room_nids, &term, &weights, &before, &limit],
                    )
                    .await?
            }
        };
        Ok(rows
            .iter()
            .map(|row| SearchHit {
                event_nid: row.get(0),
                stream_ordering: row.get(1),
                rank: row.get(2),
            })
            .collect())
    }

    /// How many events match in all (before history visibility: the spec
    /// asks for an approximate count).
    pub async fn search_count(
        &self,
        room_nids: &[i64],
        term: &str,
        weights: &str,
    ) -> Result<i64, StoreError> {
        self.query_value(
            "SELECT count(*) FROM events, websearch_to_tsquery('simple', $2) AS q
             WHERE room_nid = ANY($1) AND search @@ q
               AND ts_filter(search, $3::text::\"char\"[]) @@ q",
            &[&room_nids, &term, &weights],
        )
        .await
    }
}
