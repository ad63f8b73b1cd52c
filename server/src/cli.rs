//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Overrides;

/// Hanse: a Matrix homeserver.
#[derive(Debug, Parser)]
#[command(name = "hanse", version, about)]
pub struct Cli {
    /// A TOML configuration file (see `hanse generate-config`).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Overrides `data_dir`.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Overrides `server_name`.
    #[arg(long, global = true, value_name = "NAME")]
    pub server_name: Option<String>,
    /// Overrides `client_listen`.
    #[arg(long, global = true, value_name = "ADDR")]
    pub client_listen: Option<String>,
    /// Overrides `federation_listen`.
    #[arg(long, global = true, value_name = "ADDR")]
    pub federation_listen: Option<String>,
    /// Overrides `database.url`.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Run,
    /// Print a commented configuration file with every default.
    GenerateConfig,
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            data_dir: self.data_dir.clone(),
            server_name: self.server_name.clone(),
            client_listen: self.client_listen.clone(),
            federation_listen: self.federation_listen.clone(),
            database_url: self.database_url.clone(),
        }
    }
}
