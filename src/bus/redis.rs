//! The Redis transport: pub/sub on one RESP3 connection (`ConnectionManager`, which
//! reconnects by itself), a channel per room plus one for controls.
//!
//! Four small tasks share the connection:
//! - the publisher drains queued messages into one pipeline per wake-up;
//! - the subscriber keeps the set of watched rooms and (re)subscribes them, in order;
//! - the listener decodes what arrives and reports disconnects at once;
//! - the monitor pings; when the bus answers again after being down, it has the subscriber
//!   subscribe everything again and only then reports `Heard::Up`, so the repair that follows
//!   misses nothing published before the subscriptions were back.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind};
use tokio::sync::{mpsc, oneshot};

use super::codec::{
    decode, encode_activity, encode_control, encode_ephemeral, encode_event, encode_presence,
    encode_user,
};
use super::{Control, Heard, PresenceMsg, RoomEphemeral, RoomEvent, Transport, UserNote};
use crate::config::Config;
use crate::ids::{RoomId, Seq};

const CONTROL_CHANNEL: &str = "roomcast:control";
/// Messages waiting for the publisher; past this the bus drops them (receivers repair).
const PUBLISH_QUEUE: usize = 65_536;
/// Messages per pipeline.
const PUBLISH_BATCH: usize = 512;
/// How long a short-lived process (the admin CLI) waits for its messages to leave.
const FLUSH_WITHIN: Duration = Duration::from_secs(3);
/// How long one Redis command may take before the bus counts as down.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(1000);

fn room_channel(room: RoomId) -> String {
    format!("roomcast:room:{}", room.0)
}

enum SubCmd {
    Watch(RoomId, oneshot::Sender<()>),
    Unwatch(RoomId),
    /// Subscribe every watched room (and the controls) again, then answer.
    Resubscribe(oneshot::Sender<bool>),
}

/// What waits for the publisher.
enum Outgoing {
    Message(String, Vec<u8>),
    /// Answered once everything queued before it was handed to Redis (or failed).
    Flush(oneshot::Sender<()>),
}

pub struct RedisBus {
    origin: u64,
    publish: mpsc::Sender<Outgoing>,
    subs: mpsc::UnboundedSender<SubCmd>,
}

impl RedisBus {
    /// Spawns the bus's tasks on the current runtime; the connection is made by the monitor.
    pub fn start(
        config: &Config,
        heard: mpsc::UnboundedSender<Heard>,
        up: Arc<AtomicBool>,
    ) -> Result<RedisBus, String> {
        let bad = |e: redis::RedisError| format!("invalid configuration: bus_url: {e}");
        let info = config
            .bus_url
            .as_str()
            .into_connection_info()
            .map_err(bad)?;
        // RESP3: pub/sub messages arrive as pushes on the same multiplexed connection.
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings)).map_err(bad)?;
        let (push_tx, push_rx) = mpsc::unbounded_channel::<PushInfo>();
        let manager_config = ConnectionManagerConfig::new()
            .set_push_sender(push_tx)
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            // The monitor keeps trying; the manager need not retry for long by itself.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client, manager_config).map_err(bad)?;
        let origin = rand::random::<u64>();
        let (publish, queued) = mpsc::channel(PUBLISH_QUEUE);
        let (subs, sub_cmds) = mpsc::unbounded_channel();
        // Counts disconnects, so the monitor can tell one that happened while it resubscribed,
        // and the subscriber whether the connection it subscribed on is still the one.
        let drops = Arc::new(AtomicU64::new(0));
        tokio::spawn(publisher(conn.clone(), queued));
        tokio::spawn(subscriber(conn.clone(), sub_cmds, drops.clone()));
        tokio::spawn(listener(
            push_rx,
            origin,
            heard.clone(),
            up.clone(),
            drops.clone(),
        ));
        tokio::spawn(monitor(
            conn,
            subs.clone(),
            heard,
            Link { up, drops },
            // A PING is cheap; a short period makes a Redis that is back heard within it.
            Duration::from_millis(config.bus_check_ms.clamp(20, 100)),
        ));
        Ok(RedisBus {
            origin,
            publish,
            subs,
        })
    }

    fn enqueue(&self, channel: String, payload: Vec<u8>) {
        if self
            .publish
            .try_send(Outgoing::Message(channel, payload))
            .is_err()
        {
            metrics::counter!("roomcast_bus_publish_dropped_total").increment(1);
        }
    }
}

impl Transport for RedisBus {
    fn publish_event(&self, event: &RoomEvent) {
        self.enqueue(room_channel(event.room), encode_event(self.origin, event));
    }

    fn publish_control(&self, control: &Control) {
        match encode_control(self.origin, control) {
            Ok(payload) => self.enqueue(CONTROL_CHANNEL.into(), payload),
            Err(e) => tracing::error!(error = %e, "control message not published"),
        }
    }

    fn publish_ephemeral(&self, e: &RoomEphemeral) {
        self.enqueue(room_channel(e.room), encode_ephemeral(self.origin, e));
    }

    fn publish_presence(&self, msg: &PresenceMsg) {
        match encode_presence(self.origin, msg) {
            Ok(payload) => self.enqueue(CONTROL_CHANNEL.into(), payload),
            Err(e) => tracing::error!(error = %e, "presence message not published"),
        }
    }

    fn origin(&self) -> u64 {
        self.origin
    }

    fn publish_activity(&self, room: RoomId, seq: Seq) {
        self.enqueue(
            CONTROL_CHANNEL.into(),
            encode_activity(self.origin, room, seq),
        );
    }

    fn publish_user(&self, note: &UserNote) {
        self.enqueue(CONTROL_CHANNEL.into(), encode_user(self.origin, note));
    }

    fn watch(&self, room: RoomId) -> BoxFuture<'static, ()> {
        let (done, wait) = oneshot::channel();
        // Only fails if the subscriber task is gone, and then there is nothing to wait for.
        let _ = self.subs.send(SubCmd::Watch(room, done));
        Box::pin(async move {
            let _ = tokio::time::timeout(COMMAND_TIMEOUT, wait).await;
        })
    }

    fn unwatch(&self, room: RoomId) {
        let _ = self.subs.send(SubCmd::Unwatch(room));
    }

    fn flush(&self) -> BoxFuture<'static, ()> {
        let (done, wait) = oneshot::channel();
        let publish = self.publish.clone();
        Box::pin(async move {
            let flushed = async {
                if publish.send(Outgoing::Flush(done)).await.is_ok() {
                    let _ = wait.await;
                }
            };
            let _ = tokio::time::timeout(FLUSH_WITHIN, flushed).await;
        })
    }
}

async fn publisher(mut conn: ConnectionManager, mut queued: mpsc::Receiver<Outgoing>) {
    let published = metrics::counter!("roomcast_bus_published_total");
    let failed = metrics::counter!("roomcast_bus_publish_dropped_total");
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut flushes = Vec::new();
    while queued.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let mut pipe = redis::pipe();
        for item in batch.drain(..) {
            match item {
                Outgoing::Message(channel, payload) => {
                    pipe.publish(channel, payload).ignore();
                }
                Outgoing::Flush(done) => flushes.push(done),
            }
        }
        let n = u64::try_from(pipe.len()).unwrap_or(u64::MAX);
        if n > 0 {
            match pipe.exec_async(&mut conn).await {
                Ok(()) => published.increment(n),
                Err(e) => {
                    // Lost: the receivers repair from the database.
                    failed.increment(n);
                    tracing::debug!(error = %e, messages = n, "bus publish failed");
                }
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Keeps the set of watched rooms, and Redis's subscriptions in step with it while the
/// connection they were made on lives. While it does not (the bus is down), a watch is only
/// recorded, at once: the resubscription when the bus is back covers it, so sockets that open
/// during an outage do not queue behind Redis's timeouts.
async fn subscriber(
    mut conn: ConnectionManager,
    mut cmds: mpsc::UnboundedReceiver<SubCmd>,
    drops: Arc<AtomicU64>,
) {
    let mut watched: HashSet<RoomId> = HashSet::new();
    // The disconnect count when everything was last subscribed: the connection since then.
    let mut live: Option<u64> = None;
    while let Some(cmd) = cmds.recv().await {
        let connected = live == Some(drops.load(Ordering::SeqCst));
        match cmd {
            SubCmd::Watch(room, done) => {
                if watched.insert(room) && connected {
                    if let Err(e) = conn.subscribe(room_channel(room)).await {
                        // The monitor notices the bus is down and resubscribes everything.
                        tracing::debug!(error = %e, room = room.0, "bus subscribe failed");
                        live = None;
                    }
                }
                let _ = done.send(());
            }
            SubCmd::Unwatch(room) => {
                if watched.remove(&room) && connected {
                    if let Err(e) = conn.unsubscribe(room_channel(room)).await {
                        tracing::debug!(error = %e, room = room.0, "bus unsubscribe failed");
                        live = None;
                    }
                }
            }
            SubCmd::Resubscribe(done) => {
                let at = drops.load(Ordering::SeqCst);
                let mut channels: Vec<String> = watched.iter().map(|r| room_channel(*r)).collect();
                channels.push(CONTROL_CHANNEL.into());
                let mut ok = true;
                for chunk in channels.chunks(1000) {
                    if let Err(e) = conn.subscribe(chunk).await {
                        tracing::debug!(error = %e, "bus resubscribe failed");
                        ok = false;
                        break;
                    }
                }
                live = ok.then_some(at);
                let _ = done.send(ok);
            }
        }
    }
}

async fn listener(
    mut pushes: mpsc::UnboundedReceiver<PushInfo>,
    origin: u64,
    heard: mpsc::UnboundedSender<Heard>,
    up: Arc<AtomicBool>,
    drops: Arc<AtomicU64>,
) {
    let received = metrics::counter!("roomcast_bus_received_total");
    let malformed = metrics::counter!("roomcast_bus_malformed_total");
    while let Some(push) = pushes.recv().await {
        match push.kind {
            PushKind::Disconnection => {
                drops.fetch_add(1, Ordering::SeqCst);
                if up.swap(false, Ordering::SeqCst) {
                    went_down(&heard, "the connection to the bus dropped");
                }
            }
            PushKind::Message => {
                let Some(msg) = redis::Msg::from_push_info(push) else {
                    malformed.increment(1);
                    continue;
                };
                received.increment(1);
                match decode(msg.get_payload_bytes(), origin) {
                    Ok(Some(what)) => {
                        if heard.send(what).is_err() {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        malformed.increment(1);
                        tracing::warn!(error = %e, channel = msg.get_channel_name(), "bus message dropped");
                    }
                }
            }
            _ => {}
        }
    }
}

fn went_down(heard: &mpsc::UnboundedSender<Heard>, why: &str) {
    metrics::gauge!("roomcast_bus_up").set(0.0);
    tracing::warn!("bus down: {why}; rooms will be repaired from the database when it is back");
    let _ = heard.send(Heard::Down);
}

/// The bus's state as the listener and the monitor share it.
struct Link {
    up: Arc<AtomicBool>,
    drops: Arc<AtomicU64>,
}

async fn monitor(
    mut conn: ConnectionManager,
    subs: mpsc::UnboundedSender<SubCmd>,
    heard: mpsc::UnboundedSender<Heard>,
    link: Link,
    every: Duration,
) {
    let Link { up, drops } = link;
    metrics::gauge!("roomcast_bus_up").set(0.0);
    let mut ever_up = false;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let alive = matches!(
            tokio::time::timeout(
                COMMAND_TIMEOUT,
                redis::cmd("PING").query_async::<String>(&mut conn)
            )
            .await,
            Ok(Ok(_))
        );
        if !alive {
            if up.swap(false, Ordering::SeqCst) {
                went_down(&heard, "it does not answer PING");
            }
            continue;
        }
        if up.load(Ordering::SeqCst) {
            continue;
        }
        let before = drops.load(Ordering::SeqCst);
        let (done, resubscribed) = oneshot::channel();
        if subs.send(SubCmd::Resubscribe(done)).is_err() {
            return;
        }
        if !matches!(resubscribed.await, Ok(true)) || drops.load(Ordering::SeqCst) != before {
            continue;
        }
        up.store(true, Ordering::SeqCst);
        // A drop between the check and the store found `up` still false and said nothing.
        if drops.load(Ordering::SeqCst) != before {
            up.store(false, Ordering::SeqCst);
            continue;
        }
        metrics::gauge!("roomcast_bus_up").set(1.0);
        if ever_up {
            metrics::counter!("roomcast_bus_reconnects_total").increment(1);
            tracing::info!("bus back: repairing every room from the database");
        } else {
            tracing::info!("bus connected");
        }
        ever_up = true;
        if heard.send(Heard::Up).is_err() {
            return;
        }
    }
}
