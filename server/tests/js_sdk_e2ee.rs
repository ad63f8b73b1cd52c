//! End-to-end encryption through hanse with matrix-js-sdk's own crypto
//! (its Rust crypto, matrix-sdk-crypto-wasm, from npm): two users on a
//! device each share an encrypted room and decrypt each other's messages;
//! a second device of one of them and a third user join later and decrypt
//! what is sent from then on, and the others decrypt what they send. The
//! server routes the keys (/keys/upload, /keys/query, /keys/claim,
//! /sendToDevice, /sync's device lists and to-device messages) and stores
//! ciphertext only. All through interop/js-sdk/e2ee.mjs, which asserts
//! every step and prints the requests the server refused.
//!
//! Needs Node.js 20 or newer and npm; see common/js_sdk.rs for the install.

mod common;

use std::time::Duration;

use common::js_sdk::{progress, run_script};
use hanse_server::testing::TestServer;

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test]
async fn matrix_js_sdk_clients_decrypt_each_other() {
    let server = TestServer::start().await;
    progress(&format!("server at {}", server.client_url));
    run_script("e2ee.mjs", &[&server.client_url], &[], SCRIPT_TIMEOUT).await;
    server.stop().await;
}
