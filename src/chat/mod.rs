//! The rules: validation, permissions, capacity, ordering; each use case calls the store and,
//! after commit, tells the hub.

pub mod accounts;
pub mod admin;
pub mod backup;
pub mod bots;
pub mod credentials;
pub mod dms;
pub mod invites;
pub mod live;
pub mod membership;
pub mod message_changes;
pub mod messages;
pub mod peers;
pub mod reactions;
pub mod reads;
pub mod room_invites;
pub mod rooms;
pub mod text;
