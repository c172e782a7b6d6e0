//! What operators see: `/metrics` counts what really happened, every response carries an
//! `X-Request-Id`, and with JSON logs each line of a request carries that same id.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;

use crate::support::{Backend, TestServer};

backend_tests!(
    metrics_count_sends_batches_sockets_and_deliveries,
    request_ids_are_echoed_and_in_the_json_log_lines,
    invented_methods_and_paths_do_not_grow_metrics,
    metrics_are_never_on_the_public_port,
);

/// The metrics listener's `/metrics` page, as text.
pub(crate) async fn metrics_page(server: &TestServer) -> String {
    let url = server
        .metrics_url()
        .expect("the server announced no metrics listener");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    res.text().await.unwrap()
}

/// `/metrics` as `name{labels}` -> value (comments and blank lines skipped).
pub(crate) async fn scrape(server: &TestServer) -> HashMap<String, f64> {
    parse(&metrics_page(server).await)
}

fn parse(page: &str) -> HashMap<String, f64> {
    page.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum over every series of `name` whose labels include all of `labels`.
/// A count as the float a metric reads: exact for the small counts these tests make.
fn float(n: usize) -> f64 {
    f64::from(u32::try_from(n).unwrap())
}

pub(crate) fn total(metrics: &HashMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
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
    // frame first: wait for the count and the latency sample (one scrape reads them at
    // different moments); the exact asserts below still catch a wrong one.
    let deadline = Instant::now() + Duration::from_secs(5);
    let m = loop {
        let m = scrape(&server).await;
        let counted = total(&m, "roomcast_deliveries_total", &[]) >= float(SENT)
            && total(&m, "roomcast_deliver_latency_seconds_count", &[]) >= float(SENT);
        if counted || Instant::now() >= deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let sends = [r#"route="/api/rooms/{id}/messages""#, r#"method="POST""#];
    let n = float(SENT);
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

/// Labels take values from fixed sets: 500 requests with invented methods on invented paths
/// add one `OTHER` series (per route and status), not 500.
async fn invented_methods_and_paths_do_not_grow_metrics(b: Backend) {
    let server = TestServer::start(b).await;
    let client = server.client();
    client.me().await.expect_problem(401, "unauthenticated");
    let before = metrics_page(&server).await.len();
    const N: usize = 500;
    for i in 0..N {
        let method = Method::from_bytes(format!("INVENTED{i}").as_bytes()).unwrap();
        let path = if i % 2 == 0 {
            "/api/rooms".to_string()
        } else {
            format!("/nowhere{i}")
        };
        let resp = client.send(client.request(method, &path)).await;
        assert!(
            resp.status == 404 || resp.status == 405,
            "{path}: HTTP {} {}",
            resp.status,
            resp.text
        );
    }
    let page = metrics_page(&server).await;
    assert!(
        !page.contains("INVENTED") && !page.contains("nowhere"),
        "a client-chosen value became a label:\n{page}"
    );
    // The page grew by a handful of series, not by one per request (it was 1.5 KB a request).
    assert!(
        page.len() < before + 16 * 1024,
        "/metrics grew from {before} to {} bytes",
        page.len()
    );
    let m = parse(&page);
    assert_eq!(
        total(&m, "roomcast_http_requests_total", &[r#"method="OTHER""#]),
        float(N)
    );
    assert_eq!(
        total(
            &m,
            "roomcast_http_requests_total",
            &[r#"method="OTHER""#, r#"route="unmatched""#]
        ),
        float(N / 2)
    );
}

/// The public port does not serve /metrics, whether or not a metrics listener is configured.
async fn metrics_are_never_on_the_public_port(b: Backend) {
    let server = TestServer::start(b).await;
    server
        .client()
        .get("/metrics")
        .await
        .expect_problem(404, "not-found");
    assert!(metrics_page(&server)
        .await
        .contains("roomcast_http_requests_total"));

    let unconfigured = TestServer::builder(b)
        .env("ROOMCAST_METRICS_BIND", "")
        .start()
        .await;
    assert_eq!(unconfigured.metrics_url(), None);
    unconfigured
        .client()
        .get("/metrics")
        .await
        .expect_problem(404, "not-found");
}
