//! The first checks on receipt of a PDU, those that need no room state:
//! the format its room version asks for (step 1), the signatures of the
//! servers that must have signed it (step 2), and its content hash
//! (step 3: an event whose content does not match its hash is kept in its
//! redacted form). Steps 4 to 6 happen in the room writer
//! (`rooms::receive`), against the room's events.

use hanse_protocol::canonical_json::CanonicalJsonObject;
use hanse_protocol::event_signing::verify_event_signature;
use hanse_protocol::hashes::{check_content_hash, ContentHashError};
use hanse_protocol::identifiers::{KeyId, ServerName};
use hanse_protocol::pdu::Pdu;
use hanse_protocol::redaction::redact;
use hanse_protocol::room_versions::RoomVersion;
use hanse_protocol::signing::{signing_key_ids, VerifyingKey};

use crate::{Homeserver, Result};

/// Why a PDU was dropped before reaching the room.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Dropped {
    #[error("the event is malformed: {0}")]
    Format(String),
    #[error("the event is not signed by {0} with a key valid when it was sent")]
    Signature(String),
}

/// The keys of each server that must have signed an event, among those it
/// signed with: known here and valid when the event was sent.
type SignerKeys = Vec<(ServerName, Vec<(KeyId, VerifyingKey)>)>;

/// Lists shorter than this are checked on the calling task: handing them to
/// other threads costs more than it saves.
const PARALLEL_FROM: usize = 64;

impl Homeserver {
    /// Steps 1 to 3 for the event `object` of a room of `version`: the
    /// event to carry on with, or why it is dropped.
    pub async fn check_pdu(
        &self,
        object: CanonicalJsonObject,
        version: &'static RoomVersion,
    ) -> Result<std::result::Result<Pdu, Dropped>> {
        let pdu = match Pdu::from_canonical(object, version) {
            Ok(pdu) => pdu,
            Err(error) => return Ok(Err(Dropped::Format(error.to_string()))),
        };
        let keys = self.signer_keys(&pdu, version).await?;
        Ok(verify_pdu(pdu, &keys, version))
    }

    /// The events of a list another server sent that pass steps 1 to 3;
    /// the others are dropped with a log line. A long list (a room's
    /// state) is parsed and verified on every core: the keys are looked up
    /// in between, so the work on other threads needs nothing but the CPU.
    pub(crate) async fn check_pdu_list(
        &self,
        list: Option<&serde_json::Value>,
        version: &'static RoomVersion,
    ) -> Result<Vec<Pdu>> {
        let Some(serde_json::Value::Array(list)) = list else {
            return Ok(Vec::new());
        };
        let parsed = on_all_cores(list.clone(), move |value| {
            let object = hanse_protocol::canonical_json::object_from_json(value)
                .map_err(|e| Dropped::Format(format!("not canonical JSON: {e}")))?;
            Pdu::from_canonical(object, version).map_err(|e| Dropped::Format(e.to_string()))
        })
        .await?;
        let mut with_keys = Vec::with_capacity(parsed.len());
        for pdu in parsed {
            match pdu {
                Ok(pdu) => {
                    let keys = self.signer_keys(&pdu, version).await?;
                    with_keys.push((pdu, keys));
                }
                Err(dropped) => tracing::info!(%dropped, "dropping a sent event"),
            }
        }
        let verified = on_all_cores(with_keys, move |(pdu, keys)| {
            verify_pdu(pdu, &keys, version)
        })
        .await?;
        Ok(verified
            .into_iter()
            .filter_map(|checked| {
                checked
                    .map_err(|dropped| tracing::info!(%dropped, "dropping a sent event"))
                    .ok()
            })
            .collect())
    }

    /// Whether `server` signed `pdu` with a key of its that was valid
    /// when the event was sent (room versions 5+) or that is known at all.
    pub(crate) async fn signed_by(
        &self,
        pdu: &Pdu,
        version: &RoomVersion,
        server: &ServerName,
    ) -> Result<bool> {
        let keys = self.keys_of(pdu, version, server).await?;
        Ok(signed_with_any(pdu, version, server, &keys))
    }

    /// The keys of the servers that must have signed `pdu`.
    async fn signer_keys(&self, pdu: &Pdu, version: &RoomVersion) -> Result<SignerKeys> {
        let mut keys = Vec::new();
        for server in hanse_protocol::auth::required_signers(pdu, version) {
            let found = self.keys_of(pdu, version, &server).await?;
            keys.push((server, found));
        }
        Ok(keys)
    }

    /// The keys `server` signed `pdu` with that are known here and were
    /// valid when it was sent (room versions 5+), or are known at all.
    async fn keys_of(
        &self,
        pdu: &Pdu,
        version: &RoomVersion,
        server: &ServerName,
    ) -> Result<Vec<(KeyId, VerifyingKey)>> {
        let valid_at = if version.enforce_key_validity {
            pdu.origin_server_ts()
        } else {
            0
        };
        let mut keys = Vec::new();
        for key_id in signing_key_ids(server.as_str(), pdu.as_object()) {
            if let Some(key) = self.server_key(server, &key_id, valid_at).await? {
                keys.push((key_id, key));
            }
        }
        Ok(keys)
    }
}

/// Steps 2 and 3 with the signers' keys at hand: every required signer
/// signed with one of its keys, and the content matches its hash (or the
/// redacted event is kept).
fn verify_pdu(
    pdu: Pdu,
    keys: &SignerKeys,
    version: &RoomVersion,
) -> std::result::Result<Pdu, Dropped> {
    for (server, server_keys) in keys {
        if !signed_with_any(&pdu, version, server, server_keys) {
            return Err(Dropped::Signature(server.as_str().to_owned()));
        }
    }
    match check_content_hash(pdu.as_object()) {
        Ok(()) => Ok(pdu),
        Err(ContentHashError::Mismatch) => {
            tracing::info!(event_id = %pdu.event_id(), "content hash mismatch: keeping the redacted event");
            let redacted =
                redact(pdu.as_object(), version).map_err(|e| Dropped::Format(e.to_string()))?;
            Pdu::from_canonical(redacted, version).map_err(|e| Dropped::Format(e.to_string()))
        }
        Err(error) => Err(Dropped::Format(error.to_string())),
    }
}

fn signed_with_any(
    pdu: &Pdu,
    version: &RoomVersion,
    server: &ServerName,
    keys: &[(KeyId, VerifyingKey)],
) -> bool {
    keys.iter().any(|(key_id, key)| {
        verify_event_signature(pdu.as_object(), version, server.as_str(), key_id, key).is_ok()
    })
}

/// `work` applied to each item, in order: on blocking threads, one share
/// of the items per core, for a long list; here for a short one.
async fn on_all_cores<T, U>(
    items: Vec<T>,
    work: impl Fn(T) -> U + Send + Sync + 'static,
) -> Result<Vec<U>>
where
    T: Send + 'static,
    U: Send + 'static,
{
    if items.len() < PARALLEL_FROM {
        return Ok(items.into_iter().map(work).collect());
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let share = items.len().div_ceil(cores);
    let work = std::sync::Arc::new(work);
    let mut items = items.into_iter();
    let mut tasks = Vec::with_capacity(cores);
    loop {
        let chunk: Vec<T> = items.by_ref().take(share).collect();
        if chunk.is_empty() {
            break;
        }
        let work = work.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            chunk.into_iter().map(|item| work(item)).collect::<Vec<U>>()
        }));
    }
    let mut done = Vec::new();
    for task in tasks {
        done.extend(
            task.await
                .map_err(|e| crate::Error::Internal(format!("a check thread failed: {e}")))?,
        );
    }
    Ok(done)
}
