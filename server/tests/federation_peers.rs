//! Federation with peers that misbehave or that the operator's policy
//! excludes. A test speaks for a real server B with B's own signing key
//! (read from B's data directory), so A can check B's signatures the
//! normal way, while the test chooses what B says.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::federation::{
    join_via, shared_room, state_ids, whoami, FederatedServer, SharedRoom, TestCa,
};
use common::{create_room, send_text};
use hanse_core::remote::{Remote, RemoteError, RemoteRequest};
use hanse_core::ServerIdentity;
use hanse_federation::{ClientSettings, FederationClient};
use hanse_protocol::canonical_json::{object_from_json, CanonicalJsonObject, CanonicalJsonValue};
use hanse_protocol::event_signing::sign_event;
use hanse_protocol::identifiers::ServerName;
use hanse_protocol::path_segment::encode;
use hanse_protocol::pdu::Pdu;
use hanse_protocol::room_versions::RoomVersionId;
use hanse_protocol::signing::ServerSigningKey;
use hanse_sdk::Client;
use serde_json::{json, Value};

const V3: &str = "/_matrix/client/v3";

/// Requests and events made in the name of a server, with its key.
struct SpeakFor {
    name: ServerName,
    key: ServerSigningKey,
    client: FederationClient,
}

impl SpeakFor {
    fn new(server: &FederatedServer, ca: &TestCa) -> Self {
        Self::with_key(server, ca, server.signing_key())
    }

    /// Requests signed as `server`, events signed with `key` under its
    /// name: a forger, when `key` is not the server's.
    fn with_key(server: &FederatedServer, ca: &TestCa, key: ServerSigningKey) -> Self {
        let name = ServerName::parse(&server.name).expect("server name");
        let identity = ServerIdentity {
            server_name: name.clone(),
            signing_key: server.signing_key(),
        };
        let settings = ClientSettings {
            ca_file: Some(ca.ca.clone()),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 64 * 1024 * 1024,
            dns_overrides: Default::default(),
        };
        let client = FederationClient::new(Arc::new(identity), &settings).expect("client");
        Self { name, key, client }
    }

    async fn request(
        &self,
        to: &FederatedServer,
        request: RemoteRequest,
    ) -> Result<Value, RemoteError> {
        let destination = ServerName::parse(&to.name).expect("server name");
        self.client.request(&destination, request).await
    }

    /// Sends one transaction to `to`.
    async fn send(
        &self,
        to: &FederatedServer,
        txn: &str,
        pdus: Vec<Value>,
    ) -> Result<Value, RemoteError> {
        let body = json!({
            "origin": self.name.as_str(),
            "origin_server_ts": hanse_core::clock::now_ms(),
            "pdus": pdus,
        });
        self.request(
            to,
            RemoteRequest::put(format!("/_matrix/federation/v1/send/{txn}"), body),
        )
        .await
    }

    /// `event` hashed and signed by this server.
    fn sign(&self, mut event: CanonicalJsonObject) -> CanonicalJsonObject {
        sign_event(
            &mut event,
            &self.key,
            self.name.as_str(),
            RoomVersionId::V12.rules(),
        )
        .expect("signing");
        event
    }
}

/// What an event of `sender` in `room` cites, as `viewer` (on the
/// sender's server) sees the room: its auth events for a message or a
/// power levels change, and the newest event as its prev event.
async fn skeleton(
    viewer: &Client,
    room: &str,
    sender: &str,
    event_type: &str,
    state_key: Option<&str>,
    content: Value,
) -> CanonicalJsonObject {
    let state: Value = viewer
        .get(&format!("{V3}/rooms/{}/state", encode(room)))
        .await
        .expect("state");
    let id_of = |event_type: &str, state_key: &str| -> String {
        state
            .as_array()
            .expect("state list")
            .iter()
            .find(|event| event["type"] == event_type && event["state_key"] == state_key)
            .and_then(|event| event["event_id"].as_str())
            .unwrap_or_else(|| panic!("no {event_type} {state_key:?} in {state}"))
            .to_owned()
    };
    let newest: Value = viewer
        .get(&format!(
            "{V3}/rooms/{}/messages?dir=b&limit=1",
            encode(room)
        ))
        .await
        .expect("messages");
    let prev = newest["chunk"][0]["event_id"]
        .as_str()
        .expect("newest")
        .to_owned();
    let mut event = json!({
        "type": event_type,
        "room_id": room,
        "sender": sender,
        "content": content,
        "auth_events": [id_of("m.room.power_levels", ""), id_of("m.room.member", sender)],
        "prev_events": [prev],
        "depth": 100,
        "origin_server_ts": hanse_core::clock::now_ms(),
    });
    if let Some(state_key) = state_key {
        event["state_key"] = json!(state_key);
    }
    object_from_json(event).expect("canonical")
}

fn event_id(event: &CanonicalJsonObject) -> String {
    Pdu::from_canonical(event.clone(), RoomVersionId::V12.rules())
        .expect("a valid event")
        .event_id()
        .as_str()
        .to_owned()
}

fn json_of(event: &CanonicalJsonObject) -> Value {
    CanonicalJsonValue::Object(event.clone()).into()
}

/// The status of GET /rooms/{room}/event/{id} for `client`.
async fn event_status(client: &Client, room: &str, id: &str) -> (u16, Value) {
    client
        .send_raw(
            hanse_sdk::Method::GET,
            &format!("{V3}/rooms/{}/event/{}", encode(room), encode(id)),
            &json!({}),
        )
        .await
        .expect("request")
}

#[tokio::test]
async fn hostile_peers_change_nothing() {
    let SharedRoom {
        dir: _dir,
        ca,
        a,
        b,
        alice,
        bob,
        bob_id,
        room,
    } = shared_room().await;
    let as_b = SpeakFor::new(&b, &ca);
    let state_before = state_ids(&alice, &encode(&room)).await;
    let message = |body: &str| json!({ "msgtype": "m.text", "body": body });

    // Unsigned and badly signed requests never reach a handler.
    let https = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&ca.ca).expect("CA")).expect("pem"),
        )
        .build()
        .expect("client");
    let unsigned = https
        .put(format!(
            "{}/_matrix/federation/v1/send/x",
            a.federation_url()
        ))
        .json(&json!({ "origin": b.name, "origin_server_ts": 0, "pdus": [] }))
        .send()
        .await
        .expect("request");
    assert_eq!(unsigned.status(), 401);
    let error: Value = unsigned.json().await.expect("json");
    assert_eq!(error["errcode"], "M_UNAUTHORIZED");
    let forged_header = format!(
        "X-Matrix origin=\"{}\",destination=\"{}\",key=\"{}\",sig=\"{}\"",
        b.name,
        a.name,
        as_b.key.key_id(),
        "A".repeat(86)
    );
    let badly_signed = https
        .put(format!(
            "{}/_matrix/federation/v1/send/y",
            a.federation_url()
        ))
        .header("Authorization", forged_header)
        .json(&json!({ "origin": b.name, "origin_server_ts": 0, "pdus": [] }))
        .send()
        .await
        .expect("request");
    assert_eq!(badly_signed.status(), 401);

    // A forged signature: signed with another key under B's key ID.
    let impostor = SpeakFor::with_key(
        &b,
        &ca,
        ServerSigningKey::from_seed(as_b.key.key_id().version(), [7; 32]).expect("key"),
    );
    let forged = impostor.sign(
        skeleton(
            &bob,
            &room,
            &bob_id,
            "m.room.message",
            None,
            message("forged"),
        )
        .await,
    );
    let answer = as_b
        .send(&a, "forged", vec![json_of(&forged)])
        .await
        .expect("send");
    assert!(
        answer["pdus"]
            .as_object()
            .expect("pdus")
            .values()
            .all(|r| r["error"].is_string())
            || answer["pdus"].as_object().expect("pdus").is_empty(),
        "{answer}"
    );
    assert_eq!(event_status(&alice, &room, &event_id(&forged)).await.0, 404);

    // A content hash that does not match: kept, redacted.
    let mut tampered = as_b.sign(
        skeleton(
            &bob,
            &room,
            &bob_id,
            "m.room.message",
            None,
            message("original"),
        )
        .await,
    );
    tampered.insert(
        "content".into(),
        object_from_json(message("tampered"))
            .map(CanonicalJsonValue::Object)
            .expect("content"),
    );
    let tampered_id = event_id(&tampered);
    let answer = as_b
        .send(&a, "tampered", vec![json_of(&tampered)])
        .await
        .expect("send");
    assert_eq!(answer["pdus"][&tampered_id], json!({}), "{answer}");
    let (status, seen) = event_status(&alice, &room, &tampered_id).await;
    assert_eq!(status, 200, "{seen}");
    assert!(
        seen["content"].get("body").is_none(),
        "the content is gone: {seen}"
    );

    // An event the auth rules refuse: bob makes himself an admin.
    let power: Value = alice
        .get(&format!(
            "{V3}/rooms/{}/state/m.room.power_levels/",
            encode(&room)
        ))
        .await
        .expect("power levels");
    let mut grab = power.clone();
    grab["users"][&bob_id] = json!(100);
    let coup =
        as_b.sign(skeleton(&bob, &room, &bob_id, "m.room.power_levels", Some(""), grab).await);
    let answer = as_b
        .send(&a, "coup", vec![json_of(&coup)])
        .await
        .expect("send");
    assert!(
        answer["pdus"][event_id(&coup)]["error"].is_string(),
        "{answer}"
    );
    let after: Value = alice
        .get(&format!(
            "{V3}/rooms/{}/state/m.room.power_levels/",
            encode(&room)
        ))
        .await
        .expect("power levels");
    assert_eq!(after, power);

    // An event of a user of another server, signed by B only.
    let mut foreign = skeleton(
        &bob,
        &room,
        &bob_id,
        "m.room.message",
        None,
        message("relayed"),
    )
    .await;
    foreign.insert(
        "sender".into(),
        CanonicalJsonValue::String("@mallory:localhost:1".into()),
    );
    let foreign = as_b.sign(foreign);
    let answer = as_b
        .send(&a, "foreign", vec![json_of(&foreign)])
        .await
        .expect("send");
    assert!(
        answer["pdus"]
            .as_object()
            .expect("pdus")
            .values()
            .all(|r| r["error"].is_string()),
        "{answer}"
    );
    assert_eq!(
        event_status(&alice, &room, &event_id(&foreign)).await.0,
        404
    );

    // Prev events nobody has, at a huge depth.
    let mut orphan = skeleton(
        &bob,
        &room,
        &bob_id,
        "m.room.message",
        None,
        message("orphan"),
    )
    .await;
    orphan.insert(
        "prev_events".into(),
        CanonicalJsonValue::Array(vec![CanonicalJsonValue::String(
            "$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
        )]),
    );
    orphan.insert(
        "depth".into(),
        CanonicalJsonValue::Integer(9_007_199_254_740_991),
    );
    let orphan = as_b.sign(orphan);
    let answer = as_b
        .send(&a, "orphan", vec![json_of(&orphan)])
        .await
        .expect("send");
    assert!(
        answer["pdus"][event_id(&orphan)]["error"].is_string(),
        "{answer}"
    );
    assert_eq!(event_status(&alice, &room, &event_id(&orphan)).await.0, 404);

    // Too many PDUs in one transaction.
    let many: Vec<Value> = (0..51).map(|_| json_of(&tampered)).collect();
    match as_b.send(&a, "many", many).await {
        Err(RemoteError::Matrix {
            status, errcode, ..
        }) => {
            assert_eq!((status, errcode.as_str()), (413, "M_TOO_LARGE"));
        }
        other => panic!("an oversized transaction was taken: {other:?}"),
    }

    // A replayed transaction gets its first answer, whatever it holds now.
    let first = as_b.sign(
        skeleton(
            &bob,
            &room,
            &bob_id,
            "m.room.message",
            None,
            message("once"),
        )
        .await,
    );
    let answer = as_b
        .send(&a, "replayed", vec![json_of(&first)])
        .await
        .expect("send");
    assert_eq!(answer["pdus"][event_id(&first)], json!({}), "{answer}");
    let second = as_b.sign(
        skeleton(
            &bob,
            &room,
            &bob_id,
            "m.room.message",
            None,
            message("twice"),
        )
        .await,
    );
    let replay = as_b
        .send(&a, "replayed", vec![json_of(&second)])
        .await
        .expect("send");
    assert_eq!(replay, answer);
    assert_eq!(event_status(&alice, &room, &event_id(&second)).await.0, 404);

    // The room's state is what it was; the room still works.
    assert_eq!(state_ids(&alice, &encode(&room)).await, state_before);
    send_text(&alice, &encode(&room), "after", "still fine").await;
    let depth: i64 = a
        .database
        .connect()
        .await
        .query_one(
            "SELECT max(depth) FROM events WHERE stream_ordering IS NOT NULL",
            &[],
        )
        .await
        .expect("query")
        .get(0);
    assert!(
        depth < 1000,
        "a hostile depth leaked into the room: {depth}"
    );
}

#[tokio::test]
async fn the_policy_keeps_excluded_servers_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path());
    let mut a = FederatedServer::prepare(&ca, dir.path(), "a", vec![]).await;
    let b = FederatedServer::start(&ca, dir.path(), "b", vec![]).await;
    let c = FederatedServer::start(&ca, dir.path(), "c", vec![]).await;
    a.start_with_config(&format!("[federation]\nallow = [\"{}\"]\n", b.name))
        .await;
    let (alice, _) = a.user("alice").await;
    let (bob, _) = b.user("bob").await;
    let (carol, _) = c.user("carol").await;

    let room = create_room(&alice, json!({ "preset": "public_chat" })).await;
    let (status, body) = join_via(&bob, &encode(&room), &encode(&a.name)).await;
    assert_eq!(status, 200, "B is allowed: {body}");
    let (status, body) = join_via(&carol, &encode(&room), &encode(&a.name)).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{body}"
    );

    // C can neither send to A nor read anything of the room from A.
    let as_c = SpeakFor::new(&c, &ca);
    let newest: Value = alice
        .get(&format!(
            "{V3}/rooms/{}/messages?dir=b&limit=1",
            encode(&room)
        ))
        .await
        .expect("messages");
    let event = newest["chunk"][0]["event_id"]
        .as_str()
        .expect("event")
        .to_owned();
    let reads = [
        RemoteRequest::get(format!("/_matrix/federation/v1/event/{}", encode(&event))),
        RemoteRequest::get(format!(
            "/_matrix/federation/v1/state/{}?event_id={}",
            encode(&room),
            encode(&event)
        )),
        RemoteRequest::get(format!(
            "/_matrix/federation/v1/backfill/{}?v={}&limit=10",
            encode(&room),
            encode(&event)
        )),
    ];
    for read in reads {
        let path = read.path.clone();
        match as_c.request(&a, read).await {
            Err(RemoteError::Matrix {
                status, errcode, ..
            }) => {
                assert_eq!((status, errcode.as_str()), (403, "M_FORBIDDEN"), "{path}");
            }
            other => panic!("{path} answered C: {other:?}"),
        }
    }
    match as_c.send(&a, "t1", vec![]).await {
        Err(RemoteError::Matrix { status, .. }) => assert_eq!(status, 403),
        other => panic!("A took a transaction from C: {other:?}"),
    }

    // A does not join a room C is in, and says why.
    let room_on_b = create_room(&bob, json!({ "preset": "public_chat" })).await;
    let (status, body) = join_via(&carol, &encode(&room_on_b), &encode(&b.name)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = join_via(&alice, &encode(&room_on_b), &encode(&b.name)).await;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{body}"
    );
    assert!(
        body["error"].as_str().unwrap_or_default().contains(&c.name),
        "the error names C: {body}"
    );
    let joined: Value = alice
        .get(&format!("{V3}/joined_rooms"))
        .await
        .expect("joined");
    assert_eq!(joined["joined_rooms"], json!([room]));

    // Nor does A invite users of C, with /invite or createRoom, and
    // createRoom then makes no room at all.
    let carol_id = whoami(&carol).await;
    let (status, body) = alice
        .send_raw(
            hanse_sdk::Method::POST,
            &format!("{V3}/rooms/{}/invite", encode(&room)),
            &json!({ "user_id": carol_id }),
        )
        .await
        .expect("invite");
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{body}"
    );
    let (status, body) = alice
        .send_raw(
            hanse_sdk::Method::POST,
            &format!("{V3}/createRoom"),
            &json!({ "invite": [carol_id] }),
        )
        .await
        .expect("createRoom");
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{body}"
    );
    let joined: Value = alice
        .get(&format!("{V3}/joined_rooms"))
        .await
        .expect("joined");
    assert_eq!(joined["joined_rooms"], json!([room]));
    // And C's invites do not reach A's users.
    let room_on_c = create_room(&carol, json!({ "preset": "private_chat" })).await;
    let alice_id = whoami(&alice).await;
    let (status, body) = carol
        .send_raw(
            hanse_sdk::Method::POST,
            &format!("{V3}/rooms/{}/invite", encode(&room_on_c)),
            &json!({ "user_id": alice_id }),
        )
        .await
        .expect("invite from C");
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{body}"
    );
    let synced: Value = alice
        .get(&format!("{V3}/sync?timeout=0"))
        .await
        .expect("sync");
    assert!(
        synced["rooms"]["invite"]
            .as_object()
            .is_none_or(|rooms| rooms.is_empty()),
        "{synced}"
    );
}

/// The Matrix error `result` is, as (status, errcode).
fn matrix_error(result: Result<Value, RemoteError>) -> (u16, String) {
    match result {
        Err(RemoteError::Matrix {
            status, errcode, ..
        }) => (status, errcode),
        other => panic!("expected a Matrix error, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_and_forged_invites_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new(dir.path());
    let a = FederatedServer::start(&ca, dir.path(), "a", vec![]).await;
    let b = FederatedServer::start(&ca, dir.path(), "b", vec![]).await;
    let (alice, alice_id) = a.user("alice").await;
    let (bob, bob_id) = b.user("bob").await;
    let room = create_room(&bob, json!({ "preset": "private_chat", "name": "On B" })).await;
    let as_b = SpeakFor::new(&b, &ca);

    // The room's create and name events as B serves them.
    let state = state_ids(&bob, &encode(&room)).await;
    let full_event = |event_type: &str| {
        let id = state
            .iter()
            .find(|(t, _, _)| t == event_type)
            .map(|(_, _, id)| id.clone())
            .expect("in the state");
        let as_b = &as_b;
        let b = &b;
        async move {
            let answer = as_b
                .request(
                    b,
                    RemoteRequest::get(format!("/_matrix/federation/v1/event/{}", encode(&id))),
                )
                .await
                .expect("event from B");
            answer["pdus"][0].clone()
        }
    };
    let stripped_state = vec![
        full_event("m.room.create").await,
        full_event("m.room.name").await,
    ];

    let template = skeleton(
        &bob,
        &room,
        &bob_id,
        "m.room.member",
        Some(&alice_id),
        json!({ "membership": "invite" }),
    )
    .await;
    let invite_of = |signer: &SpeakFor, target: &str, membership: &str| {
        let mut event = template.clone();
        event.insert(
            "state_key".into(),
            CanonicalJsonValue::String(target.to_owned()),
        );
        let content = json!({ "membership": membership });
        event.insert(
            "content".into(),
            object_from_json(content)
                .map(CanonicalJsonValue::Object)
                .expect("content"),
        );
        signer.sign(event)
    };
    let put = |event: &CanonicalJsonObject, version: &str, invite_room_state: Vec<Value>| {
        let path = format!(
            "/_matrix/federation/v2/invite/{}/{}",
            encode(&room),
            encode(&event_id(event))
        );
        RemoteRequest::put(
            path,
            json!({
                "room_version": version,
                "event": json_of(event),
                "invite_room_state": invite_room_state,
            }),
        )
    };
    let valid = invite_of(&as_b, &alice_id, "invite");

    let mut refused = Vec::new();
    // A room version this server does not join.
    refused.push((
        "room version 1",
        put(&valid, "1", stripped_state.clone()),
        (400, "M_INCOMPATIBLE_ROOM_VERSION"),
    ));
    // Not an invite, or not of a user of A.
    let join = invite_of(&as_b, &alice_id, "join");
    refused.push((
        "a join",
        put(&join, "12", stripped_state.clone()),
        (400, "M_INVALID_PARAM"),
    ));
    let elsewhere = invite_of(&as_b, "@someone:elsewhere.example", "invite");
    refused.push((
        "a user of another server",
        put(&elsewhere, "12", stripped_state.clone()),
        (400, "M_INVALID_PARAM"),
    ));
    let nobody = format!("@nobody:{}", a.name);
    let unknown = invite_of(&as_b, &nobody, "invite");
    refused.push((
        "an unknown user",
        put(&unknown, "12", stripped_state.clone()),
        (404, "M_NOT_FOUND"),
    ));
    // Signed with a key that is not B's.
    let forger = SpeakFor::with_key(
        &b,
        &ca,
        ServerSigningKey::from_seed(as_b.key.key_id().version(), [9; 32]).expect("key"),
    );
    let forged = invite_of(&forger, &alice_id, "invite");
    refused.push((
        "a forged signature",
        put(&forged, "12", stripped_state.clone()),
        (400, "M_INVALID_PARAM"),
    ));
    // The event ID in the path is another event's.
    let mut mismatched = put(&valid, "12", stripped_state.clone());
    mismatched.path = format!(
        "/_matrix/federation/v2/invite/{}/{}",
        encode(&room),
        encode(&event_id(&join))
    );
    refused.push(("another event's ID", mismatched, (400, "M_INVALID_PARAM")));
    // Room version 12 needs the create event among the stripped state.
    refused.push((
        "no create event",
        put(&valid, "12", stripped_state[1..].to_vec()),
        (400, "M_INVALID_PARAM"),
    ));
    // A body of the wrong shape.
    let mut wrong_shape = put(&valid, "12", stripped_state.clone());
    wrong_shape.body = Some(json!({ "room_version": 12, "event": "no" }));
    refused.push((
        "a body of the wrong shape",
        wrong_shape,
        (400, "M_BAD_JSON"),
    ));

    for (what, request, (status, errcode)) in refused {
        assert_eq!(
            matrix_error(as_b.request(&a, request).await),
            (status, errcode.to_owned()),
            "{what}"
        );
    }
    let synced: Value = alice
        .get(&format!("{V3}/sync?timeout=0"))
        .await
        .expect("sync");
    assert!(
        synced["rooms"]["invite"]
            .as_object()
            .is_none_or(|rooms| rooms.is_empty()),
        "a refused invite reached alice: {synced}"
    );

    // The valid invite comes back countersigned by A, and shows on A;
    // sent again, it is answered the same way.
    for _ in 0..2 {
        let answer = as_b
            .request(&a, put(&valid, "12", stripped_state.clone()))
            .await
            .expect("a valid invite");
        assert_eq!(
            event_id(&object_from_json(answer["event"].clone()).expect("canonical")),
            event_id(&valid)
        );
        assert!(
            answer["event"]["signatures"][&a.name].is_object(),
            "A signed: {answer}"
        );
    }
    let synced: Value = alice
        .get(&format!("{V3}/sync?timeout=0"))
        .await
        .expect("sync");
    let shown = synced["rooms"]["invite"][&room]["invite_state"]["events"]
        .as_array()
        .unwrap_or_else(|| panic!("alice's invite: {synced}"))
        .clone();
    assert!(
        shown
            .iter()
            .any(|event| event["type"] == "m.room.name" && event["content"]["name"] == "On B"),
        "{shown:?}"
    );
}

#[tokio::test]
async fn bad_requests_get_the_specs_errors() {
    let SharedRoom {
        dir: _dir,
        ca,
        a,
        b,
        alice,
        bob,
        bob_id,
        room,
    } = shared_room().await;
    let as_b = SpeakFor::new(&b, &ca);
    let state_before = state_ids(&alice, &encode(&room)).await;
    let r = encode(&room);
    let unknown_event = encode("$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let unknown_room = encode("!nowhere:elsewhere.example");
    let v1 = "/_matrix/federation/v1";

    let cases: Vec<(&str, RemoteRequest, (u16, &str))> = vec![
        (
            "a transaction whose PDUs are not a list",
            RemoteRequest::put(
                format!("{v1}/send/bad1"),
                json!({ "origin": b.name, "origin_server_ts": 1, "pdus": "none" }),
            ),
            (400, "M_BAD_JSON"),
        ),
        (
            "a transaction without its origin",
            RemoteRequest::put(format!("{v1}/send/bad2"), json!({ "pdus": [] })),
            (400, "M_BAD_JSON"),
        ),
        (
            "an event ID that is none",
            RemoteRequest::get(format!("{v1}/event/nonsense")),
            (400, "M_INVALID_PARAM"),
        ),
        (
            "an unknown event",
            RemoteRequest::get(format!("{v1}/event/{unknown_event}")),
            (404, "M_NOT_FOUND"),
        ),
        (
            "state without the event",
            RemoteRequest::get(format!("{v1}/state_ids/{r}")),
            (400, "M_MISSING_PARAM"),
        ),
        (
            "state at an unknown event",
            RemoteRequest::get(format!("{v1}/state_ids/{r}?event_id={unknown_event}")),
            (404, "M_NOT_FOUND"),
        ),
        (
            "state of an unknown room",
            RemoteRequest::get(format!(
                "{v1}/state/{unknown_room}?event_id={unknown_event}"
            )),
            (404, "M_NOT_FOUND"),
        ),
        (
            "backfill with a limit that is no number",
            RemoteRequest::get(format!("{v1}/backfill/{r}?v={unknown_event}&limit=many")),
            (400, "M_INVALID_PARAM"),
        ),
        (
            "missing events with a limit of the wrong type",
            RemoteRequest::post(
                format!("{v1}/get_missing_events/{r}"),
                json!({ "earliest_events": [], "latest_events": [], "limit": "ten" }),
            ),
            (400, "M_BAD_JSON"),
        ),
        (
            "make_join for a user ID that is none",
            RemoteRequest::get(format!("{v1}/make_join/{r}/not-a-user?ver=12")),
            (400, "M_INVALID_PARAM"),
        ),
        (
            "make_join for a user of another server",
            RemoteRequest::get(format!(
                "{v1}/make_join/{r}/{}?ver=12",
                encode("@mallory:elsewhere.example")
            )),
            (403, "M_FORBIDDEN"),
        ),
        (
            "make_join in an unknown room",
            RemoteRequest::get(format!(
                "{v1}/make_join/{unknown_room}/{}?ver=12",
                encode(&bob_id)
            )),
            (404, "M_NOT_FOUND"),
        ),
        (
            "send_join with an event that is none",
            RemoteRequest::put(
                format!("/_matrix/federation/v2/send_join/{r}/{unknown_event}"),
                json!({ "type": "m.room.member" }),
            ),
            (403, "M_FORBIDDEN"),
        ),
        (
            "a profile query for a user ID that is none",
            RemoteRequest::get(format!("{v1}/query/profile?user_id=nobody")),
            (400, "M_INVALID_PARAM"),
        ),
        (
            "a profile query for an unknown user",
            RemoteRequest::get(format!(
                "{v1}/query/profile?user_id={}",
                encode(&format!("@nobody:{}", a.name))
            )),
            (404, "M_NOT_FOUND"),
        ),
        (
            "a directory query for an alias that is none",
            RemoteRequest::get(format!("{v1}/query/directory?room_alias=nothing")),
            (400, "M_INVALID_PARAM"),
        ),
    ];
    for (what, request, (status, errcode)) in cases {
        assert_eq!(
            matrix_error(as_b.request(&a, request).await),
            (status, errcode.to_owned()),
            "{what}"
        );
    }
    assert_eq!(state_ids(&alice, &encode(&room)).await, state_before);
    // The room still works for B.
    send_text(&bob, &encode(&room), "after", "still here").await;
}

#[tokio::test]
async fn a_redaction_that_arrives_before_its_target_takes_effect_later() {
    let SharedRoom {
        dir: _dir,
        ca,
        a,
        b,
        alice,
        bob: _bob,
        bob_id,
        room,
    } = shared_room().await;
    let as_b = SpeakFor::new(&b, &ca);

    // Both cite the room's newest event; the redaction is sent first.
    let target = as_b.sign(
        skeleton(
            &alice,
            &room,
            &bob_id,
            "m.room.message",
            None,
            json!({ "msgtype": "m.text", "body": "regretted" }),
        )
        .await,
    );
    let target_id = event_id(&target);
    let redaction = as_b.sign(
        skeleton(
            &alice,
            &room,
            &bob_id,
            "m.room.redaction",
            None,
            json!({ "redacts": target_id }),
        )
        .await,
    );
    let answer = as_b
        .send(&a, "early", vec![json_of(&redaction)])
        .await
        .expect("the redaction");
    assert_eq!(answer["pdus"][event_id(&redaction)], json!({}), "{answer}");
    let answer = as_b
        .send(&a, "late", vec![json_of(&target)])
        .await
        .expect("the target");
    assert_eq!(answer["pdus"][&target_id], json!({}), "{answer}");

    let (status, shown) = event_status(&alice, &room, &target_id).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown["content"],
        json!({}),
        "the target is shown redacted: {shown}"
    );
    assert_eq!(
        shown["unsigned"]["redacted_because"]["event_id"],
        json!(event_id(&redaction)),
        "{shown}"
    );
}
