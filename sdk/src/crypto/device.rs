//! Other devices: their signed device keys, checked before anything is
//! encrypted to them, and the list of devices known per user.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey};

use super::signing::{device_signing_key_id, verify_json};
use super::{CryptoError, SIGNED_CURVE25519};

/// A device whose `device_keys` carried a valid signature by its own
/// Ed25519 key.
///
/// A valid self-signature proves the keys belong together, not that the
/// device belongs to a person: that needs verification, which this engine
/// does not do. What it does guarantee is that a device, once seen, keeps
/// its Ed25519 key: [`CryptoMachine::receive_keys_query`] refuses a change.
///
/// [`CryptoMachine::receive_keys_query`]: super::CryptoMachine::receive_keys_query
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    user_id: String,
    device_id: String,
    curve25519: Curve25519PublicKey,
    ed25519: Ed25519PublicKey,
    algorithms: Vec<String>,
}

impl Device {
    /// Checks a `device_keys` object listed under `user_id` and `device_id`
    /// (as in a `/keys/query` response): the IDs inside must match the
    /// listing, both identity keys must be present and well-formed, and the
    /// object must be signed by its own Ed25519 key.
    pub fn from_device_keys(
        user_id: &str,
        device_id: &str,
        device_keys: &Value,
    ) -> Result<Self, CryptoError> {
        const WHAT: &str = "device keys";
        let object = device_keys
            .as_object()
            .ok_or_else(|| CryptoError::malformed(WHAT, "not an object"))?;
        let string = |name: &str| {
            object
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| CryptoError::malformed(WHAT, format!("no string {name}")))
        };
        let (inner_user, inner_device) = (string("user_id")?, string("device_id")?);
        if inner_user != user_id || inner_device != device_id {
            return Err(CryptoError::DeviceMismatch {
                listed: format!("{user_id} {device_id}"),
                described: format!("{inner_user} {inner_device}"),
            });
        }
        let algorithms = object
            .get("algorithms")
            .and_then(Value::as_array)
            .ok_or_else(|| CryptoError::malformed(WHAT, "no algorithms array"))?
            .iter()
            .map(|a| a.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| CryptoError::malformed(WHAT, "an algorithm is not a string"))?;
        let keys = object
            .get("keys")
            .and_then(Value::as_object)
            .ok_or_else(|| CryptoError::malformed(WHAT, "no keys object"))?;
        let key = |algorithm: &str| {
            keys.get(&format!("{algorithm}:{device_id}"))
                .and_then(Value::as_str)
                .ok_or_else(|| CryptoError::malformed(WHAT, format!("no {algorithm} key")))
        };
        let ed25519 = Ed25519PublicKey::from_base64(key("ed25519")?)?;
        let curve25519 = Curve25519PublicKey::from_base64(key("curve25519")?)?;
        verify_json(object, user_id, &device_signing_key_id(device_id), &ed25519)?;
        Ok(Self {
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            curve25519,
            ed25519,
            algorithms,
        })
    }

    /// Checks a claimed key, `key_id` → `key` as in a `/keys/claim`
    /// response, and returns its Curve25519 key. Only signed keys are
    /// accepted: an unsigned one could have been put there by the server.
    pub fn verify_one_time_key(
        &self,
        key_id: &str,
        key: &Value,
    ) -> Result<Curve25519PublicKey, CryptoError> {
        let algorithm = key_id.split_once(':').map_or(key_id, |(a, _)| a);
        if algorithm != SIGNED_CURVE25519 {
            return Err(CryptoError::UnsupportedAlgorithm(algorithm.to_owned()));
        }
        let object = key
            .as_object()
            .ok_or_else(|| CryptoError::malformed("one-time key", "not an object"))?;
        verify_json(
            object,
            &self.user_id,
            &device_signing_key_id(&self.device_id),
            &self.ed25519,
        )?;
        let encoded = object
            .get("key")
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::malformed("one-time key", "no key"))?;
        Ok(Curve25519PublicKey::from_base64(encoded)?)
    }

    /// A device as the store kept it (verified when first seen).
    pub(crate) fn from_stored(
        user_id: String,
        device_id: String,
        curve25519: Curve25519PublicKey,
        ed25519: Ed25519PublicKey,
        algorithms: Vec<String>,
    ) -> Self {
        Self {
            user_id,
            device_id,
            curve25519,
            ed25519,
            algorithms,
        }
    }

    /// The device's owner.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The device ID.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The Curve25519 identity key, which Olm sessions are set up with.
    pub fn curve25519_key(&self) -> Curve25519PublicKey {
        self.curve25519
    }

    /// The Ed25519 fingerprint key, which signs the device's keys.
    pub fn ed25519_key(&self) -> Ed25519PublicKey {
        self.ed25519
    }

    /// The algorithms the device says it supports.
    pub fn algorithms(&self) -> &[String] {
        &self.algorithms
    }
}

/// What one `/keys/query` answer changed in the known devices.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DeviceChanges {
    /// `(user ID, device ID)` of devices seen for the first time.
    pub added: Vec<(String, String)>,
    /// `(user ID, device ID)` of devices no longer listed: their owner
    /// removed them. Rooms that shared a Megolm session with one rotate it
    /// on their next [`share_room_key`](super::CryptoMachine::share_room_key).
    pub removed: Vec<(String, String)>,
    /// `(user ID, device ID, why)` of devices whose keys were refused. A
    /// refused update of a known device leaves the known keys in place. The
    /// device ID is empty when a user's whole entry was malformed.
    pub rejected: Vec<(String, String, CryptoError)>,
}

/// The verified devices known for each user.
#[derive(Debug, Default)]
pub(crate) struct KnownDevices {
    by_user: BTreeMap<String, BTreeMap<String, Device>>,
}

impl KnownDevices {
    pub(crate) fn get(&self, user_id: &str, device_id: &str) -> Option<&Device> {
        self.by_user.get(user_id)?.get(device_id)
    }

    pub(crate) fn of_user(&self, user_id: &str) -> impl Iterator<Item = &Device> {
        self.by_user
            .get(user_id)
            .into_iter()
            .flat_map(BTreeMap::values)
    }

    /// The device of `user_id` with this Curve25519 key.
    pub(crate) fn by_curve25519(
        &self,
        user_id: &str,
        key: &Curve25519PublicKey,
    ) -> Option<&Device> {
        self.of_user(user_id).find(|d| d.curve25519 == *key)
    }

    /// Puts back a user's devices as stored.
    pub(crate) fn restore(&mut self, user_id: String, devices: Vec<Device>) {
        let devices = devices
            .into_iter()
            .map(|d| (d.device_id.clone(), d))
            .collect();
        self.by_user.insert(user_id, devices);
    }

    /// Replaces the devices of `user_id` by those `listed` (the user's map
    /// in a `/keys/query` answer), recording what changed in `changes`.
    ///
    /// Devices with bad keys are left out; a known device whose Ed25519 key
    /// changed keeps its old keys. `skip_device` (this device, when the user
    /// is us) is never listed as another device.
    pub(crate) fn update_user(
        &mut self,
        user_id: &str,
        listed: &Map<String, Value>,
        skip_device: Option<&str>,
        changes: &mut DeviceChanges,
    ) {
        let mut old = self.by_user.remove(user_id).unwrap_or_default();
        let mut new = BTreeMap::new();
        for (device_id, keys) in listed {
            if Some(device_id.as_str()) == skip_device {
                continue;
            }
            let known = old.remove(device_id);
            match (Device::from_device_keys(user_id, device_id, keys), known) {
                (Ok(device), Some(known)) if device.ed25519 != known.ed25519 => {
                    changes.rejected.push((
                        user_id.to_owned(),
                        device_id.clone(),
                        CryptoError::DeviceKeyChanged {
                            user_id: user_id.to_owned(),
                            device_id: device_id.clone(),
                        },
                    ));
                    new.insert(device_id.clone(), known);
                }
                (Ok(device), known) => {
                    if known.is_none() {
                        changes.added.push((user_id.to_owned(), device_id.clone()));
                    }
                    new.insert(device_id.clone(), device);
                }
                (Err(error), known) => {
                    changes
                        .rejected
                        .push((user_id.to_owned(), device_id.clone(), error));
                    if let Some(known) = known {
                        new.insert(device_id.clone(), known);
                    }
                }
            }
        }
        changes.removed.extend(
            old.into_keys()
                .map(|device_id| (user_id.to_owned(), device_id)),
        );
        self.by_user.insert(user_id.to_owned(), new);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crypto::account::OwnAccount;

    /// Fixtures generated by matrix-js-sdk's
    /// spec/test-utils/test-data/generate-test-data.py (libolm-signed), so
    /// these check interoperability, not just agreement with ourselves.
    fn js_sdk_device_keys() -> Value {
        json!({
            "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
            "device_id": "test_device",
            "keys": {
                "curve25519:test_device": "F4uCNNlcbRvc7CfBz95ZGWBvY1ALniG1J8+6rhVoKS0",
                "ed25519:test_device": "YI/7vbGVLpGdYtuceQR8MSsKB/QjgfMXM1xqnn+0NWU"
            },
            "user_id": "@alice:localhost",
            "signatures": {
                "@alice:localhost": {
                    "ed25519:test_device": "LmQC/yAUZJmkxZ+3L0nEwvtVWOzjqQqADWBhk+C47SPaFYHeV+E291mgXaSCJVeGltX+HC49Aw7nb6ga7sw0Aw"
                }
            }
        })
    }

    #[test]
    fn verifies_device_and_one_time_key_signed_by_libolm() {
        let device =
            Device::from_device_keys("@alice:localhost", "test_device", &js_sdk_device_keys())
                .unwrap();
        let key = json!({
            "key": "j3fR3HemM16M7CWhoI4Sk5ZsdmdfQHsKL1xuSft6MSw",
            "signatures": {
                "@alice:localhost": {
                    "ed25519:test_device": "25djC6Rk6gIgFBMVawY9X9LnY8XMMziey6lKqL8Q5Bbp7T1vw9uk0RE7eKO2a/jNLcYroO2xRztGhBrKz5sOCQ"
                }
            }
        });
        let curve = device
            .verify_one_time_key("signed_curve25519:AAAAHQ", &key)
            .unwrap();
        assert_eq!(
            curve.to_base64(),
            "j3fR3HemM16M7CWhoI4Sk5ZsdmdfQHsKL1xuSft6MSw"
        );

        let mut forged = key.clone();
        forged["key"] = json!("F4uCNNlcbRvc7CfBz95ZGWBvY1ALniG1J8+6rhVoKS0");
        assert!(matches!(
            device.verify_one_time_key("signed_curve25519:AAAAHQ", &forged),
            Err(CryptoError::BadSignature { .. })
        ));
        assert!(matches!(
            device.verify_one_time_key(
                "curve25519:AAAAHQ",
                &json!("j3fR3HemM16M7CWhoI4Sk5ZsdmdfQHsKL1xuSft6MSw")
            ),
            Err(CryptoError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn refuses_tampered_or_mislisted_device_keys() {
        let mut tampered = js_sdk_device_keys();
        tampered["algorithms"] = json!(["m.olm.v1.curve25519-aes-sha2"]);
        assert!(matches!(
            Device::from_device_keys("@alice:localhost", "test_device", &tampered),
            Err(CryptoError::BadSignature { .. })
        ));
        assert!(matches!(
            Device::from_device_keys("@mallory:localhost", "test_device", &js_sdk_device_keys()),
            Err(CryptoError::DeviceMismatch { .. })
        ));
        // Extra data in unsigned is allowed.
        let mut annotated = js_sdk_device_keys();
        annotated["unsigned"] = json!({"device_display_name": "phone"});
        Device::from_device_keys("@alice:localhost", "test_device", &annotated).unwrap();
    }

    #[test]
    fn an_ed25519_key_change_is_refused_and_missing_devices_are_removed() {
        let first = OwnAccount::new("@b:h", "B1");
        let second = OwnAccount::new("@b:h", "B2");
        let impostor = OwnAccount::new("@b:h", "B1");
        let mut known = KnownDevices::default();

        let mut changes = DeviceChanges::default();
        let listed =
            json!({"B1": first.device_keys().unwrap(), "B2": second.device_keys().unwrap()});
        known.update_user("@b:h", listed.as_object().unwrap(), None, &mut changes);
        assert_eq!(changes.added.len(), 2);

        let mut changes = DeviceChanges::default();
        let listed = json!({"B1": impostor.device_keys().unwrap()});
        known.update_user("@b:h", listed.as_object().unwrap(), None, &mut changes);
        assert!(matches!(
            changes.rejected.as_slice(),
            [(_, _, CryptoError::DeviceKeyChanged { .. })]
        ));
        assert_eq!(changes.removed, vec![("@b:h".to_owned(), "B2".to_owned())]);
        assert_eq!(
            known.get("@b:h", "B1").unwrap().ed25519_key(),
            first.ed25519_key()
        );
        assert!(known.get("@b:h", "B2").is_none());
    }
}
