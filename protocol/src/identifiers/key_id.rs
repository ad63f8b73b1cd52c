//! Signing key identifiers: `algorithm:version`.

use super::{string_identifier, IdError};

/// The signing algorithm this crate implements.
pub(crate) const ED25519: &str = "ed25519";

/// A signing key identifier such as `ed25519:a_AbCd`: the algorithm, a
/// colon, and a version distinguishing the entity's keys.
///
/// The version must match `[a-zA-Z0-9_]+`, as the server key API requires;
/// the algorithm must match `[a-z0-9_]+`. Unknown algorithms parse, so that
/// signatures made with them can be recognised and skipped.
#[derive(Clone)]
pub struct KeyId {
    full: String,
    colon: usize,
}

string_identifier!(KeyId);

impl KeyId {
    /// Parses a key ID.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        Self::from_string(s.to_owned())
    }

    fn from_string(full: String) -> Result<Self, IdError> {
        if full.is_empty() {
            return Err(IdError::Empty);
        }
        let colon = full.find(':').ok_or(IdError::MissingDelimiter)?;
        check_part(&full[..colon], "key algorithm", |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
        })?;
        check_part(&full[colon + 1..], "key version", |c| {
            c.is_ascii_alphanumeric() || c == '_'
        })?;
        Ok(Self { full, colon })
    }

    /// An `ed25519` key ID with the given version.
    pub fn ed25519(version: &str) -> Result<Self, IdError> {
        Self::from_string(format!("{ED25519}:{version}"))
    }

    /// The algorithm, such as `ed25519`.
    pub fn algorithm(&self) -> &str {
        &self.full[..self.colon]
    }

    /// The version after the colon.
    pub fn version(&self) -> &str {
        &self.full[self.colon + 1..]
    }

    /// Whether this key uses `ed25519`, the only algorithm servers sign with.
    pub fn is_ed25519(&self) -> bool {
        self.algorithm() == ED25519
    }
}

fn check_part(
    part: &str,
    name: &'static str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), IdError> {
    if part.is_empty() {
        return Err(IdError::EmptyPart(name));
    }
    match part.chars().find(|&c| !allowed(c)) {
        Some(ch) => Err(IdError::ForbiddenCharacter { part: name, ch }),
        None => Ok(()),
    }
}
