//! User IDs: `@localpart:server_name`.

use super::{string_identifier, strip_sigil, IdError, ServerName, MAX_ID_BYTES};

/// A user ID.
///
/// [`UserId::parse`] accepts the historical grammar that servers must
/// tolerate over federation: the local part may be empty and may contain any
/// code point except `:` and NUL. [`UserId::new`] enforces the current
/// grammar and is what registration should use, so this server never mints
/// an ID other servers could consider non-compliant.
#[derive(Clone)]
pub struct UserId {
    full: String,
    server_name: ServerName,
}

string_identifier!(UserId);

impl UserId {
    /// Parses a user ID under the historical (lenient) grammar.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        Self::from_string(s.to_owned())
    }

    fn from_string(full: String) -> Result<Self, IdError> {
        let rest = strip_sigil(&full, '@')?;
        let (localpart, server) = rest.split_once(':').ok_or(IdError::MissingDelimiter)?;
        if localpart.contains('\0') {
            return Err(IdError::ForbiddenCharacter {
                part: "user ID local part",
                ch: '\0',
            });
        }
        let server_name = ServerName::parse(server)?;
        Ok(Self { full, server_name })
    }

    /// Builds a new user ID from a local part that must follow the current
    /// grammar (non-empty; `a-z`, `0-9`, `.`, `_`, `=`, `-`, `/`, `+`).
    pub fn new(localpart: &str, server_name: &ServerName) -> Result<Self, IdError> {
        check_strict_localpart(localpart)?;
        let full = format!("@{localpart}:{server_name}");
        if full.len() > MAX_ID_BYTES {
            return Err(IdError::TooLong {
                len: full.len(),
                max: MAX_ID_BYTES,
            });
        }
        Ok(Self {
            full,
            server_name: server_name.clone(),
        })
    }

    /// The local part, between `@` and the first `:`.
    pub fn localpart(&self) -> &str {
        let end = self.full.len() - self.server_name.as_str().len() - 1;
        &self.full[1..end]
    }

    /// The server that allocated this user.
    pub fn server_name(&self) -> &ServerName {
        &self.server_name
    }

    /// Whether the local part falls outside the current grammar. Such IDs
    /// must still be accepted in events, but must not be created.
    pub fn is_historical(&self) -> bool {
        check_strict_localpart(self.localpart()).is_err()
    }

    /// Whether the local part is non-empty and printable ASCII
    /// (U+0021 to U+007E). Non-compliant IDs are accepted inside events but
    /// should not be passed to clients outside that context.
    pub fn is_compliant(&self) -> bool {
        let localpart = self.localpart();
        !localpart.is_empty()
            && localpart
                .chars()
                .all(|c| ('\u{21}'..='\u{7e}').contains(&c))
    }
}

/// Checks a local part against the current user ID grammar.
fn check_strict_localpart(localpart: &str) -> Result<(), IdError> {
    if localpart.is_empty() {
        return Err(IdError::EmptyPart("user ID local part"));
    }
    let allowed = |c: char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, '.' | '_' | '=' | '-' | '/' | '+')
    };
    match localpart.chars().find(|&c| !allowed(c)) {
        Some(ch) => Err(IdError::ForbiddenCharacter {
            part: "user ID local part",
            ch,
        }),
        None => Ok(()),
    }
}
