//! Federation as core sees it: what this server sends to other servers.
//! How a request reaches them is the [`crate::remote::Remote`] port's
//! business.

pub mod sender;

pub use sender::FederationSender;
