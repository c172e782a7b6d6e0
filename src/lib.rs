//! roomcast: send over HTTP, receive over WebSocket.
//!
//! Data flows one way: `http` (who asks, parse, map errors) → `chat` (the rules) → `store`
//! (SQL, one copy for both backends) and, after commit, `realtime` (hub → sockets).

pub mod auth;
pub mod chat;
pub mod cli;
pub mod config;
pub mod error;
pub mod http;
pub mod realtime;
pub mod server;
pub mod store;
pub mod telemetry;
