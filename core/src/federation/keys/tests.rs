use hanse_protocol::canonical_json::{object_from_json, CanonicalJsonValue};
use hanse_protocol::identifiers::ServerName;
use hanse_protocol::signing::ServerSigningKey;
use serde_json::{json, Value};

use super::{check_key_document, MAX_KEY_VALIDITY_MS};

const FETCHED: i64 = 1_700_000_000_000;

fn document(key: &ServerSigningKey, server: &str, valid_until: i64) -> Value {
    let document = json!({
        "server_name": server,
        "verify_keys": { key.key_id().as_str(): { "key": key.public_key_base64() } },
        "old_verify_keys": { "ed25519:old": {
            "key": ServerSigningKey::generate().public_key_base64(),
            "expired_ts": 1_600_000_000_000i64,
        } },
        "valid_until_ts": valid_until,
    });
    let mut object = object_from_json(document).expect("canonical");
    key.sign_json(server, &mut object).expect("signed");
    CanonicalJsonValue::Object(object).into()
}

fn name(server: &str) -> ServerName {
    ServerName::parse(server).expect("a server name")
}

#[test]
fn a_self_signed_document_gives_its_keys_and_their_validity() {
    let key = ServerSigningKey::generate();
    let checked = check_key_document(
        document(&key, "a.test", FETCHED + 1000),
        &name("a.test"),
        FETCHED,
    )
    .expect("checks out");
    assert_eq!(checked.valid_until_ts, FETCHED + 1000);
    let current = checked
        .keys
        .iter()
        .find(|k| k.key_id == key.key_id().as_str())
        .expect("the current key");
    assert_eq!(current.public_key, key.public_key_base64());
    assert_eq!(current.valid_until_ts, FETCHED + 1000);
    let old = checked
        .keys
        .iter()
        .find(|k| k.key_id == "ed25519:old")
        .expect("the old key");
    assert_eq!(old.valid_until_ts, 1_600_000_000_000);
}

#[test]
fn current_keys_are_trusted_for_seven_days_at_most() {
    let key = ServerSigningKey::generate();
    let checked = check_key_document(
        document(&key, "a.test", FETCHED + 365 * MAX_KEY_VALIDITY_MS),
        &name("a.test"),
        FETCHED,
    )
    .expect("checks out");
    let current = &checked.keys[0];
    assert_eq!(current.valid_until_ts, FETCHED + MAX_KEY_VALIDITY_MS);
}

#[test]
fn forged_or_misdirected_documents_are_refused() {
    let key = ServerSigningKey::generate();
    let error = check_key_document(document(&key, "a.test", FETCHED), &name("b.test"), FETCHED)
        .expect_err("another server's document");
    assert!(error.contains("another server"), "{error}");

    let mut tampered = document(&key, "a.test", FETCHED);
    tampered["valid_until_ts"] = json!(FETCHED + 10);
    let error = check_key_document(tampered, &name("a.test"), FETCHED).expect_err("tampered");
    assert!(error.contains("does not verify"), "{error}");

    // Signed by a key the document does not list: nothing vouches for it.
    let mut unsigned = document(&key, "a.test", FETCHED);
    let other = ServerSigningKey::generate();
    unsigned["verify_keys"] =
        json!({ other.key_id().as_str(): { "key": other.public_key_base64() } });
    if other.key_id() == key.key_id() {
        // Same version name: the signature would be checked and fail.
        assert!(check_key_document(unsigned, &name("a.test"), FETCHED).is_err());
    } else {
        let error = check_key_document(unsigned, &name("a.test"), FETCHED).expect_err("unsigned");
        assert!(error.contains("not signed"), "{error}");
    }

    let mut no_validity = document(&key, "a.test", FETCHED);
    no_validity
        .as_object_mut()
        .unwrap()
        .remove("valid_until_ts");
    assert!(check_key_document(no_validity, &name("a.test"), FETCHED).is_err());
}
