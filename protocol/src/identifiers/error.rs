//! The error shared by all identifier parsers.

/// Why a string is not a valid identifier of the requested kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The string is empty.
    #[error("identifier is empty")]
    Empty,
    /// The string exceeds a length limit set by the specification.
    #[error("identifier is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// Actual length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The string does not start with the sigil of this identifier kind.
    #[error("identifier must start with {0:?}")]
    MissingSigil(char),
    /// There is no `:` separating the two halves (local part and server
    /// name, or key algorithm and version).
    #[error("missing ':' separator")]
    MissingDelimiter,
    /// A component that must have content is empty.
    #[error("the {0} must not be empty")]
    EmptyPart(&'static str),
    /// A component contains a character its grammar does not allow.
    #[error("the {part} contains the forbidden character {ch:?}")]
    ForbiddenCharacter {
        /// Which component.
        part: &'static str,
        /// The first offending character.
        ch: char,
    },
    /// A hash-based room or event ID is not 43 characters of unpadded
    /// base64 encoding a 32-byte SHA-256 hash.
    #[error("hash-based identifier must be the unpadded base64 of a 32-byte hash")]
    InvalidHash,
    /// A dotted-quad host has an octet above 255.
    #[error("invalid IPv4 address literal in server name")]
    InvalidIpv4,
    /// A bracketed host is not a valid IPv6 address.
    #[error("invalid IPv6 address literal in server name")]
    InvalidIpv6,
    /// The port is not 1 to 5 digits naming a port number up to 65535.
    #[error("invalid port in server name")]
    InvalidPort,
}
