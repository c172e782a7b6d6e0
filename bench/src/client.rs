//! The HTTP API as the bench uses it (accounts, rooms, joins, sends), and WebSocket connects
//! spread over several loopback source addresses.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{stream, StreamExt, TryStreamExt};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

use crate::server::Target;

pub type Ws = WebSocketStream<TcpStream>;

const PASSWORD: &str = "bench-password-1";
/// Requests made during setup at once.
const SETUP_PARALLEL: usize = 16;
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// A logged-in account: its `Cookie` header value.
#[derive(Clone, Debug)]
pub struct User {
    pub cookie: HeaderValue,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Room {
    pub id: i64,
    pub capacity: i64,
    pub member_count: i64,
    pub last_seq: i64,
}

/// How a request the bench measures ended, short of a transport error.
#[derive(Debug)]
pub enum Answer {
    /// The status the scenario wanted (201 for a send).
    Ok,
    /// Another status, with the problem `type` when there is one.
    Other(u16, String),
}

impl Answer {
    /// "409 room-full", for error tallies.
    pub fn label(&self) -> String {
        match self {
            Answer::Ok => "ok".into(),
            Answer::Other(status, kind) if kind.is_empty() => status.to_string(),
            Answer::Other(status, kind) => format!("{status} {kind}"),
        }
    }
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    cookie_name: String,
}

#[derive(Deserialize)]
struct Problem {
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct Members {
    members: Vec<serde_json::Value>,
}

impl Api {
    pub fn new(target: &Target) -> Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .context("building the HTTP client")?;
        Ok(Api {
            http,
            base: target.base.clone(),
            cookie_name: target.cookie_name.clone(),
        })
    }

    /// The same client (connection pool, cookie name) talking to another instance at `base`
    /// (`http://127.0.0.1:<port>`): a session cookie from one instance works on all of them.
    pub fn at(&self, base: &str) -> Api {
        Api {
            http: self.http.clone(),
            base: base.to_string(),
            cookie_name: self.cookie_name.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Registers `name` and logs it in.
    pub async fn user(&self, name: &str) -> Result<User> {
        let body = json!({ "username": name, "password": PASSWORD });
        let res = self
            .http
            .post(self.url("/api/accounts"))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("registering {name}"))?;
        expect(res.status(), StatusCode::CREATED, "register", res).await?;
        let res = self
            .http
            .post(self.url("/api/session"))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("logging in {name}"))?;
        let prefix = format!("{}=", self.cookie_name);
        let cookie = res
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&prefix))
            .map(|v| v.split(';').next().unwrap_or(v).to_string());
        expect(res.status(), StatusCode::OK, "log in", res).await?;
        let cookie = cookie.ok_or_else(|| anyhow!("log in set no {} cookie", self.cookie_name))?;
        Ok(User {
            cookie: HeaderValue::from_str(&cookie).context("session cookie")?,
        })
    }

    /// `n` fresh users named `{prefix}{i}`, made a few at a time.
    pub async fn users(&self, prefix: &str, n: usize) -> Result<Vec<User>> {
        stream::iter(0..n)
            .map(|i| async move { self.user(&format!("{prefix}{i}")).await })
            .buffered(SETUP_PARALLEL)
            .try_collect()
            .await
    }

    pub async fn create_room(&self, owner: &User, name: &str, capacity: i64) -> Result<Room> {
        let res = self
            .http
            .post(self.url("/api/rooms"))
            .header(reqwest::header::COOKIE, owner.cookie.clone())
            .json(&json!({ "name": name, "capacity": capacity }))
            .send()
            .await
            .context("creating a room")?;
        let res = expect(res.status(), StatusCode::CREATED, "create room", res).await?;
        res.json().await.context("room")
    }

    /// GET `path` as `user`, expecting 200: the JSON body.
    pub async fn get_json(&self, user: &User, path: &str) -> Result<serde_json::Value> {
        let res = self
            .http
            .get(self.url(path))
            .header(reqwest::header::COOKIE, user.cookie.clone())
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let res = expect(res.status(), StatusCode::OK, path, res).await?;
        res.json()
            .await
            .with_context(|| format!("GET {path}: JSON"))
    }

    pub async fn room(&self, user: &User, id: i64) -> Result<Room> {
        let res = self
            .http
            .get(self.url(&format!("/api/rooms/{id}")))
            .header(reqwest::header::COOKIE, user.cookie.clone())
            .send()
            .await
            .context("reading a room")?;
        let res = expect(res.status(), StatusCode::OK, "show room", res).await?;
        res.json().await.context("room")
    }

    pub async fn member_list_len(&self, user: &User, id: i64) -> Result<usize> {
        let res = self
            .http
            .get(self.url(&format!("/api/rooms/{id}/members")))
            .header(reqwest::header::COOKIE, user.cookie.clone())
            .send()
            .await
            .context("listing members")?;
        let res = expect(res.status(), StatusCode::OK, "list members", res).await?;
        let m: Members = res.json().await.context("members")?;
        Ok(m.members.len())
    }

    /// PUT /members/me: `Ok` for 201 (joined now), `Other` for anything else (200 included).
    pub async fn join(&self, user: &User, room: i64) -> Result<Answer> {
        let res = self
            .http
            .put(self.url(&format!("/api/rooms/{room}/members/me")))
            .header(reqwest::header::COOKIE, user.cookie.clone())
            .send()
            .await?;
        answer(res, StatusCode::CREATED).await
    }

    /// Makes every `(user, room)` a member, a few at a time (already a member is fine).
    pub async fn join_all(&self, pairs: &[(User, i64)]) -> Result<()> {
        stream::iter(pairs)
            .map(|(user, room)| async move {
                match self.join(user, *room).await? {
                    Answer::Ok | Answer::Other(200, _) => Ok(()),
                    other => bail!("join of room {room} refused: {}", other.label()),
                }
            })
            .buffer_unordered(SETUP_PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// POST /messages with an Idempotency-Key: `Ok` only for 201.
    pub async fn send(&self, user: &User, room: i64, content: String, key: &str) -> Result<Answer> {
        let res = self
            .http
            .post(self.url(&format!("/api/rooms/{room}/messages")))
            .header(reqwest::header::COOKIE, user.cookie.clone())
            .header("Idempotency-Key", key)
            .json(&json!({ "content": content }))
            .send()
            .await?;
        answer(res, StatusCode::CREATED).await
    }
}

async fn answer(res: reqwest::Response, want: StatusCode) -> Result<Answer> {
    let status = res.status();
    if status == want {
        // Read the body so the connection goes back to the pool.
        res.bytes().await?;
        return Ok(Answer::Ok);
    }
    let kind = res
        .json::<Problem>()
        .await
        .map(|p| p.kind)
        .unwrap_or_default();
    Ok(Answer::Other(status.as_u16(), kind))
}

/// Passes the response on if its status is `want`, else fails with the body.
async fn expect(
    status: StatusCode,
    want: StatusCode,
    what: &str,
    res: reqwest::Response,
) -> Result<reqwest::Response> {
    if status == want {
        return Ok(res);
    }
    let body = res.text().await.unwrap_or_default();
    bail!("{what}: HTTP {status} (wanted {want}): {body}")
}

/// Opens room event sockets, each from the next of a few loopback source addresses.
pub struct Connector {
    server: SocketAddr,
    sources: Vec<Ipv4Addr>,
    next: AtomicUsize,
}

impl Connector {
    pub fn new(target: &Target, source_addrs: u8) -> Connector {
        Connector::to(target.addr, source_addrs)
    }

    /// Sockets to any server at `server` (the `raw` broadcaster too).
    pub fn to(server: SocketAddr, source_addrs: u8) -> Connector {
        let sources = if source_addrs <= 1 {
            vec![Ipv4Addr::LOCALHOST]
        } else {
            (0..source_addrs)
                .map(|i| Ipv4Addr::new(127, 0, 0, 2u8.saturating_add(i)))
                .collect()
        };
        Connector {
            server,
            sources,
            next: AtomicUsize::new(0),
        }
    }

    /// `GET /api/rooms/{room}/events?after=N` as a WebSocket with the user's cookie.
    pub async fn open(&self, user: &User, room: i64, after: i64) -> Result<Ws> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let source = *round_robin(&self.sources, n).context("no source address to connect from")?;
        let socket = TcpSocket::new_v4().context("socket")?;
        socket
            .bind(SocketAddr::new(source.into(), 0))
            .with_context(|| format!("binding to {source}"))?;
        let handshake = async {
            let stream = socket
                .connect(self.server)
                .await
                .with_context(|| format!("connecting to {}", self.server))?;
            stream.set_nodelay(true)?;
            let url = format!("ws://{}/api/rooms/{room}/events?after={after}", self.server);
            let mut request = url.into_client_request()?;
            request
                .headers_mut()
                .insert(reqwest::header::COOKIE, user.cookie.clone());
            // Small buffers: tens of thousands of sockets live in this process.
            let config = WebSocketConfig::default()
                .read_buffer_size(16 * 1024)
                .write_buffer_size(0);
            let (ws, _) =
                tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                    .await
                    .map_err(describe_ws_error)?;
            Ok::<Ws, anyhow::Error>(ws)
        };
        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
            .await
            .with_context(|| format!("WebSocket handshake timed out after {HANDSHAKE_TIMEOUT:?}"))?
    }
}

/// The `i`th pick from `xs` taken in turn; None if `xs` is empty.
pub fn round_robin<T>(xs: &[T], i: usize) -> Option<&T> {
    xs.get(i.checked_rem(xs.len())?)
}

fn describe_ws_error(e: tokio_tungstenite::tungstenite::Error) -> anyhow::Error {
    use tokio_tungstenite::tungstenite::Error;
    match e {
        Error::Http(res) => anyhow!("WebSocket refused with HTTP {}", res.status()),
        other => anyhow!("WebSocket handshake: {other}"),
    }
}

/// A prefix for this run's usernames: letters and digits, unique enough to share a database
/// with earlier runs (usernames are at most 32 characters).
pub fn run_prefix(scenario: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        // Nanoseconds since the epoch modulo 2^64: only the low 40 bits are kept below.
        .map(|d| {
            d.as_secs()
                .wrapping_mul(1_000_000_000)
                .wrapping_add(u64::from(d.subsec_nanos()))
        })
        .unwrap_or(0);
    let tag: String = scenario.chars().take(2).collect();
    format!(
        "{tag}{:x}_",
        (nanos ^ u64::from(std::process::id())) & 0xff_ffff_ffff
    )
}
