//! Running the matrix-js-sdk interop scripts in interop/js-sdk/: checking
//! Node.js and npm, installing the pinned package once (`npm ci`), and
//! running a script against a server.
//!
//! The first run installs the package with `npm ci` (network: the npm
//! registry); later runs reuse interop/js-sdk/node_modules until
//! package-lock.json changes. The scripts talk to the loopback server only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

/// The oldest Node.js the pinned matrix-js-sdk supports (its `engines`).
const NODE_MAJOR: u32 = 20;
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// Written into node_modules after a successful `npm ci`: the SHA-256 of
/// the package-lock.json it installed.
const STAMP: &str = ".hanse-package-lock.sha256";

/// Progress goes straight to stderr, not through the test harness's
/// capture, so it stands in order with the output of npm and node (which
/// inherit the terminal).
pub fn progress(line: &str) {
    let _ = writeln!(std::io::stderr(), "js-sdk: {line}");
}

/// interop/js-sdk/, where the scripts and their node_modules are.
pub fn project_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/js-sdk");
    dir.canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// Output of `program --version`, or a panic naming what to install.
async fn version_of(program: &str) -> String {
    let missing = |why: String| -> ! {
        panic!(
            "the matrix-js-sdk interop test needs Node.js {NODE_MAJOR} or newer and npm \
             ({program}: {why}); install them (Debian/Ubuntu: apt-get install nodejs npm, \
             but Debian 12's own nodejs is 18: take NodeSource's) and run the tests again"
        )
    };
    let output = Command::new(program)
        .arg("--version")
        .output()
        .await
        .unwrap_or_else(|e| missing(format!("cannot run it: {e}")));
    if !output.status.success() {
        missing(format!("`{program} --version` failed: {}", output.status));
    }
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Checks node and npm, then runs `npm ci` unless node_modules holds what
/// package-lock.json pins. Once per test binary: tests running at the
/// same time wait for the first one's check.
pub async fn ensure_installed() {
    static INSTALLED: OnceCell<()> = OnceCell::const_new();
    INSTALLED.get_or_init(|| install(project_dir())).await;
}

async fn install(dir: PathBuf) {
    let node = version_of("node").await;
    let major: u32 = node
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or_else(|| panic!("unexpected `node --version` output {node:?}"));
    assert!(
        major >= NODE_MAJOR,
        "the matrix-js-sdk interop test needs Node.js {NODE_MAJOR} or newer, this machine has \
         {node}; install a newer nodejs (Debian 12's own package is 18: take NodeSource's)"
    );
    let npm = version_of("npm").await;

    let lock = std::fs::read(dir.join("package-lock.json")).expect("reading package-lock.json");
    let digest = format!("{:x}", Sha256::digest(&lock));
    let stamp = dir.join("node_modules").join(STAMP);
    if std::fs::read_to_string(&stamp).is_ok_and(|installed| installed.trim() == digest) {
        progress(&format!(
            "node {node}, npm {npm}; node_modules matches package-lock.json"
        ));
        return;
    }
    progress(&format!(
        "node {node}, npm {npm}; node_modules is missing or older than package-lock.json: \
         running `npm ci` in {}",
        dir.display()
    ));
    let started = Instant::now();
    let mut install = Command::new("npm");
    install
        .args(["ci", "--no-audit", "--no-fund", "--prefer-offline"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let status = tokio::time::timeout(INSTALL_TIMEOUT, install.status())
        .await
        .unwrap_or_else(|_| panic!("`npm ci` took longer than {INSTALL_TIMEOUT:?}"))
        .expect("running npm ci");
    assert!(
        status.success(),
        "`npm ci` in {} failed ({status}); it needs the npm registry",
        dir.display()
    );
    std::fs::write(&stamp, &digest).expect("writing the install stamp");
    progress(&format!("npm ci took {:.1?}", started.elapsed()));
}

/// Runs `node <script> <args...>` in interop/js-sdk/ (installing the
/// package first if needed), its output on the terminal; panics if it
/// fails or takes longer than `timeout`.
pub async fn run_script(script: &str, args: &[&str], timeout: Duration) {
    let started = Instant::now();
    let mut node = spawn_script(script, args).await;
    let status = tokio::time::timeout(timeout, node.wait())
        .await
        .unwrap_or_else(|_| panic!("{script} took longer than {timeout:?}"))
        .expect("waiting for node");
    progress(&format!("{script} took {:.1?}", started.elapsed()));
    assert_succeeded(script, status);
}

/// Starts `node <script> <args...>` in interop/js-sdk/ (installing the
/// package first if needed), its output on the terminal. Dropping the
/// child kills it.
pub async fn spawn_script(script: &str, args: &[&str]) -> Child {
    ensure_installed().await;
    progress(&format!("running {script} {}", args.join(" ")));
    Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(project_dir())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("running node")
}

/// Panics unless the script's exit `status` is success.
pub fn assert_succeeded(script: &str, status: ExitStatus) {
    assert!(
        status.success(),
        "interop/js-sdk/{script} failed ({status}); its output above says which check"
    );
}
