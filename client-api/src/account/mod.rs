//! Account management: registration, login, sessions, credentials.

pub mod credentials;
pub mod login;
pub mod register;
pub mod session;
