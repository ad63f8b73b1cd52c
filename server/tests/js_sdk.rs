//! A third-party client library drives hanse: matrix-js-sdk (from npm, the
//! version pinned in interop/js-sdk/package-lock.json) registers, logs in,
//! creates a room, invites, joins, sends, paginates, redacts and is
//! refused; then two of its clients run its /sync loop (startClient) and
//! see each other's messages, typing, read receipts and unread counts
//! arrive. All through interop/js-sdk/script.mjs, which asserts every
//! step.
//!
//! Needs Node.js 20 or newer and npm; see common/js_sdk.rs for the install.

mod common;

use std::time::Duration;

use common::js_sdk::{progress, run_script};
use hanse_server::testing::TestServer;

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

#[tokio::test]
async fn matrix_js_sdk_drives_hanse() {
    let server = TestServer::start().await;
    progress(&format!("server at {}", server.client_url));
    run_script("script.mjs", &[&server.client_url], SCRIPT_TIMEOUT).await;
    server.stop().await;
}
