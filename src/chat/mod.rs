//! The rules: validation, permissions, capacity, ordering; each use case calls the store and,
//! after commit, tells the hub.

pub mod accounts;
pub mod bots;
pub mod limits;
pub mod membership;
pub mod messages;
pub mod rooms;
pub mod views;

use std::sync::Arc;

use crate::auth::password::Passwords;
use crate::config::Config;
use crate::realtime::Hub;
use crate::store::Db;

/// Everything a request needs, shared by all workers.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub hub: Hub,
    pub passwords: Passwords,
    pub limits: Arc<limits::Limits>,
    pub config: Arc<Config>,
}
