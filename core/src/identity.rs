//! Who this server is: its name and its signing key. Passed down as a
//! value, never global, so one process could serve several names.

use hanse_protocol::canonical_json::CanonicalJsonObject;
use hanse_protocol::event_signing::{sign_event, SignEventError};
use hanse_protocol::identifiers::ServerName;
use hanse_protocol::room_versions::RoomVersion;
use hanse_protocol::signing::ServerSigningKey;

#[derive(Debug)]
pub struct ServerIdentity {
    pub server_name: ServerName,
    pub signing_key: ServerSigningKey,
}

impl ServerIdentity {
    /// Hashes `event` and adds this server's signature, under the rules of
    /// the room's `version` (what a redaction keeps is what is signed).
    pub fn sign_event(
        &self,
        event: &mut CanonicalJsonObject,
        version: &RoomVersion,
    ) -> Result<(), SignEventError> {
        sign_event(event, &self.signing_key, self.server_name.as_str(), version)
    }
}
