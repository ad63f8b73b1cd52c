//! The HTTP side: one actix server per listener, each with the shared
//! middleware stack and its API's routes.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use hanse_client_api::ClientDiscovery;
use hanse_core::Homeserver;
use hanse_federation::FederationDiscovery;
use hanse_http::{middleware, unrecognized_path, BodyLimit, UploadLimit};

/// What the listeners serve, beyond the homeserver itself.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub body_limit: usize,
    /// Largest media upload (streamed to disk, not read into memory).
    pub upload_limit: u64,
    pub client_discovery: ClientDiscovery,
    pub federation_discovery: FederationDiscovery,
    pub shutdown_timeout: Duration,
    /// Worker threads per listener; `None` for one per core.
    pub workers: Option<usize>,
    /// Whether the servers stop themselves on SIGINT/SIGTERM. The test
    /// harness runs many servers in one process and stops them itself.
    pub handle_signals: bool,
}

/// Already bound sockets, so callers choose ports (tests bind port 0).
#[derive(Debug)]
pub struct Listeners {
    pub client: TcpListener,
    pub federation: TcpListener,
}

/// The running listeners.
pub struct Http {
    client: Server,
    federation: Server,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http").finish_non_exhaustive()
    }
}

impl Http {
    /// Handles to stop the servers.
    pub fn handles(&self) -> [ServerHandle; 2] {
        [self.client.handle(), self.federation.handle()]
    }

    /// Serves until both servers have stopped (after a signal, or when
    /// stopped through a handle).
    pub async fn run(self) -> std::io::Result<()> {
        let (client, federation) = futures_util::future::join(self.client, self.federation).await;
        client.and(federation)
    }
}

/// Applies the settings every listener shares. A macro because
/// `HttpServer`'s type parameters differ per app.
macro_rules! tune {
    ($server:expr, $settings:expr) => {{
        let mut server = $server.shutdown_timeout($settings.shutdown_timeout.as_secs());
        if let Some(workers) = $settings.workers {
            server = server.workers(workers);
        }
        if !$settings.handle_signals {
            server = server.disable_signals();
        }
        server
    }};
}

/// Starts serving on `listeners`; the federation listener speaks TLS when
/// `federation_tls` is given.
pub fn serve(
    homeserver: Homeserver,
    settings: HttpSettings,
    listeners: Listeners,
    federation_tls: Option<rustls::ServerConfig>,
) -> std::io::Result<Http> {
    let client = {
        let (homeserver, settings_for_app) = (homeserver.clone(), settings.clone());
        let server = HttpServer::new(move || {
            matrix_app(&homeserver, &settings_for_app)
                .app_data(web::Data::new(settings_for_app.client_discovery.clone()))
                .configure(hanse_client_api::routes)
        });
        tune!(server, settings).listen(listeners.client)?.run()
    };
    let federation = {
        let settings_for_app = settings.clone();
        let server = HttpServer::new(move || {
            matrix_app(&homeserver, &settings_for_app)
                .app_data(web::Data::new(
                    settings_for_app.federation_discovery.clone(),
                ))
                // Replaces the clients' limit: transactions are larger.
                .app_data(BodyLimit(
                    settings_for_app
                        .body_limit
                        .max(hanse_federation::BODY_LIMIT.0),
                ))
                .configure(hanse_federation::routes)
        });
        match federation_tls {
            Some(tls) => tune!(server, settings).listen_rustls_0_23(listeners.federation, tls)?,
            None => tune!(server, settings).listen(listeners.federation)?,
        }
        .run()
    };
    Ok(Http { client, federation })
}

/// An app with the middleware every Matrix listener runs and the endpoints
/// common to both.
fn matrix_app(
    homeserver: &Homeserver,
    settings: &HttpSettings,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(homeserver.clone()))
        .app_data(BodyLimit(settings.body_limit))
        .app_data(UploadLimit {
            path_prefix: hanse_client_api::UPLOAD_PATH_PREFIX,
            bytes: settings.upload_limit,
        })
        .app_data(hanse_http::query_config())
        .app_data(hanse_http::path_config())
        // The last wrap runs first: log, then CORS, then the size guard;
        // each endpoint guards against panics itself.
        .wrap(from_fn(middleware::reject_oversize_bodies))
        .wrap(from_fn(middleware::cors))
        .wrap(from_fn(middleware::log_requests))
        .service(hanse_http::endpoint("/health").route(web::get().to(health)))
        .default_service(web::to(unrecognized_path))
}

/// GET /health: 200 when the database answers, 503 otherwise. For load
/// balancers and orchestrators; not part of the Matrix API.
async fn health(homeserver: web::Data<Homeserver>) -> HttpResponse {
    match homeserver.store.ping().await {
        Ok(()) => HttpResponse::Ok().body("OK"),
        Err(error) => {
            tracing::warn!(%error, "health check: database unreachable");
            HttpResponse::ServiceUnavailable().body("database unreachable")
        }
    }
}
