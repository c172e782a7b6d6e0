//! The database is the source of truth: a SIGKILLed server comes back with
//! everything it acknowledged, and its seqs carry on without a gap.

use crate::support::{id, kind, seq, Backend, TestServer};

backend_tests!(acknowledged_data_survives_a_kill);

async fn acknowledged_data_survives_a_kill(b: Backend) {
    let mut server = TestServer::start(b).await;
    let owner = server.user().await;
    let member = server.user().await;
    let room = owner.new_room(5).await;
    member.join(room).await.expect(201);
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(member.say(room, &format!("before the kill {n}")).await);
    }
    let before = owner.room(room).await.expect(200);
    assert_eq!(before["last_seq"], 5);

    server.restart().await;

    // A fresh login: the account itself must have survived.
    let again = server.client();
    let who = again
        .login(&owner.username, &owner.password)
        .await
        .expect(200);
    assert_eq!(id(&who), owner.id);
    assert_eq!(again.room(room).await.expect(200), before);
    let history = again.history(room, "").await.expect(200);
    assert_eq!(history["messages"].as_array().unwrap(), &sent);

    let next = again
        .send_message(room, "after the restart")
        .await
        .expect(201);
    assert_eq!(seq(&next), 6);
    let mut socket = again.events(room, Some(0)).await;
    let events = socket.next_events(6).await;
    let kinds: Vec<_> = events
        .iter()
        .map(|e| (seq(e), kind(e).to_string()))
        .collect();
    let expected: Vec<_> = [
        "member.joined",
        "member.joined",
        "message.created",
        "message.created",
        "message.created",
        "message.created",
    ]
    .iter()
    .enumerate()
    .map(|(i, k)| (i64::try_from(i).unwrap() + 1, k.to_string()))
    .collect();
    assert_eq!(kinds, expected);
}
