//! The integration-test harness: a real hanse on loopback ports with a
//! fresh database of its own, in well under a second.
//!
//! All tests of a run share one managed PostgreSQL, started by
//! `hanse-test-env` (what `cargo hanse-test` runs), which also migrates a
//! template database; each test server gets a clone of it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use hanse_client_api::ClientDiscovery;
use hanse_core::remote::Remote;
use hanse_core::store::{self, Store};
use hanse_core::{
    FederationSenderSettings, Homeserver, MediaSettings, PushSettings, RegistrationPolicy,
    ServerIdentity, Settings,
};
use hanse_federation::FederationDiscovery;
use hanse_protocol::identifiers::ServerName;
use hanse_protocol::signing::ServerSigningKey;

use crate::app::{self, HttpSettings, Listeners};

/// Directory of the shared test cluster's socket (set by hanse-test-env).
pub const SOCKET_ENV: &str = "HANSETEST_PG_SOCKET";
/// Name of the migrated template database (set by hanse-test-env).
pub const TEMPLATE_ENV: &str = "HANSETEST_PG_TEMPLATE";

/// The body limit test servers use, small enough to test cheaply.
pub const TEST_BODY_LIMIT: usize = 64 * 1024;

/// Where the shared test cluster is, from the environment hanse-test-env
/// sets.
pub fn shared_cluster() -> (PathBuf, String) {
    match (std::env::var_os(SOCKET_ENV), std::env::var(TEMPLATE_ENV)) {
        (Some(socket), Ok(template)) => (PathBuf::from(socket), template),
        _ => panic!(
            "integration tests need the shared test PostgreSQL: run them with `cargo hanse-test` \
             (see README), which starts it and sets {SOCKET_ENV} and {TEMPLATE_ENV}"
        ),
    }
}

/// A fresh database cloned from the migrated template; its name is unique
/// within the test run.
pub async fn fresh_database() -> (tokio_postgres::Config, String) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (socket, template) = shared_cluster();
    let name = format!(
        "test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    store::create_database(
        &store::socket_config(&socket, "postgres"),
        &name,
        Some(&template),
    )
    .await
    .unwrap_or_else(|e| panic!("creating test database: {e}"));
    (store::socket_config(&socket, &name), name)
}

/// A running in-process hanse. Stop it with [`TestServer::stop`]; dropping
/// it stops it too, without waiting.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:<port>` of the client-server API.
    pub client_url: String,
    /// `http://127.0.0.1:<port>` of the server-server API.
    pub federation_url: String,
    pub homeserver: Homeserver,
    pub database: String,
    /// The server's data directory (media files are in `media/`), removed
    /// with the server.
    pub data_dir: tempfile::TempDir,
    handles: [ServerHandle; 2],
}

/// Settings a test may choose for its server. `settings.media.dir` is
/// replaced by a directory of the server's own.
#[derive(Debug, Clone)]
pub struct TestOptions {
    pub settings: Settings,
    /// How the server reaches other servers; none: it does not federate.
    pub remote: Option<Arc<dyn Remote>>,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            settings: Settings {
                registration: RegistrationPolicy::Open,
                refreshable_token_lifetime: Duration::from_secs(300),
                media: MediaSettings::defaults_in(PathBuf::new()),
                // Tests send as fast as they can; the rate limit test sets
                // its own.
                presence: true,
                rate_limits: None,
                push: PushSettings::default(),
                federation: Default::default(),
                federation_sender: FederationSenderSettings::default(),
            },
            remote: None,
        }
    }
}

impl TestServer {
    /// A server with open registration.
    pub async fn start() -> Self {
        Self::start_with(TestOptions::default()).await
    }

    pub async fn start_with(mut options: TestOptions) -> Self {
        let (pg_config, database) = fresh_database().await;
        let data_dir = tempfile::tempdir().expect("a data directory");
        options.settings.media.dir = data_dir.path().join("media");
        let upload_limit = options.settings.media.max_upload_bytes;
        let client = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let federation = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let client_url = format!("http://{}", client.local_addr().expect("local address"));
        let federation_addr = federation.local_addr().expect("local address");
        let server_name = format!("127.0.0.1:{}", federation_addr.port());

        let store = Store::connect(pg_config, 4);
        let signing_key = ServerSigningKey::generate();
        store
            .record_signing_key(
                signing_key.key_id().as_str(),
                &signing_key.public_key_base64(),
                0,
            )
            .await
            .expect("recording the signing key");
        let identity = ServerIdentity {
            server_name: ServerName::parse(&server_name).expect("a valid server name"),
            signing_key,
        };
        let mut homeserver =
            Homeserver::new(identity, options.settings, store).expect("valid test settings");
        if let Some(remote) = options.remote {
            homeserver = homeserver.with_remote(remote);
        }
        homeserver
            .start_push_delivery()
            .await
            .expect("starting push delivery");
        homeserver
            .start_federation_sender()
            .await
            .expect("starting the federation sender");
        let settings = HttpSettings {
            body_limit: TEST_BODY_LIMIT,
            upload_limit,
            client_discovery: ClientDiscovery {
                base_url: client_url.clone(),
            },
            federation_discovery: FederationDiscovery {
                delegated_server: server_name.clone(),
            },
            shutdown_timeout: Duration::from_secs(1),
            workers: Some(1),
            handle_signals: false,
        };
        let http = app::serve(
            homeserver.clone(),
            settings,
            Listeners { client, federation },
            None,
        )
        .expect("starting the test server");
        let handles = http.handles();
        tokio::spawn(http.run());
        Self {
            client_url,
            federation_url: format!("http://{federation_addr}"),
            homeserver,
            database,
            data_dir,
            handles,
        }
    }

    /// Runs a query on this server's database (to check what is, or is
    /// not, stored).
    pub async fn query(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        let (socket, _) = shared_cluster();
        let (client, connection) = store::socket_config(&socket, &self.database)
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connecting to the test database");
        tokio::spawn(connection);
        client.query(sql, &[]).await.expect("query")
    }

    /// Stops the listeners, waiting for running requests.
    pub async fn stop(self) {
        for handle in &self.handles {
            handle.stop(true).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        for handle in &self.handles {
            // Sending the command is immediate; not awaiting it only skips
            // waiting for the workers to wind down.
            drop(handle.stop(false));
        }
    }
}
