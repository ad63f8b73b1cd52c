//! Schema migrations: the numbered SQL files of migrations/, compiled in,
//! applied at start-up each in its own transaction and recorded in
//! `refinery_schema_history`.

use super::{Store, StoreError};

refinery::embed_migrations!("../migrations");

/// The schema version this build of hanse brings: its newest migration.
/// Kept in step with migrations/ by the `schema_version_matches_files` test.
pub const SCHEMA_VERSION: i32 = 18;

/// Serialises migrations between hanse processes sharing one database.
const MIGRATION_LOCK: i64 = 0x4841_4e53_455f_4d49; // "HANSE_MI"

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the database schema is at version {found}, newer than the {SCHEMA_VERSION} this hanse \
         knows: it was upgraded by a newer hanse. Run that version (or newer), or restore a \
         backup taken before the upgrade"
    )]
    NewerSchema { found: i32 },
    #[error("applying migrations: {0}")]
    Apply(#[from] refinery::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Brings the database up to [`SCHEMA_VERSION`], refusing a database that a
/// newer hanse already moved past it.
pub async fn migrate(store: &Store) -> Result<(), MigrationError> {
    let mut client = store.client().await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(StoreError::from)?;
    let result = migrate_locked(&mut client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(StoreError::from)?;
    result
}

async fn migrate_locked(client: &mut deadpool_postgres::Object) -> Result<(), MigrationError> {
    let history_exists = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await
        .map_err(StoreError::from)?
        .get::<_, bool>(0);
    if history_exists {
        let found: Option<i32> = client
            .query_one("SELECT max(version) FROM refinery_schema_history", &[])
            .await
            .map_err(StoreError::from)?
            .get(0);
        if let Some(found) = found.filter(|found| *found > SCHEMA_VERSION) {
            return Err(MigrationError::NewerSchema { found });
        }
    }
    let client: &mut tokio_postgres::Client = client;
    let report = migrations::runner()
        .set_grouped(false)
        .set_abort_divergent(true)
        .set_abort_missing(true)
        .run_async(client)
        .await?;
    for migration in report.applied_migrations() {
        tracing::info!(
            version = migration.version(),
            name = migration.name(),
            "applied migration"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_version_matches_files() {
        let newest = migrations::runner()
            .get_migrations()
            .iter()
            .map(|m| m.version())
            .max();
        assert_eq!(newest, Some(SCHEMA_VERSION as u32));
    }
}
