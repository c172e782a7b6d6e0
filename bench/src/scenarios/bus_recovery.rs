//! `bus-recovery`: the instances' bus goes away and comes back. Receivers on the second
//! instance, a steady sender on the first (so every delivery crosses the bus); mid-run the
//! bench's Redis is killed (SIGKILL) while the sends go on, and started again (empty) a few
//! seconds later.
//!
//! Measured, on the probe clock (send start and arrival, both in this process):
//! - `recovery_ms`: from Redis accepting connections again until every receiver holds every message
//!   whose send started before that (the last gap repaired); 0 if they all had them already.
//! - `bus_live_ms`: from Redis accepting connections again until the first message from which on every
//!   delivery is fast again (within 4× the p99 before the outage, at least 100 ms): the bus
//!   carrying messages again, rather than the instances' repair from the database.
//! - delivery latency of the messages sent before, during and after the outage.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use tokio::time::sleep_until;

use super::audience::{self, Placement};
use super::steady::{self, Schedule, Sent};
use super::Bench;
use crate::cli::BusRecoveryArgs;
use crate::client::run_prefix;
use crate::num;
use crate::probe;
use crate::procfs::{Pair, Procs};
use crate::receivers::{verdict, Arrival, Bits, Seen};
use crate::report::{Cell, Report};
use crate::stats::{round3, Latency};

const LINGER: Duration = Duration::from_millis(300);
/// A delivery slower than this (or 4× the p99 before the outage, if more) is not "live".
const LIVE_FLOOR_MICROS: u64 = 100_000;

pub async fn run(b: &Bench<'_>, a: &BusRecoveryArgs) -> Result<Report> {
    let Some(redis) = &b.target.redis else {
        bail!(
            "bus-recovery kills and restarts the instances' Redis, so the bench must start it: \
             --spawn ... --backend postgres --instances 2"
        );
    };
    let (Some(sending_node), Some(receiving_node)) = (b.nodes.first(), b.nodes.get(1)) else {
        bail!("bus-recovery needs two instances: --instances 2");
    };
    // Redis is left out: the one read at the start is killed mid-run.
    let procs = Procs {
        redis: None,
        ..b.target.procs()
    };
    let mut report = Report::new("bus-recovery").watch(procs.clone());
    let prefix = run_prefix("busrecovery");
    let rate = a.rate.max(0.1);
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
    let (before, down, after) = (
        secs(a.before_seconds),
        secs(a.down_seconds),
        secs(a.after_seconds),
    );
    let total = num::whole((rate * (before + down + after).as_secs_f64()).max(1.0));
    let key = format!(
        "receivers={} rate={rate} down={}s {}",
        a.receivers,
        down.as_secs_f64(),
        b.target.topology
    );
    println!(
        "bus-recovery {key}: registering {} accounts",
        1 + a.senders.max(1) + a.receiver_accounts.max(1)
    );
    let who = audience::accounts(b, &prefix, a.senders.max(1), a.receiver_accounts.max(1)).await?;
    println!(
        "bus-recovery {key}: opening {} receivers on instance 1; sending to instance 0",
        a.receivers
    );
    let placement = Placement {
        on: vec![(1, receiving_node.connector.clone())],
        sends_over: 1,
        record_arrivals: true,
    };
    let name = format!("{prefix} bus-recovery");
    let aud = audience::open(b, &who, &name, (a.receivers, total), placement).await?;

    let apis = [sending_node.api.clone()];
    let cpu_before = Pair::now(&procs);
    let start = Instant::now() + Duration::from_millis(50);
    let (kill_at, restart_at) = (start + before, start + before + down);
    let sending = steady::send(Schedule {
        apis: &apis,
        senders: &aud.senders,
        room: aud.room,
        total,
        rate,
        max_in_flight: a.max_in_flight,
        content_bytes: a.content_bytes,
        key_prefix: &prefix,
        start,
    });
    let outage = async {
        sleep_until(kill_at.into()).await;
        let down_at = probe::now_micros();
        redis.lock().await.kill().await;
        println!(
            "  {:.2} s: Redis killed (SIGKILL); sending goes on",
            start.elapsed().as_secs_f64()
        );
        sleep_until(restart_at.into()).await;
        let port = redis.lock().await.port;
        let restarting = probe::now_micros();
        // The moment it accepts connections, to a few ms (start_again polls PING every 50 ms).
        let accepting = tokio::spawn(first_accept(port));
        let restarted = redis.lock().await.start_again().await;
        let answered = probe::now_micros();
        let up_at = match accepting.await {
            Ok(Some(at)) => at.min(answered),
            _ => answered,
        };
        let restart_took = up_at.saturating_sub(restarting);
        println!(
            "  {:.2} s: Redis accepts connections again (empty), {:.0} ms after its start",
            start.elapsed().as_secs_f64(),
            num::float(restart_took) / 1000.0
        );
        (down_at, up_at, restart_took, restarted)
    };
    let (sent, (down_at, up_at, restart_took, restarted)) = tokio::join!(sending, outage);
    let sent = sent?;
    restarted.map_err(|e| anyhow!("Redis did not start again: {e}"))?;

    let cpu = Pair::now(&procs).cpu_since(&cpu_before);
    let acked = sent.acked.len();
    let until = Instant::now() + Duration::from_secs_f64(a.wait_seconds);
    let all_in = aud.receivers.wait_for(|| acked, until).await;
    let behind = aud.receivers.behind(acked);
    let open_failures = aud.receivers.open_failures.clone();
    let seen = aud.receivers.finish(LINGER).await;
    let v = verdict(&seen, &sent.acked);
    let r = recovery(&seen, &sent, down_at, up_at);
    drop(seen);

    let mut cell = Cell::new(&key);
    cell.set("receivers", v.receivers);
    cell.set("messages", acked);
    cell.set("deliveries", v.deliveries);
    cell.set("skipped_sends", sent.skipped);
    cell.set("reconnects", v.reconnects);
    cell.set(
        "redis_restart_ms",
        round3(num::float(restart_took) / 1000.0),
    );
    cell.set("recovery_ms", r.recovery.max());
    cell.set("recovery_p50_ms", r.recovery.p50());
    if let Some(live) = r.bus_live_micros {
        cell.set("bus_live_ms", round3(num::float(live) / 1000.0));
    }
    r.before.metrics("before_deliver", &mut cell.metrics);
    r.outage.metrics("outage_deliver", &mut cell.metrics);
    r.after.metrics("after_deliver", &mut cell.metrics);
    sent.send_latency.metrics("send", &mut cell.metrics);
    cpu.record(&mut cell, "");

    println!(
        "bus-recovery {key}: {acked} messages over {:.2} s to {} receivers ({} deliveries)",
        sent.seconds, v.receivers, v.deliveries
    );
    println!("  before the outage: {}", r.before.brief());
    println!("  sent while Redis was down: {}", r.outage.brief());
    println!("  sent after it was back: {}", r.after.brief());
    println!(
        "  Redis back -> every receiver has every message sent so far: max {:.0} ms, p50 {:.0} ms",
        r.recovery.max(),
        r.recovery.p50()
    );
    match r.bus_live_micros {
        Some(live) => println!(
            "  Redis back -> deliveries fast again (the bus): {:.0} ms",
            num::float(live) / 1000.0
        ),
        None => println!("  deliveries never became fast again after Redis was back"),
    }
    println!("  201 latency: {}", sent.send_latency.brief());
    println!("  CPU while sending: {}", cpu.line());
    if v.reconnects > 0 || !v.closes.is_empty() {
        println!("  closes seen: {} ({} reconnects)", v.closes, v.reconnects);
    }
    cell.check(sent.skipped == 0, || {
        format!(
            "{} scheduled sends skipped: {} were already in flight",
            sent.skipped, a.max_in_flight
        )
    });
    cell.check(r.incomplete == 0, || {
        format!(
            "{} receivers never got every message sent before Redis was back",
            r.incomplete
        )
    });
    cell.check(r.bus_live_micros.is_some(), || {
        format!(
            "deliveries were still slow at the end, {:.0} s after Redis was back: the bus did \
             not carry them again",
            after.as_secs_f64()
        )
    });
    let arrival = Arrival {
        all_in,
        behind,
        wait_seconds: a.wait_seconds,
    };
    v.conclude(
        &mut cell,
        a.receivers,
        arrival,
        &open_failures,
        &sent.errors,
    );
    cell.print_verdict();
    report.cells.push(cell);
    Ok(report)
}

/// What the arrival times say about the outage.
struct Recovery {
    /// Per receiver, ms: Redis back to holding every message sent before (0: it had them).
    recovery: Latency,
    /// Deliveries by when their send started: before the kill, during the outage, after.
    before: Latency,
    outage: Latency,
    after: Latency,
    bus_live_micros: Option<u64>,
    /// Receivers missing a message sent before Redis was back.
    incomplete: usize,
}

/// `down_at`, `up_at`: Redis killed, and answering again (µs on the probe clock).
fn recovery(seen: &[Seen], sent: &Sent, down_at: u64, up_at: u64) -> Recovery {
    let mut r = Recovery {
        recovery: Latency::new(),
        before: Latency::new(),
        outage: Latency::new(),
        after: Latency::new(),
        bus_live_micros: None,
        incomplete: 0,
    };
    // The acknowledged messages, in send order: (k, when its send started).
    let messages: Vec<(usize, u64)> = sent
        .started_at
        .iter()
        .enumerate()
        .filter(|&(k, &at)| at > 0 && contains(&sent.acked, k))
        .map(|(k, &at)| (k, at))
        .collect();
    // The slowest delivery of each message, over the receivers.
    let mut slowest = vec![0u64; messages.len()];
    for s in seen {
        let mut done = 0;
        let mut missing = false;
        for (&(k, started), slowest) in messages.iter().zip(slowest.iter_mut()) {
            let arrived = s.arrivals.get(k).copied().unwrap_or(0);
            if arrived == 0 {
                missing |= started < up_at;
                // Never delivered: as slow as can be.
                *slowest = u64::MAX;
                continue;
            }
            let took = arrived.saturating_sub(started);
            *slowest = (*slowest).max(took);
            if started < down_at {
                r.before.record(took);
            } else if started < up_at {
                r.outage.record(took);
            } else {
                r.after.record(took);
            }
            if started < up_at {
                done = done.max(arrived);
            }
        }
        if missing {
            r.incomplete += 1;
        }
        // In µs, recorded as a latency so that its "ms" read-out is right.
        r.recovery.record(done.saturating_sub(up_at));
    }
    // The messages sent after Redis was back, in the order their sends started.
    let mut slowest_after: Vec<(u64, u64)> = messages
        .iter()
        .zip(&slowest)
        .filter(|((_, started), _)| *started >= up_at)
        .map(|(&(_, started), &took)| (started, took))
        .collect();
    slowest_after.sort_unstable();
    let before_p99 = num::whole(r.before.p99() * 1000.0);
    let live = before_p99.saturating_mul(4).max(LIVE_FLOOR_MICROS);
    // Live from the first message after the last slow one, if any message came after it.
    let from = match slowest_after.iter().rposition(|&(_, took)| took > live) {
        Some(last_slow) => slowest_after.get(last_slow + 1),
        None => slowest_after.first(),
    };
    r.bus_live_micros = from.map(|&(started, _)| started.saturating_sub(up_at));
    r
}

/// When a TCP connection to 127.0.0.1:`port` first succeeds (µs on the probe clock), trying
/// every 2 ms for at most 10 s.
async fn first_accept(port: u16) -> Option<u64> {
    for _ in 0..5000 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(probe::now_micros());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

fn contains(bits: &Bits, k: usize) -> bool {
    u64::try_from(k).is_ok_and(|k| bits.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Tally;

    const MS: u64 = 1000;

    fn sent(started: &[u64]) -> Sent {
        let acked = Bits::new(64);
        for k in 0..started.len() {
            acked.insert(num::count(k));
        }
        Sent {
            acked: std::sync::Arc::new(acked),
            started_at: started.to_vec(),
            send_latency: Latency::new(),
            errors: Tally::default(),
            skipped: 0,
            worst_lag: Duration::ZERO,
            seconds: 0.0,
        }
    }

    fn receiver(arrivals: &[u64]) -> Seen {
        Seen {
            seen: Bits::new(64),
            distinct: 0,
            stale_seqs: 0,
            seq_gaps: 0,
            dup_messages: 0,
            foreign: 0,
            other_events: 0,
            reconnects: 0,
            closes: Tally::default(),
            error: None,
            latencies: Vec::new(),
            cross_latencies: Vec::new(),
            arrivals: arrivals.to_vec(),
            last_new_at: None,
        }
    }

    #[test]
    fn recovery_is_measured_from_redis_back_to_the_last_gap_repaired() {
        // Redis down at 1 s, back at 4 s.
        let (down, up) = (1000 * MS, 4000 * MS);
        let started = [100, 500, 1500, 3500, 4200, 4800, 5000].map(|t| t * MS);
        // Fast before; during the outage through the repair (the last at 4.6 s); the first
        // message after it still slow (500 ms), then fast from the one sent at 4.8 s.
        let arrivals = [102, 503, 2000, 4600, 4700, 4805, 5003].map(|t| t * MS);
        let r = recovery(&[receiver(&arrivals)], &sent(&started), down, up);
        assert_eq!(r.incomplete, 0);
        assert!(
            (r.recovery.max() - 600.0).abs() < 1.0,
            "{}",
            r.recovery.max()
        );
        assert_eq!(r.bus_live_micros, Some(800 * MS));
        assert_eq!(
            (r.before.count(), r.outage.count(), r.after.count()),
            (2, 2, 3)
        );

        // A receiver that never got a message sent during the outage is incomplete; one that
        // had everything before Redis was back recovered in 0.
        let mut missing = arrivals;
        missing[3] = 0;
        let mut early = arrivals;
        early[3] = 3600 * MS;
        let r = recovery(
            &[receiver(&missing), receiver(&early)],
            &sent(&started),
            down,
            up,
        );
        assert_eq!(r.incomplete, 1);
        assert!(r.recovery.p50() < 1.0, "{}", r.recovery.p50());

        // Still slow at the very end, or never delivered: the bus never came back.
        let mut slow = arrivals;
        slow[6] = 5900 * MS;
        let r = recovery(&[receiver(&slow)], &sent(&started), down, up);
        assert_eq!(r.bus_live_micros, None);
        let mut lost = arrivals;
        lost[6] = 0;
        let r = recovery(
            &[receiver(&arrivals), receiver(&lost)],
            &sent(&started),
            down,
            up,
        );
        assert_eq!(r.bus_live_micros, None);
    }
}
