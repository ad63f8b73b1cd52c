//! The server-default rules, as the specification (v1.17) lists them. It
//! removed the rules that looked for the user's name in `content.body`
//! (`.m.rule.contains_display_name`, `.m.rule.contains_user_name`,
//! `.m.rule.roomnotif`), and defines no content rules any more.

use super::{Action, Condition, PushRule, Ruleset, ScalarValue, MASTER_RULE_ID};

pub(super) fn server_default(user_id: &str) -> Ruleset {
    Ruleset {
        override_: vec![
            PushRule {
                enabled: false,
                ..rule(MASTER_RULE_ID, vec![], vec![])
            },
            rule(
                ".m.rule.suppress_notices",
                vec![event_match("content.msgtype", "m.notice")],
                vec![],
            ),
            rule(
                ".m.rule.invite_for_me",
                vec![
                    event_match("type", "m.room.member"),
                    event_match("content.membership", "invite"),
                    event_match("state_key", user_id),
                ],
                vec![Action::Notify, Action::sound("default")],
            ),
            rule(
                ".m.rule.member_event",
                vec![event_match("type", "m.room.member")],
                vec![],
            ),
            rule(
                ".m.rule.is_user_mention",
                vec![Condition::EventPropertyContains {
                    key: r"content.m\.mentions.user_ids".to_owned(),
                    value: ScalarValue::String(user_id.to_owned()),
                }],
                vec![
                    Action::Notify,
                    Action::sound("default"),
                    Action::highlight(),
                ],
            ),
            rule(
                ".m.rule.is_room_mention",
                vec![
                    Condition::EventPropertyIs {
                        key: r"content.m\.mentions.room".to_owned(),
                        value: ScalarValue::Boolean(true),
                    },
                    Condition::SenderNotificationPermission {
                        key: "room".to_owned(),
                    },
                ],
                vec![Action::Notify, Action::highlight()],
            ),
            rule(
                ".m.rule.tombstone",
                vec![
                    event_match("type", "m.room.tombstone"),
                    event_match("state_key", ""),
                ],
                vec![Action::Notify, Action::highlight()],
            ),
            rule(
                ".m.rule.reaction",
                vec![event_match("type", "m.reaction")],
                vec![],
            ),
            rule(
                ".m.rule.room.server_acl",
                vec![
                    event_match("type", "m.room.server_acl"),
                    event_match("state_key", ""),
                ],
                vec![],
            ),
            rule(
                ".m.rule.suppress_edits",
                vec![Condition::EventPropertyIs {
                    key: r"content.m\.relates_to.rel_type".to_owned(),
                    value: ScalarValue::String("m.replace".to_owned()),
                }],
                vec![],
            ),
        ],
        content: vec![],
        room: vec![],
        sender: vec![],
        underride: vec![
            rule(
                ".m.rule.call",
                vec![event_match("type", "m.call.invite")],
                vec![Action::Notify, Action::sound("ring")],
            ),
            rule(
                ".m.rule.encrypted_room_one_to_one",
                vec![two_members(), event_match("type", "m.room.encrypted")],
                vec![Action::Notify, Action::sound("default")],
            ),
            rule(
                ".m.rule.room_one_to_one",
                vec![two_members(), event_match("type", "m.room.message")],
                vec![Action::Notify, Action::sound("default")],
            ),
            rule(
                ".m.rule.message",
                vec![event_match("type", "m.room.message")],
                vec![Action::Notify],
            ),
            rule(
                ".m.rule.encrypted",
                vec![event_match("type", "m.room.encrypted")],
                vec![Action::Notify],
            ),
        ],
    }
}

/// An enabled server-default override or underride rule.
fn rule(rule_id: &str, conditions: Vec<Condition>, actions: Vec<Action>) -> PushRule {
    PushRule {
        rule_id: rule_id.to_owned(),
        default: true,
        enabled: true,
        actions,
        conditions: Some(conditions),
        pattern: None,
    }
}

fn event_match(key: &str, pattern: &str) -> Condition {
    Condition::EventMatch {
        key: key.to_owned(),
        pattern: pattern.to_owned(),
    }
}

fn two_members() -> Condition {
    Condition::RoomMemberCount { is: "2".to_owned() }
}
