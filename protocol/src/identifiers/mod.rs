//! Matrix identifiers: validated, immutable strings.
//!
//! Every type here parses with a precise [`IdError`], displays and
//! serialises as its string form, and compares, hashes and orders exactly as
//! that string (so a `HashMap<UserId, _>` can be queried with a `&str`).
//! Parsing of identifiers that arrive over federation is as lenient as the
//! specification requires (historical user IDs, opaque room and event ID
//! local parts); constructors meant for minting new identifiers are strict.

mod device_id;
mod error;
mod event_id;
mod key_id;
mod room_alias;
mod room_id;
mod server_name;
mod user_id;

pub use device_id::DeviceId;
pub use error::IdError;
pub use event_id::EventId;
pub use key_id::KeyId;
pub use room_alias::RoomAlias;
pub use room_id::RoomId;
pub use server_name::ServerName;
pub use user_id::UserId;

/// Maximum length in bytes of user IDs, room IDs, room aliases and event
/// IDs, sigil and server name included.
pub const MAX_ID_BYTES: usize = 255;

/// Length of an unpadded base64 SHA-256 hash, the opaque part of
/// hash-based event and room IDs.
const HASH_ID_CHARS: usize = 43;

/// Checks the overall length and sigil shared by sigil-prefixed
/// identifiers and returns the rest of the string.
fn strip_sigil(s: &str, sigil: char) -> Result<&str, IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_BYTES {
        return Err(IdError::TooLong {
            len: s.len(),
            max: MAX_ID_BYTES,
        });
    }
    s.strip_prefix(sigil).ok_or(IdError::MissingSigil(sigil))
}

/// Validates an opaque local part of room IDs, room aliases and
/// server-generated event IDs: any code point but `:` and NUL. The caller
/// has already split at the first `:`, so only NUL needs checking.
fn check_opaque_localpart(localpart: &str) -> Result<(), IdError> {
    if localpart.contains('\0') {
        Err(IdError::ForbiddenCharacter {
            part: "local part",
            ch: '\0',
        })
    } else {
        Ok(())
    }
}

/// Random alphanumeric string for server-generated opaque identifiers.
fn random_alphanumeric(len: usize) -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

/// Implements the string-like traits every identifier shares. The type must
/// have a `full: String` field and `parse(&str)` / `from_string(String)`
/// constructors.
macro_rules! string_identifier {
    ($ty:ident) => {
        impl $ty {
            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.full
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($ty))
                    .field(&self.as_str())
                    .finish()
            }
        }

        impl PartialEq for $ty {
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl Eq for $ty {}

        impl PartialOrd for $ty {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $ty {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl std::hash::Hash for $ty {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.as_str().hash(state);
            }
        }

        impl std::borrow::Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                self.as_str()
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::identifiers::IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = $crate::identifiers::IdError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::identifiers::IdError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::from_string(s)
            }
        }

        impl From<$ty> for String {
            fn from(id: $ty) -> Self {
                id.full
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::from_string(s).map_err(serde::de::Error::custom)
            }
        }
    };
}
use string_identifier;

#[cfg(test)]
mod tests;
