//! Statements prepared once per connection.
//!
//! tokio-postgres prepares a statement given as text on every call: one
//! round trip to parse it, another to run it. deadpool keeps a cache of
//! prepared statements per connection, so every query of the store goes
//! through it and costs a single round trip (the room writer's batches are
//! bound by those round trips).

use deadpool_postgres::GenericClient;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::Row;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(crate) trait Prepared {
    async fn cached_query(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, tokio_postgres::Error>;
    async fn cached_query_one(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Row, tokio_postgres::Error>;
    async fn cached_query_opt(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, tokio_postgres::Error>;
    async fn cached_execute(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<u64, tokio_postgres::Error>;
}

impl<C: GenericClient> Prepared for C {
    async fn cached_query(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let statement = self.prepare_cached(sql).await?;
        self.query(&statement, params).await
    }

    async fn cached_query_one(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Row, tokio_postgres::Error> {
        let statement = self.prepare_cached(sql).await?;
        self.query_one(&statement, params).await
    }

    async fn cached_query_opt(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        let statement = self.prepare_cached(sql).await?;
        self.query_opt(&statement, params).await
    }

    async fn cached_execute(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<u64, tokio_postgres::Error> {
        let statement = self.prepare_cached(sql).await?;
        self.execute(&statement, params).await
    }
}

impl super::Store {
    /// The one value a one-row, one-column query answers.
    pub(crate) async fn query_value<T: for<'a> FromSql<'a>>(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<T, super::StoreError> {
        let row = self.client().await?.cached_query_one(sql, params).await?;
        Ok(row.get(0))
    }

    /// The last value `sequence` handed out (0 before the first).
    pub(crate) async fn sequence_position(&self, sequence: &str) -> Result<i64, super::StoreError> {
        self.query_value(
            &format!("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}"),
            &[],
        )
        .await
    }
}
