//! Who the client is: the TCP peer, or, when that peer is one of the deployment's own proxies
//! (`trusted_proxies`), the address those proxies recorded in `X-Forwarded-For`. The one rule
//! behind every per-IP limit (login and registration, sockets) and the client address in the
//! logs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;
use ipnet::IpNet;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The addresses and CIDR blocks of `trusted_proxies`. Empty: nobody is believed, the client
/// is always the TCP peer. The server keeps it as app data, where [`client_ip`] finds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Each entry an address (`127.0.0.1`, `::1`) or a CIDR block (`10.0.0.0/8`); any other
    /// entry is an error naming it (a typo here must stop the start, not trust nobody).
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        entries
            .iter()
            .map(|entry| {
                let text = entry.trim();
                text.parse::<IpNet>()
                    .map(|net| net.trunc())
                    .or_else(|_| {
                        text.parse::<IpAddr>()
                            .map(|ip| IpNet::from(ip.to_canonical()))
                    })
                    .map_err(|_not_an_address| {
                        format!(
                            "invalid configuration: trusted_proxies entry {entry:?} is not an IP \
                             address or a CIDR block (such as \"127.0.0.1\" or \"10.0.0.0/8\")"
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that came from `peer` with these headers.
    ///
    /// The peer is the client unless it is a trusted proxy. Then `X-Forwarded-For` is read from
    /// the right: each proxy appends the address it was connected from, so the rightmost entry
    /// was written by our own proxy, and every entry to its left by whoever connected to it.
    /// The client is the rightmost entry that is not itself a trusted proxy; the entries left
    /// of it are the client's own to write, so never believed (the leftmost least of all).
    /// When every entry is a trusted proxy, the leftmost is (each was written by a proxy we
    /// trust). A header that cannot be read where it counts (not text, an entry that is not
    /// an address) leaves the peer: better one shared bucket for a broken proxy than an
    /// address made up by the client.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        // Several X-Forwarded-For lines are one list, in order (RFC 9110, 5.3).
        let mut lines = Vec::new();
        for value in headers.get_all(X_FORWARDED_FOR) {
            match value.to_str() {
                Ok(line) => lines.push(line),
                Err(_) => return peer,
            }
        }
        let mut client = peer;
        for entry in lines.iter().rev().flat_map(|line| line.rsplit(',')) {
            match parse_entry(entry) {
                Some(ip) if self.contains(ip) => client = ip,
                Some(ip) => return ip,
                None => return peer,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (some proxies write
/// `203.0.113.9:51234` or `[2001:db8::1]:443`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(ip.to_canonical())
}

/// The client's IP address: the key of every per-IP limit, and what the logs show as `peer`.
/// See [`TrustedProxies::client`].
pub fn client_ip(req: &HttpRequest) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    match req.app_data::<TrustedProxies>() {
        Some(trusted) => trusted.client(peer, req.headers()),
        // No list registered (a bare test app): trust nobody, as with an empty one.
        None => peer.to_canonical(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    fn trusted(entries: &[&str]) -> TrustedProxies {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        TrustedProxies::parse(&entries).expect("valid entries")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn xff(lines: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(
                HeaderName::from_static(X_FORWARDED_FOR),
                HeaderValue::from_bytes(line).expect("a header value"),
            );
        }
        headers
    }

    #[test]
    fn entries_are_addresses_or_cidr_blocks() {
        let list = trusted(&[
            "10.0.0.0/8",
            "127.0.0.1",
            " ::1 ",
            "fd00::/8",
            "192.168.1.7/16",
        ]);
        for inside in ["10.1.2.3", "127.0.0.1", "::1", "fd12::5", "192.168.200.1"] {
            assert!(list.contains(ip(inside)), "{inside}");
        }
        for outside in ["11.0.0.1", "127.0.0.2", "::2", "fe80::1", "192.169.0.1"] {
            assert!(!list.contains(ip(outside)), "{outside}");
        }
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0",
            "localhost",
            "10.0.0.0/8,127.0.0.1",
            "*",
        ] {
            let err = TrustedProxies::parse(&[bad.to_string()]).expect_err(bad);
            assert!(
                err.contains("trusted_proxies") && err.contains(&format!("{bad:?}")),
                "{err}"
            );
        }
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_forwarded_address() {
        let list = trusted(&["10.0.0.0/8", "127.0.0.1"]);
        let proxy = ip("10.0.0.2");
        let client = |lines: &[&[u8]]| list.client(proxy, &xff(lines)).to_string();
        // The proxy appended the address it saw; what the client wrote before it is ignored.
        assert_eq!(client(&[b"203.0.113.9"]), "203.0.113.9");
        assert_eq!(client(&[b"1.1.1.1, 6.6.6.6, 203.0.113.9"]), "203.0.113.9");
        // Trusted hops are skipped: a chain of our own proxies.
        assert_eq!(
            client(&[b"203.0.113.9, 10.0.0.7, 127.0.0.1"]),
            "203.0.113.9"
        );
        assert_eq!(client(&[b"203.0.113.9", b"10.0.0.7"]), "203.0.113.9");
        // Every hop trusted: the leftmost. No header: the proxy itself.
        assert_eq!(client(&[b"10.9.9.9, 10.0.0.7"]), "10.9.9.9");
        assert_eq!(client(&[]), "10.0.0.2");
        // Ports, IPv6, IPv4-mapped IPv6.
        assert_eq!(client(&[b"203.0.113.9:5123"]), "203.0.113.9");
        assert_eq!(client(&[b"[2001:db8::1]:443"]), "2001:db8::1");
        assert_eq!(client(&[b"2001:db8::1"]), "2001:db8::1");
        assert_eq!(client(&[b"::ffff:203.0.113.9"]), "203.0.113.9");
        // Malformed where it counts: the peer.
        for bad in [
            &b"garbage"[..],
            b"",
            b"203.0.113.9,",
            b"203.0.113.9, 10.0.0.7, nonsense",
            b"unknown",
            b"\xff\xfe",
        ] {
            assert_eq!(client(&[bad]), "10.0.0.2", "{bad:?}");
        }
        // Garbage the client wrote left of the real client is never read.
        assert_eq!(client(&[b"<script>, 203.0.113.9"]), "203.0.113.9");
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let list = trusted(&["10.0.0.0/8"]);
        let headers = xff(&[b"203.0.113.9"]);
        assert_eq!(
            list.client(ip("198.51.100.1"), &headers),
            ip("198.51.100.1")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.2"), &headers),
            ip("10.0.0.2")
        );
        // A mapped IPv4 peer is its IPv4 address (a server bound to [::]).
        assert_eq!(
            list.client(ip("::ffff:10.0.0.2"), &headers),
            ip("203.0.113.9")
        );
    }

    proptest! {
        /// Whatever a trusted proxy passes along, the answer is the peer or an address that
        /// is in the header, and nothing panics.
        #[test]
        fn any_header_gives_the_peer_or_a_forwarded_address(
            value in proptest::collection::vec(
                any::<u8>().prop_filter("header byte", |&b| b == b'\t' || (b >= 0x20 && b != 0x7f)),
                0..80,
            ),
        ) {
            let list = trusted(&["10.0.0.0/8"]);
            let found = list.client(ip("10.0.0.2"), &xff(&[&value]));
            let text = String::from_utf8_lossy(&value);
            prop_assert!(
                found == ip("10.0.0.2")
                    || text.split(',').any(|e| parse_entry(e) == Some(found)),
                "{found} from {text:?}"
            );
        }
    }
}
