//! Sending the way a careful client does when the server or its database may
//! go away: every message has an `Idempotency-Key`, and a send that ends
//! without an answer (refused, reset, timed out) or with a 5xx is retried
//! with the same key and body until it is acknowledged. A 429 is waited out
//! (`Retry-After`) and retried too.

use std::time::Duration;

use serde_json::Value;
use tokio::time::{sleep, Instant};

use super::http::Client;

#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// One attempt may take this long before it counts as lost.
    pub attempt_timeout: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Stop retrying after this long (the send's outcome is then unknown).
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempt_timeout: Duration::from_secs(10),
            first_backoff: Duration::from_millis(25),
            max_backoff: Duration::from_millis(500),
            give_up_after: Duration::from_secs(60),
        }
    }
}

/// A send that was acknowledged with 201.
#[derive(Debug, Clone)]
pub struct Acked {
    pub message: Value,
    /// Attempts it took (1 = no retry).
    pub attempts: u32,
    /// Whether the acknowledging answer was marked `Idempotent-Replayed`.
    pub replayed: bool,
    /// What the failed attempts ended with, e.g. `"503"` or `"error: …"`.
    pub failures: Vec<String>,
    /// Which of the clients (`send_until_acked_via`) got the 201.
    #[allow(dead_code)] // read by the soak checker (tests/soak)
    pub instance: usize,
}

/// Why a send was not acknowledged.
#[derive(Debug, Clone)]
#[allow(dead_code)] // the fields are read by the soak checker (tests/soak)
pub enum NotAcked {
    /// A definite refusal (a 4xx): retrying cannot help; a bug in a test that
    /// only sends valid messages.
    Refused { status: u16, body: String },
    /// Still no 201 when the policy gave up: the message may or may not be
    /// stored.
    GaveUp {
        attempts: u32,
        failures: Vec<String>,
    },
}

/// Sends `content` to `room` under `key`, retrying the same request on
/// failures that leave the outcome unknown, until a 201 or a refusal.
pub async fn send_until_acked(
    client: &Client,
    room: i64,
    content: &str,
    key: &str,
    policy: RetryPolicy,
) -> Result<Acked, NotAcked> {
    send_until_acked_via(std::slice::from_ref(client), 0, room, content, key, policy).await
}

/// `send_until_acked` through the instances of one deployment, as a load balancer would
/// spread it: the first attempt goes to `clients[first]`, each retry to the next instance
/// (same key, same body), so an answer lost with one instance is asked of another.
pub async fn send_until_acked_via(
    clients: &[Client],
    first: usize,
    room: i64,
    content: &str,
    key: &str,
    policy: RetryPolicy,
) -> Result<Acked, NotAcked> {
    assert!(!clients.is_empty(), "send_until_acked_via: no instance");
    let give_up = Instant::now() + policy.give_up_after;
    let mut backoff = policy.first_backoff;
    let mut failures = Vec::new();
    let mut attempts = 0;
    let mut turn = first;
    loop {
        let instance = turn % clients.len();
        let client = &clients[instance];
        turn += 1;
        attempts += 1;
        let request = client
            .message_request(room, content, Some(key))
            .timeout(policy.attempt_timeout);
        match client.try_send(request).await {
            Ok(resp) if resp.status == 201 => {
                let replayed = resp.replayed();
                return Ok(Acked {
                    message: resp.json,
                    attempts,
                    replayed,
                    failures,
                    instance,
                });
            }
            Ok(resp) if resp.status >= 500 => failures.push(resp.status.to_string()),
            Ok(resp) if resp.status == 429 => {
                // Rate limited: certainly not stored; come back when told.
                failures.push("429".into());
                let wait = resp
                    .header("retry-after")
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(policy.max_backoff)
                    .min(Duration::from_secs(5));
                if Instant::now() + wait > give_up {
                    return Err(NotAcked::GaveUp { attempts, failures });
                }
                sleep(wait).await;
                continue;
            }
            Ok(resp) => {
                return Err(NotAcked::Refused {
                    status: resp.status,
                    body: resp.text,
                })
            }
            Err(e) => failures.push(format!("error: {e}")),
        }
        if Instant::now() + backoff > give_up {
            return Err(NotAcked::GaveUp { attempts, failures });
        }
        sleep(backoff).await;
        backoff = (backoff * 2).min(policy.max_backoff);
    }
}
