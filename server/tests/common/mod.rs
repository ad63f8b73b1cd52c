//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own subset

pub mod process;

use hanse_sdk::{Client, LoginInfo, Method};
use hanse_server::testing::TestServer;
use serde_json::Value;

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
