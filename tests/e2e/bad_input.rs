//! Sending messages that must be refused, each with its own problem code,
//! and the edges of what is accepted.

use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::json;

use crate::support::{seq, Backend, TestServer};

backend_tests!(
    malformed_oversized_and_mistyped_bodies,
    content_is_trimmed_and_bounded,
    who_and_where_are_checked,
);

async fn malformed_oversized_and_mistyped_bodies(b: Backend) {
    let server = TestServer::start(b).await;
    let user = server.user().await;
    let room = user.new_room(5).await;
    let path = format!("/api/rooms/{room}/messages");
    let raw = |content_type: &'static str, body: String| {
        user.request(Method::POST, &path)
            .header(CONTENT_TYPE, content_type)
            .body(body)
    };

    user.send(raw("application/json", r#"{"content": "#.into()))
        .await
        .expect_problem(400, "malformed-json");
    let huge = json!({ "content": "a".repeat(70 * 1024) }).to_string();
    user.send(raw("application/json", huge))
        .await
        .expect_problem(413, "payload-too-large");
    user.send(raw("text/plain", r#"{"content": "hi"}"#.into()))
        .await
        .expect_problem(415, "unsupported-media-type");
    for wrong_shape in [
        json!({ "content": 5 }),
        json!({ "text": "hi" }),
        json!(["hi"]),
        json!("hi"),
    ] {
        let response = user.post(&path, &wrong_shape).await;
        assert_eq!(
            response.status, 422,
            "body {wrong_shape} was answered {}",
            response.text
        );
        response.expect_problem(422, "validation-failed");
    }

    // None of that took a seq: the next message is the room's event 2.
    assert_eq!(seq(&user.say(room, "valid").await), 2);
}

async fn content_is_trimmed_and_bounded(b: Backend) {
    let server = TestServer::start(b).await;
    let user = server.user().await;
    let room = user.new_room(5).await;

    for content in [String::new(), " \n\t ".into(), "x".repeat(4001)] {
        user.send_message(room, &content)
            .await
            .expect_problem(422, "validation-failed");
    }

    let stored = user.say(room, "  hello \n").await;
    assert_eq!(stored["content"], "hello");
    assert_eq!(stored["author"]["id"], user.id);
    assert_eq!(stored["author"]["username"], user.username.as_str());
    assert!(stored["created_at"].is_string(), "{stored}");
    assert!(stored["id"].is_i64(), "{stored}");
    // Limits count characters of the trimmed text, not bytes or padding.
    for content in [
        "x".repeat(4000),
        format!("   {}   ", "y".repeat(4000)),
        "é".repeat(4000),
    ] {
        let stored = user.say(room, &content).await;
        assert_eq!(stored["content"], content.trim());
    }
    let history = user.history(room, "").await.expect(200);
    let contents: Vec<_> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().chars().count())
        .collect();
    assert_eq!(contents, [5, 4000, 4000, 4000]);
}

async fn who_and_where_are_checked(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let outsider = server.user().await;
    let room = owner.new_room(5).await;

    server
        .client()
        .send_message(room, "anonymous")
        .await
        .expect_problem(401, "unauthenticated");
    outsider
        .send_message(room, "uninvited")
        .await
        .expect_problem(403, "not-a-member");
    outsider
        .history(room, "")
        .await
        .expect_problem(403, "not-a-member");
    owner
        .send_message(987_654, "nowhere")
        .await
        .expect_problem(404, "room-not-found");
    owner
        .history(987_654, "")
        .await
        .expect_problem(404, "room-not-found");
    owner
        .get("/api/rooms/1/nonsense")
        .await
        .expect_problem(404, "not-found");
    assert_eq!(owner.room(room).await.expect(200)["last_seq"], 1);
}
