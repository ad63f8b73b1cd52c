//! POST /keys/upload, /keys/query, /keys/claim: devices' published keys.
//!
//! The server checks what it can without any secret: that device keys
//! belong to the uploading device and are signed by it, that signed
//! one-time and fallback keys carry the device's signature, and that a
//! device's identity keys never change (a new identity is a new device).

use std::collections::{BTreeMap, BTreeSet};

use hanse_protocol::canonical_json::{object_from_json, CanonicalJsonObject, CanonicalJsonValue};
use hanse_protocol::identifiers::UserId;
use hanse_protocol::signing::{verify_ed25519_json, verifying_key_from_base64, VerifyingKey};
use serde_json::{json, Map, Value};

use crate::accounts::Session;
use crate::store::{KeyConflict, NewKey};
use crate::{Error, Homeserver, Result};

/// The one-time key algorithm clients use; its count is always reported.
const SIGNED_CURVE25519: &str = "signed_curve25519";
/// Most one-time plus fallback keys one upload may carry.
const MAX_KEYS_PER_UPLOAD: usize = 1000;
/// Most devices one claim or query may name.
const MAX_DEVICES_PER_REQUEST: usize = 1000;
/// Longest key ID, algorithm or key accepted.
const MAX_KEY_PART_BYTES: usize = 256;

/// The body of POST /keys/query: user ID to device IDs (none: all).
#[derive(Debug, Clone, Default)]
pub struct KeysQuery {
    pub device_keys: BTreeMap<String, Vec<String>>,
}

/// The body of POST /keys/claim: user ID to device ID to algorithm.
#[derive(Debug, Clone, Default)]
pub struct KeysClaim {
    pub one_time_keys: BTreeMap<String, BTreeMap<String, String>>,
}

/// A device's identity keys as checked.
pub(super) struct IdentityKeys {
    /// The canonical JSON stored and served.
    pub canonical: String,
    ed25519: String,
    pub curve25519: String,
    pub verifying_key: VerifyingKey,
}

impl Homeserver {
    /// POST /keys/upload; answers `one_time_key_counts`.
    pub async fn upload_keys(&self, session: &Session, body: &Map<String, Value>) -> Result<Value> {
        let user = session.user_id.as_str();
        let device = session.device_id.as_str();
        let uploaded = match body.get("device_keys") {
            None | Some(Value::Null) => None,
            Some(keys) => Some(check_device_keys(session, keys)?),
        };
        let stored = match self.store.device_keys(user, device).await? {
            Some(json) => Some(parse_stored_identity(&json, session)?),
            None => None,
        };
        if let (Some(new), Some(old)) = (&uploaded, &stored) {
            if new.ed25519 != old.ed25519 || new.curve25519 != old.curve25519 {
                return Err(Error::InvalidParam(
                    "this device's identity keys cannot change; a new identity needs a new device \
                     (log in again)"
                        .into(),
                ));
            }
        }
        let signer = uploaded
            .as_ref()
            .or(stored.as_ref())
            .map(|keys| &keys.verifying_key);
        let one_time_keys = check_keys(body, "one_time_keys", session, signer)?;
        let fallback_keys = check_keys(body, "fallback_keys", session, signer)?;
        if one_time_keys.len() + fallback_keys.len() > MAX_KEYS_PER_UPLOAD {
            return Err(Error::InvalidParam(format!(
                "at most {MAX_KEYS_PER_UPLOAD} keys per upload"
            )));
        }
        let device_keys = uploaded.as_ref().map(|new| {
            let changed = stored
                .as_ref()
                .is_none_or(|old| old.canonical != new.canonical);
            (new.canonical.as_str(), changed)
        });
        let outcome = self
            .device_list_write(&[user], async {
                let outcome = self
                    .store
                    .upload_keys(user, device, device_keys, &one_time_keys, &fallback_keys)
                    .await?;
                let position = outcome.as_ref().ok().and_then(|(_, position)| *position);
                Ok((outcome, position))
            })
            .await?;
        match outcome {
            Ok((counts, _)) => Ok(json!({ "one_time_key_counts": with_signed_count(counts) })),
            Err(KeyConflict::OneTimeKey(key)) => Err(Error::InvalidParam(format!(
                "one-time key {key} was uploaded before with another value"
            ))),
        }
    }

    /// What /sync tells a device of its keys: its unclaimed one-time keys
    /// per algorithm, and the algorithms of its unused fallback keys.
    pub(crate) async fn device_key_status(
        &self,
        session: &Session,
    ) -> Result<(Value, Vec<String>)> {
        let (counts, unused_fallbacks) = self
            .store
            .device_key_status(session.user_id.as_str(), &session.device_id)
            .await?;
        Ok((with_signed_count(counts), unused_fallbacks))
    }

    /// POST /keys/query.
    pub async fn query_keys(&self, session: &Session, query: &KeysQuery) -> Result<Value> {
        let named: usize = query.device_keys.values().map(|d| d.len().max(1)).sum();
        if named > MAX_DEVICES_PER_REQUEST {
            return Err(Error::InvalidParam(format!(
                "at most {MAX_DEVICES_PER_REQUEST} devices per query"
            )));
        }
        let (local, failures) = self.split_local(query.device_keys.keys())?;
        let mut answer: Map<String, Value> =
            local.iter().map(|user| (user.clone(), json!({}))).collect();
        for (user, device, keys, display_name) in self.store.devices_keys_of(&local).await? {
            let wanted = &query.device_keys[&user];
            if !wanted.is_empty() && !wanted.contains(&device) {
                continue;
            }
            let mut keys: Value = serde_json::from_str(&keys)
                .map_err(|e| Error::Internal(format!("stored device keys: {e}")))?;
            if let Some(name) = display_name {
                keys["unsigned"] = json!({ "device_display_name": name });
            }
            answer[&user][&device] = keys;
        }
        let cross_signing = self
            .cross_signing_answer(session.user_id.as_str(), &local, &mut answer)
            .await?;
        Ok(json!({
            "device_keys": answer,
            "failures": failures,
            "master_keys": cross_signing.master_keys,
            "self_signing_keys": cross_signing.self_signing_keys,
            "user_signing_keys": cross_signing.user_signing_keys,
        }))
    }

    /// POST /keys/claim: one key per named device, each one-time key
    /// handed out once.
    pub async fn claim_keys(&self, _session: &Session, claim: &KeysClaim) -> Result<Value> {
        let named: usize = claim.one_time_keys.values().map(BTreeMap::len).sum();
        if named > MAX_DEVICES_PER_REQUEST {
            return Err(Error::InvalidParam(format!(
                "at most {MAX_DEVICES_PER_REQUEST} devices per claim"
            )));
        }
        let (local, failures) = self.split_local(claim.one_time_keys.keys())?;
        let mut answer = Map::new();
        for user in &local {
            let mut claimed = Map::new();
            for (device, algorithm) in &claim.one_time_keys[user] {
                if let Some((key_id, key)) = self.store.claim_key(user, device, algorithm).await? {
                    let key: Value = serde_json::from_str(&key)
                        .map_err(|e| Error::Internal(format!("stored one-time key: {e}")))?;
                    claimed.insert(device.clone(), json!({ key_id: key }));
                }
            }
            if !claimed.is_empty() {
                answer.insert(user.clone(), Value::Object(claimed));
            }
        }
        Ok(json!({ "one_time_keys": answer, "failures": failures }))
    }

    /// The local users among `users`, and `failures` for the servers of
    /// the others (which this server cannot ask yet).
    fn split_local<'a>(
        &self,
        users: impl Iterator<Item = &'a String>,
    ) -> Result<(Vec<String>, Map<String, Value>)> {
        let mut local = Vec::new();
        let mut remote = BTreeSet::new();
        for user in users {
            let parsed = UserId::parse(user)
                .map_err(|e| Error::InvalidParam(format!("{user:?} is not a user ID: {e}")))?;
            if parsed.server_name() == &self.identity.server_name {
                local.push(user.clone());
            } else {
                remote.insert(parsed.server_name().as_str().to_owned());
            }
        }
        let failures = remote
            .into_iter()
            .map(|server| {
                (
                    server,
                    json!({ "errcode": "M_UNRECOGNIZED",
                            "error": "this server does not federate yet" }),
                )
            })
            .collect();
        Ok((local, failures))
    }
}

pub(super) fn with_signed_count(mut counts: BTreeMap<String, i64>) -> Value {
    counts.entry(SIGNED_CURVE25519.to_owned()).or_insert(0);
    json!(counts)
}

fn canonical(value: &Value, what: &str) -> Result<CanonicalJsonObject> {
    object_from_json(value.clone())
        .map_err(|e| Error::BadJson(format!("{what} is not canonical JSON: {e}")))
}

fn string_field<'a>(object: &'a CanonicalJsonObject, name: &str, what: &str) -> Result<&'a str> {
    object
        .get(name)
        .and_then(CanonicalJsonValue::as_str)
        .ok_or_else(|| Error::InvalidParam(format!("{what} needs a string {name}")))
}

/// Checks uploaded `device_keys`: the session's user and device, both
/// identity keys, and the device's own signature.
pub(super) fn check_device_keys(session: &Session, keys: &Value) -> Result<IdentityKeys> {
    let mut object = canonical(keys, "device_keys")?;
    object.remove("unsigned");
    let user = session.user_id.as_str();
    let device = session.device_id.as_str();
    if string_field(&object, "user_id", "device_keys")? != user {
        return Err(Error::InvalidParam(
            "device_keys.user_id must be the logged-in user".into(),
        ));
    }
    if string_field(&object, "device_id", "device_keys")? != device {
        return Err(Error::InvalidParam(
            "device_keys.device_id must be the logged-in device".into(),
        ));
    }
    let algorithms_ok = object
        .get("algorithms")
        .and_then(CanonicalJsonValue::as_array)
        .is_some_and(|list| list.iter().all(|a| a.as_str().is_some()));
    if !algorithms_ok {
        return Err(Error::InvalidParam(
            "device_keys.algorithms must be a list of strings".into(),
        ));
    }
    let identity = identity_of(&object, device)?;
    verify_ed25519_json(
        user,
        &format!("ed25519:{device}"),
        &identity.verifying_key,
        &object,
    )
    .map_err(|e| Error::InvalidParam(format!("device_keys are not signed by the device: {e}")))?;
    Ok(IdentityKeys {
        canonical: CanonicalJsonValue::Object(object).to_canonical_string(),
        ..identity
    })
}

fn parse_stored_identity(json: &str, session: &Session) -> Result<IdentityKeys> {
    let object = hanse_protocol::canonical_json::object_from_str(json)
        .map_err(|e| Error::Internal(format!("stored device keys: {e}")))?;
    let identity = identity_of(&object, &session.device_id)?;
    Ok(IdentityKeys {
        canonical: json.to_owned(),
        ..identity
    })
}

/// The device's ed25519 and curve25519 keys from `keys`.
fn identity_of(object: &CanonicalJsonObject, device: &str) -> Result<IdentityKeys> {
    let keys = object
        .get("keys")
        .and_then(CanonicalJsonValue::as_object)
        .ok_or_else(|| Error::InvalidParam("device_keys.keys must be an object".into()))?;
    let key = |algorithm: &str| {
        keys.get(&format!("{algorithm}:{device}"))
            .and_then(CanonicalJsonValue::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::InvalidParam(format!("device_keys.keys needs {algorithm}:{device}"))
            })
    };
    let ed25519 = key("ed25519")?;
    let curve25519 = key("curve25519")?;
    let verifying_key = verifying_key_from_base64(&ed25519)
        .map_err(|e| Error::InvalidParam(format!("ed25519:{device}: {e}")))?;
    Ok(IdentityKeys {
        canonical: String::new(),
        ed25519,
        curve25519,
        verifying_key,
    })
}

/// Checks the one-time or fallback keys under `field`: `<algorithm>:<key
/// ID>` to a key, signed by the device when it is an object with
/// signatures (always for `signed_curve25519`).
pub(super) fn check_keys<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    session: &Session,
    signer: Option<&VerifyingKey>,
) -> Result<Vec<NewKey<'a>>> {
    let keys = match body.get(field) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(keys)) => keys,
        Some(_) => return Err(Error::InvalidParam(format!("{field} must be an object"))),
    };
    let mut checked = Vec::with_capacity(keys.len());
    let mut algorithms = BTreeSet::new();
    for (name, key) in keys {
        let (algorithm, key_id) = name
            .split_once(':')
            .filter(|(algorithm, id)| !algorithm.is_empty() && !id.is_empty())
            .ok_or_else(|| {
                Error::InvalidParam(format!("{field}: {name:?} is not <algorithm>:<key ID>"))
            })?;
        if name.len() > MAX_KEY_PART_BYTES {
            return Err(Error::InvalidParam(format!(
                "{field}: {name:?} is too long"
            )));
        }
        let json = match key {
            Value::String(key) if algorithm != SIGNED_CURVE25519 => {
                if key.len() > MAX_KEY_PART_BYTES {
                    return Err(Error::InvalidParam(format!("{field}: {name} is too long")));
                }
                CanonicalJsonValue::String(key.clone()).to_canonical_string()
            }
            Value::Object(_) => {
                let object = canonical(key, name)?;
                string_field(&object, "key", name)?;
                let signer = signer.ok_or_else(|| {
                    Error::InvalidParam(format!(
                        "{field}: {name} cannot be checked: upload the device keys first"
                    ))
                })?;
                verify_ed25519_json(
                    session.user_id.as_str(),
                    &format!("ed25519:{}", session.device_id),
                    signer,
                    &object,
                )
                .map_err(|e| {
                    Error::InvalidParam(format!("{field}: {name} is not signed by the device: {e}"))
                })?;
                CanonicalJsonValue::Object(object).to_canonical_string()
            }
            _ => {
                return Err(Error::InvalidParam(format!(
                    "{field}: {name} must be a signed key object"
                )))
            }
        };
        // A device has one fallback key per algorithm.
        if field == "fallback_keys" && !algorithms.insert(algorithm) {
            return Err(Error::InvalidParam(format!(
                "fallback_keys: one key per algorithm ({algorithm} twice)"
            )));
        }
        checked.push(NewKey {
            algorithm,
            key_id,
            json,
        });
    }
    Ok(checked)
}
