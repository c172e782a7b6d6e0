//! The receive-only room event stream: handshake, frames and close codes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

use super::http::Client;

/// How long one handshake or one read may wait before the test fails.
const FRAME_TIMEOUT: Duration = Duration::from_secs(20);

/// What the server sent next, pings and pongs aside.
#[derive(Debug)]
pub enum Incoming {
    Event(Value),
    Closed(Closed),
}

#[derive(Debug)]
pub struct Closed {
    /// The close frame's code; `None` if the connection ended without one.
    pub code: Option<u16>,
    pub detail: String,
}

pub struct EventSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Server pings seen so far (tungstenite answers them while we read).
    pub pings: usize,
}

impl Client {
    /// `ws://…/api/rooms/{room}/events[?after=N]`.
    pub fn events_url(&self, room: i64, after: Option<i64>) -> String {
        let query = after.map(|n| format!("?after={n}")).unwrap_or_default();
        self.url(&format!("/api/rooms/{room}/events{query}"))
            .replacen("http://", "ws://", 1)
    }

    /// Opens the room's event stream with this client's cookie; panics if
    /// the server refuses.
    pub async fn events(&self, room: i64, after: Option<i64>) -> EventSocket {
        match self.try_events(room, after).await {
            Ok(socket) => socket,
            Err(status) => panic!("event stream for room {room} refused with HTTP {status}"),
        }
    }

    /// Like `events`, but `Err` holds the status of a refused handshake.
    pub async fn try_events(&self, room: i64, after: Option<i64>) -> Result<EventSocket, u16> {
        self.handshake(room, after, None).await
    }

    /// A resumable client's handshake: never panics, gives up after `within`.
    #[allow(dead_code)] // used by the soak checker (tests/soak)
    pub async fn open_events(
        &self,
        room: i64,
        after: Option<i64>,
        within: Duration,
    ) -> Result<EventSocket, ConnectError> {
        let headers: Vec<(&str, String)> = self
            .cookie_header()
            .map(|cookie| ("cookie", cookie))
            .into_iter()
            .collect();
        try_connect(&self.events_url(room, after), &headers, within).await
    }

    /// The room's whole event log as the store replays it: seqs 1 to
    /// `last_seq`, read from a fresh socket with `after=0`.
    pub async fn event_log(&self, room: i64, last_seq: i64) -> Vec<Value> {
        let mut socket = self.events(room, Some(0)).await;
        let log = socket.next_events(usize::try_from(last_seq).unwrap()).await;
        socket.close().await;
        log
    }

    /// A live-only handshake as a browser page on `origin` would make it.
    pub async fn try_events_from(&self, room: i64, origin: &str) -> Result<EventSocket, u16> {
        self.handshake(room, None, Some(origin)).await
    }

    async fn handshake(
        &self,
        room: i64,
        after: Option<i64>,
        origin: Option<&str>,
    ) -> Result<EventSocket, u16> {
        let mut headers = Vec::new();
        if let Some(cookie) = self.cookie_header() {
            headers.push(("cookie", cookie));
        }
        if let Some(origin) = origin {
            headers.push(("origin", origin.to_string()));
        }
        connect(&self.events_url(room, after), &headers).await
    }
}

/// Why a handshake did not produce a socket.
#[derive(Debug)]
pub enum ConnectError {
    /// The server answered the upgrade with this HTTP status.
    Refused(u16),
    /// No answer at all: refused or reset connection, broken handshake.
    Failed(String),
    TimedOut,
}

/// A handshake with exactly these extra headers (tungstenite adds the
/// upgrade headers and Host, never Origin or Cookie).
pub async fn connect(url: &str, headers: &[(&str, String)]) -> Result<EventSocket, u16> {
    match try_connect(url, headers, FRAME_TIMEOUT).await {
        Ok(socket) => Ok(socket),
        Err(ConnectError::Refused(status)) => Err(status),
        Err(ConnectError::TimedOut) => {
            panic!("WebSocket handshake to {url} took over {FRAME_TIMEOUT:?}")
        }
        Err(ConnectError::Failed(e)) => panic!("WebSocket handshake to {url} failed: {e}"),
    }
}

/// Like `connect`, but every way of not getting a socket is returned: for
/// clients that reconnect while the server restarts.
pub async fn try_connect(
    url: &str,
    headers: &[(&str, String)],
    within: Duration,
) -> Result<EventSocket, ConnectError> {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
        request
            .headers_mut()
            .insert(name, HeaderValue::from_str(value).unwrap());
    }
    match timeout(within, connect_async(request)).await {
        Err(_) => Err(ConnectError::TimedOut),
        Ok(Ok((ws, _))) => Ok(EventSocket { ws, pings: 0 }),
        Ok(Err(Error::Http(response))) => Err(ConnectError::Refused(response.status().as_u16())),
        Ok(Err(e)) => Err(ConnectError::Failed(e.to_string())),
    }
}

impl EventSocket {
    /// The next event or the close, whichever comes first.
    pub async fn next(&mut self) -> Incoming {
        self.read(None)
            .await
            .expect("read without a ping target always yields")
    }

    /// The next event or the close, or `None` if neither came within
    /// `within` (the socket is still usable then).
    pub async fn next_within(&mut self, within: Duration) -> Option<Incoming> {
        self.read_until(Instant::now() + within, None)
            .await
            .unwrap_or(None)
    }

    /// Ends the connection from the client side with a normal close, without
    /// waiting for the server's answer (a client going away).
    pub async fn close(mut self) {
        let _ = timeout(Duration::from_secs(1), self.ws.close(None)).await;
    }

    /// The next event; panics if the socket closes instead.
    #[track_caller]
    pub fn next_event(&mut self) -> impl std::future::Future<Output = Value> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            match self.next().await {
                Incoming::Event(event) => event,
                Incoming::Closed(c) => panic!(
                    "socket closed ({:?}: {}) while {caller} waited for an event",
                    c.code, c.detail
                ),
            }
        }
    }

    /// The next `n` events.
    pub async fn next_events(&mut self, n: usize) -> Vec<Value> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(self.next_event().await);
        }
        events
    }

    /// Reads until the server closes the socket, asserts the close code and
    /// returns the events that came before it.
    pub async fn expect_close(&mut self, code: u16) -> Vec<Value> {
        let mut before = Vec::new();
        loop {
            match self.next().await {
                Incoming::Event(event) => before.push(event),
                Incoming::Closed(closed) => {
                    assert_eq!(
                        closed.code,
                        Some(code),
                        "socket closed with {:?} ({}), want {code}; events before: {before:?}",
                        closed.code,
                        closed.detail
                    );
                    return before;
                }
            }
        }
    }

    /// Keeps reading until `n` pings have arrived; panics on any event or
    /// close in the meantime (the room is expected to be idle).
    pub async fn expect_pings(&mut self, n: usize) {
        if let Some(other) = self.read(Some(n)).await {
            panic!("idle socket got {other:?} while waiting for {n} pings");
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws.send(Message::binary(bytes.to_vec())).await.unwrap();
    }

    /// Reads frames until an event or close arrives, or (if given) until the
    /// ping count reaches the target, which yields `None`. Panics if that
    /// takes longer than `FRAME_TIMEOUT`.
    async fn read(&mut self, ping_target: Option<usize>) -> Option<Incoming> {
        // One deadline for the whole call, so pings cannot keep it alive.
        let deadline = Instant::now() + FRAME_TIMEOUT;
        match self.read_until(deadline, ping_target).await {
            Ok(incoming) => incoming,
            Err(()) => panic!("nothing from the WebSocket within {FRAME_TIMEOUT:?}"),
        }
    }

    /// `read`, with `Err(())` when the deadline passes first.
    async fn read_until(
        &mut self,
        deadline: Instant,
        ping_target: Option<usize>,
    ) -> Result<Option<Incoming>, ()> {
        loop {
            if ping_target.is_some_and(|n| self.pings >= n) {
                return Ok(None);
            }
            let frame = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Err(()),
                Ok(frame) => frame,
            };
            let message = match frame {
                None => return Ok(Some(closed(None, "stream ended without a close frame"))),
                Some(Err(e)) => return Ok(Some(closed(None, &e.to_string()))),
                Some(Ok(message)) => message,
            };
            match message {
                Message::Text(text) => {
                    let event = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("event frame is not JSON ({e}): {text}"));
                    return Ok(Some(Incoming::Event(event)));
                }
                Message::Binary(bytes) => panic!("server sent a binary frame: {bytes:?}"),
                Message::Ping(_) => self.pings += 1,
                Message::Pong(_) | Message::Frame(_) => {}
                Message::Close(frame) => {
                    // A close frame without a code reads as 1005 (RFC 6455 7.1.5).
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return Ok(Some(closed(Some(code), &reason)));
                }
            }
        }
    }
}

fn closed(code: Option<u16>, detail: &str) -> Incoming {
    Incoming::Closed(Closed {
        code,
        detail: detail.to_string(),
    })
}

/// The `type` of an event frame.
#[track_caller]
pub fn kind(event: &Value) -> &str {
    event["type"]
        .as_str()
        .unwrap_or_else(|| panic!("event without a type: {event}"))
}
