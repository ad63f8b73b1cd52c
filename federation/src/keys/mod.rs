//! Server keys: publishing ours, and vouching for others as a notary.

pub mod query;
pub mod server;
