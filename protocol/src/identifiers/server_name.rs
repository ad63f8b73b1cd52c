//! Server names: the DNS name or IP literal (plus optional port) that
//! identifies a homeserver.

use std::net::Ipv6Addr;

use super::{string_identifier, IdError};

/// Maximum length of a DNS host name in a server name.
const MAX_DNS_NAME: usize = 255;

/// A validated server name: `hostname [ ":" port ]`, where the host is a DNS
/// name, a dotted-quad IPv4 literal or a bracketed IPv6 literal.
///
/// Server names are case-sensitive and kept exactly as given. Ports are
/// limited to 65535: the grammar would allow any five digits, but a larger
/// number cannot name a reachable server.
#[derive(Clone)]
pub struct ServerName {
    full: String,
}

string_identifier!(ServerName);

impl ServerName {
    /// Parses and validates a server name.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        validate(s)?;
        Ok(Self { full: s.to_owned() })
    }

    fn from_string(s: String) -> Result<Self, IdError> {
        validate(&s)?;
        Ok(Self { full: s })
    }

    /// The host part, without the port. IPv6 literals keep their brackets.
    pub fn host(&self) -> &str {
        split_host_port(&self.full).0
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        split_host_port(&self.full).1.and_then(|p| p.parse().ok())
    }

    /// Whether the host is an IP address literal rather than a DNS name.
    /// Server discovery skips `.well-known` and SRV lookups for those.
    pub fn is_ip_literal(&self) -> bool {
        let host = self.host();
        host.starts_with('[') || looks_like_ipv4(host)
    }
}

/// Splits a (valid) server name into host and port text.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    let search_from = if s.starts_with('[') {
        s.find(']').unwrap_or(0)
    } else {
        0
    };
    match s[search_from..].rfind(':') {
        Some(i) => (&s[..search_from + i], Some(&s[search_from + i + 1..])),
        None => (s, None),
    }
}

fn validate(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::EmptyPart("server name"));
    }
    let port = if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']').ok_or(IdError::InvalidIpv6)?;
        validate_ipv6(&rest[..end])?;
        let after = &rest[end + 1..];
        if after.is_empty() {
            None
        } else {
            Some(after.strip_prefix(':').ok_or(IdError::InvalidPort)?)
        }
    } else {
        let (host, port) = split_host_port(s);
        validate_dns_or_ipv4(host)?;
        port
    };
    match port {
        Some(port) => validate_port(port),
        None => Ok(()),
    }
}

/// `2*45` characters from hex digits, `:` and `.`, and a real IPv6 address.
fn validate_ipv6(addr: &str) -> Result<(), IdError> {
    let chars_ok = addr
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    if (2..=45).contains(&addr.len()) && chars_ok && addr.parse::<Ipv6Addr>().is_ok() {
        Ok(())
    } else {
        Err(IdError::InvalidIpv6)
    }
}

/// Four dot-separated groups of one to three digits: the IPv4 literal shape.
fn looks_like_ipv4(host: &str) -> bool {
    let groups: Vec<&str> = host.split('.').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| (1..=3).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()))
}

fn validate_dns_or_ipv4(host: &str) -> Result<(), IdError> {
    if host.is_empty() {
        return Err(IdError::EmptyPart("server name host"));
    }
    if looks_like_ipv4(host) {
        // Each group is at most three digits, so the parse cannot overflow.
        return if host
            .split('.')
            .all(|g| g.parse::<u16>().is_ok_and(|v| v <= 255))
        {
            Ok(())
        } else {
            Err(IdError::InvalidIpv4)
        };
    }
    if host.len() > MAX_DNS_NAME {
        return Err(IdError::TooLong {
            len: host.len(),
            max: MAX_DNS_NAME,
        });
    }
    match host
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
    {
        Some(ch) => Err(IdError::ForbiddenCharacter {
            part: "server name",
            ch,
        }),
        None => Ok(()),
    }
}

fn validate_port(port: &str) -> Result<(), IdError> {
    if (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok()
    {
        Ok(())
    } else {
        Err(IdError::InvalidPort)
    }
}
