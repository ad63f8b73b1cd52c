//! The endpoints of the foundation, over real HTTP against a real server
//! and database: what they answer, and how they refuse bad requests.

use hanse_protocol::canonical_json::object_from_json;
use hanse_protocol::identifiers::KeyId;
use hanse_protocol::signing::{verify_json, verifying_key_from_base64};
use hanse_sdk::Client;
use hanse_server::testing::{TestServer, TEST_BODY_LIMIT};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Every endpoint of this issue: (which listener, method, path).
const ENDPOINTS: &[(Listener, &str, &str)] = &[
    (Listener::Client, "GET", "/_matrix/client/versions"),
    (Listener::Client, "GET", "/.well-known/matrix/client"),
    (Listener::Client, "GET", "/health"),
    (Listener::Federation, "GET", "/.well-known/matrix/server"),
    (Listener::Federation, "GET", "/_matrix/key/v2/server"),
    (
        Listener::Federation,
        "GET",
        "/_matrix/federation/v1/version",
    ),
    (Listener::Federation, "GET", "/health"),
];

#[derive(Debug, Clone, Copy)]
enum Listener {
    Client,
    Federation,
}

fn url(server: &TestServer, listener: Listener, path: &str) -> String {
    match listener {
        Listener::Client => format!("{}{path}", server.client_url),
        Listener::Federation => format!("{}{path}", server.federation_url),
    }
}

async fn error_of(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON error body");
    let errcode = body["errcode"]
        .as_str()
        .expect("errcode is a string")
        .to_owned();
    assert!(body["error"].is_string(), "error is a string: {body}");
    (status, errcode)
}

#[tokio::test]
async fn versions_and_client_discovery_answer() {
    let server = TestServer::start().await;
    let client = Client::new(&server.client_url);
    let versions = client.versions().await.expect("versions");
    // Nothing of the client-server API is complete yet, so no version is
    // claimed; the list grows as the endpoints of each version land.
    assert!(versions.versions.is_empty(), "{:?}", versions.versions);
    assert_eq!(
        client.discover_base_url().await.expect("well-known"),
        server.client_url
    );
    server.stop().await;
}

#[tokio::test]
async fn federation_discovery_and_version_answer() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let well_known: Value = http
        .get(format!(
            "{}/.well-known/matrix/server",
            server.federation_url
        ))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        well_known["m.server"],
        server.homeserver.identity.server_name.to_string()
    );
    let version: Value = http
        .get(format!(
            "{}/_matrix/federation/v1/version",
            server.federation_url
        ))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(version["server"]["name"], "Hanse");
    assert_eq!(version["server"]["version"], env!("CARGO_PKG_VERSION"));
    server.stop().await;
}

#[tokio::test]
async fn server_keys_verify_their_own_signature() {
    let server = TestServer::start().await;
    let response = reqwest::get(format!("{}/_matrix/key/v2/server", server.federation_url))
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.expect("json");
    let server_name = server.homeserver.identity.server_name.to_string();
    assert_eq!(document["server_name"], server_name);

    let verify_keys = document["verify_keys"].as_object().expect("verify_keys");
    assert_eq!(verify_keys.len(), 1);
    let (key_id, key) = verify_keys.iter().next().expect("one key");
    let key_id: KeyId = key_id.parse().expect("a key ID");
    let public_key =
        verifying_key_from_base64(key["key"].as_str().expect("key")).expect("a public key");
    let object = object_from_json(document.clone()).expect("canonical JSON");
    verify_json(&server_name, &key_id, &public_key, &object).expect("signature verifies");

    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let valid_until = document["valid_until_ts"].as_u64().expect("valid_until_ts");
    assert!(
        valid_until > now_ms + 3_600_000,
        "valid for at least an hour"
    );

    // Tampering with any signed field breaks the signature.
    let mut tampered = document.clone();
    tampered["valid_until_ts"] = Value::from(valid_until + 1);
    let tampered = object_from_json(tampered).expect("canonical JSON");
    assert!(verify_json(&server_name, &key_id, &public_key, &tampered).is_err());
    server.stop().await;
}

#[tokio::test]
async fn retired_keys_are_published_as_old_verify_keys() {
    let server = TestServer::start().await;
    let store = &server.homeserver.store;
    // An earlier key, replaced by the current one at time 1000.
    store
        .record_signing_key("ed25519:old", "b2xkLWtleQ", 1)
        .await
        .expect("record");
    let current = &server.homeserver.identity.signing_key;
    store
        .record_signing_key(
            current.key_id().as_str(),
            &current.public_key_base64(),
            1000,
        )
        .await
        .expect("record");
    let document: Value = reqwest::get(format!("{}/_matrix/key/v2/server", server.federation_url))
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        document["old_verify_keys"]["ed25519:old"]["key"],
        "b2xkLWtleQ"
    );
    assert_eq!(
        document["old_verify_keys"]["ed25519:old"]["expired_ts"],
        1000
    );
    assert!(document["verify_keys"]
        .get(current.key_id().to_string())
        .is_some());
    assert!(document["verify_keys"].get("ed25519:old").is_none());
    server.stop().await;
}

#[tokio::test]
async fn health_reports_the_database() {
    let server = TestServer::start().await;
    let response = reqwest::get(format!("{}/health", server.client_url))
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_are_unrecognized() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for listener in [Listener::Client, Listener::Federation] {
        for path in [
            "/",
            "/_matrix/client/v3/nonsense",
            "/_matrix/federation/v1/nonsense",
            "/_matrix/client/versions/extra",
        ] {
            let response = http
                .get(url(&server, listener, path))
                .send()
                .await
                .expect("request");
            assert_eq!(
                error_of(response).await,
                (StatusCode::NOT_FOUND, "M_UNRECOGNIZED".into()),
                "{listener:?} {path}"
            );
        }
    }
    // Each API is served on its own listener only.
    let response = http
        .get(url(&server, Listener::Client, "/_matrix/key/v2/server"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = http
        .get(url(
            &server,
            Listener::Federation,
            "/_matrix/client/versions",
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn wrong_methods_are_refused_endpoint_by_endpoint() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for (listener, method, path) in ENDPOINTS {
        assert_eq!(*method, "GET");
        for wrong in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            let response = http
                .request(wrong.clone(), url(&server, *listener, path))
                .send()
                .await
                .expect("request");
            assert_eq!(
                error_of(response).await,
                (StatusCode::METHOD_NOT_ALLOWED, "M_UNRECOGNIZED".into()),
                "{wrong} {path}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn oversize_bodies_are_refused_endpoint_by_endpoint() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for (listener, _, path) in ENDPOINTS {
        // Other servers may send larger bodies (transactions) than clients.
        let limit = match listener {
            Listener::Client => TEST_BODY_LIMIT,
            Listener::Federation => hanse_federation::BODY_LIMIT.0,
        };
        let body = vec![b' '; limit + 1];
        for method in [Method::GET, Method::POST] {
            let response = http
                .request(method.clone(), url(&server, *listener, path))
                .body(body.clone())
                .send()
                .await
                .expect("request");
            assert_eq!(
                error_of(response).await,
                (StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE".into()),
                "{method} {path}"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn bodies_on_get_endpoints_are_ignored_not_parsed() {
    // GET endpoints take no body: unparsable bytes under the limit change
    // nothing about the answer.
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for (listener, _, path) in ENDPOINTS {
        let response = http
            .get(url(&server, *listener, path))
            .body("{not json")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn browsers_get_cors_headers() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for (listener, _, path) in ENDPOINTS {
        let preflight = http
            .request(Method::OPTIONS, url(&server, *listener, path))
            .header("Origin", "https://app.example")
            .header("Access-Control-Request-Method", "GET")
            .send()
            .await
            .expect("request");
        assert_eq!(preflight.status(), StatusCode::OK, "{path}");
        for response in [
            preflight,
            http.get(url(&server, *listener, path))
                .send()
                .await
                .expect("request"),
        ] {
            let headers = response.headers();
            assert_eq!(headers["access-control-allow-origin"], "*", "{path}");
            assert!(headers["access-control-allow-headers"]
                .to_str()
                .expect("ascii")
                .contains("Authorization"));
        }
    }
    server.stop().await;
}
