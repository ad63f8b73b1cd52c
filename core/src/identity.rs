//! Who this server is: its name and its signing key. Passed down as a
//! value, never global, so one process could serve several names.

use hanse_protocol::identifiers::ServerName;
use hanse_protocol::signing::ServerSigningKey;

#[derive(Debug)]
pub struct ServerIdentity {
    pub server_name: ServerName,
    pub signing_key: ServerSigningKey,
}
