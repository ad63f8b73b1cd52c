//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own subset

pub mod federation;
pub mod js_sdk;
pub mod process;

use hanse_sdk::{Client, LoginInfo, Method};
use hanse_server::testing::TestServer;
use serde_json::{json, Value};

pub const PASSWORD: &str = "correct horse battery staple";

/// Sends a request and returns (status, errcode or "" when none).
pub async fn outcome(client: &Client, method: Method, path: &str, body: Value) -> (u16, String) {
    let (status, value) = client.send_raw(method, path, &body).await.expect("request");
    let errcode = value["errcode"].as_str().unwrap_or_default().to_owned();
    (status, errcode)
}

/// Registers `name` on the server; returns a client logged in as them.
pub async fn user(server: &TestServer, name: &str) -> (Client, LoginInfo) {
    let anonymous = Client::new(&server.client_url);
    let login = anonymous
        .register(name, PASSWORD, None)
        .await
        .expect("registration");
    (anonymous.with_token(&login.access_token), login)
}

const V3: &str = "/_matrix/client/v3";

/// Creates a room as `client`; returns its ID.
pub async fn create_room(client: &Client, body: Value) -> String {
    let created: Value = client
        .post(&format!("{V3}/createRoom"), &body)
        .await
        .expect("createRoom");
    created["room_id"].as_str().expect("room_id").to_owned()
}

/// Sends an m.text message; returns its event ID.
pub async fn send_text(client: &Client, room: &str, txn: &str, body: &str) -> String {
    let sent: Value = client
        .put(
            &format!("{V3}/rooms/{room}/send/m.room.message/{txn}"),
            &json!({ "msgtype": "m.text", "body": body }),
        )
        .await
        .expect("send");
    sent["event_id"].as_str().expect("event_id").to_owned()
}

/// Joins the room as `client`.
pub async fn join(client: &Client, room: &str) {
    let _: Value = client
        .post(&format!("{V3}/rooms/{room}/join"), &json!({}))
        .await
        .expect("join");
}

/// Serves the routes `configure` adds on a loopback port (a stand-in for
/// another server: a push gateway, another homeserver); returns its
/// `http://address` and the handle that stops it.
pub fn serve_on_loopback(
    configure: impl Fn(&mut actix_web::web::ServiceConfig) + Clone + Send + 'static,
) -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let server =
        actix_web::HttpServer::new(move || actix_web::App::new().configure(configure.clone()))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .expect("listen")
            .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{address}"), handle)
}
