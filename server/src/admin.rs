//! The admin CLI: `hanse user ...`, `hanse registration-token ...` and
//! `hanse media ...`.
//!
//! Each command works on the configured database whether the server runs or
//! not: at database.url, or on the managed cluster, which is used where a
//! running hanse serves it and otherwise started for the command and stopped
//! after it. Input is checked before anything is touched; what a command
//! did goes to standard output, errors to the caller.

use std::io::{BufRead, IsTerminal, Read};
use std::path::Path;

use hanse_core::accounts::{local_user_id, validate_localpart, Registration, MAX_PASSWORD_BYTES};
use hanse_core::store::{ManagedCluster, RegistrationTokenRow};
use hanse_core::Homeserver;
use hanse_protocol::identifiers::{ServerName, UserId};

use hanse_core::media::Mxc;

use crate::cli::{MediaCommand, PasswordSource, RegistrationTokenCommand, UserCommand};
use crate::config::Config;

/// An admin command.
#[derive(Debug, Clone)]
pub enum AdminCommand {
    User(UserCommand),
    RegistrationToken(RegistrationTokenCommand),
    Media(MediaCommand),
}

/// What a command does once its input is read and checked.
enum Action {
    CreateUser {
        user_id: UserId,
        password: String,
        admin: bool,
    },
    ResetPassword {
        user_id: UserId,
        password: String,
    },
    Deactivate {
        user_id: UserId,
    },
    ListUsers,
    CreateToken {
        token: Option<String>,
        uses: Option<i32>,
        expires_in_secs: Option<u32>,
    },
    ListTokens,
    DeleteMedia(Mxc),
    DeleteMediaBefore {
        before_ms: i64,
    },
}

/// Runs an admin command. Blocking: call it from the main thread, which
/// the managed cluster, if this starts it, is bound to.
pub fn run(config: Config, command: AdminCommand) -> Result<(), String> {
    let server_name = ServerName::parse(&config.server_name).map_err(|e| e.to_string())?;
    let action = prepare(&server_name, command)?;

    let cluster = crate::run::managed_cluster(&config, ManagedCluster::attach_or_start)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    let result = runtime.block_on(async {
        let store = crate::run::open_store(&config, cluster.as_ref(), 2).await?;
        // The server's own key, as it would load it: nothing here signs
        // yet, but whatever does later must sign as the server.
        let signing_key = crate::run::load_signing_key(&config)?;
        let homeserver = crate::run::homeserver(&config, server_name, signing_key, store)?;
        execute(&homeserver, action).await
    });
    drop(runtime);
    if let Some(cluster) = cluster {
        cluster.stop().map_err(|e| e.to_string())?;
    }
    result
}

/// Reads and checks the command's input: user names and passwords are
/// refused here, before any database is touched.
fn prepare(server_name: &ServerName, command: AdminCommand) -> Result<Action, String> {
    let user = |user: &str| local_user_id(server_name, user).map_err(|e| e.to_string());
    Ok(match command {
        AdminCommand::User(UserCommand::Create {
            user: name,
            admin,
            password,
        }) => {
            let user_id = user(&name)?;
            validate_localpart(user_id.localpart())
                .map_err(|e| format!("cannot create {user_id}: {e}"))?;
            let password = read_password(&password, &format!("Password for {user_id}"))?;
            Action::CreateUser {
                user_id,
                password,
                admin,
            }
        }
        AdminCommand::User(UserCommand::ResetPassword {
            user: name,
            password,
        }) => {
            let user_id = user(&name)?;
            let password = read_password(&password, &format!("New password for {user_id}"))?;
            Action::ResetPassword { user_id, password }
        }
        AdminCommand::User(UserCommand::Deactivate { user: name }) => Action::Deactivate {
            user_id: user(&name)?,
        },
        AdminCommand::User(UserCommand::List) => Action::ListUsers,
        AdminCommand::RegistrationToken(RegistrationTokenCommand::Create {
            token,
            uses,
            expires_in,
        }) => Action::CreateToken {
            token,
            uses,
            expires_in_secs: expires_in,
        },
        AdminCommand::RegistrationToken(RegistrationTokenCommand::List) => Action::ListTokens,
        AdminCommand::Media(MediaCommand::Delete { mxc, before }) => match (mxc, before) {
            (Some(mxc), _) => {
                let mxc = Mxc::parse(&mxc).map_err(|e| e.to_string())?;
                if &mxc.server_name != server_name {
                    return Err(format!("{mxc} is not media of this server"));
                }
                Action::DeleteMedia(mxc)
            }
            (None, Some(time)) => Action::DeleteMediaBefore {
                before_ms: parse_time(&time)?,
            },
            (None, None) => return Err("give an mxc:// URI or --before TIME".into()),
        },
    })
}

async fn execute(homeserver: &Homeserver, action: Action) -> Result<(), String> {
    let failed = |e: hanse_core::Error| e.to_string();
    match action {
        Action::CreateUser {
            user_id,
            password,
            admin,
        } => {
            let registered = homeserver
                .create_account(Registration {
                    username: Some(user_id.localpart().to_owned()),
                    password: Some(password),
                    is_admin: admin,
                    ..Registration::default()
                })
                .await
                .map_err(|e| format!("cannot create {user_id}: {e}"))?;
            let kind = if admin { "admin account" } else { "account" };
            println!("created {kind} {}", registered.user_id);
        }
        Action::ResetPassword { user_id, password } => {
            homeserver
                .reset_password(&user_id, &password)
                .await
                .map_err(failed)?;
            println!("reset the password of {user_id} and logged out all its devices");
        }
        Action::Deactivate { user_id } => {
            homeserver.deactivate(&user_id).await.map_err(failed)?;
            println!("deactivated {user_id}");
        }
        Action::ListUsers => {
            let accounts = homeserver
                .store
                .accounts()
                .await
                .map_err(|e| e.to_string())?;
            for account in accounts {
                println!(
                    "{} admin={} guest={} deactivated={} created={}",
                    account.user_id,
                    yes_no(account.is_admin),
                    yes_no(account.is_guest),
                    yes_no(account.deactivated_ts.is_some()),
                    utc(account.created_ts),
                );
            }
        }
        Action::CreateToken {
            token,
            uses,
            expires_in_secs,
        } => {
            let expiry_ts = expires_in_secs
                .map(|secs| hanse_core::clock::now_ms().saturating_add(i64::from(secs) * 1000));
            let token = homeserver
                .create_registration_token(token, uses, expiry_ts)
                .await
                .map_err(failed)?;
            println!("{token}");
        }
        Action::DeleteMedia(mxc) => {
            if !homeserver.delete_media(&mxc).await.map_err(failed)? {
                return Err(format!("no media at {mxc} (or deleted already)"));
            }
            println!("deleted {mxc}");
        }
        Action::DeleteMediaBefore { before_ms } => {
            let deleted = homeserver
                .delete_media_before(before_ms)
                .await
                .map_err(failed)?;
            for mxc in &deleted {
                println!("deleted {mxc}");
            }
            println!(
                "deleted {} media uploaded before {}",
                deleted.len(),
                utc(before_ms)
            );
        }
        Action::ListTokens => {
            let tokens = homeserver
                .store
                .registration_tokens()
                .await
                .map_err(|e| e.to_string())?;
            for token in &tokens {
                println!("{}", token_line(token));
            }
        }
    }
    Ok(())
}

fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

fn token_line(token: &RegistrationTokenRow) -> String {
    let allowed = token
        .uses_allowed
        .map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    let expires = token.expiry_ts.map_or_else(|| "never".to_owned(), utc);
    format!(
        "{} used={} allowed={allowed} expires={expires}",
        token.token, token.completed
    )
}

/// A password from the file given, or from standard input: asked for at a
/// terminal (twice, without echo), otherwise read whole. One final line
/// break is not part of it.
fn read_password(source: &PasswordSource, prompt: &str) -> Result<String, String> {
    let password = match &source.password_file {
        Some(path) => read_password_file(path)?,
        None if std::io::stdin().is_terminal() => {
            let first = prompt_hidden(&format!("{prompt}: "))?;
            let again = prompt_hidden("Again: ")?;
            if first != again {
                return Err("the passwords differ".into());
            }
            first
        }
        None => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| format!("reading the password from standard input: {e}"))?;
            without_final_line_break(input)
        }
    };
    if password.is_empty() {
        return Err(
            "the password is empty (give it on standard input or with --password-file)".into(),
        );
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "the password is longer than {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    Ok(password)
}

fn read_password_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(without_final_line_break)
        .map_err(|e| format!("reading the password file {}: {e}", path.display()))
}

fn without_final_line_break(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// Asks for a line at the terminal without echoing it.
fn prompt_hidden(prompt: &str) -> Result<String, String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    let failed = |e: nix::Error| format!("switching off the terminal's echo: {e}");
    let original = tcgetattr(&stdin).map_err(failed)?;
    let mut silent = original.clone();
    silent.local_flags.remove(LocalFlags::ECHO);
    silent.local_flags.insert(LocalFlags::ECHONL);
    tcsetattr(&stdin, SetArg::TCSANOW, &silent).map_err(failed)?;
    eprint!("{prompt}");
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    tcsetattr(&stdin, SetArg::TCSANOW, &original).map_err(failed)?;
    read.map_err(|e| format!("reading the password: {e}"))?;
    Ok(without_final_line_break(line))
}

/// A time given on the command line, as milliseconds since the epoch:
/// `YYYY-MM-DD` (midnight UTC), `YYYY-MM-DDTHH:MM:SSZ`, or milliseconds.
fn parse_time(text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let bad =
        || format!("{text:?} is not a time: give YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or milliseconds");
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time.strip_suffix('Z').ok_or_else(bad)?)),
        None => (text, None),
    };
    let number = |part: &str| part.parse::<i64>().map_err(|_| bad());
    let date: Vec<&str> = date.split('-').collect();
    let [year, month, day] = date[..] else {
        return Err(bad());
    };
    let (year, month, day) = (number(year)?, number(month)?, number(day)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let second_of_day = match time {
        Some(time) => {
            let time: Vec<&str> = time.split(':').collect();
            let [h, m, s] = time[..] else {
                return Err(bad());
            };
            let (h, m, s) = (number(h)?, number(m)?, number(s)?);
            if h > 23 || m > 59 || s > 60 {
                return Err(bad());
            }
            h * 3600 + m * 60 + s
        }
        None => 0,
    };
    // Civil date to days since 1970-01-01 (H. Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Ok((days * 86_400 + second_of_day) * 1000)
}

/// Milliseconds since the epoch as an RFC 3339 UTC time, to the second.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, second_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_784_030_592_999), "2026-07-14T12:03:12Z");
        assert_eq!(utc(4_107_542_399_000), "2100-02-28T23:59:59Z");
        assert_eq!(utc(-1000), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn times_parse_as_utc() {
        for (text, ms) in [
            ("2000-02-29", 951_782_400_000),
            ("2026-07-14T12:03:12Z", 1_784_030_592_000),
            ("1970-01-01", 0),
            ("1784030592999", 1_784_030_592_999),
        ] {
            assert_eq!(parse_time(text), Ok(ms), "{text}");
        }
        for bad in ["2026-13-01", "yesterday", "2026-01-01T10:00", "2026-01"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_final_line_break_is_dropped() {
        for (input, password) in [
            ("pw\n", "pw"),
            ("pw\r\n", "pw"),
            ("pw", "pw"),
            ("pw\n\n", "pw\n"),
            (" pw \n", " pw "),
        ] {
            assert_eq!(without_final_line_break(input.into()), password);
        }
    }

    #[test]
    fn bad_user_names_are_refused_before_the_database() {
        let server = ServerName::parse("hanse.test").expect("server name");
        let create = |user: &str| {
            AdminCommand::User(UserCommand::Create {
                user: user.into(),
                admin: false,
                password: PasswordSource {
                    password_file: Some("/nonexistent/password".into()),
                },
            })
        };
        for bad in ["_bridge", "al ice", "12345", "@bob:other.test", "@:x"] {
            let error = prepare(&server, create(bad))
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(!error.contains("password"), "{bad}: {error}");
        }
        let missing = prepare(&server, create("alice"))
            .err()
            .expect("no password file");
        assert!(missing.contains("/nonexistent/password"), "{missing}");
    }
}
