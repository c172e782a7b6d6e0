//! Overload is explicit: past `write_queue_max` sends waiting for the writer, a send is refused
//! at once with 503 `overloaded` and `Retry-After`, nothing of it is stored, and every send
//! that was accepted is stored.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::Barrier;

use crate::observability::{scrape, total};
use crate::support::{seq, Backend, TestServer};

backend_tests!(a_full_writer_queue_refuses_sends_at_once_and_loses_none);

/// Sends released together at a writer that holds one waiting send and commits one at a time.
const SENDS: usize = 120;

async fn a_full_writer_queue_refuses_sends_at_once_and_loses_none(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_WRITE_QUEUE_MAX", "1")
        .env("ROOMCAST_WRITE_BATCH_MAX", "1")
        .env("ROOMCAST_RATE_SEND_PER_MINUTE", "1000000")
        .env("ROOMCAST_RATE_SEND_BURST", "1000000")
        .start()
        .await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;

    let barrier = Arc::new(Barrier::new(SENDS));
    let tasks: Vec<_> = (0..SENDS)
        .map(|k| {
            let (client, barrier) = (owner.client.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let content = format!("message {k}");
                let resp = client.send_message(room, &content).await;
                (content, resp)
            })
        })
        .collect();

    let (mut accepted, mut shed) = (BTreeSet::new(), BTreeSet::new());
    for task in tasks {
        let (content, resp) = task.await.unwrap();
        match resp.status {
            201 => {
                assert_eq!(resp.json["content"], content.as_str(), "{}", resp.text);
                accepted.insert(content);
            }
            _ => {
                resp.expect_problem(503, "overloaded");
                assert_eq!(resp.header("Retry-After"), Some("1"), "{:?}", resp.headers);
                shed.insert(content);
            }
        }
    }
    assert!(
        !shed.is_empty(),
        "{SENDS} sends at a queue of one: none was refused"
    );
    assert!(!accepted.is_empty(), "every send was refused");

    // The room's log holds exactly the accepted sends, each once.
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = owner
            .client
            .history(room, &format!("after={after}&limit=100"))
            .await
            .expect(200);
        let messages = page["messages"].as_array().unwrap().clone();
        let Some(last) = messages.last() else { break };
        after = seq(last);
        stored.extend(
            messages
                .iter()
                .map(|m| m["content"].as_str().unwrap().to_string()),
        );
    }
    let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "a message stored twice");
    assert_eq!(stored_set, accepted, "stored messages differ from the 201s");

    let m = scrape(&server).await;
    assert_eq!(
        total(&m, "roomcast_sends_shed_total", &[]),
        f64::from(u32::try_from(shed.len()).unwrap())
    );
}
