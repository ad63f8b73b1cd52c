//! Schema migrations against a real PostgreSQL.

use hanse_core::store::{self, MigrationError, Store, SCHEMA_VERSION};
use hanse_server::testing::fresh_database;

#[tokio::test]
async fn migrations_are_recorded_and_rerunning_them_changes_nothing() {
    let (config, _) = fresh_database().await;
    let store = Store::connect(config.clone(), 2);
    store::migrate(&store)
        .await
        .expect("a migrated database migrates again");

    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let applied: Vec<i32> = client
        .query(
            "SELECT version FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await
        .expect("history")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(applied, migration_files());
    assert_eq!(applied.last(), Some(&SCHEMA_VERSION));
}

/// The versions of the files in migrations/, in order (numbers may be
/// skipped while a migration reserved for another branch has not landed).
fn migration_files() -> Vec<i32> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations");
    let mut versions: Vec<i32> = std::fs::read_dir(dir)
        .expect("migrations/")
        .filter_map(|entry| {
            let name = entry.expect("entry").file_name();
            let name = name.to_str()?;
            name.strip_prefix('V')?.split_once("__")?.0.parse().ok()
        })
        .collect();
    versions.sort_unstable();
    versions
}

#[tokio::test]
async fn a_database_from_a_newer_hanse_is_refused() {
    let (config, _) = fresh_database().await;
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let newer = SCHEMA_VERSION + 1;
    client
        .execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES ($1, 'from_the_future', '2030-01-01', '0')",
            &[&newer],
        )
        .await
        .expect("pretend a newer hanse migrated");

    let error = store::migrate(&Store::connect(config, 2))
        .await
        .expect_err("refused");
    assert!(
        matches!(error, MigrationError::NewerSchema { found } if found == newer),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains("newer"), "{message}");
    assert!(
        message.contains("backup"),
        "tells the operator what to do: {message}"
    );
}

#[tokio::test]
async fn a_fresh_database_gets_the_whole_schema() {
    // The template is migrated; a database that never was gets migrated
    // from nothing, each migration in its own transaction.
    let (socket, _) = hanse_server::testing::shared_cluster();
    let name = format!("empty_{}", std::process::id());
    store::create_database(&store::socket_config(&socket, "postgres"), &name, None)
        .await
        .expect("create");
    let config = store::socket_config(&socket, &name);
    let store = Store::connect(config, 2);
    store::migrate(&store).await.expect("migrates from nothing");
    store
        .record_signing_key("ed25519:a", "AAAA", 5)
        .await
        .expect("the schema is there");
    assert!(store
        .retired_signing_keys()
        .await
        .expect("query")
        .is_empty());
}
