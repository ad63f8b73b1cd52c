//! Several `hanse` processes federating over TLS on loopback, each with its
//! own name, database and data directory, and a certificate from a test CA
//! made here that they all trust.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hanse_sdk::Client;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use serde_json::{json, Value};

use super::process::{free_port, ExternalDatabase, HanseProcess};
use super::PASSWORD;

/// A private CA and one certificate it issued for `localhost` and
/// 127.0.0.1, which every server of the test uses.
pub struct TestCa {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path) -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Hanse federation test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params");
        let cert = params
            .signed_by(&key, &ca_cert, &ca_key)
            .expect("server certificate");
        let paths = Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        };
        fs::write(&paths.ca, ca_cert.pem()).expect("write CA");
        fs::write(&paths.cert, cert.pem()).expect("write certificate");
        fs::write(&paths.key, key.serialize_pem()).expect("write key");
        paths
    }
}

/// One federating server: `localhost:<federation port>`.
pub struct FederatedServer {
    pub name: String,
    pub database: ExternalDatabase,
    data_dir: PathBuf,
    ports: (u16, u16),
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    process: Option<HanseProcess>,
}

impl FederatedServer {
    /// Starts a server trusting `ca`; `env` adds settings.
    pub async fn start(
        ca: &TestCa,
        dir: &Path,
        label: &str,
        env: Vec<(&'static str, String)>,
    ) -> Self {
        let mut server = Self::prepare(ca, dir, label, env).await;
        server.run().await;
        server
    }

    /// A server with its name and ports chosen, not started yet (see
    /// [`FederatedServer::start_with_config`]).
    pub async fn prepare(
        ca: &TestCa,
        dir: &Path,
        label: &str,
        env: Vec<(&'static str, String)>,
    ) -> Self {
        let ports = (free_port(), free_port());
        let name = format!("localhost:{}", ports.1);
        let database = ExternalDatabase::new().await;
        let args = vec![
            "--database-url".to_owned(),
            database.url.clone(),
            "--tls-cert".to_owned(),
            ca.cert.display().to_string(),
            "--tls-key".to_owned(),
            ca.key.display().to_string(),
            "--federation-ca".to_owned(),
            ca.ca.display().to_string(),
        ];
        let mut env = env;
        env.extend([
            ("HANSE_REGISTRATION", "open".to_owned()),
            ("HANSE_RATE_LIMITS__ENABLED", "false".to_owned()),
            ("HANSE_PRESENCE", "false".to_owned()),
        ]);
        Self {
            name,
            database,
            data_dir: dir.join(label),
            ports,
            args,
            env,
            process: None,
        }
    }

    /// Starts a prepared server with `toml` as its configuration file.
    pub async fn start_with_config(&mut self, toml: &str) {
        let file = self.data_dir.with_extension("toml");
        fs::write(&file, toml).expect("write config");
        self.args
            .extend(["--config".to_owned(), file.display().to_string()]);
        self.run().await;
    }

    /// The server's signing key, from its data directory.
    pub fn signing_key(&self) -> hanse_protocol::signing::ServerSigningKey {
        hanse_server::signing_key::load_or_generate(&self.data_dir.join("signing.key"))
            .expect("the server's signing key")
    }

    /// `https://localhost:<port>` of the federation listener.
    pub fn federation_url(&self) -> String {
        format!("https://localhost:{}", self.ports.1)
    }

    pub async fn run(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.process = Some(
            HanseProcess::start_named(&self.data_dir, &self.name, self.ports, &args, &self.env)
                .await,
        );
    }

    /// Stops the server (SIGTERM, clean exit).
    pub fn stop(&mut self) {
        self.process.take().expect("running").stop();
    }

    /// Stops a server started with [`FederatedServer::start_with_config`]
    /// and starts it again with `toml` as its configuration file.
    pub async fn restart_with_config(&mut self, toml: &str) {
        self.stop();
        fs::write(self.data_dir.with_extension("toml"), toml).expect("write config");
        self.run().await;
    }

    /// Starts it again on the same name, ports, database and data.
    pub async fn restart(&mut self) {
        assert!(self.process.is_none(), "stop it first");
        self.run().await;
    }

    pub fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.0)
    }

    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(HanseProcess::log)
            .unwrap_or_default()
    }

    /// Registers `name`; a client logged in as them and their user ID.
    pub async fn user(&self, name: &str) -> (Client, String) {
        let anonymous = Client::new(self.client_url());
        let login = anonymous
            .register(name, PASSWORD, None)
            .await
            .expect("registration");
        (anonymous.with_token(&login.access_token), login.user_id)
    }
}

const V3: &str = "/_matrix/client/v3";

/// The room's current state as `client` sees it: `(type, state_key)` to
/// event ID, sorted.
pub async fn state_ids(client: &Client, room: &str) -> Vec<(String, String, String)> {
    let state: Value = client
        .get(&format!("{V3}/rooms/{room}/state"))
        .await
        .expect("state");
    let mut ids: Vec<(String, String, String)> = state
        .as_array()
        .expect("a list")
        .iter()
        .map(|event| {
            (
                event["type"].as_str().unwrap_or_default().to_owned(),
                event["state_key"].as_str().unwrap_or_default().to_owned(),
                event["event_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    ids.sort();
    ids
}

/// The message bodies of the room's timeline, oldest first (the newest
/// 1,000).
pub async fn bodies(client: &Client, room: &str) -> Vec<String> {
    let messages: Value = client
        .get(&format!("{V3}/rooms/{room}/messages?dir=b&limit=1000"))
        .await
        .expect("messages");
    let mut bodies: Vec<String> = messages["chunk"]
        .as_array()
        .expect("chunk")
        .iter()
        .filter(|event| event["type"] == "m.room.message")
        .filter_map(|event| event["content"]["body"].as_str().map(str::to_owned))
        .collect();
    bodies.reverse();
    bodies
}

/// Waits until `check` holds, up to `timeout`; fails with `what`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Joins `room` through `via` as `client`; the raw status and body.
pub async fn join_via(client: &Client, room: &str, via: &str) -> (u16, Value) {
    client
        .send_raw(
            hanse_sdk::Method::POST,
            &format!("{V3}/join/{room}?server_name={via}"),
            &json!({}),
        )
        .await
        .expect("join request")
}

/// POSTs `body` to `path`: the status and the answer.
pub async fn post(client: &Client, path: &str, body: Value) -> (u16, Value) {
    client
        .send_raw(hanse_sdk::Method::POST, path, &body)
        .await
        .expect("request")
}

/// `client`'s user ID.
pub async fn whoami(client: &Client) -> String {
    let me: Value = client
        .get(&format!("{V3}/account/whoami"))
        .await
        .expect("whoami");
    me["user_id"].as_str().expect("user_id").to_owned()
}

/// Two servers, A and B: alice on A in a public room she made there, and
/// bob on B, joined to it through A. The servers' files live in `dir`, so
/// it must outlive them.
pub struct SharedRoom {
    pub dir: tempfile::TempDir,
    pub ca: TestCa,
    pub a: FederatedServer,
    pub b: FederatedServer,
    pub alice: Client,
    pub bob: Client,
    pub bob_id: String,
    pub room: String,
}

pub async fn shared_room() -> SharedRoom {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path());
    let a = FederatedServer::start(&ca, dir.path(), "a", vec![]).await;
    let b = FederatedServer::start(&ca, dir.path(), "b", vec![]).await;
    let (alice, _) = a.user("alice").await;
    let (bob, bob_id) = b.user("bob").await;
    let room = super::create_room(&alice, json!({ "preset": "public_chat" })).await;
    let (status, body) = join_via(
        &bob,
        &hanse_protocol::path_segment::encode(&room),
        &hanse_protocol::path_segment::encode(&a.name),
    )
    .await;
    assert_eq!(status, 200, "bob's join through A: {body}");
    SharedRoom {
        dir,
        ca,
        a,
        b,
        alice,
        bob,
        bob_id,
        room,
    }
}
