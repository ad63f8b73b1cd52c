//! The client against real TLS servers on loopback, with certificates of
//! a CA made for the test. Each test uses addresses of its own in
//! 127.0.0.0/8, so the one that needs port 8448 cannot meet another
//! test's server there.

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use hanse_core::remote::{Remote, RemoteError, RemoteRequest};
use hanse_core::ServerIdentity;
use hanse_protocol::canonical_json::CanonicalJsonValue;
use hanse_protocol::identifiers::ServerName;
use hanse_protocol::signing::ServerSigningKey;
use hanse_protocol::x_matrix::XMatrix;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;

use super::*;

const WELL_KNOWN: &str = "/.well-known/matrix/server";
const VERSION: &str = "/_matrix/federation/v1/version";

/// A certificate authority made for one test, its certificate in a PEM
/// file for `federation.ca_file`.
struct TestCa {
    certificate: rcgen::Certificate,
    key: KeyPair,
    dir: tempfile::TempDir,
}

impl TestCa {
    fn new() -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let certificate = params.self_signed(&key).expect("CA certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("ca.pem"), certificate.pem()).expect("write CA");
        Self {
            certificate,
            key,
            dir,
        }
    }

    /// TLS for a server whose certificate names `names` (DNS names or IP
    /// addresses).
    fn server_tls(&self, names: &[&str]) -> rustls::ServerConfig {
        let key = KeyPair::generate().expect("server key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let certificate = CertificateParams::new(names)
            .expect("server params")
            .signed_by(&key, &self.certificate, &self.key)
            .expect("server certificate");
        let chain: Vec<CertificateDer<'static>> = vec![certificate.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server TLS")
    }

    /// Client settings trusting this CA, resolving `overrides`.
    fn settings(&self, overrides: &[(&str, SocketAddr)]) -> ClientSettings {
        ClientSettings {
            ca_file: Some(self.dir.path().join("ca.pem")),
            ..settings_without_ca(overrides)
        }
    }
}

fn settings_without_ca(overrides: &[(&str, SocketAddr)]) -> ClientSettings {
    ClientSettings {
        ca_file: None,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        max_response_bytes: 64 * 1024 * 1024,
        dns_overrides: overrides
            .iter()
            .map(|(host, addr)| ((*host).to_owned(), *addr))
            .collect(),
    }
}

/// A request a test server received.
#[derive(Debug, Clone)]
struct Hit {
    /// The port it came in on.
    port: u16,
    method: String,
    path: String,
    host: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// How a test server answers; `None`: never.
type Respond = Arc<dyn Fn(&HttpRequest) -> Option<HttpResponse> + Send + Sync>;

struct TestServer {
    hits: Arc<Mutex<Vec<Hit>>>,
    handle: ServerHandle,
}

impl TestServer {
    /// Serves TLS on `listeners`, answering with `respond`.
    fn start(listeners: Vec<TcpListener>, tls: rustls::ServerConfig, respond: Respond) -> Self {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let state = (hits.clone(), respond);
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals();
        for listener in listeners {
            server = server
                .listen_rustls_0_23(listener, tls.clone())
                .expect("listen");
        }
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { hits, handle }
    }

    fn hits(&self, path: &str) -> Vec<Hit> {
        self.hits
            .lock()
            .expect("hits")
            .iter()
            .filter(|hit| hit.path == path)
            .cloned()
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn answer(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<(Arc<Mutex<Vec<Hit>>>, Respond)>,
) -> HttpResponse {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    state.0.lock().expect("hits").push(Hit {
        port: request.app_config().local_addr().port(),
        method: request.method().to_string(),
        path: request.uri().to_string(),
        host: header("host").unwrap_or_default(),
        authorization: header("authorization"),
        body: body.to_vec(),
    });
    match (state.1)(&request) {
        Some(response) => response,
        None => std::future::pending().await,
    }
}

fn bind(addr: &str) -> TcpListener {
    TcpListener::bind(addr).unwrap_or_else(|e| panic!("binding {addr}: {e}"))
}

/// A test server on `ip`, at a port the system picks, with a certificate
/// for that address; its server name (`ip:port`) with it.
fn serve_ip_literal(ca: &TestCa, ip: &str, respond: Respond) -> (TestServer, String) {
    let listener = bind(&format!("{ip}:0"));
    let port = listener.local_addr().expect("addr").port();
    let server = TestServer::start(vec![listener], ca.server_tls(&[ip]), respond);
    (server, format!("{ip}:{port}"))
}

fn identity() -> Arc<ServerIdentity> {
    Arc::new(ServerIdentity {
        server_name: ServerName::parse("origin.test").expect("name"),
        signing_key: ServerSigningKey::generate(),
    })
}

fn name(s: &str) -> ServerName {
    ServerName::parse(s).expect("valid server name")
}

/// GETs the version endpoint of `destination`.
async fn version(
    client: &FederationClient,
    destination: &str,
) -> Result<serde_json::Value, RemoteError> {
    client
        .request(&name(destination), RemoteRequest::get(VERSION))
        .await
}

/// Asserts that `result` is a refused certificate.
fn assert_certificate_refused(result: Result<serde_json::Value, RemoteError>) {
    assert!(
        matches!(&result, Err(RemoteError::Unreachable { reason, .. }) if reason.contains("certificate")),
        "{result:?}"
    );
}

/// Answers the version endpoint, and `.well-known` with `well_known`
/// (404 when none).
fn federation_server(well_known: Option<serde_json::Value>) -> Respond {
    Arc::new(move |request| {
        Some(match (request.path(), &well_known) {
            (WELL_KNOWN, Some(body)) => HttpResponse::Ok().json(body),
            (WELL_KNOWN, None) => HttpResponse::NotFound().finish(),
            (_, _) => HttpResponse::Ok().json(json!({ "server": { "name": "test" } })),
        })
    })
}

/// Asserts that `hit` carries an X-Matrix signature of `identity` for
/// `destination` over the request as received.
fn assert_signed(hit: &Hit, identity: &ServerIdentity, destination: &str) {
    let header = XMatrix::parse(hit.authorization.as_deref().expect("Authorization header"))
        .expect("an X-Matrix header");
    assert_eq!(header.origin, identity.server_name);
    let content = (!hit.body.is_empty()).then(|| {
        std::str::from_utf8(&hit.body)
            .expect("UTF-8 body")
            .parse::<CanonicalJsonValue>()
            .expect("JSON body")
    });
    header
        .verify(
            &hit.method,
            &hit.path,
            destination,
            content.as_ref(),
            &identity.signing_key.verifying_key(),
        )
        .expect("the signature verifies");
}

#[actix_web::test]
async fn requests_to_ip_literals_are_signed_for_the_server_name() {
    let ca = TestCa::new();
    let (server, destination) = serve_ip_literal(
        &ca,
        "127.0.0.1",
        Arc::new(|request| Some(HttpResponse::Ok().json(json!({ "path": request.path() })))),
    );
    let identity = identity();
    let client = FederationClient::new(identity.clone(), &ca.settings(&[])).expect("client");
    let destination = name(&destination);

    // The path leaves a space unencoded: the signature covers the
    // target as sent.
    let path = "/_matrix/federation/v1/send/t1?a=b c";
    let body = json!({ "pdus": [], "edus": [{ "edu_type": "m.typing", "n": 1 }] });
    let answer = client
        .request(&destination, RemoteRequest::put(path, body))
        .await
        .expect("an answer");
    assert_eq!(answer, json!({ "path": "/_matrix/federation/v1/send/t1" }));

    let hits = server.hits("/_matrix/federation/v1/send/t1?a=b%20c");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].method, "PUT");
    assert_eq!(hits[0].host, destination.as_str());
    assert_signed(&hits[0], &identity, destination.as_str());

    // A request without a body, on the same connection pool.
    version(&client, destination.as_str())
        .await
        .expect("an answer");
    let hits = server.hits(VERSION);
    assert_eq!(hits.len(), 1);
    assert!(hits[0].body.is_empty());
    assert_signed(&hits[0], &identity, destination.as_str());
    assert!(
        server.hits(WELL_KNOWN).is_empty(),
        "no .well-known for IP literals"
    );
}

#[actix_web::test]
async fn a_well_known_delegation_is_followed_and_cached() {
    let ca = TestCa::new();
    let listener = bind("127.0.0.2:0");
    let addr = listener.local_addr().expect("addr");
    let delegated = format!("matrix.delegated.test:{}", addr.port());
    let server = TestServer::start(
        vec![listener],
        ca.server_tls(&["delegated.test", "matrix.delegated.test"]),
        federation_server(Some(json!({ "m.server": delegated }))),
    );
    let identity = identity();
    let client = FederationClient::new(
        identity.clone(),
        &ca.settings(&[("delegated.test", addr), ("matrix.delegated.test", addr)]),
    )
    .expect("client");
    for _ in 0..2 {
        version(&client, "delegated.test").await.expect("an answer");
    }
    assert_eq!(
        client.resolve(&name("delegated.test")).await,
        Target {
            host: "matrix.delegated.test".to_owned(),
            port: addr.port(),
            host_header: delegated.clone(),
        }
    );
    assert_eq!(
        server.hits(WELL_KNOWN).len(),
        1,
        "the .well-known answer is cached"
    );
    let hits = server.hits(VERSION);
    assert_eq!(hits.len(), 2);
    for hit in &hits {
        assert_eq!(hit.host, delegated, "the Host header is the delegated name");
        // Signed for the server name, not the host it was delegated to.
        assert_signed(hit, &identity, "delegated.test");
    }
}

#[actix_web::test]
async fn without_well_known_the_hostname_is_used_on_port_8448() {
    let ca = TestCa::new();
    let well_known_listener = bind("127.0.0.3:0");
    let well_known_addr = well_known_listener.local_addr().expect("addr");
    let server = TestServer::start(
        vec![well_known_listener, bind("127.0.0.3:8448")],
        ca.server_tls(&["plain.test"]),
        federation_server(None),
    );
    let client =
        FederationClient::new(identity(), &ca.settings(&[("plain.test", well_known_addr)]))
            .expect("client");
    for _ in 0..2 {
        version(&client, "plain.test").await.expect("an answer");
    }
    assert_eq!(
        client.resolve(&name("plain.test")).await,
        Target {
            host: "plain.test".to_owned(),
            port: DEFAULT_PORT,
            host_header: "plain.test".to_owned(),
        }
    );
    let well_known = server.hits(WELL_KNOWN);
    assert_eq!(well_known.len(), 1, "the failure is cached");
    assert_eq!(well_known[0].port, well_known_addr.port());
    let hits = server.hits(VERSION);
    assert_eq!(hits.len(), 2);
    for hit in &hits {
        assert_eq!(hit.port, DEFAULT_PORT);
        assert_eq!(hit.host, "plain.test");
    }
}

#[actix_web::test]
async fn an_explicit_port_skips_well_known() {
    let ca = TestCa::new();
    let listener = bind("127.0.0.4:0");
    let addr = listener.local_addr().expect("addr");
    let server = TestServer::start(
        vec![listener],
        ca.server_tls(&["port.test"]),
        federation_server(Some(json!({ "m.server": "elsewhere.test:1" }))),
    );
    let client =
        FederationClient::new(identity(), &ca.settings(&[("port.test", addr)])).expect("client");
    let destination = format!("port.test:{}", addr.port());

    version(&client, &destination).await.expect("an answer");
    assert!(server.hits(WELL_KNOWN).is_empty());
    assert_eq!(server.hits(VERSION)[0].host, destination);
}

#[actix_web::test]
async fn certificates_of_unknown_cas_or_other_names_are_refused() {
    let ca = TestCa::new();
    let listener = bind("127.0.0.5:0");
    let addr = listener.local_addr().expect("addr");
    let server = TestServer::start(
        vec![listener],
        ca.server_tls(&["127.0.0.5", "right.test"]),
        federation_server(None),
    );
    let overrides = [("wrong.test", addr), ("right.test", addr)];

    // Only the system's CAs: the test CA is unknown.
    let client =
        FederationClient::new(identity(), &settings_without_ca(&overrides)).expect("client");
    assert_certificate_refused(version(&client, &format!("127.0.0.5:{}", addr.port())).await);

    // The right CA, the wrong name.
    let client = FederationClient::new(identity(), &ca.settings(&overrides)).expect("client");
    assert_certificate_refused(version(&client, &format!("wrong.test:{}", addr.port())).await);
    version(&client, &format!("right.test:{}", addr.port()))
        .await
        .expect("the right name is accepted");
    assert_eq!(server.hits(VERSION).len(), 1, "refused before any request");
}

#[actix_web::test]
async fn error_answers_map_to_remote_errors() {
    let ca = TestCa::new();
    let (_server, destination) = serve_ip_literal(
        &ca,
        "127.0.0.6",
        Arc::new(|request| {
            Some(match request.path() {
                "/forbidden" => HttpResponse::Forbidden()
                    .json(json!({ "errcode": "M_FORBIDDEN", "error": "not you" })),
                "/html" => HttpResponse::BadGateway().body("<html>bad gateway</html>"),
                "/not-json" => HttpResponse::Ok().body("hello"),
                _ => HttpResponse::NotFound().finish(),
            })
        }),
    );
    let client = FederationClient::new(identity(), &ca.settings(&[])).expect("client");
    let destination = name(&destination);
    let request = |path: &'static str| client.request(&destination, RemoteRequest::get(path));

    match request("/forbidden").await {
        Err(RemoteError::Matrix {
            status,
            errcode,
            message,
            ..
        }) => {
            assert_eq!(
                (status, errcode.as_str(), message.as_str()),
                (403, "M_FORBIDDEN", "not you")
            );
        }
        other => panic!("{other:?}"),
    }
    for path in ["/html", "/not-json", "/missing"] {
        let result = request(path).await;
        assert!(
            matches!(result, Err(RemoteError::InvalidResponse { .. })),
            "{path}: {result:?}"
        );
    }
    let result = client
        .request(
            &destination,
            RemoteRequest::put("/forbidden", json!({ "not canonical": 1.5 })),
        )
        .await;
    assert!(
        matches!(result, Err(RemoteError::InvalidRequest { .. })),
        "{result:?}"
    );
}

#[actix_web::test]
async fn oversized_answers_are_refused() {
    let ca = TestCa::new();
    let big = json!({ "padding": "x".repeat(4096) });
    let (_server, destination) = serve_ip_literal(
        &ca,
        "127.0.0.7",
        Arc::new(move |request| {
            let bytes = web::Bytes::from(big.to_string());
            Some(match request.path() {
                // Content-Length tells the size up front...
                "/sized" => HttpResponse::Ok().body(bytes),
                // ...a chunked body shows it only while it arrives.
                _ => HttpResponse::Ok().streaming(futures_util::stream::iter(
                    bytes
                        .chunks(512)
                        .map(|chunk| Ok::<_, actix_web::Error>(web::Bytes::copy_from_slice(chunk)))
                        .collect::<Vec<_>>(),
                )),
            })
        }),
    );
    let client = FederationClient::new(
        identity(),
        &ClientSettings {
            max_response_bytes: 1024,
            ..ca.settings(&[])
        },
    )
    .expect("client");
    let destination = name(&destination);
    for path in ["/sized", "/chunked"] {
        let result = client.request(&destination, RemoteRequest::get(path)).await;
        assert!(
            matches!(&result, Err(RemoteError::InvalidResponse { reason, .. })
                if reason.contains("federation.max_response_bytes")),
            "{path}: {result:?}"
        );
    }
}

#[actix_web::test]
async fn a_server_that_never_answers_times_out() {
    let ca = TestCa::new();
    let (_server, never_answers) = serve_ip_literal(&ca, "127.0.0.8", Arc::new(|_| None));
    // Accepts connections but never speaks TLS.
    let silent = bind("127.0.0.8:0");
    let never_shakes_hands = format!("127.0.0.8:{}", silent.local_addr().expect("addr").port());

    let client = FederationClient::new(
        identity(),
        &ClientSettings {
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_secs(1),
            ..ca.settings(&[])
        },
    )
    .expect("client");
    for destination in [never_answers, never_shakes_hands] {
        let started = Instant::now();
        let result = version(&client, &destination).await;
        assert!(
            matches!(&result, Err(RemoteError::Unreachable { reason, .. }) if reason.contains("timed out")),
            "{result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    drop(silent);
}
