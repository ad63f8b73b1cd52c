//! Room IDs: `!opaque:server_name` up to room version 11, `!<hash>` from
//! room version 12.

use crate::base64;

use super::{
    check_opaque_localpart, random_alphanumeric, string_identifier, strip_sigil, EventId, IdError,
    ServerName, HASH_ID_CHARS, MAX_ID_BYTES,
};

/// Length of the random part of newly generated room IDs.
const RANDOM_LOCALPART_CHARS: usize = 18;

/// A room ID, in either of its two forms:
///
/// * with a server name (room versions 1 to 11): `!opaque:server_name`,
///   where the opaque part may hold any code point except `:` and NUL;
/// * hash-based (room version 12 on): `!` followed by the URL-safe unpadded
///   base64 reference hash of the room's `m.room.create` event, i.e. that
///   event's ID with `!` instead of `$`.
///
/// An ID without `:` is taken to be hash-based and must be exactly such a
/// hash; base64 never contains `:`, so the forms cannot be confused.
#[derive(Clone)]
pub struct RoomId {
    full: String,
    server_name: Option<ServerName>,
}

string_identifier!(RoomId);

impl RoomId {
    /// Parses a room ID of either form.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        Self::from_string(s.to_owned())
    }

    fn from_string(full: String) -> Result<Self, IdError> {
        let rest = strip_sigil(&full, '!')?;
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

    /// Generates a fresh random room ID for room versions that put a server
    /// name in room IDs. Fails only if the server name is so long that the
    /// ID would exceed 255 bytes.
    pub fn new_random(server_name: &ServerName) -> Result<Self, IdError> {
        let full = format!(
            "!{}:{server_name}",
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

    /// The room ID for a create event with the given reference hash.
    pub(crate) fn from_reference_hash(hash: &[u8; 32]) -> Self {
        Self {
            full: format!("!{}", base64::encode_url_safe(hash)),
            server_name: None,
        }
    }

    /// The server that created the room, for the classic form. Hash-based
    /// IDs have none; the creator is the create event's `sender`.
    pub fn server_name(&self) -> Option<&ServerName> {
        self.server_name.as_ref()
    }

    /// Whether this is a hash-based (room version 12 style) ID.
    pub fn is_hash_based(&self) -> bool {
        self.server_name.is_none()
    }

    /// For a hash-based room ID, the ID of the room's `m.room.create` event,
    /// which the authorisation rules compare against.
    pub fn create_event_id(&self) -> Option<EventId> {
        if self.is_hash_based() {
            EventId::parse(&format!("${}", &self.full[1..])).ok()
        } else {
            None
        }
    }
}

/// A hash-based room ID is URL-safe unpadded base64 of 32 bytes.
fn check_hash(opaque: &str) -> Result<(), IdError> {
    let valid = opaque.len() == HASH_ID_CHARS
        && base64::decode_url_safe(opaque).is_ok_and(|bytes| bytes.len() == 32);
    if valid {
        Ok(())
    } else {
        Err(IdError::InvalidHash)
    }
}
