//! Black-box tests: each test starts a real `roomcast serve` on a free port
//! with its own fresh database, and talks to it over HTTP and WebSocket.
//! Every test runs once per backend: `<module>::sqlite::<test>` and
//! `<module>::postgres::<test>` (PostgreSQL must be reachable; see
//! `support/backend.rs`).

// For the whole test crate, helpers included (clippy.toml's in-test allowances cover only
// #[test] functions); never in src/ or bench/.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a test harness that panics on a broken expectation is reporting the failure"
)]

#[macro_use]
mod support;

mod accounts;
mod backup;
mod bad_input;
mod bans;
mod bots;
mod cli;
mod contract;
mod csrf;
mod deployment;
mod dms;
mod dropped_requests;
mod event_history;
mod examples;
mod faults;
mod front_door;
mod history;
mod hostile_clients;
mod idempotency;
mod invites;
mod live_multi;
mod logs;
mod membership;
mod message_changes;
mod multi_instance;
mod observability;
mod ordering;
mod overload;
mod password_change;
mod passwords;
mod poison;
mod presence;
mod private_rooms;
mod proxies;
mod rate_limits;
mod reactions;
mod read_markers;
mod readme;
mod restart;
mod roles;
mod room_invites;
mod rooms;
mod schema_limits;
mod sessions;
mod typing;
mod user_stream;
mod ws_closes;
mod ws_refusals;
