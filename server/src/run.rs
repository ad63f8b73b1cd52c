//! `hanse run`: start-up in order, serve, shut down in reverse.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hanse_client_api::ClientDiscovery;
use hanse_core::remote::{NoFederation, Remote};
use hanse_core::store::{self, ClusterError, ClusterOptions, ManagedCluster, Store};
use hanse_core::{Homeserver, ServerIdentity};
use hanse_federation::{FederationClient, FederationDiscovery};
use hanse_protocol::identifiers::ServerName;
use hanse_protocol::signing::ServerSigningKey;

use crate::app::{self, HttpSettings, Listeners};
use crate::config::Config;

/// Name of hanse's database on its managed cluster.
const MANAGED_DATABASE: &str = "hanse";

/// Runs the server until SIGINT or SIGTERM. The managed PostgreSQL, if any,
/// is started first and stopped last.
pub fn run(config: Config) -> Result<(), String> {
    let signing_key = load_signing_key(&config)?;
    let server_name = ServerName::parse(&config.server_name).map_err(|e| e.to_string())?;
    if config.server_name == "localhost" {
        tracing::warn!("server_name is \"localhost\": fine to try hanse, but no other server can federate with it");
    }

    // Started from the main thread, which outlives everything: the cluster
    // is bound to the thread that spawned it.
    let cluster = managed_cluster(&config, ManagedCluster::start)?;

    let result = actix_web::rt::System::new().block_on(async {
        let store = open_store(&config, cluster.as_ref(), config.database.pool_size).await?;
        let now_ms = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(i64::MAX);
        store
            .record_signing_key(
                signing_key.key_id().as_str(),
                &signing_key.public_key_base64(),
                now_ms,
            )
            .await
            .map_err(|e| e.to_string())?;

        let listeners = Listeners {
            client: bind(config.client_listen, "client_listen")?,
            federation: bind(config.federation_listen, "federation_listen")?,
        };
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key)?),
            _ => None,
        };
        let homeserver = homeserver(&config, server_name, signing_key, store)?;
        let remote = remote(&config, homeserver.identity.clone())?;
        let homeserver = homeserver.with_remote(remote);
        homeserver
            .start_push_delivery()
            .await
            .map_err(|e| format!("starting push delivery: {e}"))?;
        homeserver
            .start_federation_sender()
            .await
            .map_err(|e| format!("starting the federation sender: {e}"))?;
        let running = homeserver.clone();
        let http = app::serve(homeserver, http_settings(&config), listeners, tls)
            .map_err(|e| format!("starting the listeners: {e}"))?;
        tracing::info!(
            server_name = %config.server_name,
            client = %config.client_listen,
            federation = %config.federation_listen,
            federation_tls = config.tls_cert.is_some(),
            federation_enabled = config.federation.enabled,
            "hanse is serving"
        );
        http.run().await.map_err(|e| format!("serving: {e}"))?;
        tracing::info!("listeners stopped");
        // Another process sharing the database may take over its
        // destinations at once, rather than after their leases expire.
        running.stop_federation_sender().await;
        Ok::<(), String>(())
    });

    if let Some(cluster) = cluster {
        cluster.stop().map_err(|e| e.to_string())?;
    }
    result
}

/// The managed cluster, brought up by `open` (`ManagedCluster::start`, or
/// `attach_or_start` to share a running server's); none when database.url
/// is set.
pub(crate) fn managed_cluster(
    config: &Config,
    open: fn(&Path, &ClusterOptions) -> Result<ManagedCluster, ClusterError>,
) -> Result<Option<ManagedCluster>, String> {
    if config.database.url.is_some() {
        return Ok(None);
    }
    open(
        &config.managed_database_dir(),
        &ClusterOptions::production(),
    )
    .map(Some)
    .map_err(|e| e.to_string())
}

/// The server's signing key from the data directory, which is created if
/// need be; a new key is generated and saved there on first start.
pub(crate) fn load_signing_key(config: &Config) -> Result<ServerSigningKey, String> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        format!(
            "creating the data directory {}: {e}",
            config.data_dir.display()
        )
    })?;
    crate::signing_key::load_or_generate(&config.signing_key_path()).map_err(|e| e.to_string())
}

/// The homeserver `config` describes, signing as `signing_key`, over
/// `store`.
pub(crate) fn homeserver(
    config: &Config,
    server_name: ServerName,
    signing_key: ServerSigningKey,
    store: Store,
) -> Result<Homeserver, String> {
    Homeserver::new(
        ServerIdentity {
            server_name,
            signing_key,
        },
        config.core_settings(),
        store,
    )
    .map_err(|e| format!("configuration: {e}"))
}

/// How core reaches other servers: the federation client, or nothing
/// with `federation.enabled = false` (the federation listener still
/// serves).
fn remote(config: &Config, identity: Arc<ServerIdentity>) -> Result<Arc<dyn Remote>, String> {
    if !config.federation.enabled {
        return Ok(Arc::new(NoFederation));
    }
    let client = FederationClient::new(identity, &config.federation_client_settings())?;
    Ok(Arc::new(client))
}

/// The settings the listeners take from the configuration.
pub fn http_settings(config: &Config) -> HttpSettings {
    HttpSettings {
        body_limit: config.max_request_body_bytes,
        upload_limit: config.media.max_upload_bytes,
        client_discovery: ClientDiscovery {
            base_url: config.client_base_url(),
        },
        federation_discovery: FederationDiscovery {
            delegated_server: config.delegated_server(),
        },
        shutdown_timeout: Duration::from_secs(config.shutdown_timeout_secs),
        workers: None,
        handle_signals: true,
    }
}

/// Opens hanse's database: at database.url, or on the managed `cluster`
/// (creating the database there on first use), and migrates it.
pub(crate) async fn open_store(
    config: &Config,
    cluster: Option<&ManagedCluster>,
    pool_size: usize,
) -> Result<Store, String> {
    let pg_config = match (&config.database.url, cluster) {
        (Some(url), _) => url
            .parse::<tokio_postgres::Config>()
            .map_err(|e| format!("database.url is not a valid PostgreSQL URL: {e}"))?,
        (None, Some(cluster)) => {
            store::create_database(&cluster.connect_config("postgres"), MANAGED_DATABASE, None)
                .await
                .map_err(|e| e.to_string())?;
            cluster.connect_config(MANAGED_DATABASE)
        }
        (None, None) => unreachable!("a managed cluster runs whenever database.url is unset"),
    };
    let store = Store::connect(pg_config, pool_size);
    store.ping().await.map_err(|e| {
        format!("cannot reach the database: {e}. Check database.url and that PostgreSQL is running")
    })?;
    store::migrate(&store).await.map_err(|e| e.to_string())?;
    Ok(store)
}

fn bind(address: std::net::SocketAddr, key: &str) -> Result<TcpListener, String> {
    TcpListener::bind(address).map_err(|e| format!("{key}: cannot listen on {address}: {e}"))
}
