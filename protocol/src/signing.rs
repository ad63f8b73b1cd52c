//! Server signing keys and signed JSON.
//!
//! A signature covers the canonical JSON of an object without its
//! `signatures` and `unsigned` keys, so other parties can add their own
//! signatures and transient data without invalidating existing ones.
//! Signatures live at `signatures.<entity>.<key ID>` as unpadded base64.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey};
use rand::rngs::OsRng;
use rand::Rng as _;

pub use ed25519_dalek::VerifyingKey;

use crate::base64;
use crate::canonical_json::{canonical_string_without, CanonicalJsonObject, CanonicalJsonValue};
use crate::identifiers::{IdError, KeyId};

/// Keys left out of what a signature covers.
const UNSIGNED_KEYS: [&str; 2] = ["signatures", "unsigned"];

/// Characters allowed in a key version.
const VERSION_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";

/// Number of random characters after `a_` in generated key versions.
const GENERATED_VERSION_CHARS: usize = 4;

/// A homeserver's ed25519 signing key together with its key ID.
///
/// `Debug` shows only the key ID and public key, never the secret.
#[derive(Clone)]
pub struct ServerSigningKey {
    signing_key: SigningKey,
    key_id: KeyId,
}

/// `sign_json` found a `signatures` structure it cannot add to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignJsonError {
    /// `signatures` exists but is not an object.
    #[error("the \"signatures\" key is not an object")]
    SignaturesNotObject,
    /// `signatures.<entity>` exists but is not an object.
    #[error("the signatures of {0:?} are not an object")]
    EntitySignaturesNotObject(String),
}

/// Why a signature check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The object has no `signatures`, or it is not an object.
    #[error("the object has no signatures")]
    NoSignatures,
    /// Nothing is signed by the expected entity.
    #[error("no signatures from {0:?}")]
    NoSignaturesFromEntity(String),
    /// The entity did not sign with the given key.
    #[error("no signature from {entity:?} with key {name}")]
    NoSignatureNamed {
        /// The signing entity.
        entity: String,
        /// The key looked for (`ed25519:<version>`).
        name: String,
    },
    /// The key uses an algorithm other than ed25519.
    #[error("unsupported signing algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The signature is not a base64 string of 64 bytes.
    #[error("the signature is not valid base64 of an ed25519 signature")]
    MalformedSignature,
    /// The signature does not match the object and key.
    #[error("the signature does not match")]
    SignatureMismatch,
}

/// A base64 string is not an ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid unpadded base64 ed25519 public key")]
pub struct InvalidPublicKey;

impl ServerSigningKey {
    /// Generates a new key from the operating system's RNG, with a random
    /// version of the form `a_XXXX`.
    pub fn generate() -> Self {
        let mut rng = OsRng;
        let suffix: String = (0..GENERATED_VERSION_CHARS)
            .map(|_| char::from(VERSION_ALPHABET[rng.gen_range(0..VERSION_ALPHABET.len())]))
            .collect();
        let key_id = KeyId::ed25519(&format!("a_{suffix}"))
            .expect("generated versions only use the key version alphabet");
        Self {
            signing_key: SigningKey::generate(&mut rng),
            key_id,
        }
    }

    /// Rebuilds a key from its 32-byte seed (as persisted with
    /// [`ServerSigningKey::seed`]) and version. Fails if the version is not
    /// a valid key version (`[a-zA-Z0-9_]+`).
    pub fn from_seed(version: &str, seed: [u8; 32]) -> Result<Self, IdError> {
        Ok(Self {
            signing_key: SigningKey::from_bytes(&seed),
            key_id: KeyId::ed25519(version)?,
        })
    }

    /// The secret seed, for persisting the key. Handle with care.
    pub fn seed(&self) -> [u8; 32] {
        self.signing_key.to_bytes()
    }

    /// The key ID, `ed25519:<version>`.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The public half, for verifying this key's signatures.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing_key.verifying_key()
    }

    /// The public key as unpadded base64, as published in `verify_keys`.
    pub fn public_key_base64(&self) -> String {
        base64::encode(self.verifying_key().as_bytes())
    }

    /// Signs `object` on behalf of `entity` (normally this server's name)
    /// and records the signature under `signatures.<entity>.<key ID>`,
    /// keeping all signatures already present.
    ///
    /// On error the object is left unchanged.
    pub fn sign_json(
        &self,
        entity: &str,
        object: &mut CanonicalJsonObject,
    ) -> Result<(), SignJsonError> {
        let message = canonical_string_without(object, &UNSIGNED_KEYS);
        let signature = self.signing_key.sign(message.as_bytes());

        let CanonicalJsonValue::Object(signatures) = object
            .entry("signatures".to_owned())
            .or_insert_with(|| CanonicalJsonValue::Object(CanonicalJsonObject::new()))
        else {
            return Err(SignJsonError::SignaturesNotObject);
        };
        let CanonicalJsonValue::Object(by_entity) = signatures
            .entry(entity.to_owned())
            .or_insert_with(|| CanonicalJsonValue::Object(CanonicalJsonObject::new()))
        else {
            return Err(SignJsonError::EntitySignaturesNotObject(entity.to_owned()));
        };
        by_entity.insert(
            self.key_id.as_str().to_owned(),
            CanonicalJsonValue::String(base64::encode(signature.to_bytes())),
        );
        Ok(())
    }
}

impl fmt::Debug for ServerSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSigningKey")
            .field("key_id", &self.key_id)
            .field("public_key", &self.public_key_base64())
            .finish_non_exhaustive()
    }
}

/// Checks that `entity` signed `object` with the key `key_id`, whose public
/// half is `key`.
///
/// Verification is strict: small-order public keys and `R` points and
/// non-canonical scalars are rejected, close to what libsodium (behind most
/// of the network) checks. A laxer check could accept signatures that other
/// servers reject.
pub fn verify_json(
    entity: &str,
    key_id: &KeyId,
    key: &VerifyingKey,
    object: &CanonicalJsonObject,
) -> Result<(), VerifyError> {
    if !key_id.is_ed25519() {
        return Err(VerifyError::UnsupportedAlgorithm(
            key_id.algorithm().to_owned(),
        ));
    }
    verify_ed25519_json(entity, key_id.as_str(), key, object)
}

/// As [`verify_json`] for a signature under any name, such as a device's
/// `ed25519:<device ID>`, whose device ID need not be a valid key version.
pub fn verify_ed25519_json(
    entity: &str,
    signature_name: &str,
    key: &VerifyingKey,
    object: &CanonicalJsonObject,
) -> Result<(), VerifyError> {
    let Some(CanonicalJsonValue::Object(signatures)) = object.get("signatures") else {
        return Err(VerifyError::NoSignatures);
    };
    let Some(CanonicalJsonValue::Object(by_entity)) = signatures.get(entity) else {
        return Err(VerifyError::NoSignaturesFromEntity(entity.to_owned()));
    };
    let encoded = match by_entity.get(signature_name) {
        Some(CanonicalJsonValue::String(encoded)) => encoded,
        Some(_) => return Err(VerifyError::MalformedSignature),
        None => {
            return Err(VerifyError::NoSignatureNamed {
                entity: entity.to_owned(),
                name: signature_name.to_owned(),
            })
        }
    };
    let signature = base64::decode(encoded)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(VerifyError::MalformedSignature)?;

    let message = canonical_string_without(object, &UNSIGNED_KEYS);
    key.verify_strict(message.as_bytes(), &signature)
        .map_err(|_| VerifyError::SignatureMismatch)
}

/// The ed25519 key IDs `entity` has signed `object` with: the keys a
/// verifier needs to fetch. Entries with other algorithms or unparsable key
/// IDs are skipped, as the verification procedure prescribes.
pub fn signing_key_ids(entity: &str, object: &CanonicalJsonObject) -> Vec<KeyId> {
    object
        .get("signatures")
        .and_then(CanonicalJsonValue::as_object)
        .and_then(|signatures| signatures.get(entity))
        .and_then(CanonicalJsonValue::as_object)
        .map(|by_entity| {
            by_entity
                .keys()
                .filter_map(|key_id| KeyId::parse(key_id).ok())
                .filter(KeyId::is_ed25519)
                .collect()
        })
        .unwrap_or_default()
}

/// Decodes a published public key (unpadded base64 of 32 bytes).
pub fn verifying_key_from_base64(encoded: &str) -> Result<VerifyingKey, InvalidPublicKey> {
    verifying_key_from_bytes(base64::decode(encoded).ok())
}

/// Decodes a public key that may use either base64 alphabet, as the keys
/// identity servers put in `m.room.third_party_invite` events may.
pub fn verifying_key_from_any_base64(encoded: &str) -> Result<VerifyingKey, InvalidPublicKey> {
    verifying_key_from_bytes(
        base64::decode(encoded)
            .or_else(|_| base64::decode_url_safe(encoded))
            .ok(),
    )
}

fn verifying_key_from_bytes(bytes: Option<Vec<u8>>) -> Result<VerifyingKey, InvalidPublicKey> {
    let bytes: [u8; 32] = bytes
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(InvalidPublicKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| InvalidPublicKey)
}

#[cfg(test)]
pub(crate) mod tests;
