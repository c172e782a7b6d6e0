//! Local subscribers per room, and the registry of open sockets.
//!
//! Each room has one `broadcast` channel: a frame is stored once in the ring and every socket
//! reads it from there, so memory per room is bounded by `ws_queue` frames whatever the number
//! of sockets, and a socket that falls `ws_queue` frames behind sees `Lagged` (closed 4008)
//! instead of stalling the others. The hub decides nothing; it only carries frames.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{broadcast, oneshot};

use super::Frame;

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    rooms: Mutex<HashMap<i64, broadcast::Sender<Arc<Frame>>>>,
    sockets: Mutex<HashMap<u64, SocketEntry>>,
    next_id: AtomicU64,
    queue: usize,
}

/// What the registry knows of an open socket, to find it when it must be closed.
pub struct SocketEntry {
    pub room_id: i64,
    pub user_id: i64,
    pub session_id: Option<String>,
    close: oneshot::Sender<u16>,
}

/// A socket's place in the hub. Dropping it unsubscribes and unregisters.
pub struct Subscription {
    pub events: broadcast::Receiver<Arc<Frame>>,
    /// Fires with a close code when the server ends this socket (logout, leave, delete, stop).
    pub closed: oneshot::Receiver<u16>,
    id: u64,
    room_id: i64,
    hub: Hub,
}

/// A poisoned lock only means another thread panicked mid-update of a map of channels;
/// the map itself is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    pub fn new(queue: usize) -> Hub {
        Hub {
            inner: Arc::new(Inner {
                rooms: Mutex::new(HashMap::new()),
                sockets: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                queue,
            }),
        }
    }

    pub fn subscribe(
        &self,
        room_id: i64,
        user_id: i64,
        session_id: Option<String>,
    ) -> Subscription {
        let events = lock(&self.inner.rooms)
            .entry(room_id)
            .or_insert_with(|| broadcast::channel(self.inner.queue).0)
            .subscribe();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("roomcast_sockets_open").increment(1.0);
        let (close, closed) = oneshot::channel();
        lock(&self.inner.sockets).insert(
            id,
            SocketEntry {
                room_id,
                user_id,
                session_id,
                close,
            },
        );
        Subscription {
            events,
            closed,
            id,
            room_id,
            hub: self.clone(),
        }
    }

    /// Hands a committed frame to the room's sockets (if any).
    pub fn publish(&self, frame: Frame) {
        if let Some(tx) = lock(&self.inner.rooms).get(&frame.room_id) {
            // An error only means nobody listens right now.
            let _ = tx.send(Arc::new(frame));
        }
    }

    /// Closes every socket matching `pred` with `code`; returns how many.
    pub fn close_where(&self, code: u16, pred: impl Fn(&SocketEntry) -> bool) -> usize {
        let mut sockets = lock(&self.inner.sockets);
        let ids: Vec<u64> = sockets
            .iter()
            .filter(|(_, e)| pred(e))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            if let Some(entry) = sockets.remove(id) {
                let _ = entry.close.send(code);
            }
        }
        ids.len()
    }

    pub fn open_sockets(&self) -> usize {
        lock(&self.inner.sockets).len()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        metrics::gauge!("roomcast_sockets_open").decrement(1.0);
        lock(&self.hub.inner.sockets).remove(&self.id);
        let mut rooms = lock(&self.hub.inner.rooms);
        // Our own receiver still counts; if it is the last one, the room's channel goes.
        if rooms
            .get(&self.room_id)
            .is_some_and(|tx| tx.receiver_count() <= 1)
        {
            rooms.remove(&self.room_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(room: i64, seq: i64) -> Frame {
        Frame {
            room_id: room,
            seq,
            sent_at: None,
            terminal: false,
            json: format!("{seq}").into(),
        }
    }

    #[tokio::test]
    async fn frames_reach_only_their_room_and_lag_is_bounded() {
        let hub = Hub::new(2);
        let mut a = hub.subscribe(1, 10, None);
        let mut b = hub.subscribe(2, 10, None);
        hub.publish(frame(1, 1));
        assert_eq!(a.events.recv().await.expect("frame").seq, 1);
        assert!(b.events.try_recv().is_err());
        for s in 2..=5 {
            hub.publish(frame(1, s));
        }
        assert!(matches!(
            a.events.recv().await,
            Err(broadcast::error::RecvError::Lagged(2))
        ));
    }

    #[tokio::test]
    async fn close_where_signals_and_drop_cleans_up() {
        let hub = Hub::new(8);
        let mut s1 = hub.subscribe(1, 10, Some("x".into()));
        let s2 = hub.subscribe(1, 11, Some("y".into()));
        assert_eq!(
            hub.close_where(4001, |e| e.session_id.as_deref() == Some("x")),
            1
        );
        assert_eq!((&mut s1.closed).await.expect("code"), 4001);
        assert_eq!(hub.open_sockets(), 1);
        drop(s2);
        assert_eq!(hub.open_sockets(), 0);
        // s1 was unregistered but still holds its receiver; the room's channel goes with it.
        assert!(!lock(&hub.inner.rooms).is_empty());
        drop(s1);
        assert!(lock(&hub.inner.rooms).is_empty());
    }
}
