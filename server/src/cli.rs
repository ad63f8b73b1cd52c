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
    /// Overrides `tls_cert`: the PEM certificate chain of the federation
    /// listener.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Overrides `tls_key`: the PEM private key of the federation listener.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Overrides `federation.ca_file`: PEM CA certificates trusted, besides
    /// the system's, for other servers' certificates.
    #[arg(long, global = true, value_name = "FILE")]
    pub federation_ca: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Run,
    /// Print a commented configuration file with every default.
    GenerateConfig,
    /// Manage local accounts, whether the server runs or not.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage registration tokens (used when `registration = "token"`).
    #[command(subcommand)]
    RegistrationToken(RegistrationTokenCommand),
    /// Manage stored media, whether the server runs or not.
    #[command(subcommand)]
    Media(MediaCommand),
}

/// `hanse user ...`. USER is a localpart (`alice`) or a user ID of this
/// server (`@alice:example.org`).
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Create an account. Its password is read from --password-file, or
    /// from standard input (asked for twice, not echoed, at a terminal).
    Create {
        /// `alice` or `@alice:<server_name>`.
        #[arg(value_name = "USER")]
        user: String,
        /// Make the account a server administrator.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Set a new password and log out every device of the account. The
    /// password is read as for `create`.
    ResetPassword {
        /// `alice` or `@alice:<server_name>`.
        #[arg(value_name = "USER")]
        user: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Deactivate an account for good: it is logged out everywhere, loses
    /// its password and profile, and its user ID is never given out again.
    Deactivate {
        /// `alice` or `@alice:<server_name>`.
        #[arg(value_name = "USER")]
        user: String,
    },
    /// List every account, one a line: user ID, admin, guest, deactivated,
    /// creation time (UTC).
    List,
}

/// Where a password comes from. Never from the command line: other users
/// of the machine can read it there.
#[derive(Debug, Clone, clap::Args)]
pub struct PasswordSource {
    /// Read the password from FILE (its content without a final line
    /// break) instead of standard input.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// `hanse registration-token ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum RegistrationTokenCommand {
    /// Create a registration token and print it.
    Create {
        /// The token (1 to 64 characters of A-Za-z0-9._~-); a random one
        /// if not given.
        #[arg(long, value_name = "T")]
        token: Option<String>,
        /// How many registrations it allows; unlimited if not given.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..))]
        uses: Option<i32>,
        /// Let it expire SECS seconds from now; never if not given.
        #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..))]
        expires_in: Option<u32>,
    },
    /// List the registration tokens, one a line: token, registrations
    /// done and allowed, expiry (UTC).
    List,
}

/// `hanse media ...`.
#[derive(Debug, Clone, Subcommand)]
pub enum MediaCommand {
    /// Delete media of this server: one mxc URI, or everything uploaded
    /// before a time (retention). Deleted media answers 404; its file is
    /// removed unless other media has the same bytes.
    Delete {
        /// `mxc://<server_name>/<media ID>`.
        #[arg(
            value_name = "MXC",
            required_unless_present = "before",
            conflicts_with = "before"
        )]
        mxc: Option<String>,
        /// Delete all media uploaded before TIME: `2026-01-31`,
        /// `2026-01-31T12:00:00Z` (UTC) or milliseconds since 1970.
        #[arg(long, value_name = "TIME")]
        before: Option<String>,
    },
}

impl Cli {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            data_dir: self.data_dir.clone(),
            server_name: self.server_name.clone(),
            client_listen: self.client_listen.clone(),
            federation_listen: self.federation_listen.clone(),
            database_url: self.database_url.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            federation_ca: self.federation_ca.clone(),
        }
    }
}
