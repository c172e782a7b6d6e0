//! The `raw` ceiling: a minimal WebSocket broadcaster inside the bench (tokio, no database, no
//! auth) that writes roomcast's `message.created` frame to every socket, so `fanout
//! --with-raw` shows what this machine does at best with the same receivers.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use anyhow::{anyhow, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// The room id the frames carry (the receivers only use it in their URL).
pub const ROOM: i64 = 1;

/// A broadcaster on 127.0.0.1:<ephemeral>; dropping it closes every socket.
pub struct Raw {
    pub addr: SocketAddr,
    tx: broadcast::Sender<Utf8Bytes>,
    /// The last seq given out; held while a frame is queued so seqs leave in order.
    seq: Mutex<i64>,
    accept: JoinHandle<()>,
}

impl Raw {
    /// Listens; `backlog` frames fit in each socket's queue (more than a run sends, so no
    /// receiver is ever dropped for being slow).
    pub async fn start(backlog: u64) -> Result<Raw> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("raw: binding 127.0.0.1:0")?;
        let addr = listener.local_addr().context("raw: local address")?;
        let capacity = usize::try_from(backlog)
            .unwrap_or(1 << 20)
            .clamp(16, 1 << 20);
        let (tx, _) = broadcast::channel(capacity);
        let accept = tokio::spawn(accept_loop(listener, tx.clone()));
        Ok(Raw {
            addr,
            tx,
            seq: Mutex::new(0),
            accept,
        })
    }

    /// The room's last seq; receivers start after it.
    pub fn last_seq(&self) -> Result<i64> {
        self.seq
            .lock()
            .map(|s| *s)
            .map_err(|e| anyhow!("raw: seq lock: {e}"))
    }

    /// A send: the next seq, roomcast's frame for it, queued to every socket.
    pub fn send(&self, content: &str) -> Result<i64> {
        let mut seq = self.seq.lock().map_err(|e| anyhow!("raw: seq lock: {e}"))?;
        *seq += 1;
        let frame = json!({
            "type": "message.created",
            "room_id": ROOM,
            "seq": *seq,
            "data": {
                "id": *seq,
                "room_id": ROOM,
                "seq": *seq,
                "author": { "id": 1, "username": "raw", "bot": false },
                "content": content,
                "created_at": "2026-01-01T00:00:00.000000Z",
            },
        });
        // No socket listening is not an error: the frame simply goes nowhere.
        let _ = self.tx.send(Utf8Bytes::from(frame.to_string()));
        Ok(*seq)
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        // The accept task owns the socket tasks; aborting it drops them all.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, tx: broadcast::Sender<Utf8Bytes>) {
    let mut sockets = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                // A failed accept (e.g. out of descriptors) shows as a receiver that did
                // not connect.
                if let Ok((stream, _)) = accepted {
                    sockets.spawn(serve(stream, tx.subscribe()));
                }
            }
            // Reap finished sockets so the set does not grow over a long run.
            Some(_) = sockets.join_next(), if !sockets.is_empty() => {}
        }
    }
}

/// One socket: any path and query, no auth; every queued frame, several per write when they
/// are waiting together (as roomcast does), until the client goes away.
async fn serve(stream: TcpStream, mut rx: broadcast::Receiver<Utf8Bytes>) {
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut incoming) = ws.split();
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let mut next = frame;
                loop {
                    match next {
                        Ok(text) => {
                            if sink.feed(Message::Text(text)).await.is_err() {
                                return;
                            }
                        }
                        Err(RecvError::Lagged(_)) => {
                            // Frames were lost for this socket: close as roomcast does for a
                            // slow client, so the receiver reports it.
                            let close = CloseFrame {
                                code: CloseCode::Library(4008),
                                reason: "too slow".into(),
                            };
                            let _ = sink.send(Message::Close(Some(close))).await;
                            return;
                        }
                        Err(RecvError::Closed) => return,
                    }
                    match rx.try_recv() {
                        Ok(text) => next = Ok(text),
                        Err(_) => break,
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            msg = incoming.next() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket gets roomcast-shaped frames, in order, with seqs after the one it started at.
    #[tokio::test]
    async fn frames_reach_a_socket_in_order() {
        let raw = Raw::start(8).await.unwrap();
        let url = format!("ws://{}/api/rooms/1/events?after=0", raw.addr);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        // The socket task subscribes after the handshake; wait until it has.
        while raw.tx.receiver_count() == 0 {
            tokio::task::yield_now().await;
        }
        for k in 0..3 {
            raw.send(&crate::probe::encode(k, 5, 64)).unwrap();
        }
        for k in 0..3u64 {
            let Some(Ok(Message::Text(text))) = ws.next().await else {
                panic!("no frame {k}");
            };
            let v: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
            assert_eq!(v["type"], "message.created");
            assert_eq!(v["seq"], k + 1);
            let content = v["data"]["content"].as_str().unwrap();
            assert_eq!(crate::probe::decode(content), Some((k, 5)));
        }
    }
}
