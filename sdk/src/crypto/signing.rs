//! Signed JSON made and checked with a device's Ed25519 key.
//!
//! Device keys, one-time keys and a backup's `auth_data` are signed the way
//! the appendix on signing JSON describes: the signature covers the
//! canonical JSON of the object without its `signatures` and `unsigned`
//! keys, and is stored at `signatures.<user ID>.ed25519:<device ID>`.
//! Canonical JSON comes from hanse-protocol so the client and the server
//! agree byte for byte on what was signed.
//!
//! hanse-protocol's own `verify_json` is not used: it takes server key IDs,
//! whose version part is restricted to `[a-zA-Z0-9_]`, while device IDs
//! are opaque strings.

use hanse_protocol::canonical_json::{object_from_json, object_to_canonical_string};
use serde_json::{Map, Value};
use vodozemac::olm::Account;
use vodozemac::{Ed25519PublicKey, Ed25519Signature};

use super::CryptoError;

/// The key ID a device signs with: `ed25519:<device ID>`.
pub(crate) fn device_signing_key_id(device_id: &str) -> String {
    format!("ed25519:{device_id}")
}

/// The canonical JSON a signature over `object` covers.
fn signed_message(object: &Map<String, Value>) -> Result<String, CryptoError> {
    let mut covered = object.clone();
    covered.remove("signatures");
    covered.remove("unsigned");
    let canonical = object_from_json(Value::Object(covered))
        .map_err(|e| CryptoError::malformed("signed JSON", e.to_string()))?;
    Ok(object_to_canonical_string(&canonical))
}

/// Signs `object` with the account's Ed25519 key on behalf of `user_id`'s
/// device `device_id`, keeping signatures already present.
pub(crate) fn sign_json(
    account: &Account,
    user_id: &str,
    device_id: &str,
    object: &mut Map<String, Value>,
) -> Result<(), CryptoError> {
    let signature = account.sign(signed_message(object)?.as_bytes());
    let signatures = object
        .entry("signatures")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| CryptoError::malformed("signed JSON", "signatures is not an object"))?;
    let by_user = signatures
        .entry(user_id)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| {
            CryptoError::malformed("signed JSON", "signatures of a user not an object")
        })?;
    by_user.insert(
        device_signing_key_id(device_id),
        Value::String(signature.to_base64()),
    );
    Ok(())
}

/// Checks that `signer` signed `object` with the key `key_id`, whose public
/// half is `key`. Verification is strict (no small-order keys, no
/// malleable signatures), as vodozemac implements it.
pub(crate) fn verify_json(
    object: &Map<String, Value>,
    signer: &str,
    key_id: &str,
    key: &Ed25519PublicKey,
) -> Result<(), CryptoError> {
    let refuse = |reason| CryptoError::BadSignature {
        signer: signer.to_owned(),
        key_id: key_id.to_owned(),
        reason,
    };
    let encoded = object
        .get("signatures")
        .and_then(|s| s.get(signer))
        .and_then(|s| s.get(key_id))
        .ok_or_else(|| refuse("missing"))?
        .as_str()
        .ok_or_else(|| refuse("not a string"))?;
    let signature = Ed25519Signature::from_base64(encoded).map_err(|_| refuse("malformed"))?;
    key.verify(signed_message(object)?.as_bytes(), &signature)
        .map_err(|_| refuse("does not match"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test objects are objects"),
        }
    }

    #[test]
    fn signature_survives_unsigned_and_other_signatures() {
        let account = Account::new();
        let mut signed = object(json!({"b": 1, "a": "x"}));
        sign_json(&account, "@u:h", "DEV", &mut signed).unwrap();
        signed.insert("unsigned".into(), json!({"age": 5}));
        signed["signatures"]["@other:h"] = json!({"ed25519:O": "sig"});
        verify_json(&signed, "@u:h", "ed25519:DEV", &account.ed25519_key()).unwrap();
    }

    /// Small JSON values of the kinds canonical JSON allows.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::from),
            (-(1_i64 << 53) + 1..1_i64 << 53).prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(".{0,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// A signature holds after the object travels as JSON text (as it
        /// does through the server), and breaks when any member changes.
        #[test]
        fn signatures_survive_transport_and_catch_changes(
            members in proptest::collection::btree_map("[a-z]{1,6}", json_value(), 1..6),
            changed in any::<prop::sample::Index>(),
        ) {
            let account = Account::new();
            let mut signed: Map<String, Value> = members.into_iter().collect();
            signed.remove("signatures");
            signed.remove("unsigned");
            prop_assume!(!signed.is_empty());
            sign_json(&account, "@u:h", "DEV", &mut signed).unwrap();

            let text = serde_json::to_string(&signed).unwrap();
            let received: Map<String, Value> = serde_json::from_str(&text).unwrap();
            prop_assert!(verify_json(&received, "@u:h", "ed25519:DEV", &account.ed25519_key()).is_ok());

            let mut tampered = received;
            let keys: Vec<String> = tampered.keys().filter(|k| *k != "signatures").cloned().collect();
            let key = &keys[changed.index(keys.len())];
            let old = tampered[key].clone();
            tampered.insert(key.clone(), json!([old]));
            prop_assert!(verify_json(&tampered, "@u:h", "ed25519:DEV", &account.ed25519_key()).is_err());
        }
    }

    #[test]
    fn changed_content_or_wrong_key_is_refused() {
        let account = Account::new();
        let mut signed = object(json!({"a": 1}));
        sign_json(&account, "@u:h", "DEV", &mut signed).unwrap();

        let other = Account::new();
        let err = verify_json(&signed, "@u:h", "ed25519:DEV", &other.ed25519_key()).unwrap_err();
        assert!(matches!(
            err,
            CryptoError::BadSignature {
                reason: "does not match",
                ..
            }
        ));

        signed.insert("a".into(), json!(2));
        let err = verify_json(&signed, "@u:h", "ed25519:DEV", &account.ed25519_key()).unwrap_err();
        assert!(matches!(
            err,
            CryptoError::BadSignature {
                reason: "does not match",
                ..
            }
        ));

        let err = verify_json(&signed, "@v:h", "ed25519:DEV", &account.ed25519_key()).unwrap_err();
        assert!(matches!(
            err,
            CryptoError::BadSignature {
                reason: "missing",
                ..
            }
        ));
    }
}
