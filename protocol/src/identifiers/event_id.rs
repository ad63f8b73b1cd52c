//! Event IDs: `$opaque:server_name` in room versions 1 and 2, `$<hash>`
//! from version 3.

use crate::base64;

use super::{
    check_opaque_localpart, random_alphanumeric, string_identifier, strip_sigil, IdError,
    ServerName, HASH_ID_CHARS, MAX_ID_BYTES,
};

/// Length of the random part of newly generated server-assigned event IDs.
const RANDOM_LOCALPART_CHARS: usize = 18;

/// An event ID, in either of its forms:
///
/// * server-assigned (room versions 1 and 2): `$opaque:server_name`;
/// * hash-based (room version 3 on): `$` followed by the unpadded base64
///   reference hash of the event, in the standard alphabet for version 3 and
///   the URL-safe one from version 4.
///
/// Parsing accepts either base64 alphabet for the hash form, since which one
/// applies depends on the room version and IDs are compared as opaque
/// strings anyway.
#[derive(Clone)]
pub struct EventId {
    full: String,
    server_name: Option<ServerName>,
}

string_identifier!(EventId);

impl EventId {
    /// Parses an event ID of either form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        Self::from_string(s.to_owned())
    }

    fn from_string(full: String) -> Result<Self, IdError> {
        let rest = strip_sigil(&full, '$')?;
        let server_name = match rest.split_once(':') {
            Some((localpart, server)) => {
                check_opaque_localpart(localpart)?;
                Some(ServerName::parse(server)?)
            }
            None => {
                check_hash(rest)?;
                None
            }
        };
        Ok(Self { full, server_name })
    }

    /// Generates a fresh server-assigned event ID, as room versions 1 and 2
    /// require. Fails only if the server name is so long that the ID would
    /// exceed 255 bytes.
    pub fn new_random(server_name: &ServerName) -> Result<Self, IdError> {
        let full = format!(
            "${}:{server_name}",
            random_alphanumeric(RANDOM_LOCALPART_CHARS)
        );
        if full.len() > MAX_ID_BYTES {
            return Err(IdError::TooLong {
                len: full.len(),
                max: MAX_ID_BYTES,
            });
        }
        Ok(Self {
            full,
            server_name: Some(server_name.clone()),
        })
    }

    /// The event ID for a reference hash, in the requested alphabet.
    pub(crate) fn from_reference_hash(hash: &[u8; 32], url_safe: bool) -> Self {
        let encoded = if url_safe {
            base64::encode_url_safe(hash)
        } else {
            base64::encode(hash)
        };
        Self {
            full: format!("${encoded}"),
            server_name: None,
        }
    }

    /// The server that assigned the ID, for the room version 1–2 form.
    pub fn server_name(&self) -> Option<&ServerName> {
        self.server_name.as_ref()
    }

    /// Whether this is a hash-based (room version 3+) ID.
    pub fn is_hash_based(&self) -> bool {
        self.server_name.is_none()
    }
}

/// A hash-based event ID is unpadded base64 (either alphabet) of 32 bytes.
fn check_hash(opaque: &str) -> Result<(), IdError> {
    let decodes = |bytes: Result<Vec<u8>, base64::Base64DecodeError>| {
        bytes.is_ok_and(|bytes| bytes.len() == 32)
    };
    let valid = opaque.len() == HASH_ID_CHARS
        && (decodes(base64::decode_url_safe(opaque)) || decodes(base64::decode(opaque)));
    if valid {
        Ok(())
    } else {
        Err(IdError::InvalidHash)
    }
}
