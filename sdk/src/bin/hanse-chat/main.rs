//! hanse-chat: a command-line Matrix client with end-to-end encryption,
//! on hanse-sdk's [`EncryptedClient`]. Each command opens the device kept
//! in the store directory, catches up with one sync (taking in room keys),
//! does its work and exits; the next command carries on from there.

mod saved_session;

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use hanse_sdk::crypto::BackupDecryptionKey;
use hanse_sdk::encrypted::{Decryption, EncryptedClient, SyncUpdate, ToDeviceEvent};
use hanse_sdk::{Client, NewRoom};

use saved_session::SavedSession;

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// A Matrix client with end-to-end encryption, one command at a time.
#[derive(Debug, Parser)]
#[command(name = "hanse-chat", version, about)]
struct Cli {
    /// The directory that holds this device: its login, keys and
    /// sessions. Keep it private; one directory per device.
    #[arg(
        long,
        global = true,
        env = "HANSE_CHAT_STORE",
        default_value = "hanse-chat"
    )]
    store: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Logs in as a new device and publishes its encryption keys.
    Login {
        /// The homeserver's client API, e.g. `https://matrix.example.org`.
        #[arg(long)]
        url: String,
        /// User name or full user ID.
        #[arg(long)]
        user: String,
        /// The password; read from standard input when not given.
        #[arg(long, env = "HANSE_CHAT_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Creates a room and prints its ID.
    Create {
        /// Encrypt the room's messages end to end.
        #[arg(long)]
        encrypted: bool,
        /// Let anyone join, not only the invited.
        #[arg(long)]
        public: bool,
        #[arg(long)]
        name: Option<String>,
        /// A user ID to invite; may be repeated.
        #[arg(long)]
        invite: Vec<String>,
    },
    /// Joins a room by ID or alias.
    Join { room: String },
    /// Sends a text message, encrypted when the room is.
    Send { room: String, text: String },
    /// Prints the room's latest messages, decrypted.
    Read {
        room: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Creates a key backup on the server with this device's room keys and
    /// prints its recovery key. Write it down: it is not stored.
    BackupCreate,
    /// Restores room keys from the server's key backup.
    BackupRestore {
        /// The recovery key; read from standard input when not given.
        recovery_key: Option<String>,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(error) = run(cli).await {
        eprintln!("hanse-chat: {error}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let store = &cli.store;
    match cli.command {
        Command::Login {
            url,
            user,
            password,
        } => login(store, &url, &user, password).await?,
        Command::Create {
            encrypted,
            public,
            name,
            invite,
        } => {
            let room = NewRoom {
                public,
                encrypted,
                name,
                invite,
            };
            let mut device = open(store).await?;
            let room_id = device.client().create_room(&room).await?;
            catch_up(&mut device).await?;
            println!("{room_id}");
        }
        Command::Join { room } => {
            let mut device = open(store).await?;
            let room_id = device.client().join_room(&room).await?;
            catch_up(&mut device).await?;
            let encrypted = device.room(&room_id).is_some_and(|r| r.is_encrypted());
            eprintln!(
                "hanse-chat: joined {room_id}{}",
                if encrypted { " (encrypted)" } else { "" }
            );
            println!("{room_id}");
        }
        Command::Send { room, text } => {
            let mut device = open(store).await?;
            let sent = device.send_text(&room, &text).await?;
            for (user, device_id) in &sent.devices_without_key {
                eprintln!(
                    "hanse-chat: warning: {user}'s device {device_id} has no keys to encrypt to; it cannot read this message"
                );
            }
            eprintln!(
                "hanse-chat: sent{}",
                if sent.session_id.is_some() {
                    " encrypted"
                } else {
                    " (room not encrypted)"
                }
            );
            println!("{}", sent.event_id);
        }
        Command::Read { room, limit } => {
            let mut device = open(store).await?;
            if device.room(&room).is_none() {
                return Err(format!("{room} is not a room this device has joined").into());
            }
            for event in device.messages(&room, limit).await? {
                let sender = event.sender().unwrap_or("?");
                match &event.decryption {
                    Decryption::Undecryptable(error) => {
                        println!("{sender}: [cannot decrypt: {error}]");
                    }
                    _ if event.event_type() == Some("m.room.message") => {
                        println!("{sender}: {}", event.body().unwrap_or("[no text]"));
                    }
                    _ => {}
                }
            }
        }
        Command::BackupCreate => {
            let mut device = open(store).await?;
            let (version, key) = device.create_backup().await?;
            eprintln!("hanse-chat: backup version {version} created; its recovery key:");
            println!("{}", key.to_base58());
        }
        Command::BackupRestore { recovery_key } => {
            let text = match recovery_key {
                Some(text) => text,
                None => read_line("recovery key")?,
            };
            let key = BackupDecryptionKey::from_base58(&text)
                .map_err(|e| format!("that is not a recovery key: {e}"))?;
            let mut device = open(store).await?;
            let restored = device.restore_backup(&key).await?;
            for (room_id, session_id, error) in &restored.failed {
                eprintln!("hanse-chat: warning: key {session_id} of {room_id}: {error}");
            }
            println!(
                "restored {} new room keys of {} in backup version {}",
                restored.imported, restored.found, restored.version
            );
        }
    }
    Ok(())
}

async fn login(
    store: &Path,
    url: &str,
    user: &str,
    password: Option<String>,
) -> Result<(), Failure> {
    let password = match password {
        Some(password) => password,
        None => read_line("password")?,
    };
    let login = Client::new(url).login(user, &password).await?;
    let (session, pickle_key) = SavedSession::create(store, url, &login)?;
    let mut device = EncryptedClient::open(session.client(), &login, store, pickle_key).await?;
    report(catch_up(&mut device).await?);
    eprintln!(
        "hanse-chat: logged in as {} on device {}; keys published (fingerprint {})",
        device.user_id(),
        device.device_id(),
        device.machine().ed25519_key().to_base64()
    );
    Ok(())
}

/// Opens the device saved in `store` and catches up with what happened
/// since the last command.
async fn open(store: &Path) -> Result<EncryptedClient, Failure> {
    let (session, pickle_key) = SavedSession::load(store)?;
    let mut device =
        EncryptedClient::open(session.client(), &session.login_info(), store, pickle_key).await?;
    report(catch_up(&mut device).await?);
    Ok(device)
}

/// One sync without waiting: what happened since the last command.
async fn catch_up(device: &mut EncryptedClient) -> Result<SyncUpdate, Failure> {
    Ok(device.sync_once(0).await?)
}

/// Warns about what a sync could not do.
fn report(update: SyncUpdate) {
    for event in &update.to_device {
        if let ToDeviceEvent::Undecryptable { sender, error } = event {
            eprintln!("hanse-chat: warning: an encrypted message from {sender} could not be read: {error}");
        }
    }
    for failure in &update.upkeep_failures {
        eprintln!("hanse-chat: warning: {failure} (will be retried)");
    }
    for room_id in &update.invited {
        eprintln!("hanse-chat: invited to {room_id} (join it with `hanse-chat join {room_id}`)");
    }
}

/// A line from standard input, for secrets that should not be in the
/// command line (shell history, process list).
fn read_line(what: &str) -> Result<String, Failure> {
    eprintln!("hanse-chat: {what}:");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        return Err(format!("no {what} given").into());
    }
    Ok(line)
}
