//! The federation sender against other servers on loopback: plain-HTTP
//! receivers that record every `PUT /_matrix/federation/v1/send/{txnId}`
//! and can be told to fail or be stopped. The homeserver reaches them
//! through a `Remote` doing plain HTTP, which stands in for the TLS and
//! request-signing layer only; queueing, batching, back-off and recovery
//! are the real ones, on a real PostgreSQL.
//!
//! Remote members join through `send_state` with a session of the remote
//! user: it stands in for a join received over federation (which passes
//! the same persist step).

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, HttpResponse};
use futures_util::future::BoxFuture;
use hanse_core::accounts::Session;
use hanse_core::remote::{Remote, RemoteError, RemoteMethod, RemoteRequest};
use hanse_core::store::{self, Store};
use hanse_core::{FederationSenderSettings, Homeserver, ServerIdentity};
use hanse_protocol::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use hanse_protocol::identifiers::{RoomId, ServerName, UserId};
use hanse_protocol::signing::ServerSigningKey;
use hanse_server::testing::{shared_cluster, TestOptions, TestServer};
use serde_json::{json, Value};

use common::{create_room, user};

const RETRY_INITIAL: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_millis(400);

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    txn_id: String,
    body: Value,
    status: u16,
    at: Instant,
}

/// Another server's /send endpoint on loopback.
#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<Received>>>,
    failing: Arc<AtomicBool>,
    /// Milliseconds each request takes.
    delay_ms: Arc<AtomicU64>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start() -> (Self, String, ServerHandle) {
        let receiver = Receiver::default();
        let state = receiver.clone();
        let (address, handle) = common::serve_on_loopback(move |app| {
            app.app_data(web::Data::new(state.clone()))
                .app_data(web::JsonConfig::default().limit(16 * 1024 * 1024))
                .route(
                    "/_matrix/federation/v1/send/{txn_id}",
                    web::put().to(Receiver::receive),
                );
        });
        (receiver, address, handle)
    }

    async fn receive(
        receiver: web::Data<Receiver>,
        txn_id: web::Path<String>,
        body: web::Json<Value>,
    ) -> HttpResponse {
        let now = receiver.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        receiver.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let delay = receiver.delay_ms.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let failing = receiver.failing.load(Ordering::SeqCst);
        receiver.requests.lock().unwrap().push(Received {
            txn_id: txn_id.into_inner(),
            body: body.into_inner(),
            status: if failing { 500 } else { 200 },
            at: Instant::now(),
        });
        receiver.in_flight.fetch_sub(1, Ordering::SeqCst);
        if failing {
            HttpResponse::InternalServerError()
                .json(json!({ "errcode": "M_UNKNOWN", "error": "down" }))
        } else {
            HttpResponse::Ok().json(json!({ "pdus": {} }))
        }
    }

    fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// The transactions answered 200, each once (a receiver ignores a
    /// transaction ID it has seen).
    fn accepted(&self) -> Vec<Received> {
        let mut seen = HashSet::new();
        self.requests()
            .into_iter()
            .filter(|r| r.status == 200 && seen.insert(r.txn_id.clone()))
            .collect()
    }

    /// The bodies of the m.room.message PDUs accepted, in order.
    fn messages(&self) -> Vec<String> {
        self.accepted()
            .iter()
            .flat_map(|r| pdus(&r.body))
            .filter(|pdu| pdu["type"] == "m.room.message")
            .map(|pdu| {
                pdu["content"]["body"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    async fn wait_for_messages(&self, expected: &[String]) {
        wait_until(&format!("{} messages", expected.len()), || {
            self.messages().len() >= expected.len()
        })
        .await;
        assert_eq!(self.messages(), expected, "every message, once, in order");
    }
}

fn pdus(body: &Value) -> Vec<Value> {
    body["pdus"].as_array().cloned().unwrap_or_default()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..750 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Plain HTTP to the receivers, by server name.
#[derive(Debug, Default)]
struct LoopbackRemote {
    routes: Mutex<HashMap<String, String>>,
    forbidden: HashSet<String>,
    client: reqwest::Client,
}

impl LoopbackRemote {
    fn route(&self, server: &str, base_url: &str) {
        self.routes
            .lock()
            .unwrap()
            .insert(server.to_owned(), base_url.to_owned());
    }
}

impl Remote for LoopbackRemote {
    fn request<'a>(
        &'a self,
        destination: &'a ServerName,
        request: RemoteRequest,
    ) -> BoxFuture<'a, Result<Value, RemoteError>> {
        Box::pin(async move {
            let server = destination.as_str().to_owned();
            if self.forbidden.contains(&server) {
                return Err(RemoteError::NotAllowed { server });
            }
            let unreachable = |reason: String| RemoteError::Unreachable {
                server: server.clone(),
                reason,
            };
            let base = self.routes.lock().unwrap().get(&server).cloned();
            let base = base.ok_or_else(|| unreachable("no such server".into()))?;
            let method = match request.method {
                RemoteMethod::Get => reqwest::Method::GET,
                RemoteMethod::Put => reqwest::Method::PUT,
                RemoteMethod::Post => reqwest::Method::POST,
            };
            let mut builder = self
                .client
                .request(method, format!("{base}{}", request.path));
            if let Some(body) = &request.body {
                builder = builder.json(body);
            }
            let response = builder
                .send()
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let status = response.status().as_u16();
            let answer: Value =
                response
                    .json()
                    .await
                    .map_err(|e| RemoteError::InvalidResponse {
                        server: server.clone(),
                        reason: e.to_string(),
                    })?;
            if status != 200 {
                return Err(RemoteError::Matrix {
                    server,
                    status,
                    errcode: answer["errcode"].as_str().unwrap_or_default().to_owned(),
                    message: answer["error"].as_str().unwrap_or_default().to_owned(),
                });
            }
            Ok(answer)
        })
    }
}

/// Another hanse process on the same database, with its federation sender
/// running.
async fn another_process(
    database: &str,
    server_name: ServerName,
    remote: Arc<LoopbackRemote>,
    sender: FederationSenderSettings,
) -> Homeserver {
    let (socket, _) = shared_cluster();
    let store = Store::connect(store::socket_config(&socket, database), 4);
    let mut settings = TestOptions::default().settings;
    settings.federation_sender = sender;
    let identity = ServerIdentity {
        server_name,
        signing_key: ServerSigningKey::generate(),
    };
    let homeserver = Homeserver::new(identity, settings, store)
        .expect("settings")
        .with_remote(remote);
    homeserver
        .start_federation_sender()
        .await
        .expect("starting the sender");
    homeserver
}

fn sender_settings() -> FederationSenderSettings {
    FederationSenderSettings {
        retry_initial: RETRY_INITIAL,
        retry_max: RETRY_MAX,
        ..FederationSenderSettings::default()
    }
}

async fn start(remote: Arc<LoopbackRemote>) -> TestServer {
    let mut options = TestOptions::default();
    options.settings.federation_sender = sender_settings();
    options.remote = Some(remote);
    TestServer::start_with(options).await
}

fn object(value: Value) -> CanonicalJsonObject {
    CanonicalJsonValue::try_from(value)
        .expect("canonical JSON")
        .into_object()
        .expect("an object")
}

fn session(user_id: &str) -> Session {
    Session {
        user_id: UserId::parse(user_id).expect("a user ID"),
        device_id: "DEVICE".into(),
        is_guest: false,
        is_admin: false,
    }
}

/// A public room of a new local user, alice; the remote users join it.
async fn room_with(server: &TestServer, remote_users: &[&str]) -> (Session, RoomId) {
    let (client, login) = user(server, "alice").await;
    let room = create_room(&client, json!({ "preset": "public_chat" })).await;
    let room = RoomId::parse(&room).expect("a room ID");
    for remote_user in remote_users {
        server
            .homeserver
            .send_state(
                &session(remote_user),
                &room,
                "m.room.member",
                remote_user,
                object(json!({ "membership": "join" })),
            )
            .await
            .expect("a remote user joins");
    }
    (session(login.user_id.as_str()), room)
}

/// Sends `count` messages `<prefix><n>`; returns their bodies.
async fn send(
    homeserver: &Homeserver,
    alice: &Session,
    room: &RoomId,
    prefix: &str,
    count: usize,
) -> Vec<String> {
    let mut bodies = Vec::new();
    for n in 0..count {
        let body = format!("{prefix}{n}");
        homeserver
            .send_message(
                alice,
                room,
                "m.room.message",
                &format!("txn-{prefix}{n}"),
                object(json!({ "msgtype": "m.text", "body": body })),
            )
            .await
            .expect("send");
        bodies.push(body);
    }
    bodies
}

/// Polls `sql` (one number) until `done` holds of it; returns it.
async fn eventually(database: &str, sql: &str, done: impl Fn(i64) -> bool) -> i64 {
    let mut value = count(database, sql).await;
    for _ in 0..250 {
        if done(value) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        value = count(database, sql).await;
    }
    value
}

const FAILURES_OF_ONE: &str =
    "SELECT failures::bigint FROM federation_destinations WHERE server_name = 'one.test'";

async fn count(server_db: &str, sql: &str) -> i64 {
    let (socket, _) = shared_cluster();
    let (client, connection) = store::socket_config(&socket, server_db)
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connecting to the test database");
    tokio::spawn(connection);
    client.query_one(sql, &[]).await.expect("query").get(0)
}

#[tokio::test]
async fn events_reach_every_joined_server_in_order_in_transactions_of_at_most_50() {
    let (r1, url1, _h1) = Receiver::start().await;
    let (r2, url2, _h2) = Receiver::start().await;
    let (r3, url3, _h3) = Receiver::start().await;
    let remote = Arc::new(LoopbackRemote::default());
    remote.route("one.test", &url1);
    remote.route("two.test", &url2);
    remote.route("three.test", &url3);
    let server = start(remote).await;
    let (alice, room) = room_with(&server, &["@bob:one.test", "@carol:two.test"]).await;
    // An invite reaches the invitee's server, which has no one joined.
    server
        .homeserver
        .send_state(
            &alice,
            &room,
            "m.room.member",
            "@dave:three.test",
            object(json!({ "membership": "invite" })),
        )
        .await
        .expect("invite");

    let sent = send(&server.homeserver, &alice, &room, "m", 120).await;
    r1.wait_for_messages(&sent).await;
    r2.wait_for_messages(&sent).await;

    let origin = server.homeserver.identity.server_name.as_str();
    for receiver in [&r1, &r2] {
        let accepted = receiver.accepted();
        assert!(
            accepted.len() >= 3,
            "120 events need 3 transactions at least"
        );
        for transaction in &accepted {
            let body = &transaction.body;
            assert_eq!(body["origin"], origin);
            assert!(body["origin_server_ts"].is_i64());
            let pdus = pdus(body);
            assert!(!pdus.is_empty() && pdus.len() <= 50, "{} PDUs", pdus.len());
            for pdu in pdus {
                assert!(pdu.get("unsigned").is_none(), "sent as stored: {pdu}");
                assert!(pdu["signatures"][origin].is_object(), "signed: {pdu}");
                assert_eq!(pdu["room_id"], room.as_str());
            }
        }
        assert!(
            receiver.requests().iter().all(|r| r.status == 200),
            "no retries"
        );
    }
    // Bob's server heard of Carol's join; the invitee's server of the
    // invite alone.
    let members = |receiver: &Receiver| -> Vec<(String, String)> {
        receiver
            .accepted()
            .iter()
            .flat_map(|r| pdus(&r.body))
            .filter(|pdu| pdu["type"] == "m.room.member")
            .map(|pdu| {
                (
                    pdu["state_key"].as_str().unwrap().to_owned(),
                    pdu["content"]["membership"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert!(members(&r1).contains(&("@carol:two.test".into(), "join".into())));
    wait_until("the invite", || !r3.accepted().is_empty()).await;
    assert_eq!(
        members(&r3),
        [("@dave:three.test".to_owned(), "invite".to_owned())]
    );
    assert!(r3.messages().is_empty(), "no member there: no messages");
    let queued = "SELECT count(*) FROM federation_pdu_queue";
    assert_eq!(
        eventually(&server.database, queued, |n| n == 0).await,
        0,
        "delivered entries leave the queue"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_failing_server_backs_off_without_delaying_others_and_catches_up() {
    let (r1, url1, h1) = Receiver::start().await;
    let (r2, url2, _h2) = Receiver::start().await;
    r1.failing.store(true, Ordering::SeqCst);
    let remote = Arc::new(LoopbackRemote::default());
    remote.route("one.test", &url1);
    remote.route("two.test", &url2);
    let server = start(remote.clone()).await;
    let (alice, room) = room_with(&server, &["@bob:one.test", "@carol:two.test"]).await;

    let started = Instant::now();
    let sent = send(&server.homeserver, &alice, &room, "m", 10).await;
    r2.wait_for_messages(&sent).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the healthy server is not held up: {:?}",
        started.elapsed()
    );
    assert!(r1.accepted().is_empty());

    // Back-off: 100, 200, 400, 400... ms between attempts (at least: a
    // busy machine may add to them), and never more than the cap ahead.
    wait_until("six attempts", || r1.requests().len() >= 6).await;
    let attempts = r1.requests();
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (gap, expected) in gaps.iter().zip([100, 200, 400, 400, 400]) {
        let expected = Duration::from_millis(expected);
        assert!(
            *gap >= expected.mul_f32(0.9) && *gap < expected + Duration::from_secs(2),
            "gaps {gaps:?}, expected about {expected:?}"
        );
    }
    let ahead = count(
        &server.database,
        "SELECT retry_at - (extract(epoch FROM clock_timestamp()) * 1000)::bigint
         FROM federation_destinations WHERE server_name = 'one.test'",
    )
    .await;
    assert!(ahead <= 400, "the wait is capped: {ahead} ms ahead");
    // Every retry is the same transaction.
    let txn_ids: HashSet<&str> = attempts.iter().map(|r| r.txn_id.as_str()).collect();
    assert_eq!(txn_ids.len(), 1, "{txn_ids:?}");
    let first_txn = attempts[0].txn_id.clone();
    let failures = count(&server.database, FAILURES_OF_ONE).await;
    assert!(failures >= 5, "failures are stored: {failures}");

    // Now it refuses connections; more messages queue meanwhile.
    h1.stop(true).await;
    let more = send(&server.homeserver, &alice, &room, "n", 60).await;
    let refused = eventually(&server.database, FAILURES_OF_ONE, |n| n > failures).await;
    assert!(refused > failures, "a refused connection is a failure too");

    // It comes back (at a new address): everything arrives, in order,
    // starting with the transaction it failed to take.
    let (back, url_back, _h_back) = Receiver::start().await;
    remote.route("one.test", &url_back);
    let all: Vec<String> = sent.iter().chain(&more).cloned().collect();
    back.wait_for_messages(&all).await;
    let accepted = back.accepted();
    assert_eq!(accepted[0].txn_id, first_txn, "the same transaction ID");
    assert!(accepted.iter().all(|r| pdus(&r.body).len() <= 50));
    let failures = eventually(&server.database, FAILURES_OF_ONE, |n| n == 0).await;
    assert_eq!(failures, 0, "the back-off ends");
    r2.wait_for_messages(&all).await;
    server.stop().await;
}

#[tokio::test]
async fn pending_deliveries_survive_a_restart() {
    let remote = Arc::new(LoopbackRemote::default());
    // one.test is unknown to the loopback remote: unreachable.
    let server = start(remote).await;
    let (alice, room) = room_with(&server, &["@bob:one.test"]).await;
    let sent = send(&server.homeserver, &alice, &room, "m", 30).await;
    let database = server.database.clone();
    assert!(eventually(&database, FAILURES_OF_ONE, |n| n > 0).await > 0);
    let pending: Option<String> = server
        .query("SELECT txn_id FROM federation_destinations WHERE server_name = 'one.test'")
        .await[0]
        .get(0);
    let pending = pending.expect("a transaction is pending");
    let server_name = server.homeserver.identity.server_name.clone();
    server.homeserver.stop_federation_sender().await;
    server.stop().await;

    // The same database, a new process (with the receiver up now).
    let (receiver, url, _h) = Receiver::start().await;
    let remote = Arc::new(LoopbackRemote::default());
    remote.route("one.test", &url);
    let homeserver = another_process(&database, server_name, remote, sender_settings()).await;

    receiver.wait_for_messages(&sent).await;
    let accepted = receiver.accepted();
    assert_eq!(
        accepted[0].txn_id, pending,
        "the pending transaction, as it was"
    );
    assert_eq!(
        receiver.requests().len(),
        accepted.len(),
        "each transaction sent once"
    );
    homeserver.stop_federation_sender().await;
}

#[tokio::test]
async fn two_processes_take_turns_but_never_send_to_one_server_at_once() {
    let (receiver, url, _h) = Receiver::start().await;
    receiver.delay_ms.store(30, Ordering::SeqCst);
    receiver.failing.store(true, Ordering::SeqCst);
    // Leases shorter than the back-off: while one process waits to retry,
    // the other may take the destination, and both try at the stored
    // retry time.
    let contended = FederationSenderSettings {
        lease: Duration::from_millis(150),
        sweep_interval: Duration::from_millis(20),
        ..sender_settings()
    };
    let remotes = [(); 2].map(|()| {
        let remote = Arc::new(LoopbackRemote::default());
        remote.route("one.test", &url);
        remote
    });
    let mut options = TestOptions::default();
    options.settings.federation_sender = contended.clone();
    options.remote = Some(remotes[0].clone());
    let server = TestServer::start_with(options).await;
    let (alice, room) = room_with(&server, &["@bob:one.test"]).await;
    let other = another_process(
        &server.database,
        server.homeserver.identity.server_name.clone(),
        remotes[1].clone(),
        contended,
    )
    .await;

    // Both processes send into the room; each wakes its own task.
    let mut sent = Vec::new();
    for round in 0..40 {
        for (process, homeserver) in [("a", &server.homeserver), ("b", &other)] {
            sent.extend(send(homeserver, &alice, &room, &format!("{process}{round}."), 1).await);
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    receiver.failing.store(false, Ordering::SeqCst);
    receiver.wait_for_messages(&sent).await;

    assert_eq!(receiver.most_in_flight.load(Ordering::SeqCst), 1);
    let accepted = receiver
        .requests()
        .iter()
        .filter(|r| r.status == 200)
        .count();
    assert_eq!(
        accepted,
        receiver.accepted().len(),
        "no transaction taken twice"
    );
    other.stop_federation_sender().await;
    server.stop().await;
}

#[tokio::test]
async fn edus_are_delivered_and_a_forbidden_server_is_dropped() {
    let (r1, url1, _h1) = Receiver::start().await;
    let remote = Arc::new(LoopbackRemote {
        forbidden: HashSet::from(["forbidden.test".to_owned()]),
        ..LoopbackRemote::default()
    });
    remote.route("one.test", &url1);
    let server = start(remote).await;
    let homeserver = &server.homeserver;

    let one = ServerName::parse("one.test").unwrap();
    for n in 0..105 {
        homeserver
            .enqueue_edu(&one, "m.test", &json!({ "n": n }))
            .await
            .expect("enqueue");
    }
    let edus = || -> Vec<Value> {
        r1.accepted()
            .iter()
            .flat_map(|r| r.body["edus"].as_array().cloned().unwrap_or_default())
            .collect()
    };
    wait_until("105 EDUs", || edus().len() >= 105).await;
    let received = edus();
    let numbers: Vec<i64> = received
        .iter()
        .map(|edu| edu["content"]["n"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, (0..105).collect::<Vec<_>>(), "each once, in order");
    assert!(received.iter().all(|edu| edu["edu_type"] == "m.test"));
    assert!(r1
        .accepted()
        .iter()
        .all(|r| r.body["edus"].as_array().map_or(0, Vec::len) <= 100));

    // Not allowed by policy: dropped, not retried.
    let forbidden = ServerName::parse("forbidden.test").unwrap();
    for n in 0..3 {
        homeserver
            .enqueue_edu(&forbidden, "m.test", &json!({ "n": n }))
            .await
            .expect("enqueue");
    }
    // To this server itself: nothing is queued.
    let own = homeserver.identity.server_name.clone();
    homeserver
        .enqueue_edu(&own, "m.test", &json!({}))
        .await
        .expect("enqueue");
    let database = server.database.clone();
    let queued = "SELECT count(*) FROM federation_edu_queue";
    assert_eq!(eventually(&database, queued, |n| n == 0).await, 0);
    let failures = count(
        &database,
        "SELECT failures::bigint FROM federation_destinations WHERE server_name = 'forbidden.test'",
    )
    .await;
    assert_eq!(failures, 0, "no back-off: dropped");
    server.stop().await;
}
