//! Bots: created by a logged-in user, then speaking with a bearer token.

use std::ops::Deref;

use reqwest::Method;
use serde_json::{json, Value};

use super::http::{Client, Resp};
use super::users::{id, unique_username, User};
use super::ws::{connect, EventSocket};

/// The `WWW-Authenticate` answer to a request without credentials.
pub const WWW_AUTH_MISSING: &str = r#"Bearer realm="roomcast""#;
/// The `WWW-Authenticate` answer to a bad, rotated or revoked token.
pub const WWW_AUTH_INVALID: &str = r#"Bearer realm="roomcast", error="invalid_token""#;

/// A bot and the token it currently holds; `Deref`s to a client that sends
/// `Authorization: Bearer <token>` on every request.
pub struct Bot {
    pub id: i64,
    pub username: String,
    pub token: String,
    pub client: Client,
}

impl Bot {
    /// Creates a bot with a unique name for `owner` and asserts the 201 shape.
    pub async fn create(owner: &User) -> Bot {
        let name = unique_username("bot");
        let created = owner.create_bot(&name).await.expect(201);
        Bot::from_created(owner, &created)
    }

    /// The bot of a `POST /api/bots` answer.
    pub fn from_created(owner: &User, created: &Value) -> Bot {
        let token = created["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {created}"))
            .to_string();
        assert_token_shape(&token);
        Bot {
            id: id(created),
            username: created["username"].as_str().unwrap().to_string(),
            client: owner.with_bearer(&token),
            token,
        }
    }

    /// The same bot holding another token (after a rotation).
    pub fn with_token(&self, token: &str) -> Bot {
        Bot {
            id: self.id,
            username: self.username.clone(),
            token: token.to_string(),
            client: self.client.with_bearer(token),
        }
    }

    /// Sends a message and returns the stored message.
    pub async fn say(&self, room: i64, content: &str) -> Value {
        self.send_message(room, content).await.expect(201)
    }

    /// How this bot appears as an author, owner or member reference.
    pub fn user_ref(&self) -> Value {
        json!({ "id": self.id, "username": self.username, "bot": true })
    }

    /// What `GET /api/me` answers this bot (bots are never admins).
    pub fn me_json(&self) -> Value {
        json!({ "id": self.id, "username": self.username, "bot": true, "admin": false })
    }

    /// The room's event stream, authenticated by the bearer token alone.
    pub async fn events(&self, room: i64, after: Option<i64>) -> EventSocket {
        match self.try_events(room, after).await {
            Ok(socket) => socket,
            Err(status) => panic!("bot's event stream for room {room} refused with HTTP {status}"),
        }
    }

    /// Like `events`, but `Err` holds the status of a refused handshake.
    pub async fn try_events(&self, room: i64, after: Option<i64>) -> Result<EventSocket, u16> {
        bearer_events(&self.client, &self.token, room, after).await
    }
}

impl Deref for Bot {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

/// A WebSocket handshake with `Authorization: Bearer <token>` and no cookie.
pub async fn bearer_events(
    client: &Client,
    token: &str,
    room: i64,
    after: Option<i64>,
) -> Result<EventSocket, u16> {
    let auth = ("authorization", format!("Bearer {token}"));
    connect(&client.events_url(room, after), &[auth]).await
}

/// `rcb_` followed by 64 lowercase hex digits (256 random bits).
#[track_caller]
pub fn assert_token_shape(token: &str) {
    let hex = token
        .strip_prefix("rcb_")
        .unwrap_or_else(|| panic!("token {token:?} does not start with rcb_"));
    assert!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "token {token:?} is not rcb_ + 64 lowercase hex digits"
    );
}

impl Client {
    pub async fn create_bot(&self, name: &str) -> Resp {
        self.post("/api/bots", &json!({ "name": name })).await
    }

    pub async fn bots(&self) -> Resp {
        self.get("/api/bots").await
    }

    /// `POST /api/bots/{id}/token`: a new token; the old one dies.
    pub async fn rotate_bot_token(&self, bot: i64) -> Resp {
        let path = format!("/api/bots/{bot}/token");
        self.send(self.request(Method::POST, &path)).await
    }

    /// `DELETE /api/bots/{id}/token`: no token until the next rotation.
    pub async fn revoke_bot_token(&self, bot: i64) -> Resp {
        self.delete(&format!("/api/bots/{bot}/token")).await
    }

    pub async fn delete_bot(&self, bot: i64) -> Resp {
        self.delete(&format!("/api/bots/{bot}")).await
    }
}

impl Resp {
    /// Asserts a 401 for a token that is wrong, rotated away or revoked:
    /// problem `invalid-token` with RFC 6750's `error="invalid_token"`.
    #[track_caller]
    pub fn expect_invalid_token(&self) {
        self.expect_problem(401, "invalid-token");
        assert_eq!(
            self.header("www-authenticate"),
            Some(WWW_AUTH_INVALID),
            "WWW-Authenticate of an invalid-token answer"
        );
    }

    /// Asserts a 401 for a request with no credentials at all.
    #[track_caller]
    pub fn expect_unauthenticated(&self) {
        self.expect_problem(401, "unauthenticated");
        assert_eq!(
            self.header("www-authenticate"),
            Some(WWW_AUTH_MISSING),
            "WWW-Authenticate of an unauthenticated answer"
        );
    }
}
