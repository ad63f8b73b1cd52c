//! The `hanse` binary.

use std::process::ExitCode;

use clap::Parser;
use hanse_server::admin::AdminCommand;
use hanse_server::cli::{Cli, Command};
use hanse_server::config::{Config, LogConfig, DEFAULT_CONFIG};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let admin = match &cli.command {
        Some(Command::GenerateConfig) => {
            print!("{DEFAULT_CONFIG}");
            return ExitCode::SUCCESS;
        }
        Some(Command::Run) | None => None,
        Some(Command::User(command)) => Some(AdminCommand::User(command.clone())),
        Some(Command::RegistrationToken(command)) => {
            Some(AdminCommand::RegistrationToken(command.clone()))
        }
        Some(Command::Media(command)) => Some(AdminCommand::Media(command.clone())),
    };
    let config = match Config::load(cli.config.as_deref(), std::env::vars(), &cli.overrides()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("hanse: {error}");
            return ExitCode::from(2);
        }
    };
    // An admin command reports what it did itself; the log gets only
    // warnings, so its output stays readable.
    let log = match admin {
        Some(_) => LogConfig {
            filter: "warn".into(),
            ..config.log.clone()
        },
        None => config.log.clone(),
    };
    if let Err(error) = hanse_server::logging::init(&log) {
        eprintln!("hanse: {error}");
        return ExitCode::from(2);
    }
    let result = match admin {
        Some(command) => hanse_server::admin::run(config, command),
        None => hanse_server::run::run(config).inspect_err(|error| tracing::error!("{error}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hanse: {error}");
            ExitCode::FAILURE
        }
    }
}
