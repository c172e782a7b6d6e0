//! One simulated HTTP user agent (its own cookie jar) and response checks.

use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use super::server::BaseUrl;

pub const SESSION_COOKIE: &str = "roomcast_session";
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
pub const IDEMPOTENT_REPLAYED: &str = "Idempotent-Replayed";
/// Generous: a debug build under 200 concurrent requests can be slow, but a
/// request that never ends must still fail the test.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Below the server's keep-alive (actix's default, 5 s): a client never reuses a connection
/// the server may be closing at that moment, which fails the request with IncompleteMessage
/// (seen with 200 users created over more than 5 s on a loaded machine, then joining at once).
const POOL_IDLE: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: BaseUrl,
}

impl Client {
    pub fn new(base: BaseUrl) -> Client {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            // A proxy from the environment must not sit between test and server.
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE)
            .build()
            .unwrap();
        Client { http, jar, base }
    }

    /// A client that sends `Authorization: Bearer <token>` on every request
    /// and starts with an empty cookie jar: how a bot talks to the server.
    /// It shares this client's server address (and so follows restarts).
    pub fn with_bearer(&self, token: &str) -> Client {
        let mut headers = HeaderMap::new();
        let value = format!("Bearer {token}");
        headers.insert(AUTHORIZATION, HeaderValue::from_str(&value).unwrap());
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .default_headers(headers)
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE)
            .build()
            .unwrap();
        Client {
            http,
            jar,
            base: self.base.clone(),
        }
    }

    /// This client (same cookie jar) sending `Host: <host>` on every request, as a browser
    /// that reached the server under that name (through a proxy, or DNS) would.
    pub fn with_host(&self, host: &str) -> Client {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(host).unwrap());
        let http = reqwest::Client::builder()
            .cookie_provider(self.jar.clone())
            .default_headers(headers)
            .no_proxy()
            .pool_idle_timeout(POOL_IDLE)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap();
        Client {
            http,
            jar: self.jar.clone(),
            base: self.base.clone(),
        }
    }

    /// This client (same cookie jar, so the same session) talking to the server at `base`:
    /// another instance of the same deployment.
    #[allow(dead_code)] // used by the multi-instance tests, not by tests/soak
    pub fn at(&self, base: &str) -> Client {
        Client {
            http: self.http.clone(),
            jar: self.jar.clone(),
            base: Arc::new(std::sync::RwLock::new(base.to_string())),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.read().unwrap())
    }

    /// The `Cookie` header this client would send, e.g. for the WebSocket
    /// handshake or to hand the session to another client.
    pub fn cookie_header(&self) -> Option<String> {
        let url = self.url("/").parse().unwrap();
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().unwrap().to_string())
    }

    /// Just `roomcast_session=<value>`, panicking if the client has none.
    pub fn session_cookie(&self) -> String {
        let all = self.cookie_header().unwrap_or_default();
        all.split(';')
            .map(str::trim)
            .find(|c| c.starts_with(&format!("{SESSION_COOKIE}=")))
            .unwrap_or_else(|| panic!("no {SESSION_COOKIE} cookie in jar (cookies: {all:?})"))
            .to_string()
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(path))
    }

    pub async fn send(&self, request: RequestBuilder) -> Resp {
        Resp::read(request.send().await.unwrap()).await
    }

    /// Like `send`, but a failure to get a whole response (refused, reset,
    /// timed out) is returned instead of failing the test: for tests that
    /// take the server or its database away on purpose.
    pub async fn try_send(&self, request: RequestBuilder) -> Result<Resp, reqwest::Error> {
        Resp::try_read(request.send().await?).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn put(&self, path: &str) -> Resp {
        self.send(self.request(Method::PUT, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.request(Method::DELETE, path)).await
    }

    // The API, one call per endpoint, returning the raw response so tests
    // can check refusals as easily as successes.

    pub async fn register(&self, username: &str, password: &str) -> Resp {
        let body = json!({ "username": username, "password": password });
        self.post("/api/accounts", &body).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Resp {
        let body = json!({ "username": username, "password": password });
        self.post("/api/session", &body).await
    }

    pub async fn logout(&self) -> Resp {
        self.delete("/api/session").await
    }

    pub async fn me(&self) -> Resp {
        self.get("/api/me").await
    }

    pub async fn create_room(&self, name: &str, capacity: i64) -> Resp {
        let body = json!({ "name": name, "capacity": capacity });
        self.post("/api/rooms", &body).await
    }

    pub async fn room(&self, room: i64) -> Resp {
        self.get(&format!("/api/rooms/{room}")).await
    }

    pub async fn rooms(&self) -> Resp {
        self.get("/api/rooms").await
    }

    pub async fn delete_room(&self, room: i64) -> Resp {
        self.delete(&format!("/api/rooms/{room}")).await
    }

    pub async fn join(&self, room: i64) -> Resp {
        self.put(&format!("/api/rooms/{room}/members/me")).await
    }

    pub async fn leave(&self, room: i64) -> Resp {
        self.delete(&format!("/api/rooms/{room}/members/me")).await
    }

    pub async fn members(&self, room: i64) -> Resp {
        self.get(&format!("/api/rooms/{room}/members")).await
    }

    pub async fn remove_member(&self, room: i64, user: i64) -> Resp {
        self.delete(&format!("/api/rooms/{room}/members/{user}"))
            .await
    }

    pub async fn send_message(&self, room: i64, content: &str) -> Resp {
        let body = json!({ "content": content });
        self.post(&format!("/api/rooms/{room}/messages"), &body)
            .await
    }

    /// `POST /api/rooms/{room}/messages`, with an `Idempotency-Key` if given.
    pub fn message_request(&self, room: i64, content: &str, key: Option<&str>) -> RequestBuilder {
        let request = self
            .request(Method::POST, &format!("/api/rooms/{room}/messages"))
            .json(&json!({ "content": content }));
        match key {
            Some(key) => request.header(IDEMPOTENCY_KEY, key),
            None => request,
        }
    }

    /// Sends a message under an `Idempotency-Key`.
    pub async fn send_keyed(&self, room: i64, content: &str, key: &str) -> Resp {
        self.send(self.message_request(room, content, Some(key)))
            .await
    }

    pub async fn readyz(&self) -> Resp {
        self.get("/readyz").await
    }

    pub async fn healthz(&self) -> Resp {
        self.get("/healthz").await
    }

    /// Every message of the room, oldest first, read page by page.
    pub async fn all_messages(&self, room: i64) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        loop {
            let after = all.last().map(|m| m["seq"].as_i64().unwrap()).unwrap_or(0);
            let page = self
                .history(room, &format!("after={after}&limit=100"))
                .await
                .expect(200);
            let page = page["messages"].as_array().unwrap().clone();
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    /// `query` is the raw query string, e.g. `"after=3&limit=2"` (or `""`).
    pub async fn history(&self, room: i64, query: &str) -> Resp {
        self.get(&format!("/api/rooms/{room}/messages?{query}"))
            .await
    }
}

/// A fully read response. `json` is `Value::Null` when the body is empty or
/// not JSON (the raw body is in `text` for messages).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    async fn read(response: reqwest::Response) -> Resp {
        Self::try_read(response).await.unwrap()
    }

    async fn try_read(response: reqwest::Response) -> Result<Resp, reqwest::Error> {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            text,
            json,
        })
    }

    /// A response header as text (`None` if absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the server says this answer replays an earlier request with
    /// the same `Idempotency-Key` (`Idempotent-Replayed: true`).
    pub fn replayed(&self) -> bool {
        self.header(IDEMPOTENT_REPLAYED) == Some("true")
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or(""))
            .unwrap_or("")
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "expected HTTP {status}, got {} with body {}",
            self.status, self.text
        );
        self.json
    }

    /// Asserts an RFC 9457 problem with this status and stable `type` code.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.json["type"].as_str()),
            (status, Some(code)),
            "expected problem {status} {code:?}, got HTTP {} with body {}",
            self.status,
            self.text
        );
        assert!(
            self.content_type().starts_with("application/problem+json"),
            "problem {code} has Content-Type {:?}, want application/problem+json",
            self.content_type()
        );
        assert_eq!(
            self.json["status"], status,
            "problem body's status field: {}",
            self.text
        );
        assert!(
            self.json["title"].is_string(),
            "problem body has no title: {}",
            self.text
        );
    }
}

#[allow(dead_code)] // the e2e tests of message changes; not used by tests/soak
impl Client {
    /// `PATCH /api/rooms/{room}/messages/{message}`, with an `Idempotency-Key` if given.
    pub async fn edit_message(
        &self,
        room: i64,
        message: i64,
        content: &str,
        key: Option<&str>,
    ) -> Resp {
        let request = self
            .request(
                Method::PATCH,
                &format!("/api/rooms/{room}/messages/{message}"),
            )
            .json(&json!({ "content": content }));
        let request = match key {
            Some(key) => request.header(IDEMPOTENCY_KEY, key),
            None => request,
        };
        self.send(request).await
    }

    /// `PUT /api/rooms/{room}/messages/{message}/reactions/{emoji}` (the URL encodes it).
    pub async fn react(&self, room: i64, message: i64, emoji: &str) -> Resp {
        self.put(&format!(
            "/api/rooms/{room}/messages/{message}/reactions/{emoji}"
        ))
        .await
    }

    pub async fn unreact(&self, room: i64, message: i64, emoji: &str) -> Resp {
        self.delete(&format!(
            "/api/rooms/{room}/messages/{message}/reactions/{emoji}"
        ))
        .await
    }

    pub async fn delete_message(&self, room: i64, message: i64) -> Resp {
        self.delete(&format!("/api/rooms/{room}/messages/{message}"))
            .await
    }
}
