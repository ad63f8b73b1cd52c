//! Tests of the authorisation rules, one file per rule group, built on a
//! small room builder.

mod auth_events;
mod create;
mod general;
mod membership;
mod power_levels;
mod properties;
mod selection;
mod signers;
mod third_party_invite;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{authorize, AuthError};
use crate::canonical_json::{object_from_json, CanonicalJsonValue};
use crate::identifiers::EventId;
use crate::pdu::Pdu;
use crate::room_versions::{EventIdFormat, RoomVersion, RoomVersionId};

/// The creator of every test room.
pub(super) const ALICE: &str = "@alice:a.test";
/// A user on another server.
pub(super) const BOB: &str = "@bob:b.test";
/// A third user, on a third server.
pub(super) const CAROL: &str = "@carol:c.test";

/// Room versions in which rules are exercised by default: every version
/// whose rules differ from its predecessor's, and version 2 besides.
pub(super) const VERSIONS: [RoomVersionId; 8] = [
    RoomVersionId::V1,
    RoomVersionId::V2,
    RoomVersionId::V3,
    RoomVersionId::V6,
    RoomVersionId::V8,
    RoomVersionId::V10,
    RoomVersionId::V11,
    RoomVersionId::V12,
];

/// A room under construction: its create event and current state. Events
/// are built with plausible defaults (sequential depth and timestamps,
/// signatures that are never checked) and put into the state without being
/// authorised, so tests can set up any situation.
pub(super) struct TestRoom {
    pub(super) version: &'static RoomVersion,
    pub(super) create: Pdu,
    pub(super) state: BTreeMap<(String, String), Pdu>,
    counter: u64,
}

impl TestRoom {
    /// A room created by Alice, who has joined it; no power levels or join
    /// rules yet.
    pub(super) fn new(version: RoomVersionId) -> Self {
        Self::with_create_content(version, json!({}))
    }

    /// Like [`TestRoom::new`], with extra keys in the create content.
    pub(super) fn with_create_content(version: RoomVersionId, extra: Value) -> Self {
        let rules = version.rules();
        let create = create_event(version, extra);
        let mut room = TestRoom {
            version: rules,
            state: BTreeMap::new(),
            create: create.clone(),
            counter: 1,
        };
        room.insert(create);
        room.set_membership(ALICE, ALICE, "join");
        room
    }

    /// The room ID events use.
    pub(super) fn room_id(&self) -> String {
        self.create.room_id().to_string()
    }

    /// Builds an event of this room.
    pub(super) fn event(
        &mut self,
        sender: &str,
        event_type: &str,
        state_key: Option<&str>,
        content: Value,
    ) -> Pdu {
        self.event_with(sender, event_type, state_key, content, |_| {})
    }

    /// Builds an event, letting `edit` change the JSON before it is parsed.
    pub(super) fn event_with(
        &mut self,
        sender: &str,
        event_type: &str,
        state_key: Option<&str>,
        content: Value,
        edit: impl FnOnce(&mut serde_json::Map<String, Value>),
    ) -> Pdu {
        self.counter += 1;
        let n = self.counter;
        let server = sender
            .split_once(':')
            .map_or("a.test", |(_, server)| server);
        let mut event = json!({
            "type": event_type,
            "sender": sender,
            "room_id": self.room_id(),
            "content": content,
            "depth": n,
            "origin_server_ts": 1_000 + n,
            "prev_events": [reference(self.version, &format!("$prev{n}:a.test"), n)],
            "auth_events": [],
            "hashes": {"sha256": "aGFzaA"},
            "signatures": {server: {"ed25519:1": "c2ln"}},
        });
        let Value::Object(object) = &mut event else {
            unreachable!("built as an object")
        };
        if let Some(state_key) = state_key {
            object.insert("state_key".into(), state_key.into());
        }
        if self.version.event_id_format == EventIdFormat::ServerAssigned {
            object.insert("event_id".into(), format!("${n}:{server}").into());
        }
        edit(object);
        parse(self.version, event)
    }

    /// Puts an event into the state, replacing any with the same key.
    pub(super) fn insert(&mut self, pdu: Pdu) {
        let state_key = pdu
            .state_key()
            .expect("only state events go into the state");
        self.state
            .insert((pdu.event_type().to_owned(), state_key.to_owned()), pdu);
    }

    /// Builds a state event and puts it into the state.
    pub(super) fn set(&mut self, sender: &str, event_type: &str, state_key: &str, content: Value) {
        let pdu = self.event(sender, event_type, Some(state_key), content);
        self.insert(pdu);
    }

    /// Sets `target`'s membership, as sent by `sender`.
    pub(super) fn set_membership(&mut self, sender: &str, target: &str, membership: &str) {
        self.set(
            sender,
            "m.room.member",
            target,
            json!({"membership": membership}),
        );
    }

    /// Lets `user` join (as sent by themselves).
    pub(super) fn join(&mut self, user: &str) {
        self.set_membership(user, user, "join");
    }

    /// Sets the power levels, as sent by Alice.
    pub(super) fn set_power_levels(&mut self, content: Value) {
        self.set(ALICE, "m.room.power_levels", "", content);
    }

    /// Sets the join rule, as sent by Alice.
    pub(super) fn set_join_rule(&mut self, join_rule: &str) {
        self.set(
            ALICE,
            "m.room.join_rules",
            "",
            json!({"join_rule": join_rule}),
        );
    }

    /// Authorises `pdu` against the current state.
    pub(super) fn check(&self, pdu: &Pdu) -> Result<(), AuthError> {
        authorize(pdu, self.version, &self.state)
    }

    /// Builds an event and authorises it against the current state.
    pub(super) fn check_new(
        &mut self,
        sender: &str,
        event_type: &str,
        state_key: Option<&str>,
        content: Value,
    ) -> Result<(), AuthError> {
        let pdu = self.event(sender, event_type, state_key, content);
        self.check(&pdu)
    }

    /// Authorises a membership change of `target` sent by `sender`.
    pub(super) fn check_membership(
        &mut self,
        sender: &str,
        target: &str,
        membership: &str,
    ) -> Result<(), AuthError> {
        self.check_new(
            sender,
            "m.room.member",
            Some(target),
            json!({"membership": membership}),
        )
    }
}

/// Parses test JSON as a PDU of `version`, which it must be.
pub(super) fn parse(version: &RoomVersion, event: Value) -> Pdu {
    let object = object_from_json(event).expect("test events are canonical JSON");
    Pdu::from_canonical(object, version).expect("test events are valid PDUs")
}

/// An entry of `prev_events` or `auth_events` in the version's format.
pub(super) fn reference(version: &RoomVersion, id: &str, n: u64) -> Value {
    if version.event_id_format == EventIdFormat::ServerAssigned {
        json!([id, {"sha256": format!("aGFzaA{n}")}])
    } else {
        json!(id)
    }
}

/// Alice's create event for a room of `version`, with `extra` content.
pub(super) fn create_event(version: RoomVersionId, extra: Value) -> Pdu {
    let rules = version.rules();
    let mut content = json!({"room_version": version.as_str()});
    if !rules.creator_is_sender {
        content["creator"] = ALICE.into();
    }
    if let (Value::Object(content), Value::Object(extra)) = (&mut content, extra) {
        content.extend(extra);
    }
    let mut event = json!({
        "type": "m.room.create",
        "state_key": "",
        "sender": ALICE,
        "content": content,
        "depth": 1,
        "origin_server_ts": 1_000,
        "prev_events": [],
        "auth_events": [],
        "hashes": {"sha256": "aGFzaA"},
        "signatures": {"a.test": {"ed25519:1": "c2ln"}},
    });
    if rules.create_event_has_room_id() {
        event["room_id"] = "!room:a.test".into();
    }
    if rules.event_id_format == EventIdFormat::ServerAssigned {
        event["event_id"] = "$create:a.test".into();
    }
    parse(rules, event)
}

/// A copy of `pdu` with its JSON changed by `edit`.
pub(super) fn edited(
    pdu: &Pdu,
    version: &RoomVersion,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> Pdu {
    let mut event = Value::from(CanonicalJsonValue::Object(pdu.as_object().clone()));
    if let Value::Object(object) = &mut event {
        edit(object);
    }
    parse(version, event)
}
