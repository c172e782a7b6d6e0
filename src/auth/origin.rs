//! Whether a browser request comes from one of our own pages: the one rule behind the
//! WebSocket's Origin check (cross-site WebSocket hijacking) and the CSRF check of
//! cookie-authenticated unsafe methods.

use actix_web::http::header::{HeaderMap, HOST, ORIGIN};
use actix_web::http::Method;

use crate::config::Config;
use crate::error::AppError;

const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// Methods a cross-site page must not make with the user's cookie.
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Refuses a request that a browser made for a page of another site:
/// - an `Origin` that is neither listed in `allowed_origins` nor the server's own (the origin
///   of `public_url` when set, else the request's own Host);
/// - unless the Origin is listed, a `Sec-Fetch-Site` other than `same-origin` (`cross-site`,
///   `same-site`: a sibling subdomain or another port, which SameSite=Lax lets through; and
///   `none`, a user-typed navigation, which never carries a POST).
///
/// Neither header (curl, bots, scripts) passes: a browser sends Origin on every WebSocket and
/// every unsafe fetch, and no page can remove it.
pub fn check_same_origin(headers: &HeaderMap, config: &Config) -> Result<(), AppError> {
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if config.allowed_origins.iter().any(|o| o == origin) {
            return Ok(());
        }
        if !is_own_origin(origin, headers, config) {
            return Err(AppError::OriginNotAllowed(origin.to_string()));
        }
    }
    match headers.get(SEC_FETCH_SITE).map(|v| v.as_bytes()) {
        None | Some(b"same-origin") => Ok(()),
        Some(site) => Err(AppError::OriginNotAllowed(format!(
            "(Sec-Fetch-Site: {})",
            String::from_utf8_lossy(site)
        ))),
    }
}

fn is_own_origin(origin: &str, headers: &HeaderMap, config: &Config) -> bool {
    if let Some(public) = &config.public {
        return public.is_own_origin(origin);
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    !host.is_empty() && origin_host.is_some_and(|o| o.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        map
    }

    fn config(allowed: &[&str], public_url: &str) -> Config {
        let mut c = Config::defaults();
        c.allowed_origins = allowed.iter().map(|s| s.to_string()).collect();
        c.public = (!public_url.is_empty())
            .then(|| crate::config::PublicUrl::parse(public_url).expect("url"));
        c
    }

    #[test]
    fn origin_and_fetch_site_rules() {
        let c = config(&["https://good.example"], "");
        let host = ("host", "127.0.0.1:8080");
        let ok = |h: &[(&str, &str)]| check_same_origin(&headers(h), &c).is_ok();
        assert!(ok(&[host]), "curl: no Origin, no Sec-Fetch-Site");
        assert!(ok(&[host, ("origin", "http://127.0.0.1:8080")]));
        assert!(ok(&[
            host,
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin")
        ]));
        assert!(ok(&[host, ("origin", "https://good.example")]));
        assert!(ok(&[
            host,
            ("origin", "https://good.example"),
            ("sec-fetch-site", "cross-site")
        ]));
        assert!(!ok(&[host, ("origin", "http://evil.example")]));
        assert!(!ok(&[host, ("origin", "http://127.0.0.1:1")]));
        assert!(!ok(&[host, ("origin", "null")]));
        for site in ["cross-site", "same-site", "none"] {
            assert!(!ok(&[host, ("sec-fetch-site", site)]), "{site}");
        }
    }

    #[test]
    fn public_url_is_the_own_origin() {
        let c = config(&[], "https://chat.example");
        let ok = |h: &[(&str, &str)]| check_same_origin(&headers(h), &c).is_ok();
        assert!(ok(&[
            ("host", "10.0.0.5:8080"),
            ("origin", "https://chat.example")
        ]));
        // Host-matching no longer counts: the proxy's view of Host is not the browser's.
        assert!(!ok(&[
            ("host", "10.0.0.5:8080"),
            ("origin", "http://10.0.0.5:8080")
        ]));
    }
}

/// Properties of the Origin rule over arbitrary header values (moved here with the rule from
/// the WebSocket handler).
#[cfg(test)]
mod props {
    use super::*;
    use actix_web::http::header::HeaderValue;
    use proptest::prelude::*;

    fn config(allowed: &[String]) -> Config {
        let mut config = Config::defaults();
        config.allowed_origins = allowed.to_vec();
        config
    }

    /// The verdict on a request with these Host and Origin header values (raw bytes: a
    /// header value need not be text).
    fn verdict(host: Option<&[u8]>, origin: Option<&[u8]>, allowed: &[String]) -> bool {
        let value = |bytes: &[u8]| HeaderValue::from_bytes(bytes).expect("a valid header value");
        let mut headers = HeaderMap::new();
        if let Some(host) = host {
            headers.insert(HOST, value(host));
        }
        if let Some(origin) = origin {
            headers.insert(ORIGIN, value(origin));
        }
        check_same_origin(&headers, &config(allowed)).is_ok()
    }

    fn header_value() -> impl Strategy<Value = Vec<u8>> {
        // Any byte a header value may hold on the wire (tab, visible ASCII, obs-text).
        let byte =
            any::<u8>().prop_filter("header byte", |&b| b == b'\t' || (b >= 0x20 && b != 0x7f));
        proptest::collection::vec(byte, 0..60)
    }

    /// host[:port], as browsers write it in Host and Origin.
    const AUTHORITY: &str = "[a-z0-9][a-z0-9.-]{0,20}(:[0-9]{1,5})?";

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic(
            host in proptest::option::of(header_value()),
            origin in proptest::option::of(header_value()),
            allowed in proptest::collection::vec(".{0,30}", 0..3),
        ) {
            verdict(host.as_deref(), origin.as_deref(), &allowed);
        }

        #[test]
        fn no_origin_is_a_non_browser_client(host in proptest::option::of(header_value())) {
            prop_assert!(verdict(host.as_deref(), None, &[]));
        }

        #[test]
        fn the_servers_own_origin_is_allowed(scheme in "https?", host in AUTHORITY) {
            let origin = format!("{scheme}://{host}");
            prop_assert!(verdict(Some(host.as_bytes()), Some(origin.as_bytes()), &[]));
        }

        #[test]
        fn a_listed_origin_is_allowed(host in AUTHORITY, origin in "https?://[a-z0-9.-]{1,20}(:[0-9]{1,5})?") {
            prop_assert!(verdict(Some(host.as_bytes()), Some(origin.as_bytes()), std::slice::from_ref(&origin)));
        }

        #[test]
        fn a_foreign_origin_is_refused(
            scheme in "https?",
            host in AUTHORITY,
            other in AUTHORITY,
            listed in proptest::collection::vec("https?://[a-z0-9.-]{1,20}", 0..3),
        ) {
            let origin = format!("{scheme}://{other}");
            prop_assume!(other != host && !listed.contains(&origin));
            prop_assert!(!verdict(Some(host.as_bytes()), Some(origin.as_bytes()), &listed));
        }

        #[test]
        fn an_origin_that_only_contains_the_host_is_refused(
            host in AUTHORITY,
            before in "[a-z0-9.-]{1,10}",
            after in "[a-z0-9./@-]{1,10}",
        ) {
            // evil.example.<host>, <host>.evil.example, <host>@evil: close is not equal.
            for origin in [
                format!("https://{before}.{host}"),
                format!("https://{host}{after}"),
                format!("https://{host}.{before}"),
                host.clone(),
                "null".to_string(),
            ] {
                prop_assert!(!verdict(Some(host.as_bytes()), Some(origin.as_bytes()), &[]), "{}", origin);
            }
        }

        #[test]
        fn without_host_only_listed_origins_pass(origin in "[ -~]{1,40}", listed in any::<bool>()) {
            let allowed = if listed { vec![origin.clone()] } else { Vec::new() };
            prop_assert_eq!(verdict(None, Some(origin.as_bytes()), &allowed), listed);
        }
    }
}
