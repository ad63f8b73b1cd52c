//! The `hanse` binary as an operator runs it: one command, its own
//! PostgreSQL, a kept signing key, clean stops and restarts after crashes.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{ExternalDatabase, HanseProcess};
use hanse_core::remote::{Remote, RemoteRequest};
use hanse_core::ServerIdentity;
use hanse_federation::{ClientSettings, FederationClient};
use hanse_protocol::canonical_json::object_from_json;
use hanse_protocol::identifiers::{KeyId, ServerName};
use hanse_protocol::signing::{verify_json, verifying_key_from_base64, ServerSigningKey};
use nix::sys::signal::Signal;
use serde_json::Value;

/// The server key document, with its signature checked. Returns the key ID
/// and public key.
async fn verified_key(
    http: &reqwest::Client,
    base_url: &str,
    server_name: &str,
) -> (String, String) {
    let document: Value = http
        .get(format!("{base_url}/_matrix/key/v2/server"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let (key_id, key) = document["verify_keys"]
        .as_object()
        .expect("verify_keys")
        .iter()
        .next()
        .expect("a key");
    let public = key["key"].as_str().expect("key").to_owned();
    let id: KeyId = key_id.parse().expect("key id");
    let object = object_from_json(document.clone()).expect("canonical");
    verify_json(
        server_name,
        &id,
        &verifying_key_from_base64(&public).expect("public key"),
        &object,
    )
    .expect("the key document verifies with its own key");
    (key_id.clone(), public)
}

fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    fs::read_to_string(data_dir.join("postgres/data/postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// State letter and parent pid of a process, from /proc.
fn stat(pid: &str) -> Option<(char, i32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it do not.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid`, or any process whose parent it is, still runs.
fn process_tree_alive(pid: i32) -> bool {
    let running = |p: &str| stat(p).filter(|(state, _)| *state != 'Z');
    running(&pid.to_string()).is_some()
        || fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .any(|entry| {
                let name = entry.file_name();
                running(&name.to_string_lossy()).map(|(_, ppid)| ppid) == Some(pid)
            })
}

async fn wait_gone(pid: i32) {
    let started = Instant::now();
    while process_tree_alive(pid) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "postgres {pid} is still running"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_command_runs_keeps_its_key_and_stops_its_postgres() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");

    let hanse = HanseProcess::start(&data, &[], &[]).await;
    let first_key = verified_key(
        &reqwest::Client::new(),
        &federation_url(&hanse),
        "hanse.test",
    )
    .await;
    let postgres = postmaster_pid(&data).expect("the managed cluster runs");
    assert!(
        data.join("postgres/run/.s.PGSQL.5432").exists(),
        "listens on a socket in the data dir"
    );
    let conf = fs::read_to_string(data.join("postgres/postgres.log")).unwrap_or_default();
    assert!(!conf.contains("listening on IPv4"), "no TCP port: {conf}");

    hanse.signal(Signal::SIGTERM);
    assert!(hanse.wait().success(), "a clean stop exits 0");
    wait_gone(postgres).await;

    let hanse = HanseProcess::start(&data, &[], &[]).await;
    assert_eq!(
        verified_key(
            &reqwest::Client::new(),
            &federation_url(&hanse),
            "hanse.test"
        )
        .await,
        first_key,
        "a restart serves the same key"
    );
    let postgres = postmaster_pid(&data).expect("the managed cluster runs");
    hanse.signal(Signal::SIGINT);
    assert!(hanse.wait().success(), "Ctrl-C stops cleanly too");
    wait_gone(postgres).await;
}

fn federation_url(hanse: &HanseProcess) -> String {
    format!("http://127.0.0.1:{}", hanse.federation_port)
}

#[tokio::test]
async fn a_crash_leaves_no_postgres_and_a_stale_pid_file_does_not_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");

    let hanse = HanseProcess::start(&data, &[], &[]).await;
    let key = verified_key(
        &reqwest::Client::new(),
        &federation_url(&hanse),
        "hanse.test",
    )
    .await;
    let postgres = postmaster_pid(&data).expect("running");
    // hanse dies without cleaning up; its PostgreSQL follows it.
    hanse.signal(Signal::SIGKILL);
    assert!(!hanse.wait().success());
    wait_gone(postgres).await;

    // A power cut leaves postmaster.pid behind, naming a pid that by now
    // belongs to some other process.
    let mut other = Command::new("sleep").arg("60").spawn().expect("sleep");
    let pid_file = data.join("postgres/data/postmaster.pid");
    fs::write(
        &pid_file,
        format!("{}\n{}\n", other.id(), data.join("postgres/data").display()),
    )
    .expect("write");
    let hanse = HanseProcess::start(&data, &[], &[]).await;
    assert_eq!(
        verified_key(
            &reqwest::Client::new(),
            &federation_url(&hanse),
            "hanse.test"
        )
        .await,
        key
    );
    let postgres = postmaster_pid(&data).expect("running");
    assert_ne!(postgres, other.id() as i32);
    hanse.signal(Signal::SIGTERM);
    assert!(hanse.wait().success());
    wait_gone(postgres).await;
    other.kill().expect("stop sleep");
    other.wait().expect("reap sleep");
}

/// A self-signed certificate for `localhost`, in PEM files under `dir`.
fn test_certificate(dir: &Path) -> (PathBuf, PathBuf, reqwest::Certificate) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    fs::write(&cert, certified.cert.pem()).expect("write cert");
    fs::write(&key, certified.key_pair.serialize_pem()).expect("write key");
    let trusted = reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).expect("pem");
    (cert, key, trusted)
}

#[tokio::test]
async fn an_external_database_and_tls_on_the_federation_listener() {
    let database = ExternalDatabase::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (cert, key, trusted) = test_certificate(dir.path());

    // The database by flag, TLS by environment variables.
    let hanse = HanseProcess::start(
        &data,
        &["--database-url", &database.url],
        &[
            ("HANSE_TLS_CERT", cert.display().to_string()),
            ("HANSE_TLS_KEY", key.display().to_string()),
        ],
    )
    .await;
    assert!(
        !data.join("postgres").exists(),
        "no managed cluster when database.url is set"
    );

    let https = reqwest::Client::builder()
        .add_root_certificate(trusted)
        .tls_built_in_root_certs(false)
        .build()
        .expect("client");
    let version: Value = https
        .get(format!(
            "https://localhost:{}/_matrix/federation/v1/version",
            hanse.federation_port
        ))
        .send()
        .await
        .expect("TLS request")
        .json()
        .await
        .expect("json");
    assert_eq!(version["server"]["name"], "Hanse");
    assert!(
        reqwest::get(format!(
            "http://127.0.0.1:{}/_matrix/federation/v1/version",
            hanse.federation_port
        ))
        .await
        .is_err(),
        "plain HTTP is not served on a TLS listener"
    );

    // Hanse's own federation client reaches it, trusting its certificate
    // through federation.ca_file.
    let federation = FederationClient::new(
        Arc::new(ServerIdentity {
            server_name: ServerName::parse("origin.test").expect("name"),
            signing_key: ServerSigningKey::generate(),
        }),
        &ClientSettings {
            ca_file: Some(cert.clone()),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
            dns_overrides: HashMap::new(),
        },
    )
    .expect("federation client");
    let destination =
        ServerName::parse(&format!("localhost:{}", hanse.federation_port)).expect("name");
    let version = federation
        .request(
            &destination,
            RemoteRequest::get("/_matrix/federation/v1/version"),
        )
        .await
        .expect("a signed request over TLS");
    assert_eq!(version["server"]["name"], "Hanse");

    // The key went into the configured database.
    let client = database.connect().await;
    let base = format!("https://localhost:{}", hanse.federation_port);
    let (key_id, _) = verified_key(&https, &base, "hanse.test").await;
    let stored: String = client
        .query_one(
            "SELECT key_id FROM local_server_keys WHERE retired_ts IS NULL",
            &[],
        )
        .await
        .expect("query")
        .get(0);
    assert_eq!(stored, key_id);
    hanse.signal(Signal::SIGTERM);
    assert!(hanse.wait().success());
}

#[test]
fn generate_config_prints_the_documented_defaults() {
    let output = Command::new(env!("CARGO_BIN_EXE_hanse"))
        .arg("generate-config")
        .output()
        .expect("run");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        hanse_server::config::DEFAULT_CONFIG
    );
}

#[test]
fn a_bad_configuration_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("hanse.toml");
    fs::write(&config, "server_nam = \"typo.example\"\n").expect("write");
    let data = dir.path().join("data");
    let output = Command::new(env!("CARGO_BIN_EXE_hanse"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server_nam"), "{stderr}");
    assert!(!data.exists(), "nothing was created");
}
