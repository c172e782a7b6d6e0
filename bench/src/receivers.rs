//! Many WebSocket receivers in one room, each checking its own stream: seqs contiguous, every
//! bench message exactly once, and how long each took from the start of its send.
//!
//! A socket closed with 4008 (too slow) or dropped reconnects with `after=<last seq>`, as the
//! README tells clients to; the checks span reconnects.
//!
//! With several instances, the sockets are spread over them, and each latency is counted as
//! same-instance (the message was sent to the receiver's instance) or cross-instance (it came
//! through the bus).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::{stream, StreamExt};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Connector, User, Ws};
use crate::probe;
use crate::stats::{Latency, Tally};

/// Reconnects one receiver may make before it gives up.
const MAX_RECONNECTS: u32 = 5;

/// A set of message numbers `k` (which messages a receiver saw, or which sends got 201).
pub struct Bits(Vec<AtomicU64>);

impl Bits {
    pub fn new(n: u64) -> Bits {
        Bits((0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect())
    }

    /// Sets bit `k`; false if it was already set (or is out of range).
    pub fn insert(&self, k: u64) -> bool {
        let Some(word) = usize::try_from(k / 64).ok().and_then(|i| self.0.get(i)) else {
            return false;
        };
        let bit = 1u64 << (k % 64);
        word.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    pub fn contains(&self, k: u64) -> bool {
        let Some(word) = usize::try_from(k / 64).ok().and_then(|i| self.0.get(i)) else {
            return false;
        };
        word.load(Ordering::Relaxed) & (1u64 << (k % 64)) != 0
    }

    pub fn len(&self) -> u64 {
        self.0
            .iter()
            .map(|w| u64::from(w.load(Ordering::Relaxed).count_ones()))
            .sum()
    }

    /// (in self but not in other, in other but not in self).
    pub fn diff(&self, other: &Bits) -> (u64, u64) {
        let mut only_self = 0;
        let mut only_other = 0;
        for i in 0..self.0.len().max(other.0.len()) {
            let a = self.0.get(i).map_or(0, |w| w.load(Ordering::Relaxed));
            let b = other.0.get(i).map_or(0, |w| w.load(Ordering::Relaxed));
            only_self += u64::from((a & !b).count_ones());
            only_other += u64::from((b & !a).count_ones());
        }
        (only_self, only_other)
    }
}

/// Where the receivers listen.
pub struct Plan {
    pub room: i64,
    /// The room's last seq before the bench's messages; every socket starts after it.
    pub after: i64,
    /// Sockets are spread over these accounts.
    pub users: Vec<User>,
    pub sockets: usize,
    /// Message numbers run from 0 to this (exclusive).
    pub max_k: u64,
    pub connect_concurrency: usize,
    /// The instances the sockets are spread over, in turn: (instance number, its connector).
    pub on: Vec<(usize, Arc<Connector>)>,
    /// Message `k` is sent to instance `k % sends_over` (1: all to instance 0).
    pub sends_over: usize,
    /// Keep each message's arrival time per receiver (`Seen::arrivals`).
    pub record_arrivals: bool,
}

impl Plan {
    /// Every socket on the one instance `connector` reaches, every message sent there.
    pub fn on_one(connector: Arc<Connector>) -> Vec<(usize, Arc<Connector>)> {
        vec![(0, connector)]
    }
}

/// What one receiver saw.
pub struct Seen {
    pub seen: Bits,
    /// Bench messages received for the first time.
    pub distinct: u64,
    /// Events whose seq was not above the last one (a duplicate or a reordering).
    pub stale_seqs: u64,
    /// Seqs skipped (a jump of 3 counts 2).
    pub seq_gaps: u64,
    /// Bench messages received again under a new seq.
    pub dup_messages: u64,
    /// message.created events that are not this run's (or unreadable).
    pub foreign: u64,
    /// Events other than message.created.
    pub other_events: u64,
    pub reconnects: u32,
    pub closes: Tally,
    pub error: Option<String>,
    /// Send start to receive, µs, one per distinct message sent to this receiver's instance.
    pub latencies: Vec<u32>,
    /// The same for messages sent to another instance (they came through the bus).
    pub cross_latencies: Vec<u32>,
    /// With `Plan::record_arrivals`: when message `k` arrived (µs on the probe clock; 0:
    /// never). Empty otherwise.
    pub arrivals: Vec<u64>,
    pub last_new_at: Option<Instant>,
}

pub struct Receivers {
    handles: Vec<JoinHandle<Seen>>,
    progress: Vec<Arc<AtomicU64>>,
    stop: watch::Sender<bool>,
    pub open_failures: Tally,
    pub open_seconds: f64,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    seq: i64,
    #[serde(borrow)]
    data: Option<Data<'a>>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
}

struct Ctx {
    room: i64,
    max_k: u64,
    sends_over: usize,
    record_arrivals: bool,
}

/// Where one receiver listens.
struct Home {
    instance: usize,
    connector: Arc<Connector>,
}

impl Receivers {
    /// Opens `plan.sockets` sockets (a few handshakes at a time) and starts reading them.
    pub async fn open(plan: &Plan) -> Result<Receivers> {
        let (stop, stop_rx) = watch::channel(false);
        let ctx = Arc::new(Ctx {
            room: plan.room,
            max_k: plan.max_k,
            sends_over: plan.sends_over.max(1),
            record_arrivals: plan.record_arrivals,
        });
        let started = Instant::now();
        let opened: Vec<Result<(User, Home, Ws)>> = stream::iter(0..plan.sockets)
            .map(|i| {
                let home = client::round_robin(&plan.on, i).map(|(instance, connector)| Home {
                    instance: *instance,
                    connector: connector.clone(),
                });
                let user = client::round_robin(&plan.users, i).cloned();
                let (room, after) = (plan.room, plan.after);
                async move {
                    let user = user.context("no users to open sockets as")?;
                    let home = home.context("no instance to open sockets on")?;
                    let ws = home.connector.open(&user, room, after).await?;
                    Ok((user, home, ws))
                }
            })
            .buffer_unordered(plan.connect_concurrency.max(1))
            .collect()
            .await;
        let open_seconds = started.elapsed().as_secs_f64();
        let mut receivers = Receivers {
            handles: Vec::with_capacity(plan.sockets),
            progress: Vec::with_capacity(plan.sockets),
            stop,
            open_failures: Tally::default(),
            open_seconds,
        };
        for opened in opened {
            match opened {
                Ok((user, home, ws)) => {
                    let progress = Arc::new(AtomicU64::new(0));
                    receivers.progress.push(progress.clone());
                    let task = receive(
                        ws,
                        ctx.clone(),
                        (user, home),
                        plan.after,
                        progress,
                        stop_rx.clone(),
                    );
                    receivers.handles.push(tokio::spawn(task));
                }
                Err(e) => receivers.open_failures.add(format!("{e:#}")),
            }
        }
        Ok(receivers)
    }

    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Waits until every receiver has `want` distinct messages, or `until`. Returns whether
    /// they all got there.
    pub async fn wait_for(&self, want: impl Fn() -> u64, until: Instant) -> bool {
        loop {
            let want = want();
            if self
                .progress
                .iter()
                .all(|p| p.load(Ordering::Relaxed) >= want)
            {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Receivers that have fewer than `want` messages so far.
    pub fn behind(&self, want: u64) -> usize {
        self.progress
            .iter()
            .filter(|p| p.load(Ordering::Relaxed) < want)
            .count()
    }

    /// Keeps reading for `linger` (a late duplicate would show), then stops every receiver,
    /// drops its socket and returns what each saw.
    pub async fn finish(self, linger: Duration) -> Vec<Seen> {
        tokio::time::sleep(linger).await;
        let _ = self.stop.send(true);
        let mut all = Vec::with_capacity(self.handles.len());
        for h in self.handles {
            match h.await {
                Ok(seen) => all.push(seen),
                Err(e) => {
                    let mut seen = Seen::empty(0, false);
                    seen.error = Some(format!("receiver task failed: {e}"));
                    all.push(seen);
                }
            }
        }
        all
    }
}

impl Seen {
    fn empty(max_k: u64, record_arrivals: bool) -> Seen {
        Seen {
            seen: Bits::new(max_k),
            distinct: 0,
            stale_seqs: 0,
            seq_gaps: 0,
            dup_messages: 0,
            foreign: 0,
            other_events: 0,
            reconnects: 0,
            closes: Tally::default(),
            error: None,
            // A hint only: none if `max_k` does not fit (a 32-bit target).
            latencies: Vec::with_capacity(usize::try_from(max_k).unwrap_or(0)),
            cross_latencies: Vec::new(),
            arrivals: if record_arrivals {
                vec![0; usize::try_from(max_k).unwrap_or(0)]
            } else {
                Vec::new()
            },
            last_new_at: None,
        }
    }

    fn on_text(
        &mut self,
        text: &str,
        last: &mut i64,
        (ctx, home): (&Ctx, usize),
        progress: &AtomicU64,
    ) {
        let now = probe::now_micros();
        let Ok(event) = serde_json::from_str::<Event>(text) else {
            self.foreign += 1;
            return;
        };
        if event.seq <= *last {
            self.stale_seqs += 1;
            return;
        }
        if event.seq > *last + 1 {
            // Positive: `event.seq > *last + 1` here.
            self.seq_gaps += u64::try_from(event.seq - *last - 1).unwrap_or(0);
        }
        *last = event.seq;
        if event.kind != "message.created" {
            self.other_events += 1;
            return;
        }
        let decoded = event
            .data
            .and_then(|d| d.content)
            .and_then(|c| probe::decode(&c));
        match decoded {
            Some((k, sent)) if k < ctx.max_k => {
                if self.seen.insert(k) {
                    self.distinct += 1;
                    progress.store(self.distinct, Ordering::Relaxed);
                    let micros = u32::try_from(now.saturating_sub(sent)).unwrap_or(u32::MAX);
                    let sent_to = k % crate::num::count(ctx.sends_over);
                    if sent_to == crate::num::count(home) {
                        self.latencies.push(micros);
                    } else {
                        self.cross_latencies.push(micros);
                    }
                    if let Some(at) = usize::try_from(k)
                        .ok()
                        .and_then(|k| self.arrivals.get_mut(k))
                    {
                        *at = now;
                    }
                    self.last_new_at = Some(Instant::now());
                } else {
                    self.dup_messages += 1;
                }
            }
            _ => self.foreign += 1,
        }
    }
}

/// Reads one socket until told to stop; reconnects after a 4008 or a dropped connection.
async fn receive(
    mut ws: Ws,
    ctx: Arc<Ctx>,
    (user, home): (User, Home),
    after: i64,
    progress: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Seen {
    let mut seen = Seen::empty(ctx.max_k, ctx.record_arrivals);
    let mut last = after;
    loop {
        let ended: Option<u16> = tokio::select! {
            biased;
            _ = stop.changed() => return seen,
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    seen.on_text(text.as_str(), &mut last, (&ctx, home.instance), &progress);
                    continue;
                }
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                    seen.closes.add(code.to_string());
                    Some(code)
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    seen.closes.add(format!("error: {e}"));
                    None
                }
                None => {
                    seen.closes.add("eof");
                    None
                }
            }
        };
        // 4008 (too slow) and a dropped connection call for a resume; any other close is final.
        let resumable = matches!(ended, None | Some(4008) | Some(1006));
        if !resumable || seen.reconnects >= MAX_RECONNECTS {
            seen.error = Some(format!(
                "socket ended (close {}) after {} reconnect(s)",
                ended.map_or("none".into(), |c| c.to_string()),
                seen.reconnects
            ));
            // Wait for the stop signal so the coordinator decides when the run ends.
            let _ = stop.changed().await;
            return seen;
        }
        seen.reconnects += 1;
        match home.connector.open(&user, ctx.room, last).await {
            Ok(fresh) => ws = fresh,
            Err(e) => {
                seen.error = Some(format!("reconnect failed: {e:#}"));
                let _ = stop.changed().await;
                return seen;
            }
        }
    }
}

/// Totals over all receivers, checked against the messages that got 201.
pub struct Verdict {
    pub receivers: usize,
    pub deliveries: u64,
    /// (receiver, acked message) pairs never delivered.
    pub missing: u64,
    /// Messages delivered that the sender never saw a 201 for (legitimate after a send error).
    pub unacked_delivered: u64,
    pub dup_messages: u64,
    pub stale_seqs: u64,
    pub seq_gaps: u64,
    pub foreign: u64,
    pub other_events: u64,
    pub reconnects: u64,
    pub receivers_with_errors: usize,
    pub first_error: Option<String>,
    pub closes: Tally,
    /// Every delivery.
    pub latency: Latency,
    /// Deliveries on the instance the message was sent to, and on another (several instances).
    pub latency_same: Latency,
    pub latency_cross: Latency,
    pub last_delivery: Option<Instant>,
}

pub fn verdict(all: &[Seen], acked: &Bits) -> Verdict {
    let mut v = Verdict {
        receivers: all.len(),
        deliveries: 0,
        missing: 0,
        unacked_delivered: 0,
        dup_messages: 0,
        stale_seqs: 0,
        seq_gaps: 0,
        foreign: 0,
        other_events: 0,
        reconnects: 0,
        receivers_with_errors: 0,
        first_error: None,
        closes: Tally::default(),
        latency: Latency::new(),
        latency_same: Latency::new(),
        latency_cross: Latency::new(),
        last_delivery: None,
    };
    for s in all {
        let (unacked, missing) = s.seen.diff(acked);
        v.deliveries += s.distinct;
        v.missing += missing;
        v.unacked_delivered += unacked;
        v.dup_messages += s.dup_messages;
        v.stale_seqs += s.stale_seqs;
        v.seq_gaps += s.seq_gaps;
        v.foreign += s.foreign;
        v.other_events += s.other_events;
        v.reconnects += u64::from(s.reconnects);
        v.closes.merge(&s.closes);
        if let Some(e) = &s.error {
            v.receivers_with_errors += 1;
            if v.first_error.is_none() {
                v.first_error = Some(e.clone());
            }
        }
        for &us in &s.latencies {
            v.latency.record(u64::from(us));
            v.latency_same.record(u64::from(us));
        }
        for &us in &s.cross_latencies {
            v.latency.record(u64::from(us));
            v.latency_cross.record(u64::from(us));
        }
        v.last_delivery = v.last_delivery.max(s.last_new_at);
    }
    v
}

/// How the receivers stood when a run stopped waiting for them.
pub struct Arrival {
    pub all_in: bool,
    /// Receivers still missing messages.
    pub behind: usize,
    pub wait_seconds: f64,
}

impl Verdict {
    /// The closing checks of a run that sends to receivers: everyone got everything in time,
    /// the delivery checks, nothing delivered whose send was not acknowledged; then the
    /// errors met on the way, into the cell.
    pub fn conclude(
        &self,
        cell: &mut crate::report::Cell,
        wanted_receivers: usize,
        arrival: Arrival,
        open_failures: &crate::stats::Tally,
        errors: &crate::stats::Tally,
    ) {
        cell.check(arrival.all_in, || {
            format!(
                "{} receivers still lacked messages {:.0} s after the last send",
                arrival.behind, arrival.wait_seconds
            )
        });
        self.checks(cell, wanted_receivers);
        cell.check(self.unacked_delivered == 0, || {
            format!(
                "{} deliveries of messages whose send did not get 201",
                self.unacked_delivered
            )
        });
        for (what, n) in &open_failures.0 {
            cell.errors.add_n(format!("open: {what}"), *n);
        }
        cell.errors.merge(errors);
    }

    /// The delivery checks, as cell failures.
    pub fn checks(&self, cell: &mut crate::report::Cell, wanted_receivers: usize) {
        cell.check(self.receivers == wanted_receivers, || {
            format!(
                "{} of {wanted_receivers} receivers connected",
                self.receivers
            )
        });
        cell.check(self.missing == 0, || {
            format!("{} acknowledged deliveries MISSING", self.missing)
        });
        cell.check(self.dup_messages == 0, || {
            format!(
                "{} messages delivered TWICE (under new seqs)",
                self.dup_messages
            )
        });
        cell.check(self.stale_seqs == 0, || {
            format!("{} events with a repeated or backward seq", self.stale_seqs)
        });
        cell.check(self.seq_gaps == 0, || {
            format!("{} seqs skipped in the streams", self.seq_gaps)
        });
        cell.check(self.foreign == 0 && self.other_events == 0, || {
            format!(
                "{} unreadable/foreign messages and {} other events in the streams",
                self.foreign, self.other_events
            )
        });
        cell.check(self.receivers_with_errors == 0, || {
            format!(
                "{} receivers ended early, e.g.: {}",
                self.receivers_with_errors,
                self.first_error.clone().unwrap_or_default()
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_diff() {
        let a = Bits::new(200);
        let b = Bits::new(200);
        assert!(a.insert(3));
        assert!(!a.insert(3));
        assert!(a.contains(3) && !a.contains(4) && !a.contains(10_000));
        assert!(a.insert(150));
        assert!(b.insert(3));
        assert!(b.insert(7));
        assert_eq!(a.len(), 2);
        assert_eq!(a.diff(&b), (1, 1));
        assert!(!a.insert(10_000));
    }
}
