//! A room with an audience: an owner, sender accounts, and receivers' sockets opened with
//! `after=<last seq>` (shared by `fanout` and `latency`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::Bench;
use crate::client::{Connector, User};
use crate::procfs;
use crate::receivers::{Plan, Receivers};
use crate::stats::round1;

/// Handshakes in flight while receivers connect.
pub const CONNECT_CONCURRENCY: usize = 128;

pub struct Audience {
    pub room: i64,
    pub senders: Vec<User>,
    pub receivers: Receivers,
    /// Server RSS once every socket is open, MiB.
    pub server_rss_mib: Option<f64>,
}

/// Accounts a scenario needs: one owner, `senders`, and `listeners` for the sockets.
pub struct Accounts {
    pub owner: User,
    pub senders: Vec<User>,
    pub listeners: Vec<User>,
}

pub async fn accounts(
    b: &Bench<'_>,
    prefix: &str,
    senders: usize,
    listeners: usize,
) -> Result<Accounts> {
    let mut all = b.api.users(prefix, 1 + senders + listeners).await?;
    let listeners = all.split_off(1 + senders);
    let senders = all.split_off(1);
    let owner = all.remove(0);
    Ok(Accounts {
        owner,
        senders,
        listeners,
    })
}

/// Where the receivers listen and where the messages go (see `Plan`).
pub struct Placement {
    pub on: Vec<(usize, Arc<Connector>)>,
    pub sends_over: usize,
    pub record_arrivals: bool,
}

impl Placement {
    /// Everything on the first instance.
    pub fn first(b: &Bench<'_>) -> Placement {
        Placement {
            on: Plan::on_one(b.connector.clone()),
            sends_over: 1,
            record_arrivals: false,
        }
    }
}

/// A fresh room that every account has joined, with `sockets` receivers on it, placed as
/// `placement` says.
pub async fn open(
    b: &Bench<'_>,
    who: &Accounts,
    name: &str,
    (sockets, max_k): (usize, u64),
    placement: Placement,
) -> Result<Audience> {
    let room = b.api.create_room(&who.owner, name, 10_000).await?;
    let pairs: Vec<(User, i64)> = who
        .senders
        .iter()
        .chain(&who.listeners)
        .map(|u| (u.clone(), room.id))
        .collect();
    b.api.join_all(&pairs).await?;
    let after = b.api.room(&who.owner, room.id).await?.last_seq;
    let plan = Plan {
        room: room.id,
        after,
        users: who.listeners.clone(),
        sockets,
        max_k,
        connect_concurrency: CONNECT_CONCURRENCY,
        on: placement.on,
        sends_over: placement.sends_over,
        record_arrivals: placement.record_arrivals,
    };
    let receivers = Receivers::open(&plan).await?;
    println!(
        "  {} of {sockets} receivers connected in {:.2} s{}",
        receivers.len(),
        receivers.open_seconds,
        if receivers.open_failures.is_empty() {
            String::new()
        } else {
            format!("; failures: {}", receivers.open_failures)
        }
    );
    // Let the server finish the socket tasks' backfill before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Every instance's, together.
    let server_rss_mib = procfs::sample_sum(&b.target.procs().servers).map(|s| round1(s.rss_mib()));
    Ok(Audience {
        room: room.id,
        senders: who.senders.clone(),
        receivers,
        server_rss_mib,
    })
}
