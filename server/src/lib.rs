//! The `hanse` server: configuration, start-up and the listeners, wired
//! from the API crates over hanse-core; the admin CLI. Also the test
//! harness other crates' integration tests start servers with.

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod logging;
pub mod run;
pub mod signing_key;
pub mod testing;
pub mod tls;
