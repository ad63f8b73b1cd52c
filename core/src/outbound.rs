//! HTTP requests to URLs that users give (pages to preview, push
//! gateways). The server sends what users name, so it must not become
//! their way into the operator's network: every address the host resolves
//! to is checked, the connection goes to a checked address (never
//! resolved again), redirects are not followed, and no proxy is used.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use reqwest::redirect::Policy;
use reqwest::Url;

use crate::{Error, Result};

/// A client for requests to `url` alone: refused unless it is http(s) and
/// its host resolves only to public addresses (any address when
/// `allow_private`), and bound to the addresses checked.
pub(crate) async fn client_for(
    url: &Url,
    allow_private: bool,
    timeout: Duration,
    user_agent: &str,
) -> Result<reqwest::Client> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::InvalidParam(format!("{url} is not an http(s) URL")));
    }
    let host = url
        .host_str()
        .ok_or_else(|| Error::InvalidParam(format!("{url} has no host")))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| Error::InvalidParam(format!("{url} has no port")))?;
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match bare_host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare_host, port))
            .await
            .map_err(|e| Error::Unknown(format!("cannot resolve {host}: {e}")))?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(Error::Unknown(format!("{host} has no address")));
    }
    for address in &addresses {
        if !allow_private && !is_public(address.ip()) {
            return Err(Error::Forbidden(format!(
                "{host} resolves to {}, which is not a public address: not contacted",
                address.ip()
            )));
        }
    }
    let mut client = reqwest::Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        .timeout(timeout)
        .user_agent(user_agent);
    if bare_host.parse::<IpAddr>().is_err() {
        // Connect to the addresses checked, not to a second lookup's.
        client = client.resolve_to_addrs(bare_host, &addresses);
    }
    client
        .build()
        .map_err(|e| Error::Internal(format!("HTTP client for {host}: {e}")))
}

/// Whether a fetch may go to `ip`: not loopback, private, link-local,
/// shared, documentation, multicast, unspecified or otherwise reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || first & 0xffc0 == 0xfec0 // site-local
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] // NAT64
                || v6.segments()[..6] == [0; 6]) // IPv4-compatible
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b)) // shared address space
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))) // benchmarking
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private}");
        }
        for public in ["93.184.216.34", "2a00:1450:4001::1", "1.1.1.1"] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
    }
}
