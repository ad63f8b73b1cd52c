//! The operator's jurisdiction boundary: which servers this one federates
//! with. Checked when a request comes in, before anything is sent out,
//! and before a room is joined.

use std::collections::BTreeMap;

use hanse_protocol::identifiers::{KeyId, ServerName};

/// Which servers this server federates with.
#[derive(Debug, Clone, Default)]
pub enum FederationPolicy {
    /// With every server (the default).
    #[default]
    Open,
    /// Only with the servers matching one of the patterns.
    Allow(Vec<ServerGlob>),
    /// With every server except those matching one of the patterns.
    Deny(Vec<ServerGlob>),
    /// With none: federation is off.
    Disabled,
}

impl FederationPolicy {
    /// Whether this server may exchange anything with `server`.
    pub fn allows(&self, server: &str) -> bool {
        match self {
            Self::Open => true,
            Self::Allow(globs) => globs.iter().any(|glob| glob.matches(server)),
            Self::Deny(globs) => !globs.iter().any(|glob| glob.matches(server)),
            Self::Disabled => false,
        }
    }

    /// The content of an m.room.server_acl that keeps a room to this
    /// policy, for rooms `own` creates; `None` when the policy lets every
    /// server in. ACLs match hosts without ports, so a pattern's port is
    /// dropped: the ACL may let in more ports of a host than the policy.
    pub fn server_acl(&self, own: &ServerName) -> Option<serde_json::Value> {
        let hosts = |globs: &[ServerGlob]| -> Vec<String> {
            globs
                .iter()
                .map(|glob| glob.host_pattern().to_owned())
                .collect()
        };
        match self {
            Self::Open => None,
            Self::Allow(globs) => {
                let mut allow = vec![own.host().to_owned()];
                allow.extend(hosts(globs));
                allow.dedup();
                Some(serde_json::json!({ "allow": allow, "deny": [], "allow_ip_literals": true }))
            }
            Self::Deny(globs) => Some(serde_json::json!({
                "allow": ["*"], "deny": hosts(globs), "allow_ip_literals": true,
            })),
            Self::Disabled => Some(serde_json::json!({
                "allow": [own.host()], "deny": [], "allow_ip_literals": true,
            })),
        }
    }

    /// The servers of `servers` this policy excludes, sorted, for errors
    /// that name them.
    pub fn excluded<'a>(&self, servers: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut excluded: Vec<String> = servers
            .into_iter()
            .filter(|server| !self.allows(server))
            .map(str::to_owned)
            .collect();
        excluded.sort();
        excluded.dedup();
        excluded
    }
}

/// A server name pattern: `*` stands for any run of characters, `?` for
/// one. Matching ignores ASCII case, as host names do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerGlob(String);

impl ServerGlob {
    pub fn new(pattern: &str) -> Self {
        Self(pattern.to_ascii_lowercase())
    }

    pub fn matches(&self, server: &str) -> bool {
        glob_match(self.0.as_bytes(), server.to_ascii_lowercase().as_bytes())
    }

    /// The pattern without a trailing `:port`, for matching hosts.
    pub fn host_pattern(&self) -> &str {
        match self.0.rsplit_once(':') {
            // An IPv6 literal's colons sit inside brackets: "[::1]" splits
            // into "[:" and "1]", which is no port.
            Some((host, port))
                if !host.is_empty()
                    && !port.is_empty()
                    && port
                        .bytes()
                        .all(|b| b.is_ascii_digit() || b == b'*' || b == b'?') =>
            {
                host
            }
            _ => &self.0,
        }
    }
}

/// Iterative wildcard matching with one backtrack point, linear in
/// practice and never exponential.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// A notary this server asks for other servers' keys, and the keys it
/// signs its answers with.
#[derive(Debug, Clone)]
pub struct TrustedKeyServer {
    pub server_name: ServerName,
    /// Key ID to unpadded base64 public key.
    pub verify_keys: BTreeMap<KeyId, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        let glob = ServerGlob::new("*.example.org");
        assert!(glob.matches("matrix.example.org"));
        assert!(glob.matches("a.b.EXAMPLE.org"));
        assert!(!glob.matches("example.org"));
        assert!(!glob.matches("matrix.example.org.evil"));
        assert!(ServerGlob::new("hs?.test:*").matches("hs1.test:8448"));
        assert!(!ServerGlob::new("hs?.test:*").matches("hs10.test:8448"));
        assert!(ServerGlob::new("exact.org").matches("exact.org"));
        assert!(!ServerGlob::new("exact.org").matches("exact.org:8448"));
        assert!(ServerGlob::new("*").matches("anything"));
        assert!(ServerGlob::new("a*b*c").matches("aXbYbZc"));
        assert!(!ServerGlob::new("a*b*c").matches("aXbYbZ"));
    }

    #[test]
    fn acls_derived_from_the_policy() {
        let own = ServerName::parse("a.test:8448").expect("name");
        let allow = FederationPolicy::Allow(vec![
            ServerGlob::new("b.test:8448"),
            ServerGlob::new("*.c.test"),
        ]);
        assert_eq!(
            allow.server_acl(&own).expect("an ACL")["allow"],
            serde_json::json!(["a.test", "b.test", "*.c.test"])
        );
        let deny = FederationPolicy::Deny(vec![ServerGlob::new("x.test")]);
        assert_eq!(
            deny.server_acl(&own).expect("an ACL")["deny"],
            serde_json::json!(["x.test"])
        );
        assert!(FederationPolicy::Open.server_acl(&own).is_none());
    }

    #[test]
    fn allow_and_deny_lists() {
        let allow = FederationPolicy::Allow(vec![ServerGlob::new("b.test")]);
        assert!(allow.allows("b.test"));
        assert!(!allow.allows("c.test"));
        let deny = FederationPolicy::Deny(vec![ServerGlob::new("*.bad")]);
        assert!(deny.allows("b.test"));
        assert!(!deny.allows("x.bad"));
        assert!(FederationPolicy::Open.allows("x.bad"));
        assert!(!FederationPolicy::Disabled.allows("b.test"));
        assert_eq!(
            allow.excluded(["c.test", "b.test", "a.test", "c.test"]),
            vec!["a.test".to_owned(), "c.test".to_owned()]
        );
    }
}
