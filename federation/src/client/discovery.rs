//! Where a server name's requests go: the spec's "Resolving server names"
//! (server-server API), less its SRV steps.
//!
//! Every step ends in a server name whose host is the name the TLS
//! certificate must be valid for and whose full text (with the port if it
//! has one) is the `Host` header, connected to at its port or 8448:
//! - an IP literal, or a hostname with an explicit port, is used as it is
//!   (steps 1 and 2);
//! - otherwise `https://<hostname>/.well-known/matrix/server` names a
//!   delegated server name, which is used as it is (steps 3.1, 3.2 and
//!   3.5);
//! - when it does not, the hostname itself on port 8448 (step 6).
//!
//! The SRV lookups (steps 3.3, 3.4, 4 and 5) are not done: they need a DNS
//! resolver of their own, and the spec discourages them in favour of
//! `.well-known`. A server that delegates only through SRV is reached on
//! its hostname's port 8448, where it may not answer.
//!
//! `.well-known` answers, and failures to get one, are cached per hostname
//! in a bounded LRU shared by every request.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use hanse_protocol::identifiers::ServerName;
use lru::LruCache;
use reqwest::header::{HeaderMap, CACHE_CONTROL, EXPIRES};
use reqwest::StatusCode;

use super::request::{read_body, BodyError};

/// The port of a server name that names none.
pub const DEFAULT_PORT: u16 = 8448;

/// How long a `.well-known` answer is kept when it says nothing about
/// caching: the spec's recommended default.
const DEFAULT_CACHE_PERIOD: Duration = Duration::from_secs(24 * 3600);
/// The longest a `.well-known` answer is kept, whatever its headers say:
/// the spec's recommended maximum, so a changed delegation is seen.
const MAX_CACHE_PERIOD: Duration = Duration::from_secs(48 * 3600);
/// The shortest a `.well-known` answer is kept, whatever its headers say
/// (`no-store`, `max-age=0`): fetching it again for every request would
/// double the requests to a server and add a round trip to each.
const MIN_CACHE_PERIOD: Duration = Duration::from_secs(5 * 60);
/// How long a failure to get a `.well-known` answer is kept. Short, and
/// shorter than the spec's "up to an hour": a passing outage of a server
/// that does delegate sends its traffic to the wrong place for as long as
/// the failure is cached.
const FAILURE_CACHE_PERIOD: Duration = Duration::from_secs(10 * 60);
/// Hostnames whose `.well-known` answer is kept at once.
const CACHE_ENTRIES: usize = 10_000;
/// Largest `.well-known` body read: it holds one server name.
const MAX_WELL_KNOWN_BYTES: u64 = 64 * 1024;

/// Where requests to a server go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host connected to, and the name its certificate must be valid
    /// for; IPv6 literals keep their brackets.
    pub host: String,
    pub port: u16,
    /// The `Host` header: the (delegated) server name, with its port only
    /// if it has one.
    pub host_header: String,
}

impl Target {
    /// Requests to `name` itself (or to the server name it delegates to).
    fn of(name: &ServerName) -> Self {
        Self {
            host: name.host().to_owned(),
            port: name.port().unwrap_or(DEFAULT_PORT),
            host_header: name.as_str().to_owned(),
        }
    }

    /// The target of steps 1 and 2, which need no lookup: IP literals and
    /// names with a port.
    fn direct(name: &ServerName) -> Option<Self> {
        (name.is_ip_literal() || name.port().is_some()).then(|| Self::of(name))
    }
}

/// Resolves server names, with a cache of `.well-known` answers.
#[derive(Debug)]
pub(crate) struct Discovery {
    /// A client of its own: `.well-known` follows redirects, federation
    /// requests do not.
    http: reqwest::Client,
    cache: Mutex<LruCache<String, Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    /// The delegated server name; none when the hostname has no valid
    /// `.well-known`.
    delegated: Option<ServerName>,
    until: Instant,
}

impl Discovery {
    pub(crate) fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(CACHE_ENTRIES).expect("the cache size is not zero"),
            )),
        }
    }

    /// Where requests to `name` go. Never fails: without a usable
    /// `.well-known` the name is used as it is, and an unresolvable host
    /// shows when the request connects.
    pub(crate) async fn resolve(&self, name: &ServerName) -> Target {
        if let Some(target) = Target::direct(name) {
            return target;
        }
        match self.delegation(name.host()).await {
            Some(delegated) => Target::of(&delegated),
            None => Target::of(name),
        }
    }

    /// The server name `hostname`'s `.well-known` delegates to, from the
    /// cache or fetched.
    async fn delegation(&self, hostname: &str) -> Option<ServerName> {
        let now = Instant::now();
        if let Some(cached) = hanse_core::lock(&self.cache).get(hostname) {
            if cached.until > now {
                return cached.delegated.clone();
            }
        }
        let (delegated, period) = match self.fetch_well_known(hostname).await {
            Ok((delegated, period)) => (Some(delegated), period),
            Err(reason) => {
                tracing::debug!(hostname, %reason, "no usable /.well-known/matrix/server");
                (None, FAILURE_CACHE_PERIOD)
            }
        };
        hanse_core::lock(&self.cache).put(
            hostname.to_owned(),
            Cached {
                delegated: delegated.clone(),
                until: now + period,
            },
        );
        delegated
    }

    /// GETs `https://<hostname>/.well-known/matrix/server`: the delegated
    /// server name and how long to keep it, or why there is none.
    async fn fetch_well_known(&self, hostname: &str) -> Result<(ServerName, Duration), String> {
        let url = format!("https://{hostname}/.well-known/matrix/server");
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| super::request::describe(&e))?;
        if response.status() != StatusCode::OK {
            return Err(format!("{url} answered {}", response.status()));
        }
        let period = cache_period(response.headers(), SystemTime::now());
        let body = read_body(response, MAX_WELL_KNOWN_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => format!("{url} is larger than {MAX_WELL_KNOWN_BYTES} bytes"),
                BodyError::Transport(e) => super::request::describe(&e),
            })?;
        Ok((delegated_name(&body)?, period))
    }
}

/// The `m.server` of a `.well-known/matrix/server` body.
fn delegated_name(body: &[u8]) -> Result<ServerName, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let server = value
        .get("m.server")
        .and_then(|s| s.as_str())
        .ok_or("no m.server string")?;
    ServerName::parse(server).map_err(|e| format!("m.server {server:?} is not a server name: {e}"))
}

/// How long to keep a `.well-known` answer with these headers: its
/// Cache-Control max-age or its Expires (`no-store` and `no-cache` as no
/// time at all), within [`MIN_CACHE_PERIOD`] and [`MAX_CACHE_PERIOD`];
/// [`DEFAULT_CACHE_PERIOD`] when neither says.
fn cache_period(headers: &HeaderMap, now: SystemTime) -> Duration {
    let from_headers = headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|directive| {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-store" || directive == "no-cache" {
                return Some(Duration::ZERO);
            }
            let seconds = directive.strip_prefix("max-age=")?;
            seconds
                .trim_matches('"')
                .parse()
                .ok()
                .map(Duration::from_secs)
        })
        .or_else(|| {
            let expires = headers.get(EXPIRES)?.to_str().ok()?;
            // RFC 9111 5.3: an invalid Expires means already expired.
            Some(
                httpdate::parse_http_date(expires).map_or(Duration::ZERO, |at| {
                    at.duration_since(now).unwrap_or(Duration::ZERO)
                }),
            )
        });
    from_headers.map_or(DEFAULT_CACHE_PERIOD, |period| {
        period.clamp(MIN_CACHE_PERIOD, MAX_CACHE_PERIOD)
    })
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn name(s: &str) -> ServerName {
        ServerName::parse(s).expect("valid server name")
    }

    fn target(host: &str, port: u16, host_header: &str) -> Target {
        Target {
            host: host.to_owned(),
            port,
            host_header: host_header.to_owned(),
        }
    }

    #[test]
    fn ip_literals_and_explicit_ports_need_no_lookup() {
        assert_eq!(
            Target::direct(&name("192.0.2.1")),
            Some(target("192.0.2.1", 8448, "192.0.2.1"))
        );
        assert_eq!(
            Target::direct(&name("192.0.2.1:1234")),
            Some(target("192.0.2.1", 1234, "192.0.2.1:1234"))
        );
        assert_eq!(
            Target::direct(&name("[2001:db8::1]")),
            Some(target("[2001:db8::1]", 8448, "[2001:db8::1]"))
        );
        assert_eq!(
            Target::direct(&name("[2001:db8::1]:443")),
            Some(target("[2001:db8::1]", 443, "[2001:db8::1]:443"))
        );
        assert_eq!(
            Target::direct(&name("example.org:8000")),
            Some(target("example.org", 8000, "example.org:8000"))
        );
        assert_eq!(Target::direct(&name("example.org")), None);
    }

    #[test]
    fn a_delegated_name_keeps_its_port_in_the_host_header_only_if_it_has_one() {
        assert_eq!(
            Target::of(&name("matrix.example.org")),
            target("matrix.example.org", 8448, "matrix.example.org")
        );
        assert_eq!(
            Target::of(&name("matrix.example.org:443")),
            target("matrix.example.org", 443, "matrix.example.org:443")
        );
    }

    #[test]
    fn well_known_bodies() {
        assert_eq!(
            delegated_name(br#"{"m.server": "matrix.example.org:443"}"#),
            Ok(name("matrix.example.org:443"))
        );
        for bad in [
            &b"not json"[..],
            br#"{"m.server": 443}"#,
            br#"{"server": "example.org"}"#,
            br#"{"m.server": "https://example.org"}"#,
            br#"{"m.server": ""}"#,
        ] {
            assert!(delegated_name(bad).is_err(), "{bad:?}");
        }
    }

    fn headers(pairs: &[(reqwest::header::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn cache_periods_follow_the_headers_within_bounds() {
        let now = httpdate::parse_http_date("Wed, 02 Dec 2026 06:00:00 GMT").expect("date");
        let period = |pairs: &[(reqwest::header::HeaderName, &'static str)]| {
            cache_period(&headers(pairs), now)
        };
        let hours = |h: u64| Duration::from_secs(h * 3600);
        assert_eq!(period(&[]), hours(24));
        assert_eq!(period(&[(CACHE_CONTROL, "max-age=3600")]), hours(1));
        assert_eq!(period(&[(CACHE_CONTROL, "public, MAX-AGE=7200")]), hours(2));
        assert_eq!(period(&[(CACHE_CONTROL, "max-age=9999999")]), hours(48));
        assert_eq!(period(&[(CACHE_CONTROL, "max-age=0")]), MIN_CACHE_PERIOD);
        assert_eq!(period(&[(CACHE_CONTROL, "no-store")]), MIN_CACHE_PERIOD);
        // Cache-Control wins over Expires.
        assert_eq!(
            period(&[
                (CACHE_CONTROL, "max-age=3600"),
                (EXPIRES, "Wed, 02 Dec 2026 16:00:00 GMT")
            ]),
            hours(1)
        );
        assert_eq!(
            period(&[(EXPIRES, "Wed, 02 Dec 2026 16:00:00 GMT")]),
            hours(10)
        );
        assert_eq!(
            period(&[(EXPIRES, "Tue, 01 Dec 2026 16:00:00 GMT")]),
            MIN_CACHE_PERIOD
        );
        assert_eq!(period(&[(EXPIRES, "0")]), MIN_CACHE_PERIOD);
        // A directive without a usable number says nothing.
        assert_eq!(period(&[(CACHE_CONTROL, "max-age=soon")]), hours(24));
    }
}
