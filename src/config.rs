//! Settings: built-in defaults (config/default.toml), an optional file, then `ROOMCAST_*` env vars.
//!
//! An unknown key in a file is an error (a typo there should stop the start), but an unknown
//! `ROOMCAST_*` variable is only reported: the example bots read `ROOMCAST_TOKEN`,
//! `ROOMCAST_ROOM` and `ROOMCAST_URL` from the same shell, and must not lock the server out.

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::proxies::TrustedProxies;

const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub bind: String,
    /// Where `/metrics` is served; empty: nowhere (never on `bind`).
    pub metrics_bind: String,
    pub workers: usize,
    pub database_url: String,
    pub db_pool_size: usize,
    pub db_pool_timeout_ms: u64,
    pub sqlite_busy_timeout_ms: u64,
    pub write_batch_max: usize,
    pub write_shards: usize,
    pub write_queue_max: usize,
    pub idempotency_retention_secs: i64,
    pub janitor_interval_secs: u64,
    pub revocation_poll_ms: u64,
    pub auth_cache_ms: u64,
    pub shutdown_grace_secs: u64,
    pub rate_send_per_minute: u32,
    pub rate_send_burst: u32,
    pub rate_rooms_per_minute: u32,
    pub rate_rooms_burst: u32,
    pub rate_bots_per_minute: u32,
    pub rate_bots_burst: u32,
    pub rate_auth_per_minute: u32,
    pub rate_auth_burst: u32,
    pub rate_login_user_per_minute: u32,
    pub rate_login_user_burst: u32,
    pub session_cookie_name: String,
    pub session_ttl_secs: i64,
    pub session_idle_secs: i64,
    pub cookie_secure: bool,
    pub allowed_origins: Vec<String>,
    /// The URL browsers use to reach this server, e.g. `https://chat.example`; empty: any Host.
    pub public_url: String,
    /// The load balancers and reverse proxies in front of this server (addresses or CIDR
    /// blocks): only from them is `X-Forwarded-For` believed. Empty: nobody's.
    pub trusted_proxies: Vec<String>,
    /// `Strict-Transport-Security: max-age=<this>` on every answer; 0: not sent.
    pub hsts_max_age_secs: u64,
    /// Open WebSockets per user, and per client IP; beyond it an upgrade gets 429.
    pub ws_max_per_user: usize,
    pub ws_max_per_ip: usize,
    pub ws_heartbeat_secs: u64,
    pub ws_timeout_secs: u64,
    pub ws_queue: usize,
    pub ws_write_timeout_secs: u64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_max_concurrent: usize,
    pub argon2_wait_ms: u64,
    /// Who may register through the API.
    pub registration: Registration,
    /// Empty: the in-process bus; `redis://…`: Redis pub/sub between instances.
    pub bus_url: String,
    pub bus_check_ms: u64,
    pub bus_frame_max: usize,
    pub log: String,
    pub log_format: LogFormat,
    /// `public_url`, parsed (by `load`).
    #[serde(skip)]
    pub public: Option<PublicUrl>,
    /// `trusted_proxies`, parsed (by `load`).
    #[serde(skip)]
    pub proxies: TrustedProxies,
}

/// `public_url` split into what the Host and Origin checks compare against, lowercased and
/// without a default port (browsers leave it out of Origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// `https://chat.example`: what a page of ours sends as Origin.
    pub origin: String,
    /// `chat.example`: what a request to us sends as Host.
    pub host: String,
    https: bool,
}

impl PublicUrl {
    pub fn parse(raw: &str) -> Result<PublicUrl, String> {
        let bad = |why: &str| format!("invalid configuration: public_url {raw:?} {why}");
        let uri: actix_web::http::Uri = raw
            .parse()
            .map_err(|e| bad(&format!("is not a URL ({e})")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("must start with http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') || uri.query().is_some() || uri.path() != "/" {
            return Err(bad("must be scheme://host[:port] only"));
        }
        let scheme = if https { "https" } else { "http" };
        let host = Self::normalize_host(authority.as_str(), https);
        Ok(PublicUrl {
            origin: format!("{scheme}://{host}"),
            host,
            https,
        })
    }

    /// A Host header value as compared: lowercased, without this scheme's default port.
    pub fn normalize_host(host: &str, https: bool) -> String {
        let host = host.to_ascii_lowercase();
        let default_port = if https { ":443" } else { ":80" };
        match host.strip_suffix(default_port) {
            Some(bare) => bare.to_string(),
            None => host,
        }
    }

    /// Whether a request's Host header names this server.
    pub fn is_own_host(&self, host: &str) -> bool {
        Self::normalize_host(host, self.https) == self.host
    }

    /// Whether an Origin header is this server's own.
    pub fn is_own_origin(&self, origin: &str) -> bool {
        match origin.split_once("://") {
            Some((scheme, host)) => {
                scheme.eq_ignore_ascii_case(if self.https { "https" } else { "http" })
                    && self.is_own_host(host)
            }
            None => false,
        }
    }
}

/// `registration`: who may create an account through `POST /api/accounts` (the CLI always
/// may).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone.
    Open,
    /// Whoever holds a live invite code from an admin.
    Invite,
    /// Nobody: only the CLI creates accounts.
    Closed,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// What [`Config::load`] found.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// The `ROOMCAST_*` variables that name no setting, sorted; the caller warns about them
    /// once logging is up.
    pub ignored_env: Vec<String>,
}

impl Config {
    /// Loads defaults, then `file` (if given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Loaded, String> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(path) = file {
            if !path.exists() {
                return Err(format!("config file {} does not exist", path.display()));
            }
            figment = figment.merge(Toml::file(path));
        }
        // ROOMCAST_CONFIG names the file, it is not a key.
        let env = || Env::prefixed("ROOMCAST_").ignore(&["CONFIG"]);
        // config/default.toml sets every key, so its keys are the settings.
        let known: figment::value::Dict = Figment::from(Toml::string(DEFAULTS))
            .extract()
            .map_err(|e| format!("invalid built-in defaults: {e}"))?;
        let is_known = move |key: &figment::value::UncasedStr| {
            known.keys().any(|k| key.as_str().eq_ignore_ascii_case(k))
        };
        let mut ignored_env: Vec<String> = env()
            .iter()
            .filter(|(key, _)| !is_known(key))
            .map(|(key, _)| format!("ROOMCAST_{}", key.as_str().to_ascii_uppercase()))
            .collect();
        ignored_env.sort();
        let mut config: Config = figment
            .merge(env().filter(is_known))
            .extract()
            .map_err(|e| format!("invalid configuration: {e}"))?;
        config.validate()?;
        if !config.public_url.is_empty() {
            config.public = Some(PublicUrl::parse(&config.public_url)?);
        }
        config.proxies = TrustedProxies::parse(&config.trusted_proxies)?;
        Ok(Loaded {
            config,
            ignored_env,
        })
    }

    /// The built-in defaults alone, whatever the environment holds (tests run beside others
    /// that set `ROOMCAST_*` variables).
    #[cfg(test)]
    pub(crate) fn defaults() -> Config {
        Figment::from(Toml::string(DEFAULTS))
            .extract()
            .expect("the built-in defaults parse")
    }

    fn validate(&self) -> Result<(), String> {
        if self.db_pool_size == 0 {
            return Err("invalid configuration: db_pool_size must be at least 1".into());
        }
        if self.write_batch_max == 0 || self.write_shards == 0 || self.write_queue_max == 0 {
            return Err(
                "invalid configuration: write_batch_max, write_shards and write_queue_max \
                 must be at least 1"
                    .into(),
            );
        }
        if self.ws_queue == 0 {
            return Err("invalid configuration: ws_queue must be at least 1".into());
        }
        if self.ws_heartbeat_secs == 0 || self.ws_timeout_secs <= self.ws_heartbeat_secs {
            return Err(
                "invalid configuration: need 0 < ws_heartbeat_secs < ws_timeout_secs".into(),
            );
        }
        if self.janitor_interval_secs == 0
            || self.idempotency_retention_secs <= 0
            || self.revocation_poll_ms == 0
        {
            return Err(
                "invalid configuration: janitor_interval_secs, revocation_poll_ms and \
                        idempotency_retention_secs must be positive"
                    .into(),
            );
        }
        if self.ws_max_per_user == 0 || self.ws_max_per_ip == 0 {
            return Err(
                "invalid configuration: ws_max_per_user and ws_max_per_ip must be at least 1"
                    .into(),
            );
        }
        if self.session_ttl_secs <= 0 || self.session_idle_secs <= 0 {
            return Err(
                "invalid configuration: session_ttl_secs and session_idle_secs must be positive"
                    .into(),
            );
        }
        self.validate_bus()
    }

    fn validate_bus(&self) -> Result<(), String> {
        if self.bus_url.is_empty() {
            return Ok(());
        }
        if !(self.bus_url.starts_with("redis://") || self.bus_url.starts_with("rediss://")) {
            return Err(format!(
                "invalid configuration: bus_url {:?} must be empty (one instance) or \
                 redis://host:port",
                self.bus_url
            ));
        }
        if self.database_url.starts_with("sqlite:") {
            return Err(
                "invalid configuration: bus_url is set but database_url is SQLite: many \
                 instances need one PostgreSQL database (two processes on one SQLite file is \
                 not a deployment); leave bus_url empty to run one instance"
                    .into(),
            );
        }
        if self.bus_check_ms == 0 || self.bus_frame_max == 0 {
            return Err(
                "invalid configuration: bus_check_ms and bus_frame_max must be at least 1".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail API returns its large error type
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_env_overrides() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ROOMCAST_DATABASE_URL", "postgres://x@127.0.0.1/db");
            jail.set_env("ROOMCAST_ALLOWED_ORIGINS", "[\"https://a.example\"]");
            let c = Config::load(None).map_err(|e| e.to_string())?.config;
            assert_eq!(c.database_url, "postgres://x@127.0.0.1/db");
            assert_eq!(c.allowed_origins, vec!["https://a.example".to_string()]);
            assert_eq!(c.bind, "127.0.0.1:8080");
            Ok(())
        });
    }

    #[test]
    fn public_url_gives_the_own_origin_and_host() {
        let p = PublicUrl::parse("https://Chat.Example:443").expect("valid");
        assert_eq!(p.origin, "https://chat.example");
        assert!(p.is_own_host("chat.example") && p.is_own_host("CHAT.example:443"));
        assert!(!p.is_own_host("chat.example:8443") && !p.is_own_host("evil.example"));
        assert!(p.is_own_origin("https://chat.example"));
        assert!(!p.is_own_origin("http://chat.example") && !p.is_own_origin("null"));
        let local = PublicUrl::parse("http://127.0.0.1:8080/").expect("valid");
        assert!(local.is_own_host("127.0.0.1:8080") && !local.is_own_host("127.0.0.1"));
        for bad in [
            "chat.example",
            "ftp://x",
            "https://x/app",
            "https://u@x",
            "https://x/?q",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_redis_bus_needs_postgresql() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ROOMCAST_BUS_URL", "redis://127.0.0.1:6379");
            let err = Config::load(None).expect_err("SQLite with a bus must fail");
            assert!(err.contains("SQLite") && err.contains("bus_url"), "{err}");
            jail.set_env("ROOMCAST_DATABASE_URL", "postgres://x@127.0.0.1/db");
            assert!(Config::load(None).is_ok());
            jail.set_env("ROOMCAST_BUS_URL", "nats://127.0.0.1:4222");
            let err = Config::load(None).expect_err("not redis");
            assert!(err.contains("redis://"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn trusted_proxies_are_parsed_and_a_bad_entry_stops_the_start() {
        figment::Jail::expect_with(|jail| {
            assert!(
                Config::load(None)
                    .map_err(|e| e.to_string())?
                    .config
                    .proxies
                    == TrustedProxies::default()
            );
            jail.set_env("ROOMCAST_TRUSTED_PROXIES", r#"["10.0.0.0/8","127.0.0.1"]"#);
            let c = Config::load(None).map_err(|e| e.to_string())?.config;
            let expected = TrustedProxies::parse(&["10.0.0.0/8".into(), "127.0.0.1".into()])?;
            assert_eq!(c.proxies, expected);
            jail.set_env("ROOMCAST_TRUSTED_PROXIES", r#"["10.0.0.0/8","10.0.0.300"]"#);
            let err = Config::load(None).expect_err("a bad entry must fail");
            assert!(
                err.contains("trusted_proxies") && err.contains("\"10.0.0.300\""),
                "{err}"
            );
            jail.set_env("ROOMCAST_TRUSTED_PROXIES", "10.0.0.0/8");
            let err = Config::load(None).expect_err("not a list");
            assert!(
                err.to_lowercase().contains("trusted_proxies") && err.contains("sequence"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn bad_value_is_a_clear_error() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ROOMCAST_WS_QUEUE", "lots");
            let err = Config::load(None).expect_err("must fail");
            assert!(err.to_lowercase().contains("ws_queue"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_env_vars_are_ignored_and_named() {
        figment::Jail::expect_with(|jail| {
            // The example bots' variables, exported in the same shell as the server's.
            jail.set_env("ROOMCAST_TOKEN", "rcb_x");
            jail.set_env("ROOMCAST_ROOM", "1");
            jail.set_env("ROOMCAST_BIND", "127.0.0.1:9999");
            jail.set_env("ROOMCAST_CONFIG", "ignored.toml");
            let loaded = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(loaded.config.bind, "127.0.0.1:9999");
            assert_eq!(loaded.ignored_env, ["ROOMCAST_ROOM", "ROOMCAST_TOKEN"]);
            Ok(())
        });
    }

    #[test]
    fn known_env_vars_leave_nothing_ignored() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ROOMCAST_WS_QUEUE", "7");
            let loaded = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(loaded.config.ws_queue, 7);
            assert!(loaded.ignored_env.is_empty(), "{:?}", loaded.ignored_env);
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_in_a_file_is_still_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "roomcast.toml",
                "bind = \"127.0.0.1:1\"\ntoken = \"rcb_x\"\n",
            )?;
            let err = Config::load(Some(Path::new("roomcast.toml"))).expect_err("must fail");
            assert!(err.contains("token"), "{err}");
            Ok(())
        });
    }
}
