//! The admin CLI as an operator runs it: the real `hanse` binary on a data
//! directory whose server is stopped or running, its effects checked over
//! HTTP.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::process::{hanse_command, ExternalDatabase, HanseProcess};
use hanse_sdk::Client;

/// What an admin command printed, and whether it succeeded.
struct Outcome {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn ok(self, what: &str) -> String {
        assert!(self.success, "{what} failed; stderr:\n{}", self.stderr);
        self.stdout
    }

    /// The command failed with a message on stderr containing `expected`.
    fn fails_with(self, what: &str, expected: &str) {
        assert!(!self.success, "{what} succeeded: {}", self.stdout);
        assert!(
            self.stderr.contains(expected),
            "{what}: stderr lacks {expected:?}:\n{}",
            self.stderr
        );
    }
}

/// Runs `hanse <args>` on `data_dir` with `stdin` as standard input.
fn admin(data_dir: &Path, args: &[&str], stdin: &str) -> Outcome {
    admin_with(hanse_command(data_dir), args, stdin)
}

fn admin_with(mut command: Command, args: &[&str], stdin: &str) -> Outcome {
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning hanse");
    let mut input = child.stdin.take().expect("stdin");
    // A command that reads no input may exit before it is written.
    if let Err(error) = input.write_all(stdin.as_bytes()) {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {error}"
        );
    }
    drop(input);
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("running hanse");
    Outcome {
        success: status.success(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Starts a `hanse` server with token registration on `data_dir`.
async fn start_server(data_dir: &Path) -> HanseProcess {
    HanseProcess::start(data_dir, &[], &[("HANSE_REGISTRATION", "token".to_owned())]).await
}

/// The pid of the PostgreSQL running on the data directory's managed
/// cluster, if one runs.
fn managed_postgres(data_dir: &Path) -> Option<i32> {
    let pid_file = fs::read_to_string(data_dir.join("postgres/data/postmaster.pid")).ok()?;
    let pid: i32 = pid_file.lines().next()?.trim().parse().ok()?;
    Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
}

/// The Matrix error of a failed request: (status, errcode).
fn matrix_error<T: std::fmt::Debug>(result: Result<T, hanse_sdk::Error>) -> (u16, String) {
    match result {
        Err(hanse_sdk::Error::Matrix { status, body }) => (status, body.errcode),
        other => panic!("expected a Matrix error, got {other:?}"),
    }
}

#[tokio::test]
async fn accounts_are_managed_with_the_server_stopped_and_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");

    // Server stopped: the command starts the managed cluster, creates the
    // database, and stops the cluster again.
    let created = admin(&data, &["user", "create", "alice", "--admin"], "first pw\n")
        .ok("creating alice offline");
    assert!(created.contains("@alice:hanse.test"), "{created}");
    assert_eq!(
        managed_postgres(&data),
        None,
        "the command stopped its cluster"
    );
    admin(&data, &["user", "create", "Alice"], "x\n").fails_with("a taken name", "taken");
    admin(&data, &["user", "create", "_bridge"], "x\n").fails_with("a reserved name", "reserved");
    admin(&data, &["user", "reset-password", "nobody"], "x\n")
        .fails_with("resetting an unknown user", "@nobody:hanse.test");
    admin(&data, &["user", "create", "bob"], "")
        .fails_with("an empty password", "password is empty");
    assert_eq!(managed_postgres(&data), None);

    let server = start_server(&data).await;
    let client = Client::new(&server.client_url);
    let alice = client
        .login("alice", "first pw")
        .await
        .expect("alice logs in with the password set offline");
    let alice_device = client.with_token(&alice.access_token);
    assert_eq!(
        alice_device.whoami().await.expect("whoami").0,
        "@alice:hanse.test"
    );

    // Server running: the commands use its cluster, which keeps running.
    let server_postgres = managed_postgres(&data).expect("the server's cluster runs");
    let password_file = dir.path().join("bob.password");
    fs::write(&password_file, "bob's pw\n").expect("write");
    let password_file = password_file.display().to_string();
    admin(
        &data,
        &[
            "user",
            "create",
            "@bob:hanse.test",
            "--password-file",
            &password_file,
        ],
        "",
    )
    .ok("creating bob online");
    let bob = client
        .login("bob", "bob's pw")
        .await
        .expect("bob logs in, the final line break not being part of the password");

    admin(&data, &["user", "reset-password", "alice"], "second pw")
        .ok("resetting alice's password");
    assert_eq!(
        matrix_error(alice_device.whoami().await),
        (401, "M_UNKNOWN_TOKEN".to_owned()),
        "the reset logged alice's devices out"
    );
    assert_eq!(
        matrix_error(client.login("alice", "first pw").await),
        (403, "M_FORBIDDEN".to_owned())
    );
    client
        .login("alice", "second pw")
        .await
        .expect("the new password works");

    admin(&data, &["user", "deactivate", "bob"], "").ok("deactivating bob");
    assert_eq!(
        matrix_error(client.with_token(&bob.access_token).whoami().await),
        (401, "M_UNKNOWN_TOKEN".to_owned())
    );
    let (status, _) = matrix_error(client.login("bob", "bob's pw").await);
    assert_eq!(status, 403);

    // Bad input changes nothing.
    admin(&data, &["user", "create", "alice"], "third pw\n")
        .fails_with("an existing user", "taken");
    admin(&data, &["user", "create", "al ice"], "third pw\n").fails_with("a bad name", "al ice");
    admin(
        &data,
        &["user", "create", "@carol:other.test"],
        "third pw\n",
    )
    .fails_with("a remote user", "not a user of this server");
    admin(&data, &["user", "reset-password", "nobody"], "third pw\n")
        .fails_with("an unknown user", "@nobody:hanse.test");
    admin(&data, &["user", "deactivate", "bob"], "")
        .fails_with("deactivating twice", "@bob:hanse.test");
    client
        .login("alice", "second pw")
        .await
        .expect("alice's password is unchanged");

    let list = admin(&data, &["user", "list"], "").ok("listing users");
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines[0].starts_with("@alice:hanse.test admin=yes guest=no deactivated=no created=20"),
        "{list}"
    );
    assert!(
        lines[1].starts_with("@bob:hanse.test admin=no guest=no deactivated=yes created=20"),
        "{list}"
    );

    // Registration tokens.
    let token =
        admin(&data, &["registration-token", "create", "--uses", "1"], "").ok("creating a token");
    let token = token.trim();
    assert_eq!(token.len(), 16, "a generated token: {token:?}");
    client
        .register("carol", "carol's pw", Some(token))
        .await
        .expect("the token lets carol register");
    let (status, _) = matrix_error(client.register("dave", "pw", Some(token)).await);
    assert_eq!(status, 401, "a used-up token is refused");
    let named = admin(
        &data,
        &[
            "registration-token",
            "create",
            "--token",
            "spring-2026",
            "--expires-in",
            "3600",
        ],
        "",
    )
    .ok("creating a named token");
    assert_eq!(named.trim(), "spring-2026");
    admin(
        &data,
        &["registration-token", "create", "--token", "spring-2026"],
        "",
    )
    .fails_with("a duplicate token", "exists already");
    admin(
        &data,
        &["registration-token", "create", "--token", "no spaces"],
        "",
    )
    .fails_with("a malformed token", "A-Za-z0-9");
    admin(&data, &["registration-token", "create", "--uses", "0"], "")
        .fails_with("zero uses", "--uses");
    let tokens = admin(&data, &["registration-token", "list"], "").ok("listing tokens");
    let lines: Vec<&str> = tokens.lines().collect();
    assert_eq!(lines.len(), 2, "{tokens}");
    assert_eq!(
        lines[0],
        format!("{token} used=1 allowed=1 expires=never"),
        "{tokens}"
    );
    assert!(
        lines[1].starts_with("spring-2026 used=0 allowed=unlimited expires=20"),
        "{tokens}"
    );
    client
        .register("dave", "dave's pw", Some("spring-2026"))
        .await
        .expect("the named token works");

    assert_eq!(
        managed_postgres(&data),
        Some(server_postgres),
        "the commands left the server's cluster alone"
    );
    client
        .login("carol", "carol's pw")
        .await
        .expect("the server still serves");
    server.stop();

    // Stopped again: the accounts made while it ran are there.
    let list = admin(&data, &["user", "list"], "").ok("listing offline");
    assert_eq!(list.lines().count(), 4, "{list}");
    assert!(list.contains("@dave:hanse.test"), "{list}");
    assert_eq!(managed_postgres(&data), None);
}

#[tokio::test]
async fn with_a_database_url_the_commands_use_that_database() {
    let database = ExternalDatabase::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let with_url = || database.hanse_command(&data);
    admin_with(with_url(), &["user", "create", "erin"], "erin's pw\n").ok("creating erin");
    let list = admin_with(with_url(), &["user", "list"], "").ok("listing");
    assert!(
        list.starts_with("@erin:hanse.test admin=no guest=no deactivated=no"),
        "{list}"
    );
    assert!(!data.join("postgres").exists(), "no managed cluster");

    let client = database.connect().await;
    let count: i64 = client
        .query_one("SELECT count(*) FROM accounts", &[])
        .await
        .expect("query")
        .get(0);
    assert_eq!(count, 1, "erin is in the configured database");
}
