//! A private PostgreSQL cluster kept inside hanse's data directory.
//!
//! When no `database.url` is configured, hanse runs its own cluster: initdb on
//! first start, then `postgres` as a child process listening only on a Unix
//! socket in the data directory. The child is tied to the thread that spawned
//! it (parent-death signal), so a crashed hanse never leaves a server behind.
//! The same code gives the test suite its shared cluster.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, Uid, User};

/// The role initdb creates; hanse connects as it over the socket (trust auth:
/// only the socket's owner can reach the socket directory).
pub const SUPERUSER: &str = "hanse";

/// How long to wait for the cluster to accept connections or to shut down.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest Unix socket path the kernel accepts (sun_path minus the NUL).
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no PostgreSQL server binaries found (looked on PATH, in `pg_config --bindir` and in \
         /usr/lib/postgresql/*/bin). Install PostgreSQL (Debian/Ubuntu: `apt-get install \
         postgresql`; Fedora: `dnf install postgresql-server`), or set database.url to an \
         existing server"
    )]
    BinariesNotFound,
    #[error(
        "hanse runs as root, and PostgreSQL refuses to run as root; it runs the managed cluster \
         as the system user `postgres`, which does not exist. Create it, run hanse as an \
         unprivileged user, or set database.url"
    )]
    NoUnprivilegedUser,
    #[error(
        "the managed cluster runs as user `{user}`, which cannot reach {path}: choose a data \
         directory whose parent directories it may traverse, or run hanse as an unprivileged user"
    )]
    Unreachable { user: String, path: PathBuf },
    #[error(
        "the socket path {0} is longer than the {MAX_SOCKET_PATH} bytes a Unix socket allows: \
         choose a shorter data directory"
    )]
    SocketPathTooLong(PathBuf),
    #[error(
        "a PostgreSQL server (pid {pid}) is already running on {data}. If an admin command \
         (`hanse user ...`) runs, try again when it is done; otherwise stop that server \
         (`pg_ctl -D {data} stop -m fast`) before starting hanse"
    )]
    AlreadyRunning { pid: i32, data: PathBuf },
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("PostgreSQL did not become ready within {0:?}; its log ({1}) ends with:\n{2}")]
    StartTimeout(Duration, PathBuf, String),
    #[error("PostgreSQL exited during start-up ({status}); its log ({log}) ends with:\n{tail}")]
    ExitedEarly {
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// Settings of a managed cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Keep fsync and full-page writes on. Only the test suite turns this off:
    /// its databases are thrown away, and crash safety costs it time.
    pub durable: bool,
    pub max_connections: u32,
}

impl ClusterOptions {
    pub fn production() -> Self {
        Self {
            durable: true,
            max_connections: 100,
        }
    }

    pub fn for_tests() -> Self {
        Self {
            durable: false,
            max_connections: 300,
        }
    }
}

/// A running managed cluster. Stopped by [`ManagedCluster::stop`] or on drop.
#[derive(Debug)]
pub struct ManagedCluster {
    data: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
    /// The postgres this handle started; `None` when it uses one another
    /// process runs ([`ManagedCluster::attach_or_start`]).
    child: Option<Child>,
}

/// Where the PostgreSQL binaries are and as whom to run them.
#[derive(Debug)]
struct Runtime {
    bindir: PathBuf,
    run_as: Option<User>,
}

impl ManagedCluster {
    /// Starts (and on first use creates) the cluster under `root`.
    ///
    /// Blocking; call it from a thread that lives as long as the cluster
    /// should, normally the main thread: the server exits when that thread
    /// does.
    pub fn start(root: &Path, options: &ClusterOptions) -> Result<Self, ClusterError> {
        let runtime = Runtime::find(&BinarySearch::system())?;
        fs::create_dir_all(root).map_err(io_err(format!("creating {}", root.display())))?;
        let root = root
            .canonicalize()
            .map_err(io_err(format!("resolving {}", root.display())))?;
        let data = root.join("data");
        let socket_dir = root.join("run");
        let log = root.join("postgres.log");
        let socket = socket_dir.join(".s.PGSQL.5432");
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(ClusterError::SocketPathTooLong(socket));
        }
        for dir in [&root, &socket_dir] {
            fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(io_err(format!("restricting {}", dir.display())))?;
        }
        if let Some(user) = &runtime.run_as {
            check_reachable(&root, user)?;
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .map_err(io_err(format!("creating {}", log.display())))?;
            chown_tree(&root, user)?;
        }

        if !data.join("PG_VERSION").exists() {
            tracing::info!(data = %data.display(), "creating the managed PostgreSQL cluster");
            runtime.initdb(&data)?;
        }
        clear_stale_pid_file(&data)?;

        let log_file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io_err(format!("opening {}", log.display())))?;
        let log_err = log_file
            .try_clone()
            .map_err(io_err(format!("opening {}", log.display())))?;
        let mut command = runtime.command("postgres");
        command
            .arg("-D")
            .arg(&data)
            .arg("-c")
            .arg("listen_addresses=")
            .arg("-c")
            .arg(format!("unix_socket_directories={}", socket_dir.display()))
            .arg("-c")
            .arg("unix_socket_permissions=0700")
            .arg("-c")
            .arg(format!("max_connections={}", options.max_connections));
        if !options.durable {
            for setting in [
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
            ] {
                command.arg("-c").arg(setting);
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            // Its own process group: a Ctrl-C at the terminal reaches hanse,
            // which drains its requests before stopping the database.
            .process_group(0);
        die_with_parent(&mut command);
        let child = command
            .spawn()
            .map_err(io_err("starting the managed PostgreSQL"))?;
        tracing::info!(pid = child.id(), socket = %socket_dir.display(), "managed PostgreSQL starting");

        let mut cluster = Self {
            data,
            socket_dir,
            log,
            child: Some(child),
        };
        cluster.wait_ready()?;
        tracing::info!("managed PostgreSQL ready");
        Ok(cluster)
    }

    /// The cluster under `root` for a short command such as the admin CLI:
    /// the one running now if hanse (or anyone) runs it, otherwise started
    /// for the command like [`ManagedCluster::start`] does.
    ///
    /// A cluster that is still starting or stopping is waited for. Stopping
    /// or dropping the handle stops the cluster only if this call started
    /// it.
    pub fn attach_or_start(root: &Path, options: &ClusterOptions) -> Result<Self, ClusterError> {
        let started = Instant::now();
        loop {
            let Ok(root) = root.canonicalize() else {
                return Self::start(root, options);
            };
            let data = root.join("data");
            let Some(postmaster) = live_postmaster(&data) else {
                return Self::start(&root, options);
            };
            if postmaster.status == "ready" {
                tracing::info!(pid = postmaster.pid, "using the running managed PostgreSQL");
                return Ok(Self {
                    data,
                    socket_dir: root.join("run"),
                    log: root.join("postgres.log"),
                    child: None,
                });
            }
            if started.elapsed() > START_TIMEOUT {
                let log = root.join("postgres.log");
                let tail = log_tail(&log);
                return Err(ClusterError::StartTimeout(START_TIMEOUT, log, tail));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The directory holding the cluster's Unix socket: the `host` to
    /// connect to.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Connection settings for `dbname` on this cluster.
    pub fn connect_config(&self, dbname: &str) -> tokio_postgres::Config {
        socket_config(&self.socket_dir, dbname)
    }

    fn wait_ready(&mut self) -> Result<(), ClusterError> {
        let started = Instant::now();
        let pid_file = self.data.join("postmaster.pid");
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(ClusterError::ExitedEarly {
                        status: status.to_string(),
                        log: self.log.clone(),
                        tail: log_tail(&self.log),
                    });
                }
            }
            // Line 8 of postmaster.pid holds the postmaster's status once it
            // has one; "ready" means it accepts connections.
            if let Ok(contents) = fs::read_to_string(&pid_file) {
                if contents.lines().nth(7).map(str::trim) == Some("ready") {
                    return Ok(());
                }
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(ClusterError::StartTimeout(
                    START_TIMEOUT,
                    self.log.clone(),
                    log_tail(&self.log),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fast shutdown: open transactions roll back, the cluster checkpoints
    /// and exits. Waits for it.
    pub fn stop(mut self) -> Result<(), ClusterError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), ClusterError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGINT);
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(_)) => {
                    tracing::info!("managed PostgreSQL stopped");
                    return Ok(());
                }
                Ok(None) if started.elapsed() < STOP_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    tracing::warn!("managed PostgreSQL did not stop in time; sending SIGQUIT");
                    let _ = kill(pid, Signal::SIGQUIT);
                    let _ = child.wait();
                    return Ok(());
                }
                Err(source) => {
                    return Err(ClusterError::Io {
                        context: "waiting for the managed PostgreSQL to stop".into(),
                        source,
                    })
                }
            }
        }
    }
}

impl Drop for ManagedCluster {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            tracing::error!(%error, "stopping the managed PostgreSQL");
        }
    }
}

/// Connection settings for `dbname` over the Unix socket in `socket_dir`.
pub fn socket_config(socket_dir: &Path, dbname: &str) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(socket_dir)
        .user(SUPERUSER)
        .dbname(dbname)
        .application_name("hanse");
    config
}

impl Runtime {
    fn find(search: &BinarySearch) -> Result<Self, ClusterError> {
        let bindir = search.find().ok_or(ClusterError::BinariesNotFound)?;
        let run_as = if Uid::effective().is_root() {
            Some(
                User::from_name("postgres")
                    .ok()
                    .flatten()
                    .ok_or(ClusterError::NoUnprivilegedUser)?,
            )
        } else {
            None
        };
        Ok(Self { bindir, run_as })
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bindir.join(program));
        if let Some(user) = &self.run_as {
            command.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            command.env("HOME", &user.dir);
        }
        command
    }

    fn initdb(&self, data: &Path) -> Result<(), ClusterError> {
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(data)
            .arg(format!("--username={SUPERUSER}"))
            .args(["--auth=trust", "--encoding=UTF8", "--no-locale"])
            .stdin(Stdio::null())
            .output()
            .map_err(io_err("running initdb"))?;
        if !output.status.success() {
            return Err(ClusterError::Command {
                what: format!("initdb -D {}", data.display()),
                detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(())
    }
}

/// Where to look for the PostgreSQL server binaries.
#[derive(Debug, Clone)]
struct BinarySearch {
    /// The PATH to search.
    path: Option<std::ffi::OsString>,
    /// The `pg_config` program to ask for its `--bindir`.
    pg_config: PathBuf,
    /// A Debian-style directory of versioned installations (`<root>/15/bin`).
    versioned_root: PathBuf,
}

impl BinarySearch {
    fn system() -> Self {
        Self {
            path: std::env::var_os("PATH"),
            pg_config: PathBuf::from("pg_config"),
            versioned_root: PathBuf::from("/usr/lib/postgresql"),
        }
    }

    /// The directory holding `initdb` and `postgres`: on PATH, then where
    /// `pg_config` says, then the newest versioned installation.
    fn find(&self) -> Option<PathBuf> {
        let has_server =
            |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
        for dir in self.path.iter().flat_map(std::env::split_paths) {
            // PATH often holds a symlink to initdb in a versioned directory;
            // postgres itself then lives beside the link's target.
            if let Ok(target) = dir.join("initdb").canonicalize() {
                if let Some(real_dir) = target.parent() {
                    if has_server(real_dir) {
                        return Some(real_dir.to_path_buf());
                    }
                }
            }
        }
        if let Ok(output) = Command::new(&self.pg_config).arg("--bindir").output() {
            let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            if output.status.success() && has_server(&dir) {
                return Some(dir);
            }
        }
        let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir(&self.versioned_root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let version = entry.file_name().to_str()?.parse().ok()?;
                let dir = entry.path().join("bin");
                has_server(&dir).then_some((version, dir))
            })
            .collect();
        versioned.sort();
        versioned.pop().map(|(_, dir)| dir)
    }
}

/// A PostgreSQL server running on a data directory, as its postmaster.pid
/// tells.
#[derive(Debug)]
struct Postmaster {
    pid: i32,
    /// Line 8 of postmaster.pid: `starting`, `ready`, `stopping` or
    /// `standby` (`starting` while the line is not written yet).
    status: String,
}

/// The PostgreSQL server running on `data`, if any: postmaster.pid names a
/// live process that is a PostgreSQL (not a pid reused since a crash).
fn live_postmaster(data: &Path) -> Option<Postmaster> {
    let contents = fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let mut lines = contents.lines();
    let pid: i32 = lines.next()?.trim().parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if !String::from_utf8_lossy(&cmdline).contains("postgres") {
        return None;
    }
    let status = lines.nth(6).map(str::trim).filter(|s| !s.is_empty());
    Some(Postmaster {
        pid,
        status: status.unwrap_or("starting").to_owned(),
    })
}

/// Removes a postmaster.pid left by a cluster that is no longer running
/// (a power cut, a killed process whose pid was reused). A live postgres on
/// the same directory is an error: two servers must never share it.
fn clear_stale_pid_file(data: &Path) -> Result<(), ClusterError> {
    let pid_file = data.join("postmaster.pid");
    if !pid_file.exists() {
        return Ok(());
    }
    if let Some(postmaster) = live_postmaster(data) {
        return Err(ClusterError::AlreadyRunning {
            pid: postmaster.pid,
            data: data.to_path_buf(),
        });
    }
    tracing::warn!(file = %pid_file.display(), "removing a stale PostgreSQL pid file from an unclean stop");
    fs::remove_file(&pid_file).map_err(io_err(format!("removing {}", pid_file.display())))
}

/// Asks the kernel to stop the child when the spawning thread ends, so the
/// cluster never outlives hanse, however hanse ends.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only makes the
    // async-signal-safe prctl system call.
    unsafe {
        command
            .pre_exec(|| nix::sys::prctl::set_pdeathsig(Signal::SIGINT).map_err(io::Error::from));
    }
}

/// Checks that `user` may traverse every directory above `path`.
fn check_reachable(path: &Path, user: &User) -> Result<(), ClusterError> {
    for dir in path.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(dir) else {
            continue;
        };
        let mode = meta.mode();
        let allowed = if meta.uid() == user.uid.as_raw() {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !allowed {
            return Err(ClusterError::Unreachable {
                user: user.name.clone(),
                path: dir.to_path_buf(),
            });
        }
    }
    Ok(())
}

fn chown_tree(path: &Path, user: &User) -> Result<(), ClusterError> {
    let owner = (Some(user.uid), Some(user.gid));
    let chown = |p: &Path| {
        nix::unistd::chown(p, owner.0, owner.1).map_err(|e| ClusterError::Io {
            context: format!("handing {} to user {}", p.display(), user.name),
            source: e.into(),
        })
    };
    chown(path)?;
    // Only the top level: initdb creates everything below data/ as that user.
    for entry in fs::read_dir(path).map_err(io_err(format!("listing {}", path.display())))? {
        let entry = entry.map_err(io_err(format!("listing {}", path.display())))?;
        let meta = entry
            .metadata()
            .map_err(io_err(format!("reading {}", entry.path().display())))?;
        if meta.uid() != user.uid.as_raw() {
            chown(&entry.path())?;
        }
    }
    Ok(())
}

/// The last few lines of the cluster's log, for error messages.
fn log_tail(log: &Path) -> String {
    const TAIL_BYTES: u64 = 2000;
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(log) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)));
        let _ = file.read_to_string(&mut text);
    }
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_install(dir: &Path) {
        fs::create_dir_all(dir).expect("mkdir");
        for program in ["initdb", "postgres"] {
            fs::write(dir.join(program), "").expect("write");
        }
    }

    #[test]
    fn binaries_are_found_in_each_place_in_order() {
        let root = tempfile::tempdir().expect("tempdir");
        let versioned = root.path().join("lib");
        fake_install(&versioned.join("13/bin"));
        fake_install(&versioned.join("16/bin"));
        fs::create_dir_all(versioned.join("notaversion/bin")).expect("mkdir");
        let mut search = BinarySearch {
            path: None,
            pg_config: root.path().join("no-pg_config"),
            versioned_root: versioned.clone(),
        };
        assert_eq!(
            search.find(),
            Some(versioned.join("16/bin")),
            "newest version wins"
        );

        let on_path = root.path().join("path-bin");
        fake_install(&on_path);
        search.path =
            Some(std::env::join_paths([root.path().join("empty"), on_path.clone()]).expect("join"));
        assert_eq!(
            search.find(),
            Some(on_path.canonicalize().expect("canonical"))
        );
    }

    #[test]
    fn missing_binaries_say_what_to_install() {
        let root = tempfile::tempdir().expect("tempdir");
        let search = BinarySearch {
            path: Some(root.path().as_os_str().to_owned()),
            pg_config: root.path().join("no-pg_config"),
            versioned_root: root.path().join("none"),
        };
        assert_eq!(search.find(), None);
        let error = Runtime::find(&search).expect_err("nothing to find");
        let message = error.to_string();
        assert!(message.contains("apt-get install postgresql"), "{message}");
        assert!(message.contains("database.url"), "{message}");
    }
}
