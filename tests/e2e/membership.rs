//! Joining and leaving: seat accounting under real concurrency, idempotency,
//! and the owner's rights.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Barrier;

use crate::support::{id, kind, Backend, Resp, TestServer, User};

backend_tests!(
    last_seats_go_to_exactly_that_many_of_200,
    no_joiner_is_refused_while_a_seat_is_free,
    joining_twice_keeps_one_seat,
    leaving_is_idempotent,
    owner_cannot_leave,
    a_full_room_refuses_until_someone_leaves,
    owner_removes_members,
);

/// Capacity 6 with the owner seated leaves 5 seats for 200 simultaneous joins.
async fn last_seats_go_to_exactly_that_many_of_200(b: Backend) {
    race_for_seats(b, 6, 200).await;
}

/// Capacity 100 with the owner seated leaves 99 seats for 150 joins: all 99
/// must be taken, so nobody was refused while a seat was free.
async fn no_joiner_is_refused_while_a_seat_is_free(b: Backend) {
    race_for_seats(b, 100, 150).await;
}

async fn race_for_seats(b: Backend, capacity: usize, joiners: usize) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(i64::try_from(capacity).unwrap()).await;
    let users = server.users(joiners).await;

    let results = join_all_at_once(users, room).await;

    let free_seats = capacity - 1;
    let winners: BTreeSet<i64> = results
        .iter()
        .filter(|(_, r)| r.status == 201)
        .map(|(user, _)| *user)
        .collect();
    for (_, response) in &results {
        match response.status {
            201 => {
                assert_eq!(response.json["joined"], true, "{}", response.text);
                let count =
                    usize::try_from(response.json["member_count"].as_u64().unwrap()).unwrap();
                assert!((2..=capacity).contains(&count), "{}", response.text);
            }
            _ => response.expect_problem(409, "room-full"),
        }
    }
    assert_eq!(
        winners.len(),
        free_seats,
        "{joiners} joins for {free_seats} free seats"
    );

    let shown = owner.room(room).await.expect(200);
    assert_eq!(shown["member_count"], capacity);
    let members = member_ids(&owner.members(room).await.expect(200));
    let mut seated = winners.clone();
    seated.insert(owner.id);
    assert_eq!(members, seated, "members list vs. the 201s");
    assert_eq!(members.len(), capacity);

    // Only the winners' joins became events: seq 1 (owner) and one per seat.
    assert_eq!(shown["last_seq"], capacity);
    let mut socket = owner.events(room, Some(0)).await;
    let joined: BTreeSet<i64> = socket
        .next_events(capacity)
        .await
        .iter()
        .enumerate()
        .map(|(i, event)| {
            assert_eq!(event["seq"], i + 1, "{event}");
            assert_eq!(kind(event), "member.joined", "{event}");
            event["data"]["user"]["id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(joined, seated);
}

/// One join per user, all released by a barrier at once, each on its own
/// task so the requests really are in flight together.
async fn join_all_at_once(users: Vec<User>, room: i64) -> Vec<(i64, Resp)> {
    let barrier = Arc::new(Barrier::new(users.len()));
    let tasks: Vec<_> = users
        .into_iter()
        .map(|user| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                (user.id, user.join(room).await)
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

async fn joining_twice_keeps_one_seat(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let joiner = server.user().await;
    let room = owner.new_room(5).await;

    let first = joiner.join(room).await.expect(201);
    assert_eq!(first["joined"], true);
    assert_eq!(first["member_count"], 2);
    assert_eq!(first["last_seq"], 2);

    let second = joiner.join(room).await.expect(200);
    assert_eq!(second["joined"], true);
    assert_eq!(second["member_count"], 2);
    assert_eq!(second["last_seq"], 2, "a repeated join made an event");
    // The owner is already a member too.
    let owners = owner.join(room).await.expect(200);
    assert_eq!(owners["member_count"], 2);

    assert_eq!(member_ids(&owner.members(room).await.expect(200)).len(), 2);
}

async fn leaving_is_idempotent(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let member = server.user().await;
    let stranger = server.user().await;
    let room = owner.new_room(5).await;
    member.join(room).await.expect(201);

    member.leave(room).await.expect(204);
    member.leave(room).await.expect(204);
    stranger.leave(room).await.expect(204);

    let shown = member.room(room).await.expect(200);
    assert_eq!(shown["joined"], false);
    assert_eq!(shown["member_count"], 1);
    // One member.left event; the no-op leaves made none.
    assert_eq!(shown["last_seq"], 3);
    let mut socket = owner.events(room, Some(2)).await;
    let left = socket.next_event().await;
    assert_eq!(kind(&left), "member.left");
    assert_eq!(left["seq"], 3);
    assert_eq!(left["data"]["user"]["id"], member.id);
    assert_eq!(
        member_ids(&owner.members(room).await.expect(200)),
        BTreeSet::from([owner.id])
    );
}

async fn owner_cannot_leave(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;

    owner
        .leave(room)
        .await
        .expect_problem(409, "owner-cannot-leave");
    let shown = owner.room(room).await.expect(200);
    assert_eq!(shown["joined"], true);
    assert_eq!(shown["member_count"], 1);
}

async fn a_full_room_refuses_until_someone_leaves(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let first = server.user().await;
    let second = server.user().await;
    let solo = owner.new_room(1).await;
    let pair = owner.new_room(2).await;

    first.join(solo).await.expect_problem(409, "room-full");

    first.join(pair).await.expect(201);
    second.join(pair).await.expect_problem(409, "room-full");
    first.leave(pair).await.expect(204);
    let joined = second.join(pair).await.expect(201);
    assert_eq!(joined["member_count"], 2);
}

async fn owner_removes_members(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let member = server.user().await;
    let other = server.user().await;
    let room = owner.new_room(5).await;
    member.join(room).await.expect(201);
    other.join(room).await.expect(201);

    let listed = owner.members(room).await.expect(200);
    let entry = listed["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == member.id)
        .unwrap_or_else(|| panic!("member missing: {listed}"))
        .clone();
    assert_eq!(entry["username"], member.username.as_str());
    assert!(entry["joined_at"].is_string(), "{entry}");

    other
        .remove_member(room, member.id)
        .await
        .expect_problem(403, "not-owner");
    owner.remove_member(room, member.id).await.expect(204);

    assert_eq!(
        member_ids(&owner.members(room).await.expect(200)),
        BTreeSet::from([owner.id, other.id])
    );
    assert_eq!(owner.room(room).await.expect(200)["member_count"], 2);
    member
        .send_message(room, "still here?")
        .await
        .expect_problem(403, "not-a-member");
}

fn member_ids(body: &Value) -> BTreeSet<i64> {
    body["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members array: {body}"))
        .iter()
        .map(id)
        .collect()
}
