//! Creating databases on a cluster: hanse's own on a fresh managed cluster,
//! and one per test cloned from a migrated template.

use tokio_postgres::NoTls;

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("database name {0:?} is not of the form [a-z0-9_]+")]
    BadName(String),
    #[error("creating database {name}: {source}")]
    Postgres {
        name: String,
        #[source]
        source: tokio_postgres::Error,
    },
}

/// Creates database `name` unless it exists, copied from `template` when one
/// is given. `admin` must point at a database of the same cluster other than
/// `name` (normally `postgres`) as a role allowed to create databases.
pub async fn create_database(
    admin: &tokio_postgres::Config,
    name: &str,
    template: Option<&str>,
) -> Result<(), DatabaseError> {
    for identifier in std::iter::once(name).chain(template) {
        let valid = !identifier.is_empty()
            && identifier
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(DatabaseError::BadName(identifier.to_owned()));
        }
    }
    let failed = |source| DatabaseError::Postgres {
        name: name.to_owned(),
        source,
    };
    let (client, connection) = admin.connect(NoTls).await.map_err(failed)?;
    let connection = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(failed)?
        .is_some();
    if !exists {
        // Identifiers cannot be bound as parameters; both were checked above.
        let template = template
            .map(|t| format!(" TEMPLATE \"{t}\""))
            .unwrap_or_default();
        client
            .batch_execute(&format!(
                "CREATE DATABASE \"{name}\"{template} ENCODING 'UTF8'"
            ))
            .await
            .map_err(failed)?;
        tracing::info!(database = name, "created database");
    }
    drop(client);
    let _ = connection.await;
    Ok(())
}
