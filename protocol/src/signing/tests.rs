use proptest::prelude::*;

use super::*;
use crate::canonical_json::{self, object_to_canonical_string};

/// The seed of the appendix "Cryptographic Test Vectors".
pub(crate) fn test_vector_key() -> ServerSigningKey {
    let seed: [u8; 32] = base64::decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")
        .unwrap()
        .try_into()
        .unwrap();
    ServerSigningKey::from_seed("1", seed).unwrap()
}

fn object(json: &str) -> CanonicalJsonObject {
    canonical_json::object_from_str(json).unwrap()
}

fn signature_of(object: &CanonicalJsonObject, entity: &str, key_id: &str) -> String {
    object["signatures"].as_object().unwrap()[entity]
        .as_object()
        .unwrap()[key_id]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn appendix_vector_sign_empty_object() {
    let key = test_vector_key();
    assert_eq!(key.key_id().as_str(), "ed25519:1");
    let mut signed = object("{}");
    key.sign_json("domain", &mut signed).unwrap();

    let expected = object(
        r#"{
            "signatures": {
                "domain": {
                    "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"
                }
            }
        }"#,
    );
    assert_eq!(
        object_to_canonical_string(&signed),
        object_to_canonical_string(&expected)
    );
    assert_eq!(
        object_to_canonical_string(&signed),
        r#"{"signatures":{"domain":{"ed25519:1":"K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}}}"#
    );
    verify_json("domain", key.key_id(), &key.verifying_key(), &signed).unwrap();
}

#[test]
fn appendix_vector_sign_object_with_data() {
    let key = test_vector_key();
    let mut signed = object(r#"{"one": 1, "two": "Two"}"#);
    key.sign_json("domain", &mut signed).unwrap();
    assert_eq!(
        object_to_canonical_string(&signed),
        r#"{"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}},"two":"Two"}"#
    );
    verify_json("domain", key.key_id(), &key.verifying_key(), &signed).unwrap();
}

#[test]
fn signing_ignores_and_preserves_unsigned_and_other_signatures() {
    let key = test_vector_key();
    let mut signed = object(
        r#"{"one": 1, "two": "Two", "unsigned": {"age_ts": 5},
            "signatures": {"other.org": {"ed25519:x": "abc"}}}"#,
    );
    key.sign_json("domain", &mut signed).unwrap();
    // Same signature as without the extra keys.
    assert_eq!(
        signature_of(&signed, "domain", "ed25519:1"),
        "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"
    );
    assert_eq!(signature_of(&signed, "other.org", "ed25519:x"), "abc");
    assert_eq!(signed["unsigned"], object(r#"{"age_ts": 5}"#).into());

    // A second key of the same entity adds to, not replaces, the first.
    let second = ServerSigningKey::from_seed("2", [7; 32]).unwrap();
    second.sign_json("domain", &mut signed).unwrap();
    let by_domain = signed["signatures"].as_object().unwrap()["domain"].clone();
    assert_eq!(by_domain.as_object().unwrap().len(), 2);
    verify_json("domain", key.key_id(), &key.verifying_key(), &signed).unwrap();
    verify_json("domain", second.key_id(), &second.verifying_key(), &signed).unwrap();
}

#[test]
fn sign_json_rejects_malformed_signatures_without_changing_the_object() {
    let key = test_vector_key();
    for (json, error) in [
        (r#"{"signatures": []}"#, SignJsonError::SignaturesNotObject),
        (
            r#"{"signatures": {"domain": "x"}}"#,
            SignJsonError::EntitySignaturesNotObject("domain".into()),
        ),
    ] {
        let mut target = object(json);
        assert_eq!(key.sign_json("domain", &mut target), Err(error));
        assert_eq!(target, object(json));
    }
}

#[test]
fn verification_failures() {
    let key = test_vector_key();
    let vk = key.verifying_key();
    let id = key.key_id().clone();
    let mut signed = object(r#"{"a": 1}"#);
    key.sign_json("domain", &mut signed).unwrap();

    assert_eq!(
        verify_json("domain", &id, &vk, &object(r#"{"a": 1}"#)),
        Err(VerifyError::NoSignatures)
    );
    assert_eq!(
        verify_json("elsewhere", &id, &vk, &signed),
        Err(VerifyError::NoSignaturesFromEntity("elsewhere".into()))
    );
    let other_id = KeyId::parse("ed25519:2").unwrap();
    assert_eq!(
        verify_json("domain", &other_id, &vk, &signed),
        Err(VerifyError::NoSignatureNamed {
            entity: "domain".into(),
            name: other_id.as_str().to_owned()
        })
    );
    let curve = KeyId::parse("curve25519:1").unwrap();
    assert_eq!(
        verify_json("domain", &curve, &vk, &signed),
        Err(VerifyError::UnsupportedAlgorithm("curve25519".into()))
    );
    let other_key = ServerSigningKey::from_seed("1", [1; 32]).unwrap();
    assert_eq!(
        verify_json("domain", &id, &other_key.verifying_key(), &signed),
        Err(VerifyError::SignatureMismatch)
    );
    for bad in ["not base64!", "AAAA", ""] {
        let mut tampered = signed.clone();
        tampered.insert(
            "signatures".into(),
            object(&format!(r#"{{"domain": {{"ed25519:1": "{bad}"}}}}"#)).into(),
        );
        assert_eq!(
            verify_json("domain", &id, &vk, &tampered),
            Err(VerifyError::MalformedSignature),
            "{bad:?}"
        );
    }
    // Changing unsigned data does not matter; changing signed data does.
    let mut with_unsigned = signed.clone();
    with_unsigned.insert("unsigned".into(), object(r#"{"x": 1}"#).into());
    assert_eq!(verify_json("domain", &id, &vk, &with_unsigned), Ok(()));
    let mut changed = signed.clone();
    changed.insert("a".into(), 2.into());
    assert_eq!(
        verify_json("domain", &id, &vk, &changed),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn key_management() {
    let key = ServerSigningKey::generate();
    let version = key.key_id().version();
    assert_eq!(version.len(), 6);
    assert!(version.starts_with("a_"));
    assert!(key.key_id().is_ed25519());

    let restored = ServerSigningKey::from_seed(version, key.seed()).unwrap();
    assert_eq!(restored.verifying_key(), key.verifying_key());
    assert_eq!(restored.key_id(), key.key_id());
    assert_eq!(
        verifying_key_from_base64(&key.public_key_base64()).unwrap(),
        key.verifying_key()
    );
    assert_ne!(
        ServerSigningKey::generate().seed(),
        key.seed(),
        "keys must be random"
    );

    assert!(ServerSigningKey::from_seed("bad-version", [0; 32]).is_err());
    assert!(ServerSigningKey::from_seed("", [0; 32]).is_err());
    assert_eq!(verifying_key_from_base64("AAAA"), Err(InvalidPublicKey));
    assert_eq!(verifying_key_from_base64("!!"), Err(InvalidPublicKey));

    let debug = format!("{key:?}");
    assert!(debug.contains(key.key_id().as_str()));
    assert!(!debug.contains(&base64::encode(key.seed())));
}

#[test]
fn identity_server_keys_may_use_either_alphabet() {
    // A public key whose encodings differ between the two alphabets.
    let key = (0u8..=255)
        .map(|i| {
            ServerSigningKey::from_seed("1", [i; 32])
                .unwrap()
                .verifying_key()
        })
        .find(|key| base64::encode(key.as_bytes()) != base64::encode_url_safe(key.as_bytes()))
        .unwrap();
    let standard = base64::encode(key.as_bytes());
    let url_safe = base64::encode_url_safe(key.as_bytes());
    assert_eq!(verifying_key_from_any_base64(&standard), Ok(key));
    assert_eq!(verifying_key_from_any_base64(&url_safe), Ok(key));
    assert_eq!(verifying_key_from_base64(&url_safe), Err(InvalidPublicKey));
    assert_eq!(verifying_key_from_any_base64("AAAA"), Err(InvalidPublicKey));
    assert_eq!(verifying_key_from_any_base64("!!"), Err(InvalidPublicKey));
}

#[test]
fn listing_signing_keys() {
    let signed = object(
        r#"{"signatures": {"domain": {"ed25519:a": "x", "ed25519:b": "y", "curve25519:c": "z", "bad": "w"}}}"#,
    );
    let ids: Vec<String> = signing_key_ids("domain", &signed)
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(ids, ["ed25519:a", "ed25519:b"]);
    assert!(signing_key_ids("other", &signed).is_empty());
    assert!(signing_key_ids("domain", &object("{}")).is_empty());
}

/// Arbitrary objects to sign.
fn arb_object() -> impl Strategy<Value = CanonicalJsonObject> {
    let key = prop::collection::vec(any::<char>(), 0..6).prop_map(String::from_iter);
    prop::collection::btree_map(key, canonical_json::tests::arb_value(), 0..6)
}

/// A step on the way from an object's root to one of its values.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every path to a value covered by the signature.
fn signed_paths(object: &CanonicalJsonObject) -> Vec<Vec<Step>> {
    fn walk(value: &CanonicalJsonValue, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(path.clone());
        match value {
            CanonicalJsonValue::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    path.push(Step::Index(index));
                    walk(item, path, out);
                    path.pop();
                }
            }
            CanonicalJsonValue::Object(map) => {
                for (key, item) in map {
                    path.push(Step::Key(key.clone()));
                    walk(item, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (key, value) in object {
        if !UNSIGNED_KEYS.contains(&key.as_str()) {
            walk(value, &mut vec![Step::Key(key.clone())], &mut out);
        }
    }
    out
}

fn value_at<'a>(object: &'a mut CanonicalJsonObject, path: &[Step]) -> &'a mut CanonicalJsonValue {
    let (Step::Key(first), rest) = path.split_first().unwrap() else {
        unreachable!("paths start with a key")
    };
    let mut value = object.get_mut(first).unwrap();
    for step in rest {
        value = match (step, value) {
            (Step::Key(key), CanonicalJsonValue::Object(map)) => map.get_mut(key).unwrap(),
            (Step::Index(index), CanonicalJsonValue::Array(items)) => &mut items[*index],
            _ => unreachable!("path follows the structure"),
        };
    }
    value
}

proptest! {
    #[test]
    fn sign_then_verify(mut object in arb_object(), unsigned in canonical_json::tests::arb_value()) {
        object.insert("unsigned".into(), unsigned);
        let key = test_vector_key();
        key.sign_json("example.org", &mut object).unwrap();
        prop_assert_eq!(
            verify_json("example.org", key.key_id(), &key.verifying_key(), &object),
            Ok(())
        );
        // A round trip through the canonical text keeps it valid.
        let reparsed = canonical_json::object_from_str(&object_to_canonical_string(&object)).unwrap();
        prop_assert_eq!(
            verify_json("example.org", key.key_id(), &key.verifying_key(), &reparsed),
            Ok(())
        );
    }

    #[test]
    fn changing_any_signed_value_breaks_the_signature(
        object in arb_object(),
        pick in any::<prop::sample::Index>(),
        replacement in canonical_json::tests::arb_value(),
    ) {
        let key = test_vector_key();
        let mut signed = object;
        key.sign_json("example.org", &mut signed).unwrap();
        let paths = signed_paths(&signed);
        prop_assume!(!paths.is_empty());
        let path = pick.get(&paths);

        let mut tampered = signed.clone();
        let target = value_at(&mut tampered, path);
        prop_assume!(*target != replacement);
        *target = replacement;
        prop_assert_eq!(
            verify_json("example.org", key.key_id(), &key.verifying_key(), &tampered),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn adding_or_removing_a_signed_key_breaks_the_signature(
        object in arb_object(),
        extra_key in "[a-z]{1,4}",
        pick in any::<prop::sample::Index>(),
    ) {
        let key = test_vector_key();
        let mut signed = object;
        key.sign_json("example.org", &mut signed).unwrap();
        let verify = |o: &CanonicalJsonObject| {
            verify_json("example.org", key.key_id(), &key.verifying_key(), o)
        };

        if !signed.contains_key(&extra_key) && !UNSIGNED_KEYS.contains(&extra_key.as_str()) {
            let mut added = signed.clone();
            added.insert(extra_key, CanonicalJsonValue::Null);
            prop_assert_eq!(verify(&added), Err(VerifyError::SignatureMismatch));
        }

        let signed_keys: Vec<String> = signed
            .keys()
            .filter(|k| !UNSIGNED_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        if !signed_keys.is_empty() {
            let mut removed = signed.clone();
            removed.remove(pick.get(&signed_keys));
            prop_assert_eq!(verify(&removed), Err(VerifyError::SignatureMismatch));
        }
    }
}
