//! This device's Olm account: its identity keys, and the one-time and
//! fallback keys it publishes so that others can start Olm sessions with it.

use std::fmt;

use serde_json::{json, Map, Value};
use vodozemac::olm::Account;
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey, KeyId};

use super::signing::sign_json;
use super::{CryptoError, MEGOLM_ALGORITHM, OLM_ALGORITHM, SIGNED_CURVE25519};

/// A device's vodozemac [`Account`] together with who it belongs to.
pub(crate) struct OwnAccount {
    user_id: String,
    device_id: String,
    pub(crate) inner: Account,
    /// Whether the server acknowledged our device keys. Until it has, every
    /// upload carries them again.
    device_keys_published: bool,
}

impl OwnAccount {
    /// A new account with fresh identity keys.
    pub(crate) fn new(user_id: &str, device_id: &str) -> Self {
        Self::from_parts(user_id, device_id, Account::new(), false)
    }

    /// An account restored from the store.
    pub(crate) fn from_parts(
        user_id: &str,
        device_id: &str,
        inner: Account,
        device_keys_published: bool,
    ) -> Self {
        Self {
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            inner,
            device_keys_published,
        }
    }

    pub(crate) fn user_id(&self) -> &str {
        &self.user_id
    }

    pub(crate) fn device_id(&self) -> &str {
        &self.device_id
    }

    pub(crate) fn device_keys_published(&self) -> bool {
        self.device_keys_published
    }

    pub(crate) fn curve25519_key(&self) -> Curve25519PublicKey {
        self.inner.curve25519_key()
    }

    pub(crate) fn ed25519_key(&self) -> Ed25519PublicKey {
        self.inner.ed25519_key()
    }

    /// Signs `object` as this device.
    pub(crate) fn sign(&self, object: &mut Map<String, Value>) -> Result<(), CryptoError> {
        sign_json(&self.inner, &self.user_id, &self.device_id, object)
    }

    /// This device's `device_keys` object, self-signed, as `/keys/upload`
    /// takes it and `/keys/query` returns it.
    pub(crate) fn device_keys(&self) -> Result<Value, CryptoError> {
        let device_id = &self.device_id;
        let mut keys = json!({
            "user_id": self.user_id,
            "device_id": device_id,
            "algorithms": [OLM_ALGORITHM, MEGOLM_ALGORITHM],
            "keys": {
                format!("curve25519:{device_id}"): self.curve25519_key().to_base64(),
                format!("ed25519:{device_id}"): self.ed25519_key().to_base64(),
            },
        });
        self.sign(as_object(&mut keys))?;
        Ok(keys)
    }

    /// How many one-time keys to generate so that the server holds about
    /// half of what the account can keep, given how many it holds now.
    ///
    /// Half, not all: one-time keys the server hands out reach us only
    /// later, in pre-key messages, and generating the full amount would push
    /// the oldest private keys (possibly still in flight) out of the
    /// account. Keys generated but not yet published count as on their way.
    pub(crate) fn one_time_keys_to_generate(&self, on_server: u64) -> usize {
        let target = self.inner.max_number_of_one_time_keys() / 2;
        let on_server = usize::try_from(on_server).unwrap_or(usize::MAX);
        let pending = self.inner.one_time_keys().len();
        target.saturating_sub(on_server.saturating_add(pending))
    }

    /// The body of a `/keys/upload` request, or `None` when the server
    /// already has everything.
    ///
    /// `one_time_keys_on_server` is the server's `signed_curve25519` count
    /// (from the upload response or `/sync`); `unused_fallback_key_types`
    /// is `/sync`'s `device_unused_fallback_key_types`, when it was sent. A
    /// fallback key is generated on the first upload and again whenever the
    /// server reports that ours was used.
    pub(crate) fn keys_for_upload(
        &mut self,
        one_time_keys_on_server: u64,
        unused_fallback_key_types: Option<&[String]>,
    ) -> Result<Option<Value>, CryptoError> {
        let count = self.one_time_keys_to_generate(one_time_keys_on_server);
        if count > 0 {
            self.inner.generate_one_time_keys(count);
        }
        let fallback_used = unused_fallback_key_types
            .is_some_and(|types| !types.iter().any(|t| t == SIGNED_CURVE25519));
        if (!self.device_keys_published || fallback_used) && self.inner.fallback_key().is_empty() {
            self.inner.generate_fallback_key();
        }

        let mut body = Map::new();
        if !self.device_keys_published {
            body.insert("device_keys".into(), self.device_keys()?);
        }
        let one_time_keys = self.signed_keys(self.inner.one_time_keys(), false)?;
        if !one_time_keys.is_empty() {
            body.insert("one_time_keys".into(), Value::Object(one_time_keys));
        }
        let fallback_keys = self.signed_keys(self.inner.fallback_key(), true)?;
        if !fallback_keys.is_empty() {
            body.insert("fallback_keys".into(), Value::Object(fallback_keys));
        }
        Ok((!body.is_empty()).then_some(Value::Object(body)))
    }

    /// Records that the last body from [`Self::keys_for_upload`] reached the
    /// server, so its keys are not uploaded again.
    pub(crate) fn mark_keys_as_published(&mut self) {
        self.inner.mark_keys_as_published();
        self.device_keys_published = true;
    }

    /// `signed_curve25519:<id>` → `{key, [fallback,] signatures}`.
    fn signed_keys(
        &self,
        keys: impl IntoIterator<Item = (KeyId, Curve25519PublicKey)>,
        fallback: bool,
    ) -> Result<Map<String, Value>, CryptoError> {
        let mut signed = Map::new();
        for (key_id, key) in keys {
            let mut object = Map::new();
            object.insert("key".into(), Value::String(key.to_base64()));
            if fallback {
                object.insert("fallback".into(), Value::Bool(true));
            }
            self.sign(&mut object)?;
            signed.insert(
                format!("{SIGNED_CURVE25519}:{}", key_id.to_base64()),
                Value::Object(object),
            );
        }
        Ok(signed)
    }
}

impl fmt::Debug for OwnAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnAccount")
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .field("ed25519", &self.ed25519_key().to_base64())
            .finish_non_exhaustive()
    }
}

/// The object inside a value built with `json!({...})`.
pub(crate) fn as_object(value: &mut Value) -> &mut Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("built as an object literal"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_upload_has_device_keys_half_the_one_time_keys_and_a_fallback() {
        let mut account = OwnAccount::new("@a:h", "DEV");
        let body = account.keys_for_upload(0, None).unwrap().unwrap();
        let half = account.inner.max_number_of_one_time_keys() / 2;
        assert_eq!(body["one_time_keys"].as_object().unwrap().len(), half);
        assert_eq!(body["fallback_keys"].as_object().unwrap().len(), 1);
        assert_eq!(body["device_keys"]["device_id"], "DEV");

        // Not yet acknowledged: asking again re-sends the same keys, no more.
        let again = account.keys_for_upload(0, None).unwrap().unwrap();
        assert_eq!(again, body);

        account.mark_keys_as_published();
        assert_eq!(account.keys_for_upload(half as u64, None).unwrap(), None);
        let unused = vec![SIGNED_CURVE25519.to_owned()];
        assert_eq!(
            account.keys_for_upload(half as u64, Some(&unused)).unwrap(),
            None
        );
    }

    #[test]
    fn tops_up_what_was_claimed_and_replaces_a_used_fallback_key() {
        let mut account = OwnAccount::new("@a:h", "DEV");
        account.keys_for_upload(0, None).unwrap();
        account.mark_keys_as_published();
        let half = account.inner.max_number_of_one_time_keys() / 2;

        let body = account
            .keys_for_upload(half as u64 - 3, Some(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(body["one_time_keys"].as_object().unwrap().len(), 3);
        assert!(body.get("device_keys").is_none());
        let fallback = body["fallback_keys"].as_object().unwrap();
        assert_eq!(fallback.len(), 1);
        let (_, key) = fallback.iter().next().unwrap();
        assert_eq!(key["fallback"], true);
    }

    #[test]
    fn never_generates_when_the_server_has_more_than_enough() {
        let account = OwnAccount::new("@a:h", "DEV");
        assert_eq!(account.one_time_keys_to_generate(u64::MAX), 0);
        assert_eq!(
            account.one_time_keys_to_generate(0),
            account.inner.max_number_of_one_time_keys() / 2
        );
    }
}
