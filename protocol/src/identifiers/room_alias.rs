//! Room aliases: `#localpart:server_name`.

use super::{check_opaque_localpart, string_identifier, strip_sigil, IdError, ServerName};

/// A room alias. The local part may hold any code point except `:` and
/// NUL; the server name says which server can resolve the alias.
#[derive(Clone)]
pub struct RoomAlias {
    full: String,
    server_name: ServerName,
}

string_identifier!(RoomAlias);

impl RoomAlias {
    /// Parses a room alias.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        Self::from_string(s.to_owned())
    }

    fn from_string(full: String) -> Result<Self, IdError> {
        let rest = strip_sigil(&full, '#')?;
        let (localpart, server) = rest.split_once(':').ok_or(IdError::MissingDelimiter)?;
        check_opaque_localpart(localpart)?;
        let server_name = ServerName::parse(server)?;
        Ok(Self { full, server_name })
    }

    /// The alias name, between `#` and the first `:`.
    pub fn localpart(&self) -> &str {
        let end = self.full.len() - self.server_name.as_str().len() - 1;
        &self.full[1..end]
    }

    /// The server responsible for this alias.
    pub fn server_name(&self) -> &ServerName {
        &self.server_name
    }
}
