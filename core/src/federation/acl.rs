//! Server access control lists (m.room.server_acl): which servers a room
//! lets take part. Checked on PDUs a server sends and on its reads of the
//! room; the state event's own rules decide, not this server's policy.

use hanse_protocol::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use hanse_protocol::identifiers::ServerName;

use super::policy::ServerGlob;
use crate::rooms::RoomRef;
use crate::{Homeserver, Result};

impl Homeserver {
    /// Whether the room's current server ACL lets `server` take part (a
    /// room without one lets every server).
    pub(crate) async fn acl_allows(&self, room: &RoomRef, server: &ServerName) -> Result<bool> {
        let root = self.current_root(room).await?;
        let Some(acl) = self.state_event_at(root, "m.room.server_acl", "").await? else {
            return Ok(true);
        };
        Ok(acl_allows(acl.pdu.content(), server))
    }

    /// M_FORBIDDEN unless the room's server ACL lets `server` take part.
    pub(crate) async fn require_acl(&self, room: &RoomRef, server: &ServerName) -> Result<()> {
        if self.acl_allows(room, server).await? {
            Ok(())
        } else {
            Err(crate::Error::Forbidden(format!(
                "the server ACL of {} denies {server}",
                room.room_id
            )))
        }
    }
}

/// The spec's matching: the host without its port; an IP literal only if
/// `allow_ip_literals` (default true); never if a `deny` pattern matches;
/// otherwise only if an `allow` pattern does (none: no server).
pub fn acl_allows(content: &CanonicalJsonObject, server: &ServerName) -> bool {
    let host = server.host();
    let is_ip_literal = host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok();
    let allow_ip_literals = !matches!(
        content.get("allow_ip_literals"),
        Some(CanonicalJsonValue::Bool(false))
    );
    if is_ip_literal && !allow_ip_literals {
        return false;
    }
    let patterns = |field: &str| -> Vec<ServerGlob> {
        match content.get(field) {
            Some(CanonicalJsonValue::Array(list)) => list
                .iter()
                .filter_map(CanonicalJsonValue::as_str)
                .map(ServerGlob::new)
                .collect(),
            _ => Vec::new(),
        }
    };
    if patterns("deny").iter().any(|glob| glob.matches(host)) {
        return false;
    }
    patterns("allow").iter().any(|glob| glob.matches(host))
}

#[cfg(test)]
mod tests {
    use hanse_protocol::canonical_json::object_from_json;
    use serde_json::json;

    use super::*;

    fn allows(content: serde_json::Value, server: &str) -> bool {
        acl_allows(
            &object_from_json(content).expect("canonical"),
            &ServerName::parse(server).expect("server name"),
        )
    }

    #[test]
    fn deny_wins_allow_is_needed_ports_are_ignored() {
        let acl = json!({ "allow": ["*"], "deny": ["*.evil.example"] });
        assert!(allows(acl.clone(), "good.example:8448"));
        assert!(!allows(acl.clone(), "a.evil.example"));
        assert!(!allows(acl, "a.evil.example:443"));
        assert!(
            !allows(json!({ "deny": [] }), "good.example"),
            "no allow list: nobody"
        );
        assert!(allows(
            json!({ "allow": ["good.example"] }),
            "good.example:1234"
        ));
    }

    #[test]
    fn ip_literals_follow_allow_ip_literals() {
        let acl = json!({ "allow": ["*"], "allow_ip_literals": false });
        assert!(!allows(acl.clone(), "127.0.0.1:8448"));
        assert!(!allows(acl.clone(), "[::1]:8448"));
        assert!(allows(acl, "localhost:8448"));
        assert!(allows(json!({ "allow": ["*"] }), "127.0.0.1"));
    }
}
