//! The outbound transport of federation: how a request from this server
//! reaches another. [`FederationClient`] implements core's
//! [`Remote`]: it resolves the destination's server name (discovery.rs),
//! signs the request with X-Matrix (request.rs) and sends it over HTTPS
//! whose certificates are checked against the system's CAs and the
//! operator's (tls.rs).

mod discovery;
mod request;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use hanse_core::remote::{Remote, RemoteError, RemoteRequest};
use hanse_core::ServerIdentity;
use hanse_protocol::identifiers::ServerName;
use reqwest::redirect;

use discovery::Discovery;
pub use discovery::{Target, DEFAULT_PORT};

/// Longest a `.well-known` lookup may take: it delays the first request
/// to a server, so it gets less time than a request.
const WELL_KNOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Redirects followed for a `.well-known` lookup.
const WELL_KNOWN_REDIRECTS: usize = 5;

/// How the client connects and what it accepts.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// PEM CA certificates trusted besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Longest a connection (TCP and TLS) may take to set up.
    pub connect_timeout: Duration,
    /// Longest a request may take, from connecting to the last byte of the
    /// answer.
    pub request_timeout: Duration,
    /// Largest answer accepted, in bytes; larger ones are refused.
    pub max_response_bytes: u64,
    /// For test networks: hostnames resolved to these addresses instead of
    /// through DNS. The port is used where the request names none (the
    /// `.well-known` lookup on 443); a request to `host:port` goes to the
    /// address's IP at that port.
    pub dns_overrides: HashMap<String, SocketAddr>,
}

/// Sends signed requests to other servers. One per process: it keeps the
/// connections to each server open for the next request, and the cache of
/// `.well-known` answers.
#[derive(Debug)]
pub struct FederationClient {
    identity: Arc<ServerIdentity>,
    http: reqwest::Client,
    discovery: Discovery,
    max_response_bytes: u64,
}

impl FederationClient {
    /// A client signing as `identity`. Fails, saying what to fix, when the
    /// CA file cannot be used.
    pub fn new(identity: Arc<ServerIdentity>, settings: &ClientSettings) -> Result<Self, String> {
        let tls = tls::client_config(settings.ca_file.as_deref())?;
        let builder = |timeout: Duration, redirects: redirect::Policy| {
            let mut builder = reqwest::Client::builder()
                .use_preconfigured_tls(tls.clone())
                .https_only(true)
                .connect_timeout(settings.connect_timeout)
                .timeout(timeout)
                .redirect(redirects)
                .user_agent(concat!("hanse/", env!("CARGO_PKG_VERSION")));
            for (host, addr) in &settings.dns_overrides {
                builder = builder.resolve(host, *addr);
            }
            builder
                .build()
                .map_err(|e| format!("setting up the federation client: {e}"))
        };
        // Federation requests follow no redirect: the spec defines none,
        // and one would take a signed request to another server.
        let http = builder(settings.request_timeout, redirect::Policy::none())?;
        let well_known = builder(
            WELL_KNOWN_TIMEOUT.min(settings.request_timeout),
            well_known_redirects(),
        )?;
        Ok(Self {
            identity,
            http,
            discovery: Discovery::new(well_known),
            max_response_bytes: settings.max_response_bytes,
        })
    }

    /// Where requests to `destination` go now.
    pub async fn resolve(&self, destination: &ServerName) -> Target {
        self.discovery.resolve(destination).await
    }
}

/// The spec: "30x redirects should be followed, however redirection loops
/// should be avoided". Stays on HTTPS (`https_only`).
fn well_known_redirects() -> redirect::Policy {
    redirect::Policy::custom(|attempt| {
        if attempt.previous().contains(attempt.url()) {
            attempt.error("redirect loop")
        } else if attempt.previous().len() > WELL_KNOWN_REDIRECTS {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

impl Remote for FederationClient {
    fn request<'a>(
        &'a self,
        destination: &'a ServerName,
        request: RemoteRequest,
    ) -> BoxFuture<'a, Result<serde_json::Value, RemoteError>> {
        Box::pin(async move {
            let target = self.discovery.resolve(destination).await;
            let prepared = request::prepare(&self.identity, destination, &target, request)?;
            request::send(
                &self.http,
                destination,
                &target,
                prepared,
                self.max_response_bytes,
            )
            .await
        })
    }
}

#[cfg(test)]
mod tests;
