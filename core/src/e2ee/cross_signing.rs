//! Cross-signing: POST /keys/device_signing/upload and
//! /keys/signatures/upload, and the keys and signatures /keys/query adds.
//!
//! A user's master key signs their self-signing key (which signs their
//! devices) and user-signing key (which signs other users' master keys).
//! The server verifies every signature it is given against keys it holds,
//! and shows a signature of another user's master key to its signer only:
//! who a user has verified is their business.

use std::collections::BTreeMap;

use hanse_protocol::canonical_json::{
    object_from_json, object_from_str, CanonicalJsonObject, CanonicalJsonValue,
};
use hanse_protocol::identifiers::UserId;
use hanse_protocol::signing::{verify_ed25519_json, verifying_key_from_base64, VerifyingKey};
use serde_json::{json, Map, Value};

use crate::accounts::Session;
use crate::store::{CrossSigningKeyRow, KeySignature};
use crate::{Error, Homeserver, Result};

const MASTER: &str = "master";
const SELF_SIGNING: &str = "self_signing";
const USER_SIGNING: &str = "user_signing";
/// Most keys one signature upload may name.
const MAX_SIGNED_KEYS: usize = 1000;

/// A cross-signing key as checked.
#[derive(Debug, Clone)]
struct CheckedKey {
    usage: &'static str,
    /// The public key, unpadded base64.
    public_key: String,
    verifying_key: VerifyingKey,
    object: CanonicalJsonObject,
}

impl CheckedKey {
    fn key_id(&self) -> String {
        format!("ed25519:{}", self.public_key)
    }

    fn canonical(&self) -> String {
        CanonicalJsonValue::Object(self.object.clone()).to_canonical_string()
    }
}

/// Checked keys of a /keys/device_signing/upload, ready to publish.
#[derive(Debug)]
pub struct CrossSigningUpload {
    keys: Vec<CheckedKey>,
    /// Whether the upload changes keys the user already has, which needs
    /// user-interactive authentication.
    pub replaces_keys: bool,
}

/// A key's `<algorithm>:<public key>` object, checked: exactly one
/// ed25519 key whose ID names it.
fn public_key_of(object: &CanonicalJsonObject, what: &str) -> Result<(String, VerifyingKey)> {
    let keys = object
        .get("keys")
        .and_then(|keys| keys.as_object())
        .ok_or_else(|| Error::BadJson(format!("{what}.keys must be an object")))?;
    let mut entries = keys.iter();
    let (Some((name, value)), None) = (entries.next(), entries.next()) else {
        return Err(Error::InvalidParam(format!(
            "{what}.keys must hold exactly one key"
        )));
    };
    let public_key = name
        .strip_prefix("ed25519:")
        .filter(|key| Some(*key) == value.as_str())
        .ok_or_else(|| {
            Error::InvalidParam(format!(
                "{what}.keys must map ed25519:<public key> to that public key"
            ))
        })?;
    let verifying_key = verifying_key_from_base64(public_key)
        .map_err(|e| Error::InvalidParam(format!("{what}: {e}")))?;
    Ok((public_key.to_owned(), verifying_key))
}

/// Checks one uploaded cross-signing key of `user` for `usage`.
fn check_key(user: &str, usage: &'static str, value: &Value) -> Result<CheckedKey> {
    let what = format!("{usage}_key");
    let mut object = object_from_json(value.clone())
        .map_err(|e| Error::BadJson(format!("{what} is not canonical JSON: {e}")))?;
    object.remove("unsigned");
    if object.get("user_id").and_then(|u| u.as_str()) != Some(user) {
        return Err(Error::InvalidParam(format!(
            "{what}.user_id must be the logged-in user"
        )));
    }
    let usages = object
        .get("usage")
        .and_then(|u| u.as_array())
        .ok_or_else(|| Error::BadJson(format!("{what}.usage must be a list")))?;
    if !usages.iter().any(|u| u.as_str() == Some(usage)) {
        return Err(Error::InvalidParam(format!(
            "{what}.usage must contain {usage:?}"
        )));
    }
    let (public_key, verifying_key) = public_key_of(&object, &what)?;
    Ok(CheckedKey {
        usage,
        public_key,
        verifying_key,
        object,
    })
}

fn stored_key(row: &CrossSigningKeyRow) -> Result<CheckedKey> {
    let object = object_from_str(&row.json)
        .map_err(|e| Error::Internal(format!("stored cross-signing key: {e}")))?;
    let usage = [MASTER, SELF_SIGNING, USER_SIGNING]
        .into_iter()
        .find(|usage| *usage == row.usage)
        .ok_or_else(|| Error::Internal(format!("stored key usage {:?}", row.usage)))?;
    let (public_key, verifying_key) = public_key_of(&object, usage)?;
    Ok(CheckedKey {
        usage,
        public_key,
        verifying_key,
        object,
    })
}

/// The object as signed: without `signatures` and `unsigned`.
fn signed_part(object: &CanonicalJsonObject) -> CanonicalJsonObject {
    let mut object = object.clone();
    object.remove("signatures");
    object.remove("unsigned");
    object
}

/// Adds a signature to a key's JSON.
fn add_signature(key: &mut Value, signer: &str, key_id: &str, signature: &str) {
    key["signatures"][signer][key_id] = json!(signature);
}

fn failure(errcode: &str, error: impl Into<String>) -> Value {
    json!({ "errcode": errcode, "error": error.into() })
}

/// What /keys/query adds for cross-signing.
#[derive(Debug, Default)]
pub(super) struct CrossSigningAnswer {
    pub master_keys: Map<String, Value>,
    pub self_signing_keys: Map<String, Value>,
    pub user_signing_keys: Map<String, Value>,
}

impl Homeserver {
    /// The user's cross-signing keys by usage.
    async fn cross_signing_keys(&self, user: &str) -> Result<BTreeMap<&'static str, CheckedKey>> {
        let rows = self.store.cross_signing_keys_of(&[user.to_owned()]).await?;
        rows.iter()
            .map(|row| stored_key(row).map(|key| (key.usage, key)))
            .collect()
    }

    /// Checks a /keys/device_signing/upload: each key's shape, that the
    /// self-signing and user-signing keys are signed by the (new or
    /// stored) master key, and that no public key is one of the user's
    /// device IDs. Says whether publishing would replace keys.
    pub async fn check_cross_signing_upload(
        &self,
        session: &Session,
        body: &Map<String, Value>,
    ) -> Result<CrossSigningUpload> {
        let user = session.user_id.as_str();
        let mut keys = Vec::new();
        for usage in [MASTER, SELF_SIGNING, USER_SIGNING] {
            match body.get(&format!("{usage}_key")) {
                None | Some(Value::Null) => {}
                Some(value) => keys.push(check_key(user, usage, value)?),
            }
        }
        if keys.is_empty() {
            return Err(Error::MissingParam(
                "give at least one of master_key, self_signing_key, user_signing_key".into(),
            ));
        }
        let stored = self.cross_signing_keys(user).await?;
        let master = keys
            .iter()
            .find(|key| key.usage == MASTER)
            .or_else(|| stored.get(MASTER))
            .ok_or_else(|| {
                Error::MissingParam(
                    "no master key is available: upload master_key with the others".into(),
                )
            })?;
        for key in keys.iter().filter(|key| key.usage != MASTER) {
            verify_ed25519_json(user, &master.key_id(), &master.verifying_key, &key.object)
                .map_err(|e| {
                    Error::InvalidSignature(format!(
                        "the {}_key is not signed by the master key: {e}",
                        key.usage
                    ))
                })?;
        }
        let devices = self.store.devices(user).await?;
        if let Some(key) = keys
            .iter()
            .find(|key| devices.iter().any(|d| d.device_id == key.public_key))
        {
            return Err(Error::Forbidden(format!(
                "the {}_key's public key is the ID of one of your devices",
                key.usage
            )));
        }
        let replaces_keys = stored.contains_key(MASTER)
            && keys.iter().any(|key| {
                stored
                    .get(key.usage)
                    .is_none_or(|old| old.canonical() != key.canonical())
            });
        Ok(CrossSigningUpload {
            keys,
            replaces_keys,
        })
    }

    /// Publishes checked cross-signing keys; those sharing an encrypted
    /// room with the user hear of it through their device lists.
    pub async fn publish_cross_signing_keys(
        &self,
        session: &Session,
        upload: CrossSigningUpload,
    ) -> Result<()> {
        let user = session.user_id.as_str();
        let rows: Vec<(&str, String, String)> = upload
            .keys
            .iter()
            .map(|key| (key.usage, key.key_id(), key.canonical()))
            .collect();
        self.device_list_write(&[user], async {
            let position = self.store.set_cross_signing_keys(user, &rows).await?;
            Ok(((), Some(position)))
        })
        .await
    }

    /// POST /keys/signatures/upload: each signature verified and stored;
    /// `failures` names those refused, by user and key.
    pub async fn upload_key_signatures(
        &self,
        session: &Session,
        body: &Map<String, Value>,
    ) -> Result<Value> {
        let signer = session.user_id.as_str();
        let named: usize = body
            .values()
            .map(|keys| keys.as_object().map_or(1, Map::len))
            .sum();
        if named > MAX_SIGNED_KEYS {
            return Err(Error::InvalidParam(format!(
                "at most {MAX_SIGNED_KEYS} keys per signature upload"
            )));
        }
        let own = self.cross_signing_keys(signer).await?;
        let mut accepted = Vec::new();
        let mut failures: Map<String, Value> = Map::new();
        for (user, keys) in body {
            let Value::Object(keys) = keys else {
                return Err(Error::BadJson(format!(
                    "the keys signed for {user} must be an object"
                )));
            };
            for (key_id, signed) in keys {
                match self
                    .check_signatures(signer, &own, user, key_id, signed)
                    .await
                {
                    Ok(signatures) => accepted.extend(signatures),
                    Err(refused) => {
                        failures
                            .entry(user.clone())
                            .or_insert_with(|| json!({}))
                            .as_object_mut()
                            .expect("inserted as an object")
                            .insert(key_id.clone(), refused);
                    }
                }
            }
        }
        if !accepted.is_empty() {
            let mut targets: Vec<&str> =
                accepted.iter().map(|s| s.target_user_id.as_str()).collect();
            targets.sort_unstable();
            targets.dedup();
            self.device_list_write(&targets, async {
                Ok(((), self.store.add_key_signatures(&accepted).await?))
            })
            .await?;
        }
        Ok(json!({ "failures": failures }))
    }

    /// The new signatures `signer` gives the key `key_id` of `user`, each
    /// verified; or the failure to report for it.
    async fn check_signatures(
        &self,
        signer: &str,
        own: &BTreeMap<&'static str, CheckedKey>,
        user: &str,
        key_id: &str,
        signed: &Value,
    ) -> std::result::Result<Vec<KeySignature>, Value> {
        let parsed = UserId::parse(user)
            .map_err(|e| failure("M_INVALID_PARAM", format!("not a user ID: {e}")))?;
        if parsed.server_name() != &self.identity.server_name {
            return Err(failure(
                "M_UNRECOGNIZED",
                "signatures of remote users' keys need federation, which this server lacks yet",
            ));
        }
        let signed = object_from_json(signed.clone())
            .map_err(|e| failure("M_BAD_JSON", format!("not canonical JSON: {e}")))?;
        let internal = |e: Error| failure("M_UNKNOWN", e.to_string());
        // What is signed, and which of the signer's keys may sign it.
        let (stored, signing_keys): (CanonicalJsonObject, Vec<(String, VerifyingKey)>) =
            if user == signer {
                let stored_master = own.get(MASTER).filter(|m| m.public_key == key_id);
                if let Some(master) = stored_master {
                    // The user's own devices may sign their master key.
                    let devices = self
                        .store
                        .devices_keys_of(&[signer.to_owned()])
                        .await
                        .map_err(|e| internal(e.into()))?;
                    let mut signing_keys = Vec::new();
                    for (_, device, json, _) in devices {
                        let object = object_from_str(&json)
                            .map_err(|e| failure("M_UNKNOWN", e.to_string()))?;
                        if let Some(key) = object
                            .get("keys")
                            .and_then(|k| k.as_object())
                            .and_then(|k| k.get(&format!("ed25519:{device}")))
                            .and_then(|k| k.as_str())
                            .and_then(|k| verifying_key_from_base64(k).ok())
                        {
                            signing_keys.push((format!("ed25519:{device}"), key));
                        }
                    }
                    (master.object.clone(), signing_keys)
                } else {
                    // A device's keys, signed by the self-signing key.
                    let device_keys = self
                        .store
                        .device_keys(signer, key_id)
                        .await
                        .map_err(|e| internal(e.into()))?
                        .ok_or_else(|| {
                            failure(
                                "M_NOT_FOUND",
                                format!("you have no device or master key {key_id:?}"),
                            )
                        })?;
                    let object = object_from_str(&device_keys)
                        .map_err(|e| failure("M_UNKNOWN", e.to_string()))?;
                    let ssk = own.get(SELF_SIGNING).ok_or_else(|| {
                        failure("M_MISSING_PARAM", "upload a self-signing key first")
                    })?;
                    (object, vec![(ssk.key_id(), ssk.verifying_key)])
                }
            } else {
                let theirs = self.cross_signing_keys(user).await.map_err(internal)?;
                let master = theirs
                    .get(MASTER)
                    .filter(|m| m.public_key == key_id)
                    .ok_or_else(|| {
                        failure(
                            "M_NOT_FOUND",
                            format!("{user} has no master key {key_id:?}"),
                        )
                    })?;
                let usk = own
                    .get(USER_SIGNING)
                    .ok_or_else(|| failure("M_MISSING_PARAM", "upload a user-signing key first"))?;
                (
                    master.object.clone(),
                    vec![(usk.key_id(), usk.verifying_key)],
                )
            };
        if signed_part(&signed) != signed_part(&stored) {
            return Err(failure(
                "M_INVALID_PARAM",
                "the signed object differs from the key this server holds",
            ));
        }
        let mut signatures = Vec::new();
        for (signing_key_id, verifying_key) in &signing_keys {
            let Some(signature) = signed
                .get("signatures")
                .and_then(|s| s.as_object())
                .and_then(|s| s.get(signer))
                .and_then(|s| s.as_object())
                .and_then(|s| s.get(signing_key_id.as_str()))
                .and_then(|s| s.as_str())
            else {
                continue;
            };
            verify_ed25519_json(signer, signing_key_id, verifying_key, &signed)
                .map_err(|e| failure("M_INVALID_SIGNATURE", format!("{signing_key_id}: {e}")))?;
            signatures.push(KeySignature {
                signer_user_id: signer.to_owned(),
                signer_key_id: signing_key_id.clone(),
                target_user_id: user.to_owned(),
                target_key_id: key_id.to_owned(),
                signature: signature.to_owned(),
            });
        }
        if signatures.is_empty() {
            return Err(failure(
                "M_INVALID_SIGNATURE",
                "no signature by a key of yours that may sign this key",
            ));
        }
        Ok(signatures)
    }

    /// The cross-signing keys of `users` as `viewer` may see them, with
    /// the uploaded signatures merged into them and into `device_keys`
    /// (user ID to device ID to keys).
    pub(super) async fn cross_signing_answer(
        &self,
        viewer: &str,
        users: &[String],
        device_keys: &mut Map<String, Value>,
    ) -> Result<CrossSigningAnswer> {
        let mut answer = CrossSigningAnswer::default();
        let mut masters: BTreeMap<(String, String), Value> = BTreeMap::new();
        for row in self.store.cross_signing_keys_of(users).await? {
            let key: Value = serde_json::from_str(&row.json)
                .map_err(|e| Error::Internal(format!("stored cross-signing key: {e}")))?;
            match row.usage.as_str() {
                MASTER => {
                    let public_key = row.key_id.trim_start_matches("ed25519:").to_owned();
                    masters.insert((row.user_id, public_key), key);
                }
                SELF_SIGNING => {
                    answer.self_signing_keys.insert(row.user_id, key);
                }
                USER_SIGNING if row.user_id == viewer => {
                    answer.user_signing_keys.insert(row.user_id, key);
                }
                _ => {}
            }
        }
        for signature in self.store.key_signatures_of(users, viewer).await? {
            let target = (signature.target_user_id, signature.target_key_id);
            let key = match masters.get_mut(&target) {
                Some(master) => Some(master),
                None => device_keys
                    .get_mut(&target.0)
                    .and_then(|devices| devices.get_mut(&target.1)),
            };
            if let Some(key) = key {
                add_signature(
                    key,
                    &signature.signer_user_id,
                    &signature.signer_key_id,
                    &signature.signature,
                );
            }
        }
        answer.master_keys = masters
            .into_iter()
            .map(|((user, _), key)| (user, key))
            .collect();
        Ok(answer)
    }
}
