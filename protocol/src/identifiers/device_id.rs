//! Device IDs.

use super::{random_alphanumeric, string_identifier, IdError};

/// Maximum length of a device ID we accept.
const MAX_DEVICE_ID_BYTES: usize = 255;

/// Length of generated device IDs.
const GENERATED_CHARS: usize = 10;

/// A device ID.
///
/// The specification treats device IDs as opaque and sets no grammar. This
/// type still requires them to be non-empty, at most 255 bytes and free of
/// control characters, so they are safe to store, log and put in URLs.
#[derive(Clone)]
pub struct DeviceId {
    full: String,
}

string_identifier!(DeviceId);

impl DeviceId {
    /// Parses a device ID.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        Self::from_string(s.to_owned())
    }

    fn from_string(full: String) -> Result<Self, IdError> {
        if full.is_empty() {
            return Err(IdError::Empty);
        }
        if full.len() > MAX_DEVICE_ID_BYTES {
            return Err(IdError::TooLong {
                len: full.len(),
                max: MAX_DEVICE_ID_BYTES,
            });
        }
        if let Some(ch) = full.chars().find(|c| c.is_control()) {
            return Err(IdError::ForbiddenCharacter {
                part: "device ID",
                ch,
            });
        }
        Ok(Self { full })
    }

    /// Generates a random device ID of ten alphanumeric characters, for
    /// logins that do not name one.
    pub fn generate() -> Self {
        Self {
            full: random_alphanumeric(GENERATED_CHARS),
        }
    }
}
