//! The task behind one receive-only WebSocket: backfill from the store, then live frames from
//! the hub, with duplicates dropped and gaps repaired from the store; heartbeats; closes.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use bytestring::ByteString;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::close;
use super::frame::Audience;
use super::hub::Subscription;
use super::presence::PresenceGuard;
use super::slots::Slot;
use super::Frame;
use crate::ids::{RoomId, Seq};
use crate::store::{events, Db};

/// Events fetched per store read during backfill and repair.
const PAGE: i64 = 500;

pub struct SocketSettings {
    pub heartbeat: Duration,
    pub timeout: Duration,
    pub write_timeout: Duration,
}

pub struct Socket {
    pub db: Db,
    pub session: Session,
    pub stream: MessageStream,
    pub sub: Subscription,
    /// Held while the socket lives: its place under the per-user and per-IP caps.
    pub slot: Slot,
    /// Held while the socket lives: its user counts as online on the room.
    pub presence: PresenceGuard,
    /// Whether the client asked for `presence` frames (`presence=true`).
    pub presence_frames: bool,
    pub room_id: RoomId,
    /// The last seq the client has; everything after it is delivered exactly once.
    pub last: Seq,
    pub settings: SocketSettings,
}

/// Why the loop ended: a code to close with, or a connection already gone.
enum End {
    Close(u16, &'static str),
    Gone,
}

/// The session's one error says the connection is closed already.
impl From<actix_ws::Closed> for End {
    fn from(_: actix_ws::Closed) -> End {
        End::Gone
    }
}

impl Socket {
    pub async fn run(mut self) {
        let end = match self.serve().await {
            Ok(()) => End::Close(close::NORMAL, "bye"),
            Err(end) => end,
        };
        if let End::Close(code, why) = end {
            let reason = CloseReason {
                code: CloseCode::from(code),
                description: Some(why.to_string()),
            };
            let _ = tokio::time::timeout(
                self.settings.write_timeout,
                self.session.close(Some(reason)),
            )
            .await;
        }
    }

    async fn serve(&mut self) -> Result<(), End> {
        let tally = Tally::shared();
        // Boxed: a store read is a large future, and an unboxed one would make every idle
        // socket's task that large for its whole life.
        Box::pin(self.catch_up(None)).await?;
        let mut heartbeat = tokio::time::interval(self.settings.heartbeat);
        heartbeat.tick().await;
        let mut last_pong = Instant::now();
        loop {
            tokio::select! {
                // Frames first, so an event committed before a close signal is still delivered.
                biased;
                frame = self.sub.events.recv() => {
                    // Whatever else is already queued goes out in the same wake-up (and, as
                    // the connection batches queued frames, often in the same write).
                    let mut next = frame;
                    loop {
                        match next {
                            Ok(frame) => self.deliver(&frame, tally).await?,
                            Err(RecvError::Lagged(_)) => {
                                tally.slow.increment(1);
                                return Err(End::Close(close::TOO_SLOW, "too slow: resume with after"));
                            }
                            Err(RecvError::Closed) => {
                                return Err(End::Close(close::GOING_AWAY, "shutting down"));
                            }
                        }
                        next = match self.sub.events.try_recv() {
                            Ok(frame) => Ok(frame),
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                            Err(TryRecvError::Closed) => Err(RecvError::Closed),
                        };
                    }
                }
                code = &mut self.sub.closed => {
                    let code = code.unwrap_or(close::GOING_AWAY);
                    return Err(End::Close(code, reason_for(code)));
                }
                msg = self.stream.next() => match msg {
                    Some(Ok(Message::Ping(bytes))) => {
                        self.session.pong(&bytes).await?;
                    }
                    Some(Ok(Message::Pong(_))) => last_pong = Instant::now(),
                    Some(Ok(Message::Close(_))) => return Err(End::Close(close::NORMAL, "bye")),
                    Some(Ok(Message::Nop)) => {}
                    Some(Ok(Message::Text(_) | Message::Binary(_) | Message::Continuation(_))) => {
                        return Err(End::Close(close::POLICY, "this socket is receive-only"));
                    }
                    Some(Err(_)) | None => return Err(End::Gone),
                },
                _ = heartbeat.tick() => {
                    if last_pong.elapsed() > self.settings.timeout {
                        return Err(End::Gone);
                    }
                    self.session.ping(b"").await?;
                }
            }
        }
    }

    async fn deliver(&mut self, frame: &Frame, tally: &Tally) -> Result<(), End> {
        if let Some(audience) = frame.ephemeral {
            // Typing and presence: no seq, so `last` and gap repair never see them.
            let wanted = match audience {
                Audience::All => true,
                Audience::AllBut(user) => user != self.sub.user_id,
                Audience::PresenceListeners => self.presence_frames,
            };
            if wanted {
                self.send(frame.json.clone()).await?;
            }
            return Ok(());
        }
        if frame.terminal {
            self.send(frame.json.clone()).await?;
            return Err(End::Close(close::ROOM_DELETED, "room deleted"));
        }
        if frame.seq <= self.last {
            return Ok(());
        }
        if frame.seq > self.last.next() {
            // Frames can reach the hub out of commit order; the store has the missing ones.
            Box::pin(self.catch_up(Some(frame.seq))).await?;
        }
        if frame.seq == self.last.next() {
            self.send(frame.json.clone()).await?;
            self.last = frame.seq;
            // Latency first: a scrape that sees the delivery counted then sees its latency too.
            if let Some(at) = frame.sent_at {
                tally.latency.record(at.elapsed().as_secs_f64());
            }
            tally.deliveries.increment(1);
        }
        Ok(())
    }

    /// Sends stored events after `self.last` (and before `until`, if given).
    async fn catch_up(&mut self, until: Option<Seq>) -> Result<(), End> {
        loop {
            let page = events::after(&self.db, self.room_id, self.last, until, PAGE)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, room = self.room_id.0, "backfill failed");
                    End::Close(close::GOING_AWAY, "storage unavailable: resume with after")
                })?;
            // A short page is the last one.
            let last_page = i64::try_from(page.len()).is_ok_and(|n| n < PAGE);
            for event in &page {
                let frame = Frame::from_event(event).map_err(|e| {
                    tracing::error!(error = %e, "event not sent");
                    End::Close(close::INTERNAL_ERROR, "internal error")
                })?;
                self.send(frame.json).await?;
                self.last = event.event.seq;
            }
            if last_page {
                return Ok(());
            }
        }
    }

    async fn send(&mut self, json: ByteString) -> Result<(), End> {
        let mut write = std::pin::pin!(self.session.text(json));
        // Nearly always the connection's queue has room: only a frame that must wait pays
        // for a timer, boxed so that every socket's task is not the timer's size larger.
        let written = match (&mut write).now_or_never() {
            Some(done) => Ok(done),
            None => Box::pin(tokio::time::timeout(self.settings.write_timeout, write)).await,
        };
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(closed)) => Err(closed.into()),
            // The client does not read: the connection is dropped (it resumes with after).
            Err(_) => {
                metrics::counter!("roomcast_slow_consumer_closes_total").increment(1);
                Err(End::Gone)
            }
        }
    }
}

/// The sockets' metric handles, looked up once per process: not per frame, and not per
/// socket either, where each lookup allocated and lived as long as the socket (96 bytes).
struct Tally {
    deliveries: metrics::Counter,
    latency: metrics::Histogram,
    slow: metrics::Counter,
}

impl Tally {
    /// Made at the first socket, after `serve` installed the recorder.
    fn shared() -> &'static Tally {
        static TALLY: OnceLock<Tally> = OnceLock::new();
        TALLY.get_or_init(Tally::new)
    }

    fn new() -> Tally {
        Tally {
            deliveries: metrics::counter!("roomcast_deliveries_total"),
            latency: metrics::histogram!("roomcast_deliver_latency_seconds"),
            slow: metrics::counter!("roomcast_slow_consumer_closes_total"),
        }
    }
}

fn reason_for(code: u16) -> &'static str {
    match code {
        close::SESSION_ENDED => "session ended",
        close::NOT_A_MEMBER => "no longer a member",
        close::ROOM_DELETED => "room deleted",
        close::GOING_AWAY => "server shutting down",
        _ => "closed",
    }
}
