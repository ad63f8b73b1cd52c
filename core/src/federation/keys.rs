//! Other servers' signing keys: fetched from the server itself or from a
//! configured notary, checked, stored, and kept in memory.
//!
//! A key verifies signatures made up to the time it is valid until: for a
//! current key the lesser of its document's `valid_until_ts` and 7 days
//! after fetching (room versions 5+ ask for that bound), for an old key its
//! `expired_ts`. A key not valid at the time asked for is fetched again, at
//! most once a minute per server, so a flood of bad signatures cannot turn
//! into a flood of key requests.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use std::sync::Mutex;

use hanse_protocol::canonical_json::{
    object_from_json, object_to_canonical_string, CanonicalJsonObject, CanonicalJsonValue,
};
use hanse_protocol::identifiers::{KeyId, ServerName};
use hanse_protocol::signing::{verify_json, verifying_key_from_base64, VerifyingKey};
use lru::LruCache;
use serde_json::json;

use super::TrustedKeyServer;
use crate::clock::now_ms;
use crate::remote::RemoteRequest;
use crate::store::{RemoteKeyDocument, RemoteKeyRow};
use crate::{Homeserver, Result};

/// The longest a fetched current key is trusted for, whatever its document
/// says.
const MAX_KEY_VALIDITY_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// How soon a server's keys may be fetched again.
const REFETCH_AFTER_MS: i64 = 60 * 1000;

/// Keys in memory, and when each server was last asked.
#[derive(Debug)]
pub struct ServerKeys {
    keys: Mutex<LruCache<(String, String), (VerifyingKey, i64)>>,
    last_fetch: Mutex<HashMap<String, i64>>,
}

impl Default for ServerKeys {
    fn default() -> Self {
        Self {
            keys: Mutex::new(LruCache::new(NonZeroUsize::new(10_000).expect("not zero"))),
            last_fetch: Mutex::default(),
        }
    }
}

/// A key document that checked out.
#[derive(Debug, Clone)]
pub struct CheckedKeyDocument {
    pub object: CanonicalJsonObject,
    pub valid_until_ts: i64,
    pub keys: Vec<RemoteKeyRow>,
}

impl Homeserver {
    /// The public key `key_id` of `server`, if one can be found that is
    /// valid at `valid_at` (milliseconds since the epoch).
    pub async fn server_key(
        &self,
        server: &ServerName,
        key_id: &KeyId,
        valid_at: i64,
    ) -> Result<Option<VerifyingKey>> {
        if server == &self.identity.server_name {
            return self.own_key(key_id, valid_at).await;
        }
        let cache_key = (server.as_str().to_owned(), key_id.as_str().to_owned());
        if let Some((key, until)) = crate::lock(&self.server_keys.keys).get(&cache_key) {
            if *until >= valid_at {
                return Ok(Some(*key));
            }
        }
        if let Some(found) = self.stored_key(server, key_id, valid_at).await? {
            return Ok(Some(found));
        }
        if !self.may_fetch(server) {
            return Ok(None);
        }
        self.fetch_keys(server, key_id, valid_at).await;
        self.stored_key(server, key_id, valid_at).await
    }

    async fn own_key(&self, key_id: &KeyId, valid_at: i64) -> Result<Option<VerifyingKey>> {
        let signing_key = &self.identity.signing_key;
        if signing_key.key_id() == key_id {
            return Ok(Some(signing_key.verifying_key()));
        }
        let retired = self.store.retired_signing_keys().await?;
        Ok(retired
            .into_iter()
            .find(|old| old.key_id == key_id.as_str() && old.retired_ts >= valid_at)
            .and_then(|old| verifying_key_from_base64(&old.public_key).ok()))
    }

    async fn stored_key(
        &self,
        server: &ServerName,
        key_id: &KeyId,
        valid_at: i64,
    ) -> Result<Option<VerifyingKey>> {
        let Some(row) = self
            .store
            .remote_key(server.as_str(), key_id.as_str())
            .await?
        else {
            return Ok(None);
        };
        let Ok(key) = verifying_key_from_base64(&row.public_key) else {
            return Ok(None);
        };
        crate::lock(&self.server_keys.keys).put(
            (server.as_str().to_owned(), key_id.as_str().to_owned()),
            (key, row.valid_until_ts),
        );
        Ok((row.valid_until_ts >= valid_at).then_some(key))
    }

    /// Notes a fetch from `server` now, unless one happened within the last
    /// minute.
    fn may_fetch(&self, server: &ServerName) -> bool {
        let now = now_ms();
        let mut last = crate::lock(&self.server_keys.last_fetch);
        match last.get(server.as_str()) {
            Some(&at) if now - at < REFETCH_AFTER_MS => false,
            _ => {
                last.insert(server.as_str().to_owned(), now);
                true
            }
        }
    }

    /// Fetches `server`'s keys from the server itself, then from each
    /// notary, until one answer holds `key_id` valid at `valid_at`; stores
    /// every answer that checks out. Failures are logged: the caller sees
    /// only that no key was found.
    async fn fetch_keys(&self, server: &ServerName, key_id: &KeyId, valid_at: i64) {
        match self.fetch_keys_directly(server).await {
            Ok(document) if holds(&document, key_id, valid_at) => return,
            Ok(_) => tracing::info!(%server, %key_id, "the server does not offer this key"),
            Err(error) => tracing::warn!(%server, %error, "fetching the server's keys failed"),
        }
        for notary in &self.settings.federation.trusted_key_servers {
            match self
                .fetch_keys_from_notary(notary, server, key_id, valid_at)
                .await
            {
                Ok(Some(document)) if holds(&document, key_id, valid_at) => return,
                Ok(_) => {}
                Err(error) => tracing::warn!(
                    %server, notary = %notary.server_name, %error,
                    "asking a notary for keys failed"
                ),
            }
        }
    }

    /// Fetches `server`'s key document from it and stores it.
    pub async fn fetch_keys_directly(&self, server: &ServerName) -> Result<CheckedKeyDocument> {
        let answer = self
            .request_server(server, RemoteRequest::get("/_matrix/key/v2/server"))
            .await?;
        let fetched = now_ms();
        let document = check_key_document(answer, server, fetched)
            .map_err(|reason| invalid_answer(server, reason))?;
        self.record_key_document(server, &document, fetched).await?;
        Ok(document)
    }

    async fn fetch_keys_from_notary(
        &self,
        notary: &TrustedKeyServer,
        server: &ServerName,
        key_id: &KeyId,
        valid_at: i64,
    ) -> Result<Option<CheckedKeyDocument>> {
        let body = json!({
            "server_keys": { server.as_str(): { key_id.as_str(): {
                "minimum_valid_until_ts": valid_at,
            } } }
        });
        let answer = self
            .request_server(
                &notary.server_name,
                RemoteRequest::post("/_matrix/key/v2/query", body),
            )
            .await?;
        let fetched = now_ms();
        let documents = answer
            .get("server_keys")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| invalid_answer(&notary.server_name, "no server_keys list".into()))?;
        let mut found = None;
        for document in documents {
            if document.get("server_name").and_then(|name| name.as_str()) != Some(server.as_str()) {
                continue;
            }
            let checked = check_notary_signature(document, notary)
                .and_then(|()| check_key_document(document.clone(), server, fetched));
            match checked {
                Ok(document) => {
                    self.record_key_document(server, &document, fetched).await?;
                    found = Some(document);
                }
                Err(reason) => tracing::warn!(
                    %server, notary = %notary.server_name, %reason,
                    "a notary's key document does not check out"
                ),
            }
        }
        Ok(found)
    }

    async fn record_key_document(
        &self,
        server: &ServerName,
        document: &CheckedKeyDocument,
        fetched: i64,
    ) -> Result<()> {
        self.store
            .record_remote_keys(&RemoteKeyDocument {
                server_name: server.as_str(),
                json: &object_to_canonical_string(&document.object),
                valid_until_ts: document.valid_until_ts,
                fetched_ts: fetched,
                keys: &document.keys,
            })
            .await?;
        Ok(())
    }

    /// The key documents of `servers` this server can vouch for as a
    /// notary, each valid until at least the time asked for: from storage
    /// when fresh enough, otherwise fetched from the server. Servers that
    /// cannot be reached and have nothing stored are left out.
    pub async fn notary_key_documents(
        &self,
        servers: &BTreeMap<ServerName, i64>,
    ) -> Result<Vec<CanonicalJsonObject>> {
        let mut documents = Vec::new();
        for (server, &minimum_valid_until) in servers {
            if server == &self.identity.server_name {
                continue;
            }
            let stored = self.store.remote_key_document(server.as_str()).await?;
            let object = match stored {
                Some((json, valid_until)) if valid_until >= minimum_valid_until => {
                    hanse_protocol::canonical_json::object_from_str(&json).ok()
                }
                stored => match self.fetch_keys_directly(server).await {
                    Ok(document) => Some(document.object),
                    Err(error) => {
                        tracing::info!(%server, %error, "notary: fetching keys failed");
                        stored.and_then(|(json, _)| {
                            hanse_protocol::canonical_json::object_from_str(&json).ok()
                        })
                    }
                },
            };
            documents.extend(object);
        }
        Ok(documents)
    }
}

fn invalid_answer(server: &ServerName, reason: String) -> crate::Error {
    crate::remote::RemoteError::InvalidResponse {
        server: server.as_str().to_owned(),
        reason,
    }
    .into()
}

/// Whether `document` holds `key_id`, valid at `valid_at`.
fn holds(document: &CheckedKeyDocument, key_id: &KeyId, valid_at: i64) -> bool {
    document
        .keys
        .iter()
        .any(|key| key.key_id == key_id.as_str() && key.valid_until_ts >= valid_at)
}

/// Checks a key document `server` published: it names `server`, it is
/// signed by at least one of its current keys, and every signature of its
/// current keys on it verifies. Returns its keys with the time each stays
/// valid until.
pub fn check_key_document(
    answer: serde_json::Value,
    server: &ServerName,
    fetched: i64,
) -> Result<CheckedKeyDocument, String> {
    let object = object_from_json(answer).map_err(|e| format!("not canonical JSON: {e}"))?;
    if object
        .get("server_name")
        .and_then(CanonicalJsonValue::as_str)
        != Some(server.as_str())
    {
        return Err("the document names another server".into());
    }
    let valid_until_ts = object
        .get("valid_until_ts")
        .and_then(CanonicalJsonValue::as_integer)
        .ok_or("no valid_until_ts")?;
    let current_until = valid_until_ts.min(fetched.saturating_add(MAX_KEY_VALIDITY_MS));
    let mut keys = Vec::new();
    let mut verified = false;
    for (key_id, entry) in entries(&object, "verify_keys")? {
        let (key, public_key) = public_key(entry)?;
        let signed_by_it = object
            .get("signatures")
            .and_then(CanonicalJsonValue::as_object)
            .and_then(|signatures| signatures.get(server.as_str()))
            .and_then(CanonicalJsonValue::as_object)
            .is_some_and(|by_server| by_server.contains_key(key_id.as_str()));
        if signed_by_it {
            verify_json(server.as_str(), &key_id, &key, &object)
                .map_err(|e| format!("the signature by {key_id} does not verify: {e}"))?;
            verified = true;
        }
        keys.push(RemoteKeyRow {
            key_id: key_id.as_str().to_owned(),
            public_key,
            valid_until_ts: current_until,
        });
    }
    if !verified {
        return Err("the document is not signed by any of its own keys".into());
    }
    if object.contains_key("old_verify_keys") {
        for (key_id, entry) in entries(&object, "old_verify_keys")? {
            let (_, public_key) = public_key(entry)?;
            let expired_ts = entry
                .as_object()
                .and_then(|entry| entry.get("expired_ts"))
                .and_then(CanonicalJsonValue::as_integer)
                .ok_or_else(|| format!("old key {key_id} has no expired_ts"))?;
            keys.push(RemoteKeyRow {
                key_id: key_id.as_str().to_owned(),
                public_key,
                valid_until_ts: expired_ts,
            });
        }
    }
    Ok(CheckedKeyDocument {
        object,
        valid_until_ts,
        keys,
    })
}

/// The ed25519 entries of the key map `field`; others are skipped, as
/// this server cannot use them.
fn entries<'a>(
    object: &'a CanonicalJsonObject,
    field: &str,
) -> Result<Vec<(KeyId, &'a CanonicalJsonValue)>, String> {
    let map = object
        .get(field)
        .and_then(CanonicalJsonValue::as_object)
        .ok_or_else(|| format!("{field} is missing or not an object"))?;
    let mut found = Vec::new();
    for (name, entry) in map {
        let key_id = KeyId::parse(name).map_err(|e| format!("key ID {name:?}: {e}"))?;
        if key_id.is_ed25519() {
            found.push((key_id, entry));
        }
    }
    Ok(found)
}

fn public_key(entry: &CanonicalJsonValue) -> Result<(VerifyingKey, String), String> {
    let encoded = entry
        .as_object()
        .and_then(|entry| entry.get("key"))
        .and_then(CanonicalJsonValue::as_str)
        .ok_or("a key entry has no key")?;
    let key = verifying_key_from_base64(encoded).map_err(|_| "a key is not ed25519")?;
    Ok((key, encoded.to_owned()))
}

/// Checks that `notary` signed `document` with one of its configured keys.
fn check_notary_signature(
    document: &serde_json::Value,
    notary: &TrustedKeyServer,
) -> Result<(), String> {
    let object =
        object_from_json(document.clone()).map_err(|e| format!("not canonical JSON: {e}"))?;
    for (key_id, encoded) in &notary.verify_keys {
        let key = verifying_key_from_base64(encoded)
            .map_err(|_| format!("the configured key {key_id} of the notary is not ed25519"))?;
        if verify_json(notary.server_name.as_str(), key_id, &key, &object).is_ok() {
            return Ok(());
        }
    }
    Err("not signed by the notary with a configured key".into())
}

#[cfg(test)]
mod tests;
