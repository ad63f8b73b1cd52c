//! Server keys: publishing ours (and, in time, fetching others').

pub mod server;
