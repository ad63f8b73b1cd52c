use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const ALICE: &str = "@alice:example.org";
const BOB: &str = "@bob:example.org";
const ROOM: &str = "!room:example.org";

static NO_LEVELS: BTreeMap<String, i64> = BTreeMap::new();

/// Alice, in a room of `member_count`, receiving an event from a sender
/// with power level 0.
fn context(member_count: u64) -> EvalContext<'static> {
    EvalContext {
        user_id: ALICE,
        display_name: Some("Alice"),
        member_count,
        sender_power_level: UserPowerLevel::Finite(0),
        notification_power_levels: &NO_LEVELS,
    }
}

fn event(event_type: &str, content: Value) -> Value {
    json!({ "type": event_type, "sender": BOB, "room_id": ROOM, "content": content })
}

fn state_event(event_type: &str, state_key: &str, content: Value) -> Value {
    let mut event = event(event_type, content);
    event["state_key"] = json!(state_key);
    event
}

fn text(body: &str) -> Value {
    event(
        "m.room.message",
        json!({ "msgtype": "m.text", "body": body }),
    )
}

fn defaults() -> Ruleset {
    Ruleset::server_default(ALICE)
}

/// The ID of the rule deciding `event`, if any.
fn decided_by(ruleset: &Ruleset, event: &Value, context: &EvalContext<'_>) -> Option<String> {
    ruleset
        .evaluate(event, context)
        .map(|outcome| outcome.rule.rule_id.clone())
}

/// Rule ID, notify, highlight and sound of the outcome for `event`.
fn outcome(
    ruleset: &Ruleset,
    event: &Value,
    context: &EvalContext<'_>,
) -> Option<(String, bool, bool, Option<Value>)> {
    ruleset.evaluate(event, context).map(|outcome| {
        (
            outcome.rule.rule_id.clone(),
            outcome.notify(),
            outcome.highlight(),
            outcome.tweaks().get("sound").cloned(),
        )
    })
}

fn expected(
    rule_id: &str,
    notify: bool,
    highlight: bool,
    sound: Option<&str>,
) -> Option<(String, bool, bool, Option<Value>)> {
    Some((
        rule_id.to_owned(),
        notify,
        highlight,
        sound.map(Value::from),
    ))
}

/// A user override rule with these conditions and actions.
fn user_override(rule_id: &str, conditions: Value, actions: Value) -> PushRule {
    PushRule::from_request(
        RuleKind::Override,
        rule_id,
        &json!({ "conditions": conditions, "actions": actions }),
    )
    .unwrap()
}

/// A ruleset of just one user override rule.
fn only_override(conditions: Value) -> Ruleset {
    Ruleset {
        override_: vec![user_override("only", conditions, json!(["notify"]))],
        ..Ruleset::default()
    }
}

fn ids(rules: &[PushRule]) -> Vec<&str> {
    rules.iter().map(|rule| rule.rule_id.as_str()).collect()
}

// The server-default rules.

#[test]
fn server_defaults_are_the_specification_rules() {
    let user = "[the user's Matrix ID]";
    let sound = |sound: &str| json!({ "set_tweak": "sound", "value": sound });
    let highlight = json!({ "set_tweak": "highlight" });
    let type_is =
        |event_type: &str| json!({ "kind": "event_match", "key": "type", "pattern": event_type });
    let state_key_empty = json!({ "kind": "event_match", "key": "state_key", "pattern": "" });
    let two_members = json!({ "kind": "room_member_count", "is": "2" });
    let rule = |rule_id: &str, conditions: Value, actions: Value| {
        json!({
            "rule_id": rule_id,
            "default": true,
            "enabled": rule_id != ".m.rule.master",
            "conditions": conditions,
            "actions": actions,
        })
    };
    let expected = json!({
        "override": [
            rule(".m.rule.master", json!([]), json!([])),
            rule(
                ".m.rule.suppress_notices",
                json!([{ "kind": "event_match", "key": "content.msgtype", "pattern": "m.notice" }]),
                json!([]),
            ),
            rule(
                ".m.rule.invite_for_me",
                json!([
                    type_is("m.room.member"),
                    { "kind": "event_match", "key": "content.membership", "pattern": "invite" },
                    { "kind": "event_match", "key": "state_key", "pattern": user },
                ]),
                json!(["notify", sound("default")]),
            ),
            rule(".m.rule.member_event", json!([type_is("m.room.member")]), json!([])),
            rule(
                ".m.rule.is_user_mention",
                json!([{
                    "kind": "event_property_contains",
                    "key": "content.m\\.mentions.user_ids",
                    "value": user,
                }]),
                json!(["notify", sound("default"), highlight]),
            ),
            rule(
                ".m.rule.is_room_mention",
                json!([
                    { "kind": "event_property_is", "key": "content.m\\.mentions.room", "value": true },
                    { "kind": "sender_notification_permission", "key": "room" },
                ]),
                json!(["notify", highlight]),
            ),
            rule(
                ".m.rule.tombstone",
                json!([type_is("m.room.tombstone"), state_key_empty]),
                json!(["notify", highlight]),
            ),
            rule(".m.rule.reaction", json!([type_is("m.reaction")]), json!([])),
            rule(
                ".m.rule.room.server_acl",
                json!([type_is("m.room.server_acl"), state_key_empty]),
                json!([]),
            ),
            rule(
                ".m.rule.suppress_edits",
                json!([{
                    "kind": "event_property_is",
                    "key": "content.m\\.relates_to.rel_type",
                    "value": "m.replace",
                }]),
                json!([]),
            ),
        ],
        "content": [],
        "room": [],
        "sender": [],
        "underride": [
            rule(".m.rule.call", json!([type_is("m.call.invite")]), json!(["notify", sound("ring")])),
            rule(
                ".m.rule.encrypted_room_one_to_one",
                json!([two_members, type_is("m.room.encrypted")]),
                json!(["notify", sound("default")]),
            ),
            rule(
                ".m.rule.room_one_to_one",
                json!([two_members, type_is("m.room.message")]),
                json!(["notify", sound("default")]),
            ),
            rule(".m.rule.message", json!([type_is("m.room.message")]), json!(["notify"])),
            rule(".m.rule.encrypted", json!([type_is("m.room.encrypted")]), json!(["notify"])),
        ],
    });
    let actual = serde_json::to_value(Ruleset::server_default(user)).unwrap();
    assert_eq!(actual, expected);
}

#[test]
fn rulesets_read_back_as_written() {
    let mut ruleset = defaults();
    let content = PushRule::from_request(
        RuleKind::Content,
        "cake",
        &json!({ "pattern": "cake", "actions": ["notify"] }),
    )
    .unwrap();
    ruleset
        .insert_user_rule(RuleKind::Content, content, Position::Unspecified)
        .unwrap();
    let json = serde_json::to_value(&ruleset).unwrap();
    assert_eq!(
        json["content"],
        json!([{ "rule_id": "cake", "default": false, "enabled": true, "actions": ["notify"], "pattern": "cake" }])
    );
    assert_eq!(serde_json::from_value::<Ruleset>(json).unwrap(), ruleset);
}

#[test]
fn missing_kinds_read_as_empty() {
    let ruleset: Ruleset = serde_json::from_value(json!({ "room": [] })).unwrap();
    assert_eq!(ruleset, Ruleset::default());
}

// Each default rule on an event it is meant for, and on a near miss.

#[test]
fn notices_are_suppressed() {
    let notice = event(
        "m.room.message",
        json!({ "msgtype": "m.notice", "body": "beep" }),
    );
    assert_eq!(
        outcome(&defaults(), &notice, &context(5)),
        expected(".m.rule.suppress_notices", false, false, None)
    );
    let upper = event(
        "m.room.message",
        json!({ "msgtype": "M.NOTICE", "body": "beep" }),
    );
    assert_eq!(
        decided_by(&defaults(), &upper, &context(5)).as_deref(),
        Some(".m.rule.suppress_notices")
    );
    let emote = event(
        "m.room.message",
        json!({ "msgtype": "m.notice.emote", "body": "beep" }),
    );
    assert_eq!(
        outcome(&defaults(), &emote, &context(5)),
        expected(".m.rule.message", true, false, None)
    );
}

#[test]
fn invites_for_the_user_notify_with_sound() {
    let invite =
        |invitee: &str| state_event("m.room.member", invitee, json!({ "membership": "invite" }));
    assert_eq!(
        outcome(&defaults(), &invite(ALICE), &context(5)),
        expected(".m.rule.invite_for_me", true, false, Some("default"))
    );
    assert_eq!(
        outcome(&defaults(), &invite("@carol:example.org"), &context(5)),
        expected(".m.rule.member_event", false, false, None)
    );
    let join = state_event("m.room.member", ALICE, json!({ "membership": "join" }));
    assert_eq!(
        outcome(&defaults(), &join, &context(5)),
        expected(".m.rule.member_event", false, false, None)
    );
}

#[test]
fn user_mentions_highlight() {
    let mention = |user_ids: Value| {
        event(
            "m.room.message",
            json!({ "body": "hey", "m.mentions": { "user_ids": user_ids } }),
        )
    };
    assert_eq!(
        outcome(&defaults(), &mention(json!([BOB, ALICE])), &context(5)),
        expected(".m.rule.is_user_mention", true, true, Some("default"))
    );
    assert_eq!(
        outcome(&defaults(), &mention(json!([BOB])), &context(5)),
        expected(".m.rule.message", true, false, None)
    );
    // The user ID as the list itself, or nested under `m` then `mentions`,
    // is not a mention.
    assert_eq!(
        decided_by(&defaults(), &mention(json!(ALICE)), &context(5)).as_deref(),
        Some(".m.rule.message")
    );
    let nested = event(
        "m.room.message",
        json!({ "body": "hey", "m": { "mentions": { "user_ids": [ALICE] } } }),
    );
    assert_eq!(
        decided_by(&defaults(), &nested, &context(5)).as_deref(),
        Some(".m.rule.message")
    );
}

#[test]
fn room_mentions_highlight_when_the_sender_may_make_them() {
    let mention = |room: Value| {
        event(
            "m.room.message",
            json!({ "body": "all", "m.mentions": { "room": room } }),
        )
    };
    let moderator = EvalContext {
        sender_power_level: UserPowerLevel::Finite(50),
        ..context(5)
    };
    assert_eq!(
        outcome(&defaults(), &mention(json!(true)), &moderator),
        expected(".m.rule.is_room_mention", true, true, None)
    );
    assert_eq!(
        decided_by(&defaults(), &mention(json!(true)), &context(5)).as_deref(),
        Some(".m.rule.message")
    );
    assert_eq!(
        decided_by(&defaults(), &mention(json!("true")), &moderator).as_deref(),
        Some(".m.rule.message")
    );

    let open = BTreeMap::from([("room".to_owned(), 0)]);
    let anyone = EvalContext {
        notification_power_levels: &open,
        ..context(5)
    };
    assert_eq!(
        decided_by(&defaults(), &mention(json!(true)), &anyone).as_deref(),
        Some(".m.rule.is_room_mention")
    );

    let strict = BTreeMap::from([("room".to_owned(), 100)]);
    let moderator_in_strict_room = EvalContext {
        notification_power_levels: &strict,
        ..moderator
    };
    assert_eq!(
        decided_by(
            &defaults(),
            &mention(json!(true)),
            &moderator_in_strict_room
        )
        .as_deref(),
        Some(".m.rule.message")
    );
    let creator = EvalContext {
        sender_power_level: UserPowerLevel::Infinite,
        ..moderator_in_strict_room
    };
    assert_eq!(
        decided_by(&defaults(), &mention(json!(true)), &creator).as_deref(),
        Some(".m.rule.is_room_mention")
    );
}

#[test]
fn tombstones_highlight_only_as_state_events() {
    let content = json!({ "body": "moved", "replacement_room": "!new:example.org" });
    assert_eq!(
        outcome(
            &defaults(),
            &state_event("m.room.tombstone", "", content.clone()),
            &context(5)
        ),
        expected(".m.rule.tombstone", true, true, None)
    );
    assert_eq!(
        decided_by(
            &defaults(),
            &event("m.room.tombstone", content.clone()),
            &context(5)
        ),
        None
    );
    assert_eq!(
        decided_by(
            &defaults(),
            &state_event("m.room.tombstone", "x", content),
            &context(5)
        ),
        None
    );
}

#[test]
fn reactions_do_nothing() {
    let reaction = event(
        "m.reaction",
        json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": "$e", "key": "👍" } }),
    );
    assert_eq!(
        outcome(&defaults(), &reaction, &context(2)),
        expected(".m.rule.reaction", false, false, None)
    );
    assert_eq!(
        decided_by(&defaults(), &event("m.reactions", json!({})), &context(2)),
        None
    );
}

#[test]
fn server_acl_changes_are_suppressed() {
    let acl = state_event("m.room.server_acl", "", json!({ "allow": ["*"] }));
    assert_eq!(
        decided_by(&defaults(), &acl, &context(5)).as_deref(),
        Some(".m.rule.room.server_acl")
    );
    let keyed = state_event("m.room.server_acl", "x", json!({ "allow": ["*"] }));
    assert_eq!(decided_by(&defaults(), &keyed, &context(5)), None);
}

#[test]
fn edits_are_suppressed() {
    let relating = |rel_type: &str| {
        event(
            "m.room.message",
            json!({ "body": "* fixed", "m.relates_to": { "rel_type": rel_type, "event_id": "$e" } }),
        )
    };
    assert_eq!(
        outcome(&defaults(), &relating("m.replace"), &context(2)),
        expected(".m.rule.suppress_edits", false, false, None)
    );
    assert_eq!(
        outcome(&defaults(), &relating("m.thread"), &context(2)),
        expected(".m.rule.room_one_to_one", true, false, Some("default"))
    );
}

#[test]
fn calls_ring() {
    let invite = event("m.call.invite", json!({ "call_id": "c", "version": 0 }));
    assert_eq!(
        outcome(&defaults(), &invite, &context(5)),
        expected(".m.rule.call", true, false, Some("ring"))
    );
    assert_eq!(
        decided_by(&defaults(), &event("m.call.answer", json!({})), &context(5)),
        None
    );
}

#[test]
fn one_to_one_messages_notify_with_sound_and_others_without() {
    assert_eq!(
        outcome(&defaults(), &text("hi"), &context(2)),
        expected(".m.rule.room_one_to_one", true, false, Some("default"))
    );
    assert_eq!(
        outcome(&defaults(), &text("hi"), &context(3)),
        expected(".m.rule.message", true, false, None)
    );
    assert_eq!(
        outcome(&defaults(), &text("hi"), &context(1)),
        expected(".m.rule.message", true, false, None)
    );
}

#[test]
fn encrypted_events_notify_with_sound_only_one_to_one() {
    let encrypted = event(
        "m.room.encrypted",
        json!({ "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "…" }),
    );
    assert_eq!(
        outcome(&defaults(), &encrypted, &context(2)),
        expected(
            ".m.rule.encrypted_room_one_to_one",
            true,
            false,
            Some("default")
        )
    );
    assert_eq!(
        outcome(&defaults(), &encrypted, &context(3)),
        expected(".m.rule.encrypted", true, false, None)
    );
}

#[test]
fn other_events_match_nothing() {
    assert_eq!(
        decided_by(
            &defaults(),
            &state_event("m.room.topic", "", json!({ "topic": "t" })),
            &context(2)
        ),
        None
    );
}

#[test]
fn the_users_own_events_never_match() {
    let mut own = text("hi");
    own["sender"] = json!(ALICE);
    assert_eq!(decided_by(&defaults(), &own, &context(2)), None);
}

// Enabling and disabling.

#[test]
fn disabled_rules_never_match() {
    let mut ruleset = defaults();
    ruleset
        .rule_mut(RuleKind::Underride, ".m.rule.message")
        .unwrap()
        .enabled = false;
    assert_eq!(decided_by(&ruleset, &text("hi"), &context(3)), None);
    assert_eq!(
        decided_by(&ruleset, &text("hi"), &context(2)).as_deref(),
        Some(".m.rule.room_one_to_one")
    );
}

#[test]
fn the_master_rule_silences_everything_including_user_rules() {
    let mut ruleset = defaults();
    let loud = user_override(
        "loud",
        json!([]),
        json!(["notify", { "set_tweak": "highlight" }]),
    );
    ruleset
        .insert_user_rule(RuleKind::Override, loud, Position::Unspecified)
        .unwrap();
    assert_eq!(
        decided_by(&ruleset, &text("hi"), &context(2)).as_deref(),
        Some("loud")
    );

    ruleset
        .rule_mut(RuleKind::Override, ".m.rule.master")
        .unwrap()
        .enabled = true;
    let mention = event(
        "m.room.message",
        json!({ "body": "hey", "m.mentions": { "user_ids": [ALICE] } }),
    );
    let invite = state_event("m.room.member", ALICE, json!({ "membership": "invite" }));
    for event in [text("hi"), mention, invite] {
        assert_eq!(
            outcome(&ruleset, &event, &context(2)),
            expected(".m.rule.master", false, false, None)
        );
    }
}

// Precedence.

#[test]
fn user_overrides_rank_above_default_overrides() {
    let mut ruleset = defaults();
    let quiet_room = user_override(
        "quiet",
        json!([{ "kind": "event_match", "key": "room_id", "pattern": ROOM }]),
        json!([]),
    );
    ruleset
        .insert_user_rule(RuleKind::Override, quiet_room, Position::Unspecified)
        .unwrap();
    assert_eq!(
        ids(&ruleset.override_)[..3],
        [".m.rule.master", "quiet", ".m.rule.suppress_notices"]
    );
    let mention = event(
        "m.room.message",
        json!({ "body": "hey", "m.mentions": { "user_ids": [ALICE] } }),
    );
    assert_eq!(
        outcome(&ruleset, &mention, &context(5)),
        expected("quiet", false, false, None)
    );
    let elsewhere = json!({ "type": "m.room.message", "sender": BOB, "room_id": "!other:example.org", "content": { "body": "hey", "m.mentions": { "user_ids": [ALICE] } } });
    assert_eq!(
        decided_by(&ruleset, &elsewhere, &context(5)).as_deref(),
        Some(".m.rule.is_user_mention")
    );
}

#[test]
fn kinds_are_tried_in_order() {
    let mut ruleset = defaults();
    let put = |ruleset: &mut Ruleset, kind: RuleKind, rule_id: &str, body: Value| {
        let rule = PushRule::from_request(kind, rule_id, &body).unwrap();
        ruleset
            .insert_user_rule(kind, rule, Position::Unspecified)
            .unwrap();
    };
    put(
        &mut ruleset,
        RuleKind::Sender,
        BOB,
        json!({ "actions": [] }),
    );
    assert_eq!(
        decided_by(&ruleset, &text("cake"), &context(3)).as_deref(),
        Some(BOB)
    );
    put(
        &mut ruleset,
        RuleKind::Room,
        ROOM,
        json!({ "actions": ["notify"] }),
    );
    assert_eq!(
        decided_by(&ruleset, &text("cake"), &context(3)).as_deref(),
        Some(ROOM)
    );
    put(
        &mut ruleset,
        RuleKind::Content,
        "cake",
        json!({ "pattern": "cake", "actions": ["notify"] }),
    );
    assert_eq!(
        decided_by(&ruleset, &text("cake"), &context(3)).as_deref(),
        Some("cake")
    );
    // Each only where it applies.
    assert_eq!(
        decided_by(&ruleset, &text("pie"), &context(3)).as_deref(),
        Some(ROOM)
    );
    let mut from_carol = text("pie");
    from_carol["room_id"] = json!("!other:example.org");
    assert_eq!(
        decided_by(&ruleset, &from_carol, &context(3)).as_deref(),
        Some(BOB)
    );
    from_carol["sender"] = json!("@carol:example.org");
    assert_eq!(
        decided_by(&ruleset, &from_carol, &context(3)).as_deref(),
        Some(".m.rule.message")
    );
}

#[test]
fn content_rules_match_whole_words_of_the_body() {
    let mut ruleset = Ruleset::default();
    let rule = PushRule::from_request(
        RuleKind::Content,
        "c",
        &json!({ "pattern": "cake*lie", "actions": ["notify"] }),
    )
    .unwrap();
    ruleset
        .insert_user_rule(RuleKind::Content, rule, Position::Unspecified)
        .unwrap();
    for body in ["The cake is a lie.", "CAKE LIE", "cake-lie"] {
        assert_eq!(
            decided_by(&ruleset, &text(body), &context(3)).as_deref(),
            Some("c"),
            "{body}"
        );
    }
    for body in ["cupcake lie", "cake lies", "cake"] {
        assert_eq!(
            decided_by(&ruleset, &text(body), &context(3)),
            None,
            "{body}"
        );
    }
    // Not without a string body.
    let no_body = event("m.room.message", json!({ "body": ["cake lie"] }));
    assert_eq!(decided_by(&ruleset, &no_body, &context(3)), None);
}

// Conditions.

#[test]
fn event_match_globs_the_whole_value_case_insensitively() {
    let ruleset = only_override(
        json!([{ "kind": "event_match", "key": "content.topic", "pattern": "lunc?*" }]),
    );
    let topic = |topic: Value| state_event("m.room.topic", "", json!({ "topic": topic }));
    for matching in ["Lunch plans", "LUNCH", "lunch"] {
        assert!(
            ruleset
                .evaluate(&topic(json!(matching)), &context(3))
                .is_some(),
            "{matching}"
        );
    }
    for missing in [
        json!(" lunch"),
        json!("lunc"),
        json!("brunch"),
        Value::Null,
        json!(5),
    ] {
        assert!(
            ruleset
                .evaluate(&topic(missing.clone()), &context(3))
                .is_none(),
            "{missing}"
        );
    }
    // Absent: no match, even for `*`.
    let anything =
        only_override(json!([{ "kind": "event_match", "key": "content.topic", "pattern": "*" }]));
    assert!(anything.evaluate(&topic(json!("")), &context(3)).is_some());
    assert!(anything.evaluate(&text("hi"), &context(3)).is_none());
}

#[test]
fn event_match_on_the_body_matches_words() {
    let ruleset = only_override(
        json!([{ "kind": "event_match", "key": "content.body", "pattern": "ex*ple" }]),
    );
    for matching in [
        "An example event.",
        "exple",
        "An exciting triple-whammy",
        "EXAMPLE",
        "(example)",
    ] {
        assert!(
            ruleset.evaluate(&text(matching), &context(3)).is_some(),
            "{matching}"
        );
    }
    for missing in ["examples", "an_example", "sample", "ex ample2"] {
        assert!(
            ruleset.evaluate(&text(missing), &context(3)).is_none(),
            "{missing}"
        );
    }
    let unicode = only_override(
        json!([{ "kind": "event_match", "key": "content.body", "pattern": "äpfel" }]),
    );
    assert!(unicode
        .evaluate(&text("Grüne ÄPFEL!"), &context(3))
        .is_some());
    assert!(unicode
        .evaluate(&text("Grüne ÄPFELN"), &context(3))
        .is_none());
}

#[test]
fn question_marks_match_exactly_one_character() {
    let ruleset =
        only_override(json!([{ "kind": "event_match", "key": "type", "pattern": "m.?" }]));
    assert!(ruleset
        .evaluate(&event("m.x", json!({})), &context(3))
        .is_some());
    assert!(ruleset
        .evaluate(&event("m.é", json!({})), &context(3))
        .is_some());
    assert!(ruleset
        .evaluate(&event("m.", json!({})), &context(3))
        .is_none());
    assert!(ruleset
        .evaluate(&event("m.xy", json!({})), &context(3))
        .is_none());
}

#[test]
fn property_paths_unescape_dots_and_backslashes() {
    let federate = only_override(
        json!([{ "kind": "event_property_is", "key": "content.m\\.federate", "value": true }]),
    );
    let create = |content: Value| state_event("m.room.create", "", content);
    assert!(federate
        .evaluate(&create(json!({ "m.federate": true })), &context(3))
        .is_some());
    for missing in [
        json!({ "m.federate": "true" }),
        json!({ "m.federate": 1 }),
        json!({ "m": { "federate": true } }),
    ] {
        assert!(
            federate
                .evaluate(&create(missing.clone()), &context(3))
                .is_none(),
            "{missing}"
        );
    }
    let backslash = only_override(
        json!([{ "kind": "event_match", "key": "content.m\\\\foo", "pattern": "x" }]),
    );
    assert!(backslash
        .evaluate(&event("t", json!({ "m\\foo": "x" })), &context(3))
        .is_some());
    assert!(backslash
        .evaluate(&event("t", json!({ "m\\\\foo": "x" })), &context(3))
        .is_none());
}

#[test]
fn event_property_is_compares_exactly() {
    let is = |value: Value| {
        only_override(json!([{ "kind": "event_property_is", "key": "content.n", "value": value }]))
    };
    let with = |n: Value| event("t", json!({ "n": n }));
    assert!(is(json!(1))
        .evaluate(&with(json!(1)), &context(3))
        .is_some());
    assert!(is(json!(1))
        .evaluate(&with(json!(1.0)), &context(3))
        .is_none());
    assert!(is(json!(1))
        .evaluate(&with(json!("1")), &context(3))
        .is_none());
    assert!(is(json!(null))
        .evaluate(&with(json!(null)), &context(3))
        .is_some());
    assert!(is(json!(null))
        .evaluate(&event("t", json!({})), &context(3))
        .is_none());
    assert!(is(json!("a"))
        .evaluate(&with(json!("A")), &context(3))
        .is_none());
    assert!(is(json!("a"))
        .evaluate(&with(json!(["a"])), &context(3))
        .is_none());
}

#[test]
fn event_property_contains_looks_for_an_exact_item() {
    let ruleset = only_override(json!([{
        "kind": "event_property_contains",
        "key": "content.alt_aliases",
        "value": "#myroom:example.com",
    }]));
    let aliases = |aliases: Value| {
        state_event(
            "m.room.canonical_alias",
            "",
            json!({ "alt_aliases": aliases }),
        )
    };
    assert!(ruleset
        .evaluate(
            &aliases(json!(["#somewhere:example.org", "#myroom:example.com"])),
            &context(3)
        )
        .is_some());
    for missing in [
        json!([":example.com"]),
        json!("#myroom:example.com"),
        json!([["#myroom:example.com"]]),
    ] {
        assert!(
            ruleset
                .evaluate(&aliases(missing.clone()), &context(3))
                .is_none(),
            "{missing}"
        );
    }
}

#[test]
fn room_member_count_compares() {
    let cases = [
        ("2", 2, true),
        ("2", 3, false),
        ("==2", 2, true),
        ("<2", 1, true),
        ("<2", 2, false),
        ("<=2", 2, true),
        ("<=2", 3, false),
        (">2", 3, true),
        (">2", 2, false),
        (">=2", 2, true),
        (">=2", 1, false),
    ];
    for (is, count, expected) in cases {
        let ruleset = only_override(json!([{ "kind": "room_member_count", "is": is }]));
        assert_eq!(
            ruleset.evaluate(&text("hi"), &context(count)).is_some(),
            expected,
            "{is} with {count}"
        );
    }
}

#[test]
fn contains_display_name_matches_the_name_as_words() {
    let ruleset = only_override(json!([{ "kind": "contains_display_name" }]));
    assert!(ruleset.evaluate(&text("hi alice!"), &context(3)).is_some());
    assert!(ruleset.evaluate(&text("Alicent"), &context(3)).is_none());
    let nameless = EvalContext {
        display_name: None,
        ..context(3)
    };
    assert!(ruleset.evaluate(&text("hi alice!"), &nameless).is_none());
    let empty_name = EvalContext {
        display_name: Some(""),
        ..context(3)
    };
    assert!(ruleset.evaluate(&text("hi alice!"), &empty_name).is_none());
    // Glob characters in a name are just characters.
    let starry = EvalContext {
        display_name: Some("A*"),
        ..context(3)
    };
    assert!(ruleset.evaluate(&text("Ab"), &starry).is_none());
    assert!(ruleset.evaluate(&text("hi a*"), &starry).is_some());
}

#[test]
fn unknown_and_malformed_conditions_never_match_but_are_kept() {
    let unknown = json!({ "kind": "org.example.future", "key": "type" });
    let malformed = json!({ "kind": "event_match", "key": "type" });
    for condition in [unknown, malformed] {
        let ruleset: Ruleset = serde_json::from_value(json!({ "override": [{
            "rule_id": "r", "default": false, "enabled": true,
            "conditions": [condition], "actions": ["notify"],
        }] }))
        .unwrap();
        assert_eq!(
            ruleset.override_[0].conditions,
            Some(vec![Condition::Unknown(condition.clone())])
        );
        assert!(
            ruleset.evaluate(&text("hi"), &context(3)).is_none(),
            "{condition}"
        );
        assert_eq!(
            serde_json::to_value(&ruleset).unwrap()["override"][0]["conditions"][0],
            condition
        );
    }
    // An unknown condition among others disables the rule; without it the
    // rule matches.
    let mut ruleset = only_override(
        json!([{ "kind": "event_match", "key": "type", "pattern": "m.room.message" }]),
    );
    assert!(ruleset.evaluate(&text("hi"), &context(3)).is_some());
    ruleset.override_[0]
        .conditions
        .as_mut()
        .unwrap()
        .push(Condition::Unknown(json!({ "kind": "x" })));
    assert!(ruleset.evaluate(&text("hi"), &context(3)).is_none());
}

// Actions.

#[test]
fn historical_and_unknown_actions_are_dropped_when_read() {
    let rule: PushRule = serde_json::from_value(json!({
        "rule_id": "r", "default": false, "enabled": true,
        "actions": ["dont_notify", "notify", "coalesce", "org.example.future", { "set_tweak": "sound", "value": "x" }, { "x": 1 }],
    }))
    .unwrap();
    assert_eq!(rule.actions, [Action::Notify, Action::sound("x")]);
    let silent: PushRule = serde_json::from_value(json!({
        "rule_id": "r", "default": false, "enabled": true, "actions": ["dont_notify"],
    }))
    .unwrap();
    assert!(silent.actions.is_empty());
    assert!(serde_json::from_value::<Action>(json!("dont_notify")).is_err());
    assert_eq!(
        serde_json::from_value::<Action>(json!({ "set_tweak": "highlight" })).unwrap(),
        Action::highlight()
    );
}

#[test]
fn highlight_needs_a_true_or_absent_value_and_a_notification() {
    let highlight_of = |actions: Value| {
        let ruleset = Ruleset {
            override_: vec![user_override("r", json!([]), actions)],
            ..Ruleset::default()
        };
        let outcome = ruleset.evaluate(&text("hi"), &context(3)).unwrap();
        (outcome.notify(), outcome.highlight())
    };
    assert_eq!(
        highlight_of(json!(["notify", { "set_tweak": "highlight" }])),
        (true, true)
    );
    assert_eq!(
        highlight_of(json!(["notify", { "set_tweak": "highlight", "value": true }])),
        (true, true)
    );
    assert_eq!(
        highlight_of(json!(["notify", { "set_tweak": "highlight", "value": false }])),
        (true, false)
    );
    assert_eq!(
        highlight_of(
            json!(["notify", { "set_tweak": "highlight" }, { "set_tweak": "highlight", "value": false }])
        ),
        (true, false)
    );
    assert_eq!(
        highlight_of(json!([{ "set_tweak": "highlight" }])),
        (false, false)
    );
}

#[test]
fn tweaks_collect_the_set_tweak_actions() {
    let mention = event(
        "m.room.message",
        json!({ "body": "hey", "m.mentions": { "user_ids": [ALICE] } }),
    );
    let ruleset = defaults();
    let outcome = ruleset.evaluate(&mention, &context(3)).unwrap();
    assert_eq!(
        Value::Object(outcome.tweaks()),
        json!({ "sound": "default", "highlight": true })
    );
    assert_eq!(outcome.actions().len(), 3);
    assert_eq!(outcome.kind, RuleKind::Override);
}

// Rules from clients.

#[test]
fn requests_become_enabled_user_rules() {
    let rule = PushRule::from_request(
        RuleKind::Override,
        "beer",
        &json!({
            "conditions": [
                { "kind": "event_match", "key": "content.body", "pattern": "beer" },
                { "kind": "room_member_count", "is": "<=10" },
                { "kind": "org.example.future" },
            ],
            "actions": ["notify", "dont_notify", { "set_tweak": "sound", "value": "beeroclock.wav" }],
            "pattern": "ignored",
        }),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&rule).unwrap(),
        json!({
            "rule_id": "beer", "default": false, "enabled": true,
            "conditions": [
                { "kind": "event_match", "key": "content.body", "pattern": "beer" },
                { "kind": "room_member_count", "is": "<=10" },
                { "kind": "org.example.future" },
            ],
            "actions": ["notify", { "set_tweak": "sound", "value": "beeroclock.wav" }],
        })
    );
    let bare =
        PushRule::from_request(RuleKind::Underride, "all", &json!({ "actions": [] })).unwrap();
    assert_eq!(bare.conditions, Some(vec![]));
    let sender = PushRule::from_request(
        RuleKind::Sender,
        BOB,
        &json!({ "actions": [], "conditions": "x" }),
    )
    .unwrap();
    assert_eq!((sender.conditions, sender.pattern), (None, None));
}

#[test]
fn bad_requests_are_refused() {
    use PushRuleError::*;
    let notify = json!({ "actions": ["notify"] });
    let cases = [
        (
            RuleKind::Override,
            ".m.rule.mine",
            notify.clone(),
            ReservedRuleId(".m.rule.mine".into()),
        ),
        (
            RuleKind::Override,
            "a/b",
            notify.clone(),
            MalformedRuleId("a/b".into()),
        ),
        (
            RuleKind::Override,
            "a\\b",
            notify.clone(),
            MalformedRuleId("a\\b".into()),
        ),
        (
            RuleKind::Override,
            "",
            notify.clone(),
            MalformedRuleId(String::new()),
        ),
        (
            RuleKind::Room,
            "room",
            notify.clone(),
            NotARoomId("room".into()),
        ),
        (RuleKind::Room, BOB, notify.clone(), NotARoomId(BOB.into())),
        (
            RuleKind::Sender,
            ROOM,
            notify.clone(),
            NotAUserId(ROOM.into()),
        ),
        (RuleKind::Content, "c", notify.clone(), MissingPattern),
        (
            RuleKind::Content,
            "c",
            json!({ "pattern": 1, "actions": [] }),
            MissingPattern,
        ),
        (RuleKind::Override, "o", json!([]), NotAnObject),
        (RuleKind::Override, "o", json!({}), ActionsNotAList),
        (
            RuleKind::Override,
            "o",
            json!({ "actions": "notify" }),
            ActionsNotAList,
        ),
        (
            RuleKind::Override,
            "o",
            json!({ "actions": ["ring"] }),
            UnrecognisedAction(json!("ring")),
        ),
        (
            RuleKind::Override,
            "o",
            json!({ "actions": [{ "set_tweak": 1 }] }),
            UnrecognisedAction(json!({ "set_tweak": 1 })),
        ),
        (
            RuleKind::Override,
            "o",
            json!({ "actions": [], "conditions": {} }),
            ConditionsNotAList,
        ),
        (
            RuleKind::Override,
            "o",
            json!({ "actions": [], "conditions": [{ "key": "type" }] }),
            InvalidCondition(json!({ "key": "type" })),
        ),
        (
            RuleKind::Underride,
            "u",
            json!({ "actions": [], "conditions": [{ "kind": "room_member_count", "is": "+2" }] }),
            InvalidCondition(json!({ "kind": "room_member_count", "is": "+2" })),
        ),
        (
            RuleKind::Underride,
            "u",
            json!({ "actions": [], "conditions": [{ "kind": "event_property_is", "key": "k", "value": 1.5 }] }),
            InvalidCondition(json!({ "kind": "event_property_is", "key": "k", "value": 1.5 })),
        ),
        (
            RuleKind::Underride,
            "u",
            json!({ "actions": [], "conditions": [{ "kind": "event_property_is", "key": "k", "value": 9_007_199_254_740_992_i64 }] }),
            InvalidCondition(
                json!({ "kind": "event_property_is", "key": "k", "value": 9_007_199_254_740_992_i64 }),
            ),
        ),
    ];
    for (kind, rule_id, body, error) in cases {
        assert_eq!(
            PushRule::from_request(kind, rule_id, &body),
            Err(error),
            "{kind} {rule_id:?} {body}"
        );
    }
}

#[test]
fn kinds_parse_from_their_names() {
    for kind in RuleKind::ALL {
        assert_eq!(kind.as_str().parse::<RuleKind>(), Ok(kind));
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
    assert_eq!(
        "global".parse::<RuleKind>(),
        Err(PushRuleError::UnknownKind("global".into()))
    );
}

// Placing and removing user rules.

fn add(
    ruleset: &mut Ruleset,
    kind: RuleKind,
    rule_id: &str,
    position: Position<'_>,
) -> Result<(), PushRuleError> {
    let rule = PushRule::from_request(kind, rule_id, &json!({ "actions": [] })).unwrap();
    ruleset.insert_user_rule(kind, rule, position)
}

#[test]
fn new_rules_go_first_among_the_users_rules() {
    let mut ruleset = defaults();
    add(
        &mut ruleset,
        RuleKind::Underride,
        "a",
        Position::Unspecified,
    )
    .unwrap();
    add(
        &mut ruleset,
        RuleKind::Underride,
        "b",
        Position::Unspecified,
    )
    .unwrap();
    assert_eq!(ids(&ruleset.underride)[..3], ["b", "a", ".m.rule.call"]);
    add(&mut ruleset, RuleKind::Override, "a", Position::Unspecified).unwrap();
    assert_eq!(
        ids(&ruleset.override_)[..3],
        [".m.rule.master", "a", ".m.rule.suppress_notices"]
    );
    add(&mut ruleset, RuleKind::Room, ROOM, Position::Unspecified).unwrap();
    assert_eq!(ids(&ruleset.room), [ROOM]);
}

#[test]
fn before_and_after_place_next_to_a_user_rule() {
    let mut ruleset = defaults();
    for id in ["c", "a"] {
        add(&mut ruleset, RuleKind::Underride, id, Position::Unspecified).unwrap();
    }
    add(&mut ruleset, RuleKind::Underride, "b", Position::After("a")).unwrap();
    add(&mut ruleset, RuleKind::Underride, "d", Position::After("c")).unwrap();
    add(
        &mut ruleset,
        RuleKind::Underride,
        "first",
        Position::Before("a"),
    )
    .unwrap();
    assert_eq!(
        ids(&ruleset.underride)[..6],
        ["first", "a", "b", "c", "d", ".m.rule.call"]
    );
    // Both given: `before` decides.
    add(
        &mut ruleset,
        RuleKind::Underride,
        "e",
        Position::from_query(Some("d"), Some("a")),
    )
    .unwrap();
    assert_eq!(
        ids(&ruleset.underride)[..7],
        ["first", "a", "b", "c", "e", "d", ".m.rule.call"]
    );
    assert_eq!(Position::from_query(None, Some("a")), Position::After("a"));
    assert_eq!(Position::from_query(None, None), Position::Unspecified);
}

#[test]
fn replacing_a_rule_keeps_its_place_and_enabled_state_unless_moved() {
    let content = |rule_id: &str, pattern: &str| {
        PushRule::from_request(
            RuleKind::Content,
            rule_id,
            &json!({ "pattern": pattern, "actions": [] }),
        )
        .unwrap()
    };
    let mut ruleset = defaults();
    for id in ["c", "b", "a"] {
        ruleset
            .insert_user_rule(RuleKind::Content, content(id, id), Position::Unspecified)
            .unwrap();
    }
    ruleset.rule_mut(RuleKind::Content, "b").unwrap().enabled = false;
    ruleset
        .insert_user_rule(
            RuleKind::Content,
            content("b", "new"),
            Position::Unspecified,
        )
        .unwrap();
    assert_eq!(ids(&ruleset.content), ["a", "b", "c"]);
    let b = ruleset.rule(RuleKind::Content, "b").unwrap();
    assert_eq!((b.pattern.as_deref(), b.enabled), (Some("new"), false));

    // Moving down past the anchor, and up.
    ruleset
        .insert_user_rule(RuleKind::Content, content("a", "x"), Position::After("c"))
        .unwrap();
    assert_eq!(ids(&ruleset.content), ["b", "c", "a"]);
    ruleset
        .insert_user_rule(RuleKind::Content, content("a", "x"), Position::Before("b"))
        .unwrap();
    assert_eq!(ids(&ruleset.content), ["a", "b", "c"]);
    ruleset
        .insert_user_rule(RuleKind::Content, content("a", "x"), Position::After("b"))
        .unwrap();
    assert_eq!(ids(&ruleset.content), ["b", "a", "c"]);
}

#[test]
fn misplaced_rules_are_refused_without_changes() {
    let mut ruleset = defaults();
    add(&mut ruleset, RuleKind::Override, "a", Position::Unspecified).unwrap();
    add(
        &mut ruleset,
        RuleKind::Underride,
        "c",
        Position::Unspecified,
    )
    .unwrap();
    let unchanged = ruleset.clone();
    let cases = [
        (
            "b",
            Position::Before("missing"),
            PushRuleError::RelativeRuleNotFound("missing".into()),
        ),
        (
            "b",
            Position::After(".m.rule.master"),
            PushRuleError::RelativeToServerDefault(".m.rule.master".into()),
        ),
        (
            "a",
            Position::Before("a"),
            PushRuleError::RelativeRuleNotFound("a".into()),
        ),
        // Rules of another kind are not anchors.
        (
            "b",
            Position::Before("c"),
            PushRuleError::RelativeRuleNotFound("c".into()),
        ),
    ];
    for (rule_id, position, error) in cases {
        assert_eq!(
            add(&mut ruleset, RuleKind::Override, rule_id, position),
            Err(error)
        );
        assert_eq!(ruleset, unchanged);
    }
    let mut server_rule = ruleset
        .rule(RuleKind::Override, ".m.rule.reaction")
        .unwrap()
        .clone();
    server_rule.actions = vec![Action::Notify];
    assert_eq!(
        ruleset.insert_user_rule(RuleKind::Override, server_rule, Position::Unspecified),
        Err(PushRuleError::ReservedRuleId(".m.rule.reaction".into()))
    );
    assert_eq!(ruleset, unchanged);
}

#[test]
fn only_user_rules_can_be_removed() {
    let mut ruleset = defaults();
    add(&mut ruleset, RuleKind::Override, "a", Position::Unspecified).unwrap();
    assert_eq!(
        ruleset.remove_user_rule(RuleKind::Override, ".m.rule.master"),
        Err(PushRuleError::ReservedRuleId(".m.rule.master".into()))
    );
    assert_eq!(
        ruleset.remove_user_rule(RuleKind::Underride, "a"),
        Err(PushRuleError::RuleNotFound("a".into()))
    );
    assert_eq!(
        ruleset
            .remove_user_rule(RuleKind::Override, "a")
            .unwrap()
            .rule_id,
        "a"
    );
    assert_eq!(ruleset, defaults());
}

#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, Option<(bool, usize)>),
    Remove(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let id = 0..4_usize;
    prop_oneof![
        (
            id.clone(),
            proptest::option::of((any::<bool>(), 0..5_usize))
        )
            .prop_map(|(id, anchor)| Edit::Insert(id, anchor)),
        id.prop_map(Edit::Remove),
    ]
}

proptest! {
    /// Whatever the user does, `.m.rule.master` stays first, their rules
    /// stay together above the other server-default rules, IDs stay
    /// unique, and a refused edit changes nothing.
    #[test]
    fn edits_keep_the_ruleset_in_shape(edits in prop::collection::vec(edit(), 0..20)) {
        // Index 4 names a server-default rule as the anchor.
        let names = ["a", "b", "c", "d", ".m.rule.tombstone"];
        let defaults = defaults();
        let mut ruleset = defaults.clone();
        for edit in edits {
            let previous = ruleset.clone();
            let result = match edit {
                Edit::Insert(id, anchor) => {
                    let position = match anchor {
                        None => Position::Unspecified,
                        Some((true, anchor)) => Position::After(names[anchor]),
                        Some((false, anchor)) => Position::Before(names[anchor]),
                    };
                    add(&mut ruleset, RuleKind::Override, names[id], position)
                }
                Edit::Remove(id) => ruleset.remove_user_rule(RuleKind::Override, names[id]).map(drop),
            };
            if result.is_err() {
                prop_assert_eq!(&ruleset, &previous);
            }
            let rules = ids(&ruleset.override_);
            let user_rules = rules.iter().filter(|id| !id.starts_with('.')).count();
            prop_assert_eq!(rules[0], ".m.rule.master");
            prop_assert!(rules[1..=user_rules].iter().all(|id| !id.starts_with('.')));
            prop_assert_eq!(&rules[1 + user_rules..], &ids(&defaults.override_)[1..]);
            let mut unique = rules.clone();
            unique.sort_unstable();
            unique.dedup();
            prop_assert_eq!(unique.len(), rules.len());
        }
    }
}
