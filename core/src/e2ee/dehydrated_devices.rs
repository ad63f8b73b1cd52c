//! Dehydrated devices (MSC3814, under its unstable prefix): a device a
//! client uploads encrypted, with its keys, so that room keys sent while
//! the user has no device online still reach them. A later device
//! rehydrates it: it decrypts the device data (the server cannot) and
//! reads the to-device messages that arrived for it.
//!
//! The server keeps one per user; uploading another replaces it, deleting
//! the old device with its keys and messages.

use serde_json::{json, Map, Value};

use super::keys::{check_device_keys, check_keys};
use super::to_device::to_device_event;
use crate::accounts::Session;
use crate::clock::now_ms;
use crate::store::{DehydrationRefused, KeyConflict, NewDehydratedDevice};
use crate::{Error, Homeserver, Result};

/// Messages one events request returns at most.
const EVENTS_PER_BATCH: i64 = 100;
/// Largest device_data, as JSON text.
const MAX_DEVICE_DATA_BYTES: usize = 65_536;
/// Longest display name.
const MAX_DISPLAY_NAME_BYTES: usize = 256;

fn none_dehydrated() -> Error {
    Error::NotFound("you have no dehydrated device".into())
}

impl Homeserver {
    /// PUT /dehydrated_device: stores the device and its keys, replacing
    /// the user's previous dehydrated device.
    pub async fn put_dehydrated_device(
        &self,
        session: &Session,
        body: &Map<String, Value>,
    ) -> Result<Value> {
        let device_id = match body.get("device_id") {
            Some(Value::String(id)) if !id.is_empty() && id.len() <= 255 => id.as_str(),
            None => return Err(Error::MissingParam("device_id is required".into())),
            Some(_) => {
                return Err(Error::InvalidParam(
                    "device_id must be 1 to 255 bytes".into(),
                ))
            }
        };
        let device_data = match body.get("device_data") {
            Some(data @ Value::Object(fields))
                if fields.get("algorithm").is_some_and(Value::is_string) =>
            {
                data.to_string()
            }
            None => return Err(Error::MissingParam("device_data is required".into())),
            Some(_) => {
                return Err(Error::BadJson(
                    "device_data must be an object with a string algorithm".into(),
                ))
            }
        };
        if device_data.len() > MAX_DEVICE_DATA_BYTES {
            return Err(Error::TooLarge(format!(
                "device_data is larger than {MAX_DEVICE_DATA_BYTES} bytes"
            )));
        }
        let display_name = match body.get("initial_device_display_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) if name.len() <= MAX_DISPLAY_NAME_BYTES => {
                Some(name.as_str())
            }
            Some(_) => {
                return Err(Error::InvalidParam(format!(
                    "initial_device_display_name must be a string of at most \
                     {MAX_DISPLAY_NAME_BYTES} bytes"
                )))
            }
        };
        // The keys are checked as the dehydrated device's own upload.
        let device = Session {
            user_id: session.user_id.clone(),
            device_id: device_id.to_owned(),
            is_guest: false,
            is_admin: false,
        };
        let identity = match body.get("device_keys") {
            Some(keys) => check_device_keys(&device, keys)?,
            None => return Err(Error::MissingParam("device_keys is required".into())),
        };
        if identity.curve25519 != device_id {
            return Err(Error::InvalidParam(
                "a dehydrated device's ID must be its curve25519 identity key".into(),
            ));
        }
        let one_time_keys = check_keys(
            body,
            "one_time_keys",
            &device,
            Some(&identity.verifying_key),
        )?;
        let fallback_keys = check_keys(
            body,
            "fallback_keys",
            &device,
            Some(&identity.verifying_key),
        )?;
        let user = session.user_id.as_str();
        let new = NewDehydratedDevice {
            device_id,
            display_name,
            device_data,
            device_keys: &identity.canonical,
            one_time_keys: &one_time_keys,
            fallback_keys: &fallback_keys,
        };
        let outcome = self
            .device_list_write(&[user], async {
                let outcome = self
                    .store
                    .replace_dehydrated_device(user, &new, now_ms())
                    .await?;
                let position = outcome.as_ref().ok().copied().flatten();
                Ok((outcome, position))
            })
            .await?;
        match outcome {
            Ok(_) => Ok(json!({ "device_id": device_id })),
            Err(DehydrationRefused::DeviceIdInUse) => Err(Error::InvalidParam(format!(
                "one of your devices is called {device_id}"
            ))),
            Err(DehydrationRefused::Keys(KeyConflict::OneTimeKey(key))) => Err(
                Error::InvalidParam(format!("one-time key {key} is given twice")),
            ),
        }
    }

    /// GET /dehydrated_device: its ID and data.
    pub async fn dehydrated_device(&self, session: &Session) -> Result<Value> {
        let (device_id, device_data) = self
            .store
            .dehydrated_device(session.user_id.as_str())
            .await?
            .ok_or_else(none_dehydrated)?;
        let device_data: Value = serde_json::from_str(&device_data)
            .map_err(|e| Error::Internal(format!("stored device_data: {e}")))?;
        Ok(json!({ "device_id": device_id, "device_data": device_data }))
    }

    /// DELETE /dehydrated_device: deletes it like any device.
    pub async fn delete_dehydrated_device(&self, session: &Session) -> Result<Value> {
        let (device_id, _) = self
            .store
            .dehydrated_device(session.user_id.as_str())
            .await?
            .ok_or_else(none_dehydrated)?;
        self.delete_devices(&session.user_id, std::slice::from_ref(&device_id))
            .await?;
        Ok(json!({ "device_id": device_id }))
    }

    /// The to-device messages of the dehydrated device after `from` (a
    /// `next_batch` of an earlier call). Unlike /sync, reading deletes
    /// nothing: a rehydration that fails can start again. `next_batch`
    /// is left out once everything arrived so far has been returned.
    pub async fn dehydrated_device_events(
        &self,
        session: &Session,
        device_id: &str,
        from: Option<&str>,
    ) -> Result<Value> {
        let user = session.user_id.as_str();
        match self.store.dehydrated_device(user).await? {
            Some((dehydrated, _)) if dehydrated == device_id => {}
            _ => {
                return Err(Error::Forbidden(format!(
                    "{device_id} is not your dehydrated device"
                )))
            }
        }
        let after = match from {
            None => 0,
            Some(from) => from
                .parse::<i64>()
                .ok()
                .filter(|from| *from >= 0)
                .ok_or_else(|| Error::InvalidParam(format!("{from:?} is not a next_batch")))?,
        };
        let upto = self.streams.to_device.persisted(&self.store).await?;
        let rows = self
            .store
            .to_device_messages(user, device_id, after, upto, EVENTS_PER_BATCH)
            .await?;
        let events = rows
            .iter()
            .map(to_device_event)
            .collect::<Result<Vec<_>>>()?;
        let mut answer = json!({ "events": events });
        if let Some(last) = rows
            .last()
            .filter(|_| rows.len() as i64 == EVENTS_PER_BATCH)
        {
            answer["next_batch"] = json!(last.position.to_string());
        }
        Ok(answer)
    }
}
