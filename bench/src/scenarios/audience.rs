//! A room with an audience: an owner, sender accounts, and receivers' sockets opened with
//! `after=<last seq>` (shared by `fanout` and `latency`).

use std::time::Duration;

use anyhow::Result;

use super::Bench;
use crate::client::User;
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

/// A fresh room that every account has joined, with `sockets` receivers on it.
pub async fn open(
    b: &Bench<'_>,
    who: &Accounts,
    name: &str,
    sockets: usize,
    max_k: u64,
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
    };
    let receivers = Receivers::open(b.connector.clone(), &plan).await?;
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
    let server_rss_mib = b
        .target
        .pid
        .and_then(|p| procfs::sample(Some(p)).ok())
        .map(|s| round1(s.rss_mib()));
    Ok(Audience {
        room: room.id,
        senders: who.senders.clone(),
        receivers,
        server_rss_mib,
    })
}
