//! Invites redeeming a third-party invite.

use serde_json::json;

use super::*;
use crate::base64;
use crate::canonical_json::CanonicalJsonObject;
use crate::signing::ServerSigningKey;

const TOKEN: &str = "abc123";

fn identity_server_key(seed: u8) -> ServerSigningKey {
    ServerSigningKey::from_seed("0", [seed; 32]).unwrap()
}

/// The `signed` block an identity server hands out, signed by `key`.
fn signed_block(key: &ServerSigningKey, mxid: &str, token: &str) -> Value {
    let mut signed: CanonicalJsonObject =
        object_from_json(json!({"mxid": mxid, "token": token})).unwrap();
    key.sign_json("id.test", &mut signed).unwrap();
    Value::from(CanonicalJsonValue::Object(signed))
}

/// A room where Alice has issued a third-party invite with `invite_content`
/// and Bob's server now turns it into an invite for Bob.
fn room_with_invite(version: RoomVersionId, invite_content: Value) -> TestRoom {
    let mut room = TestRoom::new(version);
    room.set(ALICE, "m.room.third_party_invite", TOKEN, invite_content);
    room
}

fn single_key_content(key: &ServerSigningKey) -> Value {
    json!({
        "display_name": "b...@example.org",
        "key_validity_url": "https://id.test/_matrix/identity/v2/pubkey/isvalid",
        "public_key": key.public_key_base64(),
    })
}

fn redeem(
    room: &mut TestRoom,
    sender: &str,
    target: &str,
    third_party_invite: Value,
) -> Result<(), AuthError> {
    room.check_new(
        sender,
        "m.room.member",
        Some(target),
        json!({"membership": "invite", "third_party_invite": third_party_invite}),
    )
}

#[test]
fn a_validly_signed_invite_is_allowed() {
    let key = identity_server_key(1);
    for version in VERSIONS {
        let mut room = room_with_invite(version, single_key_content(&key));
        let invite = json!({"display_name": "bob", "signed": signed_block(&key, BOB, TOKEN)});
        assert_eq!(
            redeem(&mut room, ALICE, BOB, invite.clone()),
            Ok(()),
            "version {version}"
        );
        // The invite rules do not apply: the inviter need not be joined
        // or have the invite level any more.
        room.set_membership(ALICE, ALICE, "leave");
        assert_eq!(redeem(&mut room, ALICE, BOB, invite), Ok(()));
    }
}

#[test]
fn keys_may_come_from_public_keys_in_either_alphabet() {
    let old = identity_server_key(1);
    let current = identity_server_key(2);
    let content = json!({
        "display_name": "b...@example.org",
        "key_validity_url": "https://id.test/isvalid",
        "public_key": old.public_key_base64(),
        "public_keys": [
            {"public_key": "not base64!"},
            {"no_key": true},
            {"public_key": base64::encode_url_safe(current.verifying_key().as_bytes())},
        ],
    });
    let mut room = room_with_invite(RoomVersionId::V10, content);
    let invite = json!({"signed": signed_block(&current, BOB, TOKEN)});
    assert_eq!(redeem(&mut room, ALICE, BOB, invite), Ok(()));
}

#[test]
fn rules_4_1_1_to_4_1_6() {
    let key = identity_server_key(1);
    for version in VERSIONS {
        let mut room = room_with_invite(version, single_key_content(&key));
        let signed = signed_block(&key, BOB, TOKEN);
        let cases = [
            (json!("bob"), AuthError::ThirdPartyInviteNotSigned),
            (
                json!({"display_name": "bob"}),
                AuthError::ThirdPartyInviteNotSigned,
            ),
            (
                json!({"signed": "yes"}),
                AuthError::ThirdPartyInviteNotSigned,
            ),
            (
                json!({"signed": {"mxid": BOB, "signatures": signed["signatures"]}}),
                AuthError::ThirdPartyInviteIncomplete,
            ),
            (
                json!({"signed": {"token": TOKEN, "signatures": signed["signatures"]}}),
                AuthError::ThirdPartyInviteIncomplete,
            ),
            (
                json!({"signed": {"mxid": BOB, "token": 5}}),
                AuthError::ThirdPartyInviteIncomplete,
            ),
            (
                json!({"signed": signed_block(&key, CAROL, TOKEN)}),
                AuthError::ThirdPartyInviteWrongUser,
            ),
            (
                json!({"signed": signed_block(&key, BOB, "other")}),
                AuthError::ThirdPartyInviteUnknownToken,
            ),
        ];
        for (invite, expected) in cases {
            assert_eq!(
                redeem(&mut room, ALICE, BOB, invite.clone()),
                Err(expected),
                "version {version}, {invite}"
            );
        }

        // Only the issuer of the third-party invite may redeem it.
        room.join(CAROL);
        assert_eq!(
            redeem(&mut room, CAROL, BOB, json!({"signed": signed})),
            Err(AuthError::ThirdPartyInviteWrongSender)
        );

        // A banned target stays out, before anything else is looked at.
        room.set_membership(ALICE, BOB, "ban");
        assert_eq!(
            redeem(&mut room, ALICE, BOB, json!({"signed": signed})),
            Err(AuthError::TargetBanned)
        );
        assert_eq!(
            redeem(&mut room, ALICE, BOB, json!("bob")),
            Err(AuthError::TargetBanned)
        );
    }
}

#[test]
fn rule_4_1_8_signatures_must_verify_with_the_invites_keys() {
    let key = identity_server_key(1);
    let stranger = identity_server_key(3);
    for version in VERSIONS {
        let mut room = room_with_invite(version, single_key_content(&key));
        let by_stranger = json!({"signed": signed_block(&stranger, BOB, TOKEN)});
        assert_eq!(
            redeem(&mut room, ALICE, BOB, by_stranger),
            Err(AuthError::ThirdPartyInviteBadSignature),
            "version {version}"
        );
        let mut tampered = signed_block(&key, BOB, TOKEN);
        tampered["extra"] = json!("added after signing");
        assert_eq!(
            redeem(&mut room, ALICE, BOB, json!({"signed": tampered})),
            Err(AuthError::ThirdPartyInviteBadSignature)
        );
        let unsigned = json!({"signed": {"mxid": BOB, "token": TOKEN}});
        assert_eq!(
            redeem(&mut room, ALICE, BOB, unsigned),
            Err(AuthError::ThirdPartyInviteBadSignature)
        );
    }
    // Without usable keys nothing verifies.
    let mut room = room_with_invite(RoomVersionId::V11, json!({"public_key": "%%%"}));
    let invite = json!({"signed": signed_block(&key, BOB, TOKEN)});
    assert_eq!(
        redeem(&mut room, ALICE, BOB, invite),
        Err(AuthError::ThirdPartyInviteBadSignature)
    );
}
