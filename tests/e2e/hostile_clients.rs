//! What an attacker types and how slowly they type it: SQL in every text field is stored as
//! text (every query is parameterized), and a client that never finishes its request is cut
//! off instead of holding a connection forever.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::support::{id, Backend, TestServer, PASSWORD};

backend_tests!(
    sql_in_every_text_field_is_stored_as_text,
    a_client_that_never_finishes_its_headers_is_cut_off,
);

/// Classic injection payloads, each valid where it goes (names are 1-100 characters).
const SQL: [&str; 4] = [
    "x'); DROP TABLE users; --",
    "' OR '1'='1",
    "\"; DELETE FROM rooms WHERE \"\"=\"",
    "1; UPDATE users SET username = 'owned' --",
];

async fn sql_in_every_text_field_is_stored_as_text(b: Backend) {
    let server = TestServer::start(b).await;
    let user = server.user().await;
    let mut rooms = Vec::new();
    for name in SQL {
        let room = user.create_room(name, 5).await.expect(201);
        assert_eq!(room["name"], name, "{room}");
        rooms.push(id(&room));
    }
    for (&room, content) in rooms.iter().zip(SQL) {
        let message = user.say(room, content).await;
        assert_eq!(message["content"], content, "{message}");
        let history = user.all_messages(room).await;
        assert_eq!(history.last().unwrap()["content"], content);
    }
    // A username cannot hold these characters; a password can, and must still just be a
    // password: the wrong one is refused, the right one works.
    let client = server.client();
    client.login(&user.username, SQL[1]).await.expect(401);
    client.login(&user.username, PASSWORD).await.expect(200);
    // Nothing was dropped, deleted or rewritten.
    let listed = user.rooms().await.expect(200);
    let names: Vec<&str> = listed["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for name in SQL {
        assert!(
            names.contains(&name),
            "room {name:?} missing from {names:?}"
        );
    }
    assert_eq!(user.me().await.expect(200)["username"], user.username);
}

/// A slow-headers attack holds a connection by sending a request a byte at a time, or never
/// finishing it. The server gives a request a bounded time to arrive, then answers 408 or
/// closes; here, one that never finishes must be gone well before a minute is up.
async fn a_client_that_never_finishes_its_headers_is_cut_off(b: Backend) {
    let server = TestServer::start(b).await;
    let mut stream = TcpStream::connect(server.authority()).await.unwrap();
    stream
        .write_all(b"GET /api/me HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let ended = timeout(Duration::from_secs(60), async {
        // Keep dribbling a byte a second, as the attack does, until the server hangs up.
        let mut buf = [0u8; 1024];
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                },
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if stream.write_all(b"a").await.is_err() {
                        return;
                    }
                }
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the server still held a never-finished request after {:?}",
        started.elapsed()
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "a never-finished request got {answer:?}"
    );
    // The server itself is fine.
    server.client().healthz().await.expect(200);
}
