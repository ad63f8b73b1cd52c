//! hanse-sdk: a Matrix client library. Hanse's own tests, benchmarks and
//! demos talk to the server through it, as a real client would.

mod client;
pub mod crypto;
pub mod encrypted;
mod error;
mod rooms;

pub use client::{Client, LoginInfo, Versions};
pub use error::{Error, MatrixErrorBody};
pub use reqwest::Method;
pub use rooms::NewRoom;
