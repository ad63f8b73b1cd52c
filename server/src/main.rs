//! The `hanse` binary.

use std::process::ExitCode;

use clap::Parser;
use hanse_server::cli::{Cli, Command};
use hanse_server::config::{Config, DEFAULT_CONFIG};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::GenerateConfig) => {
            print!("{DEFAULT_CONFIG}");
            ExitCode::SUCCESS
        }
        Some(Command::Run) | None => {
            let config =
                match Config::load(cli.config.as_deref(), std::env::vars(), &cli.overrides()) {
                    Ok(config) => config,
                    Err(error) => {
                        eprintln!("hanse: {error}");
                        return ExitCode::from(2);
                    }
                };
            if let Err(error) = hanse_server::logging::init(&config.log) {
                eprintln!("hanse: {error}");
                return ExitCode::from(2);
            }
            match hanse_server::run::run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!("{error}");
                    eprintln!("hanse: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
