//! The real `hanse` binary as a child process, as an operator runs it, and
//! an external database to point it at.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The server name every `hanse` started here runs as.
pub const SERVER_NAME: &str = "hanse.test";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// `hanse` on `data_dir` as [`SERVER_NAME`], with only the settings a test
/// gives, none from the environment.
pub fn hanse_command(data_dir: &Path) -> Command {
    hanse_command_named(data_dir, SERVER_NAME)
}

/// [`hanse_command`] as `server_name`.
pub fn hanse_command_named(data_dir: &Path, server_name: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hanse"));
    for (key, _) in std::env::vars().filter(|(key, _)| key.starts_with("HANSE_")) {
        command.env_remove(key);
    }
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--server-name", server_name]);
    command
}

/// A `hanse` server process and where it listens. Dropping it kills the
/// process.
pub struct HanseProcess {
    child: Child,
    /// `http://127.0.0.1:<port>` of the client-server API.
    pub client_url: String,
    pub federation_port: u16,
    log: PathBuf,
}

impl HanseProcess {
    /// Starts `hanse` on `data_dir` with both listeners on free loopback
    /// ports, and waits until its client API answers. `extra` adds flags,
    /// `env` environment variables. Its log goes to a file next to
    /// `data_dir`, shown when start-up fails.
    pub async fn start(data_dir: &Path, extra: &[&str], env: &[(&str, String)]) -> Self {
        let ports = (free_port(), free_port());
        Self::start_named(data_dir, SERVER_NAME, ports, extra, env).await
    }

    /// [`HanseProcess::start`] as `server_name`, on the given client and
    /// federation ports.
    pub async fn start_named(
        data_dir: &Path,
        server_name: &str,
        (client_port, federation_port): (u16, u16),
        extra: &[&str],
        env: &[(&str, String)],
    ) -> Self {
        let log = data_dir.with_extension(format!("{client_port}.log"));
        let log_file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = hanse_command_named(data_dir, server_name)
            .args(["--client-listen", &format!("127.0.0.1:{client_port}")])
            .args([
                "--federation-listen",
                &format!("127.0.0.1:{federation_port}"),
            ])
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("HANSE_LOG__FILTER", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawning hanse");
        let mut process = Self {
            child,
            client_url: format!("http://127.0.0.1:{client_port}"),
            federation_port,
            log,
        };
        process.ready().await;
        process
    }

    /// Everything the process has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the client API answers; fails with the log if the
    /// process exits first or does not answer in time.
    async fn ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Ok(response) =
                reqwest::get(format!("{}/_matrix/client/versions", self.client_url)).await
            {
                assert!(
                    response.status().is_success(),
                    "versions answered {}",
                    response.status()
                );
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "hanse exited during start-up ({status}); its log:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < STARTUP_TIMEOUT,
                "hanse did not start; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).expect("signalling hanse");
    }

    /// Waits for the process to exit, and returns how it did.
    pub fn wait(mut self) -> ExitStatus {
        self.exit_status()
    }

    /// SIGTERM, and a clean exit.
    pub fn stop(mut self) {
        self.signal(Signal::SIGTERM);
        let status = self.exit_status();
        assert!(
            status.success(),
            "hanse stopped with {status}; its log:\n{}",
            self.log()
        );
    }

    fn exit_status(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                started.elapsed() < EXIT_TIMEOUT,
                "hanse did not exit; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HanseProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh database on the test run's shared PostgreSQL, for a `hanse`
/// configured with `--database-url` instead of its managed cluster.
pub struct ExternalDatabase {
    /// The URL to configure, through the cluster's Unix socket.
    pub url: String,
    config: tokio_postgres::Config,
}

impl ExternalDatabase {
    pub async fn new() -> Self {
        let (config, database) = hanse_server::testing::fresh_database().await;
        let (socket, _) = hanse_server::testing::shared_cluster();
        let url = format!(
            "postgresql://hanse@localhost/{database}?host={}",
            socket.display()
        );
        Self { url, config }
    }

    /// `hanse` on `data_dir` (see [`hanse_command`]), using this database.
    pub fn hanse_command(&self, data_dir: &Path) -> Command {
        let mut command = hanse_command(data_dir);
        command.args(["--database-url", &self.url]);
        command
    }

    /// A connection of the test's own, to check what `hanse` stored.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, connection) = self
            .config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        client
    }
}
