//! The first checks on receipt of a PDU, those that need no room state:
//! the format its room version asks for (step 1), the signatures of the
//! servers that must have signed it (step 2), and its content hash
//! (step 3: an event whose content does not match its hash is kept in its
//! redacted form). Steps 4 to 6 happen in the room writer
//! (`rooms::receive`), against the room's events.

use hanse_protocol::canonical_json::CanonicalJsonObject;
use hanse_protocol::event_signing::verify_event_signature;
use hanse_protocol::hashes::{check_content_hash, ContentHashError};
use hanse_protocol::pdu::Pdu;
use hanse_protocol::redaction::redact;
use hanse_protocol::room_versions::RoomVersion;
use hanse_protocol::signing::signing_key_ids;

use crate::{Homeserver, Result};

/// Why a PDU was dropped before reaching the room.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Dropped {
    #[error("the event is malformed: {0}")]
    Format(String),
    #[error("the event is not signed by {0} with a key valid when it was sent")]
    Signature(String),
}

impl Homeserver {
    /// Steps 1 to 3 for the event `object` of a room of `version`: the
    /// event to carry on with, or why it is dropped.
    pub async fn check_pdu(
        &self,
        object: CanonicalJsonObject,
        version: &RoomVersion,
    ) -> Result<std::result::Result<Pdu, Dropped>> {
        let pdu = match Pdu::from_canonical(object, version) {
            Ok(pdu) => pdu,
            Err(error) => return Ok(Err(Dropped::Format(error.to_string()))),
        };
        for server in hanse_protocol::auth::required_signers(&pdu, version) {
            if !self.signed_by(&pdu, version, &server).await? {
                return Ok(Err(Dropped::Signature(server.as_str().to_owned())));
            }
        }
        match check_content_hash(pdu.as_object()) {
            Ok(()) => Ok(Ok(pdu)),
            Err(ContentHashError::Mismatch) => {
                tracing::info!(event_id = %pdu.event_id(), "content hash mismatch: keeping the redacted event");
                let redacted = redact(pdu.as_object(), version).map_err(|e| {
                    crate::Error::Internal(format!("redacting a checked event: {e}"))
                })?;
                match Pdu::from_canonical(redacted, version) {
                    Ok(pdu) => Ok(Ok(pdu)),
                    Err(error) => Ok(Err(Dropped::Format(error.to_string()))),
                }
            }
            Err(error) => Ok(Err(Dropped::Format(error.to_string()))),
        }
    }

    /// The events of a list another server sent that pass steps 1 to 3;
    /// the others are dropped with a log line.
    pub(crate) async fn check_pdu_list(
        &self,
        list: Option<&serde_json::Value>,
        version: &RoomVersion,
    ) -> Result<Vec<Pdu>> {
        let Some(serde_json::Value::Array(list)) = list else {
            return Ok(Vec::new());
        };
        let mut checked = Vec::with_capacity(list.len());
        for value in list {
            let Ok(object) = hanse_protocol::canonical_json::object_from_json(value.clone()) else {
                tracing::info!("dropping a sent event that is not canonical JSON");
                continue;
            };
            match self.check_pdu(object, version).await? {
                Ok(pdu) => checked.push(pdu),
                Err(dropped) => tracing::info!(%dropped, "dropping a sent event"),
            }
        }
        Ok(checked)
    }

    /// Whether `server` signed `pdu` with a key of its that was valid
    /// when the event was sent (room versions 5+) or that is known at all.
    pub(crate) async fn signed_by(
        &self,
        pdu: &Pdu,
        version: &RoomVersion,
        server: &hanse_protocol::identifiers::ServerName,
    ) -> Result<bool> {
        let valid_at = if version.enforce_key_validity {
            pdu.origin_server_ts()
        } else {
            0
        };
        for key_id in signing_key_ids(server.as_str(), pdu.as_object()) {
            let Some(key) = self.server_key(server, &key_id, valid_at).await? else {
                continue;
            };
            if verify_event_signature(pdu.as_object(), version, server.as_str(), &key_id, &key)
                .is_ok()
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
