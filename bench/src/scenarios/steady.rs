//! Open-loop sending at a steady rate (on a fixed schedule, whatever the answers take), shared
//! by `latency` and `bus-recovery`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::Semaphore;
use tokio::time::sleep_until;

use crate::client::{self, Answer, Api, User};
use crate::num;
use crate::probe;
use crate::receivers::Bits;
use crate::stats::{Latency, Tally};

/// What to send, where, how fast.
pub struct Schedule<'a> {
    /// Message `k` goes to `apis[k % len]` (one instance each).
    pub apis: &'a [Api],
    /// Sends rotate over these accounts.
    pub senders: &'a [User],
    pub room: i64,
    /// Messages 0 to `total` (exclusive).
    pub total: u64,
    pub rate: f64,
    pub max_in_flight: usize,
    pub content_bytes: usize,
    /// Idempotency keys are this and the message number.
    pub key_prefix: &'a str,
    /// When message 0 is due.
    pub start: Instant,
}

/// How the sending went.
pub struct Sent {
    /// The messages that got 201.
    pub acked: Arc<Bits>,
    /// When each message's send started (µs on the probe clock; 0: skipped).
    pub started_at: Vec<u64>,
    pub send_latency: Latency,
    pub errors: Tally,
    pub skipped: u64,
    /// The most a send started after its due time.
    pub worst_lag: Duration,
    /// From the first due time to the last answer.
    pub seconds: f64,
}

pub async fn send(s: Schedule<'_>) -> Result<Sent> {
    let acked = Arc::new(Bits::new(s.total));
    let slots = Arc::new(Semaphore::new(s.max_in_flight.max(1)));
    let interval = Duration::from_secs_f64(1.0 / s.rate.max(0.1));
    let mut skipped = 0u64;
    let mut worst_lag = Duration::ZERO;
    // A hint only: none if `total` does not fit (a 32-bit target).
    let mut tasks = Vec::with_capacity(usize::try_from(s.total).unwrap_or(0));
    for (i, k) in (0..s.total).enumerate() {
        let at = s.start + interval.mul_f64(num::float(k));
        sleep_until(at.into()).await;
        worst_lag = worst_lag.max(Instant::now().saturating_duration_since(at));
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let api = client::round_robin(s.apis, i)
            .cloned()
            .context("no instance to send to")?;
        let user = client::round_robin(s.senders, i)
            .cloned()
            .context("no senders")?;
        let (room, bytes, key) = (s.room, s.content_bytes, format!("{}{k}", s.key_prefix));
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let started = probe::micros_of(t0);
            let content = probe::encode(k, started, bytes);
            let answer = api.send(&user, room, content, &key).await;
            drop(slot);
            (k, started, t0.elapsed(), answer)
        }));
    }
    let mut started_at = vec![0; usize::try_from(s.total).unwrap_or(0)];
    let mut send_latency = Latency::new();
    let mut errors = Tally::default();
    for t in tasks {
        let (k, started, took, answer) = t.await.context("a send task failed")?;
        if let Some(at) = usize::try_from(k).ok().and_then(|k| started_at.get_mut(k)) {
            *at = started;
        }
        match answer {
            Ok(Answer::Ok) => {
                acked.insert(k);
                send_latency.record(num::micros(took));
            }
            Ok(other) => errors.add(other.label()),
            Err(e) => errors.add(format!("transport: {e:#}")),
        }
    }
    Ok(Sent {
        acked,
        started_at,
        send_latency,
        errors,
        skipped,
        worst_lag,
        seconds: s.start.elapsed().as_secs_f64(),
    })
}
