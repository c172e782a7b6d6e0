//! roomcast: send over HTTP, receive over WebSocket.
//!
//! Data flows one way, and imports point the same way, down this picture:
//!
//! ```text
//! server (builds everything, serves)          cli (admin commands)
//!   └─> http (routes, extractors, handlers: parse, call `chat`, map errors; rate limits)
//!         └─> chat (the rules: one function per use case)
//!               └─> app (the shared state: handles to the services below)
//!                     ├─> auth (passwords, sessions, tokens, who `Principal` is)
//!                     ├─> realtime (after commit: hub → sockets)
//!                     │     └─> bus (after commit: to the other instances; none by default)
//!                     └─> store (SQL, one copy for both backends)
//! views (the JSON shapes of store rows, shared by handlers, sockets and `auth`),
//! error (the one error type), config and telemetry sit beside the picture: anyone above
//! them may import them. proxies (who the client is behind trusted proxies) sits under config
//! and telemetry, which use it, and imports nothing of ours. ids (RoomId, UserId, Seq) sits below everything: every module may
//! import it, and it imports nothing.
//! ```
//!
//! `LAYERS` below is the same map as data: the modules each one may import. A test reads
//! every `crate::…` path in `src/` and fails on any import the map does not allow.

pub mod app;
pub mod auth;
pub mod bus;
pub mod chat;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod ids;
pub mod proxies;
pub mod realtime;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod views;

#[cfg(test)]
mod layering;

/// Who may import whom: each top-level module with the modules it may use. A module may
/// always use itself and `ids`; nothing may use `server` or `cli`.
#[cfg(test)]
const LAYERS: &[(&str, &[&str])] = &[
    ("ids", &[]),
    // The client-address rule: config parses the list into it, telemetry logs its answer.
    ("proxies", &[]),
    ("config", &["proxies"]),
    ("bus", &["config"]),
    ("telemetry", &["proxies"]),
    ("store", &["config"]),
    ("error", &["store"]),
    ("views", &["store"]),
    ("realtime", &["views", "store", "error", "config", "bus"]),
    ("auth", &["views", "store", "error", "config"]),
    ("app", &["auth", "realtime", "store", "config", "bus"]),
    (
        "chat",
        &[
            "app", "auth", "realtime", "store", "views", "error", "config", "bus",
        ],
    ),
    (
        "http",
        &[
            "chat",
            "app",
            "auth",
            "realtime",
            "bus",
            "views",
            "error",
            "config",
            "telemetry",
            "proxies",
        ],
    ),
    (
        "cli",
        &["chat", "app", "views", "error", "config", "telemetry"],
    ),
    (
        "server",
        &[
            "http",
            "chat",
            "app",
            "auth",
            "realtime",
            "bus",
            "store",
            "views",
            "error",
            "config",
            "telemetry",
        ],
    ),
];

/// The module every other one may import (the id types): it imports nothing itself.
#[cfg(test)]
const BENEATH_ALL: &str = "ids";
