//! Property tests: the rules never panic, whatever the events and state.

use proptest::prelude::*;
use serde_json::json;

use super::super::{AuthEvents, AuthState};
use super::*;
use crate::canonical_json::CanonicalJsonObject;

const USERS: [&str; 5] = [ALICE, BOB, CAROL, "@dave:a.test", "@:b.test"];

const EVENT_TYPES: [&str; 10] = [
    "m.room.create",
    "m.room.member",
    "m.room.member",
    "m.room.power_levels",
    "m.room.join_rules",
    "m.room.third_party_invite",
    "m.room.aliases",
    "m.room.redaction",
    "m.room.message",
    "m.room.topic",
];

const CONTENT_KEYS: [&str; 24] = [
    "membership",
    "membership",
    "join_rule",
    "users",
    "users_default",
    "events",
    "events_default",
    "state_default",
    "notifications",
    "ban",
    "kick",
    "invite",
    "redact",
    "creator",
    "additional_creators",
    "m.federate",
    "room_version",
    "third_party_invite",
    "join_authorised_via_users_server",
    "public_key",
    "public_keys",
    "redacts",
    "signed",
    "token",
];

const WORDS: [&str; 16] = [
    "join",
    "invite",
    "leave",
    "ban",
    "knock",
    "public",
    "restricted",
    "knock_restricted",
    "private",
    "50",
    " +100 ",
    "-0",
    "x",
    "12",
    "tok",
    "",
];

/// Content values the rules react to: memberships and join rules, user IDs,
/// levels as integers and strings, maps of levels, and anything else.
fn arb_content_value() -> BoxedStrategy<CanonicalJsonValue> {
    let word = prop::sample::select(&WORDS[..]).prop_map(CanonicalJsonValue::from);
    let user = prop::sample::select(&USERS[..]).prop_map(CanonicalJsonValue::from);
    let level = prop_oneof![
        (-5i64..120).prop_map(CanonicalJsonValue::Integer),
        word.clone(),
    ];
    let map_key = prop_oneof![
        prop::sample::select(&USERS[..]),
        prop::sample::select(&EVENT_TYPES[..]),
        Just("room"),
    ]
    .prop_map(str::to_owned);
    let leaf = prop_oneof![
        word,
        user.clone(),
        level.clone(),
        any::<bool>().prop_map(CanonicalJsonValue::Bool),
        prop::collection::btree_map(map_key, level, 0..4).prop_map(CanonicalJsonValue::Object),
        prop::collection::vec(user, 0..3).prop_map(CanonicalJsonValue::Array),
        crate::canonical_json::tests::arb_value(),
    ];
    // One level of nesting reaches `third_party_invite.signed.token` and
    // `public_keys[].public_key`.
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            prop::collection::btree_map(
                prop::sample::select(&CONTENT_KEYS[..]).prop_map(str::to_owned),
                inner.clone(),
                0..4
            )
            .prop_map(CanonicalJsonValue::Object),
            prop::collection::vec(inner, 0..3).prop_map(CanonicalJsonValue::Array),
        ]
    })
    .boxed()
}

fn arb_content() -> impl Strategy<Value = CanonicalJsonObject> {
    prop::collection::btree_map(
        prop::sample::select(&CONTENT_KEYS[..]).prop_map(str::to_owned),
        arb_content_value(),
        0..6,
    )
}

/// What an event is made of; turned into a PDU per room version.
#[derive(Clone, Debug)]
struct EventSpec {
    event_type: &'static str,
    sender: &'static str,
    state_key: Option<String>,
    content: CanonicalJsonObject,
    after_create: bool,
    with_room_id: bool,
    /// Whether to give the event the key its type is about (a membership,
    /// a join rule, a state key), so most events get past the first rules.
    typical: bool,
    /// The membership or join rule of a typical event.
    word: &'static str,
    /// The target of a typical member event.
    target: &'static str,
}

fn arb_event_spec() -> impl Strategy<Value = EventSpec> {
    let state_key = prop_oneof![
        Just(None),
        Just(Some(String::new())),
        prop::sample::select(&USERS[..]).prop_map(|user| Some(user.to_owned())),
        prop::sample::select(&["a.test", "b.test", "tok", "@nobody"][..])
            .prop_map(|key| Some(key.to_owned())),
    ];
    (
        (
            prop::sample::select(&EVENT_TYPES[..]),
            prop::sample::select(&USERS[..]),
            state_key,
            arb_content(),
        ),
        (
            any::<bool>(),
            prop::bool::weighted(0.9),
            prop::bool::weighted(0.8),
            prop::sample::select(&WORDS[..9]),
            prop::sample::select(&USERS[..]),
        ),
    )
        .prop_map(
            |(
                (event_type, sender, state_key, content),
                (after_create, with_room_id, typical, word, target),
            )| {
                EventSpec {
                    event_type,
                    sender,
                    state_key,
                    content,
                    after_create,
                    with_room_id,
                    typical,
                    word,
                    target,
                }
            },
        )
}

/// The spec as a PDU of `version` in the room of `create` (a create spec
/// becomes a create event without predecessors), if it is a valid one.
fn build(spec: &EventSpec, version: &RoomVersion, create: Option<&Pdu>, n: u64) -> Option<Pdu> {
    let server = spec.sender.split_once(':').map_or("a.test", |(_, s)| s);
    let prev = match create {
        Some(create) if spec.after_create => {
            vec![reference(version, create.event_id().as_str(), n)]
        }
        Some(_) => vec![reference(version, &format!("$p{n}:a.test"), n)],
        None => vec![],
    };
    let mut event = json!({
        "type": spec.event_type,
        "sender": spec.sender,
        "content": Value::from(CanonicalJsonValue::Object(spec.content.clone())),
        "depth": n,
        "origin_server_ts": n,
        "prev_events": prev,
        "auth_events": [],
        "hashes": {"sha256": "aGFzaA"},
        "signatures": {server: {"ed25519:1": "c2ln"}},
    });
    if let Some(state_key) = &spec.state_key {
        event["state_key"] = state_key.as_str().into();
    }
    if spec.typical {
        let (key, state_key) = match spec.event_type {
            "m.room.member" => (Some("membership"), spec.target),
            "m.room.join_rules" => (Some("join_rule"), ""),
            "m.room.message" | "m.room.redaction" => (None, ""),
            _ => (None, spec.state_key.as_deref().unwrap_or("")),
        };
        if let Some(key) = key {
            event["content"][key] = spec.word.into();
        }
        if !matches!(spec.event_type, "m.room.message" | "m.room.redaction") {
            event["state_key"] = state_key.into();
        }
    }
    let room_id = create.map_or("!room:a.test".to_owned(), |c| c.room_id().to_string());
    if spec.with_room_id {
        event["room_id"] = room_id.into();
    }
    if version.event_id_format == EventIdFormat::ServerAssigned {
        event["event_id"] = format!("${n}:{server}").into();
    }
    let object = object_from_json(event).ok()?;
    Pdu::from_canonical(object, version).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn authorisation_never_panics(
        create in arb_content(),
        joined in prop::collection::vec(any::<bool>(), USERS.len()),
        state in prop::collection::vec(arb_event_spec(), 0..8),
        event in arb_event_spec(),
    ) {
        let create_spec = EventSpec {
            event_type: "m.room.create",
            sender: ALICE,
            state_key: Some(String::new()),
            content: create,
            after_create: false,
            with_room_id: true,
            typical: false,
            word: "",
            target: ALICE,
        };
        // Joins of some users, then arbitrary state on top.
        let joins = USERS.iter().zip(&joined).filter(|(_, joined)| **joined).map(|(user, _)| EventSpec {
            event_type: "m.room.member",
            sender: user,
            state_key: None,
            content: CanonicalJsonObject::new(),
            after_create: false,
            with_room_id: true,
            typical: true,
            word: "join",
            target: user,
        });
        let state: Vec<EventSpec> = joins.chain(state).collect();
        for version in RoomVersionId::ALL {
            let rules = version.rules();
            let mut create_spec = create_spec.clone();
            create_spec.with_room_id = rules.create_event_has_room_id();
            let Some(create) = build(&create_spec, rules, None, 1) else { continue };
            let mut room: BTreeMap<(String, String), Pdu> = BTreeMap::new();
            room.insert(("m.room.create".into(), String::new()), create.clone());
            let mut by_id = BTreeMap::new();
            by_id.insert(create.event_id().clone(), create.clone());
            for (n, spec) in (2..).zip(&state) {
                let Some(pdu) = build(spec, rules, Some(&create), n) else { continue };
                by_id.insert(pdu.event_id().clone(), pdu.clone());
                if let Some(state_key) = pdu.state_key() {
                    room.insert((pdu.event_type().to_owned(), state_key.to_owned()), pdu.clone());
                }
            }
            let Some(pdu) = build(&event, rules, Some(&create), 100) else { continue };

            let result = authorize(&pdu, rules, &room);
            prop_assert_eq!(&result, &authorize(&pdu, rules, &room), "deterministic");
            let _ = authorize(&pdu, rules, &BTreeMap::new());
            let _ = authorize(&create, rules, &room);
            if let Ok(auth_events) = AuthEvents::from_cited(&pdu, rules, |id| by_id.get(id).cloned()) {
                let _ = authorize(&pdu, rules, &auth_events);
                for cited in auth_events.iter() {
                    let key = cited.state_key().unwrap_or_default();
                    prop_assert!(auth_events.get(cited.event_type(), key).is_some());
                }
            }
        }
    }

    #[test]
    fn parsing_arbitrary_objects_never_panics(event in crate::redaction::tests::arb_event()) {
        for version in RoomVersionId::ALL {
            if let Ok(pdu) = Pdu::from_canonical(event.clone(), version.rules()) {
                let _ = authorize(&pdu, version.rules(), &BTreeMap::new());
                let _ = crate::auth::required_signers(&pdu, version.rules());
            }
        }
    }
}
