//! Runs a command (normally `cargo test --workspace`) with the shared test
//! PostgreSQL up: starts a managed cluster in a temporary directory,
//! migrates a template database, exports where they are, runs the command,
//! and removes the cluster again, whatever the command's outcome.
//!
//! `cargo hanse-test` (.cargo/config.toml) is this with `cargo test`.

use std::process::{Command, ExitCode};

use hanse_core::store::{self, ClusterOptions, ManagedCluster, Store};
use hanse_server::testing::{SOCKET_ENV, TEMPLATE_ENV};

const TEMPLATE: &str = "hanse_template";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tokio_postgres=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        eprintln!("usage: hanse-test-env <command> [args...]");
        return ExitCode::from(2);
    };

    // /tmp, not target/: when tests run as root the cluster runs as the
    // `postgres` user, which must be able to reach its directory.
    let dir = match tempfile::Builder::new().prefix("hanse-test-pg-").tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("hanse-test-env: creating a temporary directory: {error}");
            return ExitCode::FAILURE;
        }
    };
    let cluster = match ManagedCluster::start(dir.path(), &ClusterOptions::for_tests()) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("hanse-test-env: {error}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = prepare_template(&cluster) {
        eprintln!("hanse-test-env: preparing the template database: {error}");
        return ExitCode::FAILURE;
    }
    tracing::info!(socket = %cluster.socket_dir().display(), "shared test PostgreSQL ready");

    let mut command = Command::new(&program);
    // `cargo run` describes the package it ran in these variables; passed
    // on to the inner `cargo test`, they make build scripts that watch them
    // (ring's) rerun, rebuilding half the dependency tree on every run.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_MANIFEST_")
            || matches!(
                key.as_ref(),
                "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
            )
        {
            command.env_remove(key.as_ref());
        }
    }
    let status = command
        .args(args)
        .env(SOCKET_ENV, cluster.socket_dir())
        .env(TEMPLATE_ENV, TEMPLATE)
        .status();
    if let Err(error) = cluster.stop() {
        eprintln!("hanse-test-env: stopping the test PostgreSQL: {error}");
    }
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(
            status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(1),
        ),
        Err(error) => {
            eprintln!(
                "hanse-test-env: running {}: {error}",
                program.to_string_lossy()
            );
            ExitCode::FAILURE
        }
    }
}

fn prepare_template(cluster: &ManagedCluster) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        store::create_database(&cluster.connect_config("postgres"), TEMPLATE, None)
            .await
            .map_err(|e| e.to_string())?;
        let template = Store::connect(cluster.connect_config(TEMPLATE), 1);
        store::migrate(&template).await.map_err(|e| e.to_string())?;
        // Dropping the pool closes its connection: PostgreSQL copies a
        // template only while nobody is connected to it.
        drop(template);
        Ok(())
    })
}
