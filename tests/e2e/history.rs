//! Message history: `after`, `before` and `limit` over a room's seqs.

use serde_json::Value;

use crate::support::{seq, Backend, TestServer};

backend_tests!(
    after_before_and_limit_page_by_seq,
    default_limit_is_the_latest_50,
    limit_must_be_1_to_100,
);

async fn after_before_and_limit_page_by_seq(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let late = server.user().await;
    let room = owner.new_room(5).await;
    // Seqs: 1 owner joined, 2..=6 messages, 7 `late` joined, 8..=12 messages.
    let mut sent = Vec::new();
    for n in 0..5 {
        sent.push(owner.say(room, &format!("early {n}")).await);
    }
    late.join(room).await.expect(201);
    for n in 0..5 {
        sent.push(late.say(room, &format!("late {n}")).await);
    }
    let seqs: Vec<i64> = sent.iter().map(seq).collect();
    assert_eq!(seqs, [2, 3, 4, 5, 6, 8, 9, 10, 11, 12]);

    let page = |query: &'static str| {
        let owner = &owner;
        async move { messages(&owner.history(room, query).await.expect(200)) }
    };
    // Whole messages, ascending, and only messages (no seq 1 or 7).
    assert_eq!(page("").await, sent);
    assert_eq!(seqs_of(&page("limit=3").await), [10, 11, 12]);
    assert_eq!(seqs_of(&page("after=0&limit=3").await), [2, 3, 4]);
    assert_eq!(seqs_of(&page("after=5&limit=3").await), [6, 8, 9]);
    assert_eq!(seqs_of(&page("after=6").await), [8, 9, 10, 11, 12]);
    assert_eq!(seqs_of(&page("before=8&limit=3").await), [4, 5, 6]);
    assert_eq!(seqs_of(&page("before=3").await), [2]);
    assert_eq!(seqs_of(&page("before=100&limit=2").await), [11, 12]);
    assert!(page("after=12").await.is_empty());
    assert!(page("before=2").await.is_empty());

    // Walking back with `before` visits every message once.
    let mut walked = Vec::new();
    let mut cursor = i64::MAX / 2;
    loop {
        let query = format!("before={cursor}&limit=4");
        let chunk = messages(&late.history(room, &query).await.expect(200));
        let Some(first) = chunk.first() else { break };
        cursor = seq(first);
        walked.splice(0..0, chunk);
    }
    assert_eq!(walked, sent);
}

async fn default_limit_is_the_latest_50(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    for n in 0..55 {
        owner.say(room, &format!("message {n}")).await;
    }
    // Seqs 2..=56; the latest 50 are 7..=56.
    let latest = messages(&owner.history(room, "").await.expect(200));
    assert_eq!(seqs_of(&latest), (7..=56).collect::<Vec<_>>());
    let all = messages(&owner.history(room, "limit=100").await.expect(200));
    assert_eq!(seqs_of(&all), (2..=56).collect::<Vec<_>>());
    let first = messages(&owner.history(room, "after=0").await.expect(200));
    assert_eq!(seqs_of(&first), (2..=51).collect::<Vec<_>>());
}

async fn limit_must_be_1_to_100(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    owner.say(room, "one").await;

    for query in ["limit=0", "limit=101", "limit=-1"] {
        owner
            .history(room, query)
            .await
            .expect_problem(422, "validation-failed");
    }
    for query in ["limit=1", "limit=100"] {
        assert_eq!(
            messages(&owner.history(room, query).await.expect(200)).len(),
            1
        );
    }
}

fn messages(body: &Value) -> Vec<Value> {
    body["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages array: {body}"))
        .clone()
}

fn seqs_of(messages: &[Value]) -> Vec<i64> {
    messages.iter().map(seq).collect()
}
