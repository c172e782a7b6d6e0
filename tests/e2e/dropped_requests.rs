//! Requests the server gives up on half-way must still get an answer, and must never panic it.
//!
//! A junk bearer token starts a database lookup; another extractor of the same request (a
//! non-numeric id, a bad query, a wrong Content-Type, malformed JSON) fails at once, and actix
//! drops the request's future while that lookup runs. The database call must survive that.

use futures_util::stream::{self, StreamExt};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;

use crate::support::{Backend, TestServer};

backend_tests!(junk_bearer_with_bad_input_never_panics);

/// Requests per kind of bad input: enough that about half failed before the fix (SQLite).
const PER_KIND: usize = 60;

async fn junk_bearer_with_bad_input_never_panics(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;

    // (method, path, content type, body): each one fails in an extractor beside Principal.
    let kinds: Vec<(Method, String, Option<&str>, &str)> = vec![
        (Method::GET, "/api/rooms/abc/messages".into(), None, ""),
        (Method::GET, "/api/rooms/abc".into(), None, ""),
        (Method::PUT, "/api/rooms/abc/members/me".into(), None, ""),
        (
            Method::GET,
            format!("/api/rooms/{room}/messages?limit=lots"),
            None,
            "",
        ),
        (
            Method::POST,
            format!("/api/rooms/{room}/messages"),
            Some("text/plain"),
            r#"{"content": "hi"}"#,
        ),
        (
            Method::POST,
            format!("/api/rooms/{room}/messages"),
            Some("application/json"),
            r#"{"content": "#,
        ),
        (
            Method::POST,
            "/api/rooms".into(),
            Some("application/json"),
            r#"{"name": [}"#,
        ),
    ];
    let requests: Vec<_> = (0..PER_KIND)
        .flat_map(|i| kinds.iter().map(move |k| (i, k)))
        .collect();
    let total = requests.len();

    let answers: Vec<Result<(u16, String, serde_json::Value), String>> = stream::iter(requests)
        .map(|(i, (method, path, content_type, body))| {
            // A different junk token each time: nothing is cached, every one hits the database.
            let client = server.client().with_bearer(&format!("junk-{i}"));
            async move {
                let mut request = client.request(method.clone(), path).body(body.to_string());
                if let Some(ct) = content_type {
                    request = request.header(CONTENT_TYPE, *ct);
                }
                let what = format!("{method} {path}");
                match client.try_send(request).await {
                    Ok(r) => Ok((r.status, r.content_type().to_string(), r.json)),
                    Err(e) => Err(format!("{what}: no answer: {e}")),
                }
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;

    let unanswered: Vec<&String> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(
        unanswered.is_empty(),
        "{} of {total} requests got no answer, e.g. {:?}",
        unanswered.len(),
        unanswered.first()
    );
    for (status, content_type, json) in answers.iter().flatten() {
        assert!(
            (400..500).contains(status),
            "junk request answered {status}: {json}"
        );
        assert!(
            content_type.starts_with("application/problem+json"),
            "answer {status} has Content-Type {content_type:?}"
        );
        assert_eq!(json["status"], *status, "problem body: {json}");
        assert!(json["type"].is_string(), "problem body: {json}");
    }

    // The server is still whole and said nothing about panics.
    owner.room(room).await.expect(200);
    let log = server.log_tail(2000);
    assert!(
        !log.contains("panicked"),
        "the server panicked:\n{}",
        log.lines()
            .filter(|l| l.contains("panicked"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
