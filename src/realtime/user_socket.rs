//! The task behind one summary stream (`GET /api/me/events`): receive-only like a room socket,
//! with the same heartbeat, write timeout, slow-consumer close (4008) and close codes.

use std::time::Instant;

use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use bytestring::ByteString;
use futures_util::{FutureExt, StreamExt};

use super::close;
use super::hub::Registration;
use super::slots::Slot;
use super::socket::SocketSettings;
use super::users::UserStream;

pub struct UserSocket {
    pub session: Session,
    pub stream: MessageStream,
    pub frames: UserStream,
    pub registration: Registration,
    /// Held while the socket lives: its place under the per-user and per-IP caps.
    pub slot: Slot,
    pub settings: SocketSettings,
}

enum End {
    Close(u16, &'static str),
    Gone,
}

impl From<actix_ws::Closed> for End {
    fn from(_: actix_ws::Closed) -> End {
        End::Gone
    }
}

impl UserSocket {
    pub async fn run(mut self) {
        if let Err(End::Close(code, why)) = self.serve().await {
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
        let mut heartbeat = tokio::time::interval(self.settings.heartbeat);
        heartbeat.tick().await;
        let mut last_pong = Instant::now();
        loop {
            tokio::select! {
                biased;
                frame = self.frames.frames.recv() => match frame {
                    Some(json) => self.send(json).await?,
                    None => return Err(End::Close(close::GOING_AWAY, "shutting down")),
                },
                _ = &mut self.frames.slow => {
                    return Err(End::Close(close::TOO_SLOW, "too slow: reconnect and reload"));
                }
                code = &mut self.registration.closed => {
                    let code = code.unwrap_or(close::GOING_AWAY);
                    return Err(End::Close(code, match code {
                        close::SESSION_ENDED => "session ended",
                        close::GOING_AWAY => "server shutting down",
                        _ => "closed",
                    }));
                }
                msg = self.stream.next() => match msg {
                    Some(Ok(Message::Ping(bytes))) => self.session.pong(&bytes).await?,
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

    async fn send(&mut self, json: ByteString) -> Result<(), End> {
        let mut write = std::pin::pin!(self.session.text(json));
        let written = match (&mut write).now_or_never() {
            Some(done) => Ok(done),
            None => tokio::time::timeout(self.settings.write_timeout, write).await,
        };
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(closed)) => Err(closed.into()),
            Err(_) => {
                metrics::counter!("roomcast_slow_consumer_closes_total").increment(1);
                Err(End::Gone)
            }
        }
    }
}
