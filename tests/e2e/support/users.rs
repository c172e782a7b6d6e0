//! Registered, logged-in users and the JSON shapes tests read from them.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::http::Client;

pub const PASSWORD: &str = "correct horse battery";

/// A unique valid username (3–32 of [a-z0-9_.-]). Unique across the whole
/// test process, so it also stays unique across a server's restarts.
pub fn unique_username(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{n}")
}

/// A logged-in user: a `Client` whose jar holds a session cookie.
pub struct User {
    pub id: i64,
    pub username: String,
    pub password: String,
    pub client: Client,
}

impl User {
    pub async fn create(client: Client) -> User {
        let username = unique_username("user");
        let account = client.register(&username, PASSWORD).await.expect(201);
        let session = client.login(&username, PASSWORD).await.expect(200);
        assert_eq!(session["id"], account["id"], "login returned another id");
        User {
            id: id(&account),
            username,
            password: PASSWORD.into(),
            client,
        }
    }

    /// Creates a room and returns its id.
    pub async fn new_room(&self, capacity: i64) -> i64 {
        let room = self.create_room("a room", capacity).await.expect(201);
        id(&room)
    }

    /// Sends a message and returns the stored message.
    pub async fn say(&self, room: i64, content: &str) -> Value {
        self.send_message(room, content).await.expect(201)
    }
}

impl Deref for User {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

/// The `id` field, which every resource has.
#[track_caller]
pub fn id(value: &Value) -> i64 {
    value["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer id in {value}"))
}

/// The `seq` field of a message or event.
#[track_caller]
pub fn seq(value: &Value) -> i64 {
    value["seq"]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer seq in {value}"))
}
