//! What operators see: `/metrics` counts what really happened, every response carries an
//! `X-Request-Id`, and with JSON logs each line of a request carries that same id.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Backend, TestServer};

backend_tests!(
    metrics_count_sends_batches_sockets_and_deliveries,
    request_ids_are_echoed_and_in_the_json_log_lines,
);

/// `/metrics` as `name{labels}` -> value (comments and blank lines skipped).
async fn scrape(server: &TestServer) -> HashMap<String, f64> {
    let res = server.client().get("/metrics").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(
        res.content_type().starts_with("text/plain"),
        "{}",
        res.content_type()
    );
    res.text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum over every series of `name` whose labels include all of `labels`.
fn total(metrics: &HashMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    metrics
        .iter()
        .filter(|(key, _)| {
            let (metric, rest) = key.split_once('{').unwrap_or((key.as_str(), ""));
            metric == name && labels.iter().all(|l| rest.contains(l))
        })
        .map(|(_, v)| v)
        .sum()
}

async fn metrics_count_sends_batches_sockets_and_deliveries(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let mut socket = owner.events(room, None).await;
    const SENT: usize = 3;
    for i in 0..SENT {
        owner.say(room, &format!("counted {i}")).await;
    }
    socket.next_events(SENT).await;
    // A refused send is counted under its own status.
    let outsider = server.user().await;
    outsider
        .client
        .send_message(room, "not a member")
        .await
        .expect_problem(403, "not-a-member");

    // A socket counts a delivery just after it writes the frame, so the client can read the
    // frame first: wait for the count (the exact asserts below still catch a wrong one).
    let deadline = Instant::now() + Duration::from_secs(5);
    let m = loop {
        let m = scrape(&server).await;
        let counted = total(&m, "roomcast_deliveries_total", &[]) >= SENT as f64;
        if counted || Instant::now() >= deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let sends = [r#"route="/api/rooms/{id}/messages""#, r#"method="POST""#];
    let n = SENT as f64;
    assert_eq!(
        total(
            &m,
            "roomcast_http_requests_total",
            &[sends[0], sends[1], r#"status="201""#]
        ),
        n
    );
    assert_eq!(
        total(
            &m,
            "roomcast_http_requests_total",
            &[sends[0], r#"status="403""#]
        ),
        1.0
    );
    assert_eq!(
        total(&m, "roomcast_http_request_duration_seconds_count", &sends),
        n + 1.0
    );
    assert_eq!(total(&m, "roomcast_messages_committed_total", &[]), n);
    // Every message sent went through a batch (the refused one too).
    assert_eq!(total(&m, "roomcast_batch_size_sum", &[]), n + 1.0);
    assert!(total(&m, "roomcast_batch_size_count", &[]) >= 1.0);
    assert_eq!(total(&m, "roomcast_sockets_open", &[]), 1.0);
    assert_eq!(total(&m, "roomcast_deliveries_total", &[]), n);
    assert_eq!(total(&m, "roomcast_deliver_latency_seconds_count", &[]), n);
    assert!(
        m.contains_key("roomcast_slow_consumer_closes_total"),
        "no slow-consumer counter"
    );
    assert!(total(&m, "roomcast_db_pool_wait_seconds_count", &[]) >= 1.0);

    // The gauge follows the socket down.
    socket.close().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let open = total(&scrape(&server).await, "roomcast_sockets_open", &[]);
        if open == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "sockets_open stayed at {open}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn request_ids_are_echoed_and_in_the_json_log_lines(b: Backend) {
    // Everything at WARN but the access log: the request span must pass such a filter too
    // (it is created at ERROR level), or the access lines would lose their request id.
    let server = TestServer::builder(b)
        .env("ROOMCAST_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn,roomcast::access=info")
        .start()
        .await;
    let user = server.user().await;
    // A 404 is logged (in the access log, at INFO).
    let missing = user.client.get("/api/rooms/987654321").await;
    missing.expect_problem(404, "room-not-found");
    let id = missing
        .header("x-request-id")
        .expect("a response without X-Request-Id")
        .to_string();
    assert!(id.len() >= 16, "request id {id:?}");
    let other = user.client.get("/api/me").await;
    assert_ne!(other.header("x-request-id"), Some(id.as_str()));
    assert!(other.header("x-request-id").is_some());

    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let log = server.log_tail(500);
        if let Some(line) = log.lines().find(|l| l.contains(&id)) {
            break line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no log line carries request id {id}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let entry: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
    assert_eq!(entry["span"]["request_id"], id.as_str(), "{entry}");
    assert!(entry["level"].is_string(), "{entry}");
}
