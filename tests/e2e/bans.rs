//! Bans: the owner (or an admin) bans a user from a room; a member is removed at once
//! (`member.left`, sockets close 4003) and every later join is refused with 403 `banned`
//! until the ban is lifted. A ban racing joins never leaves a banned member behind.

use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::timeout;

use crate::support::{kind, Backend, TestServer, User};

backend_tests!(
    the_owner_bans_and_lifts_a_ban,
    only_the_owner_or_an_admin_bans,
    bans_racing_joins_leave_no_banned_member,
    a_banned_user_hears_banned_even_when_the_room_is_full,
);

async fn ban(by: &User, room: i64, user: i64) -> crate::support::Resp {
    by.put(&format!("/api/rooms/{room}/bans/{user}")).await
}

async fn unban(by: &User, room: i64, user: i64) -> crate::support::Resp {
    by.delete(&format!("/api/rooms/{room}/bans/{user}")).await
}

async fn the_owner_bans_and_lifts_a_ban(b: Backend) {
    let server = TestServer::start(b).await;
    let _admin = server.user().await;
    let owner = server.user().await;
    let bob = server.user().await;
    let carol = server.user().await;
    let room = owner.new_room(5).await;
    bob.join(room).await.expect(201);
    let mut owners = owner.events(room, None).await;
    let mut bobs = bob.events(room, None).await;

    ban(&owner, room, bob.id).await.expect(204);
    timeout(Duration::from_secs(10), bobs.expect_close(4003))
        .await
        .expect("the banned member's socket closes");
    let left = owners.next_event().await;
    assert_eq!(kind(&left), "member.left", "{left}");
    assert_eq!(left["data"]["user"]["id"], bob.id, "{left}");
    bob.join(room).await.expect_problem(403, "banned");
    bob.send_message(room, "let me in")
        .await
        .expect_problem(403, "not-a-member");
    assert_eq!(bob.try_events(room, None).await.err(), Some(403));
    // Banning again changes nothing; a non-member can be banned in advance.
    ban(&owner, room, bob.id).await.expect(204);
    ban(&owner, room, carol.id).await.expect(204);
    carol.join(room).await.expect_problem(403, "banned");
    // One member.left, nothing else: the next event is carol's, after the lift below.

    unban(&owner, room, bob.id).await.expect(204);
    unban(&owner, room, bob.id).await.expect(204);
    bob.join(room).await.expect(201);
    let joined = owners.next_event().await;
    assert_eq!(kind(&joined), "member.joined", "{joined}");
    assert_eq!(joined["data"]["user"]["id"], bob.id, "{joined}");
    assert_eq!(joined["seq"], left["seq"].as_i64().unwrap() + 1, "{joined}");
    carol.join(room).await.expect_problem(403, "banned");
}

async fn only_the_owner_or_an_admin_bans(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = server.user().await;
    let owner = server.user().await;
    let bob = server.user().await;
    let carol = server.user().await;
    let room = owner.new_room(5).await;
    bob.join(room).await.expect(201);
    carol.join(room).await.expect(201);

    ban(&carol, room, bob.id)
        .await
        .expect_problem(403, "not-owner");
    unban(&carol, room, bob.id)
        .await
        .expect_problem(403, "not-owner");
    ban(&owner, room, owner.id)
        .await
        .expect_problem(403, "forbidden");
    ban(&admin, room, owner.id)
        .await
        .expect_problem(403, "forbidden");
    ban(&owner, 999_999, bob.id)
        .await
        .expect_problem(404, "room-not-found");
    ban(&owner, room, 999_999)
        .await
        .expect_problem(404, "user-not-found");
    server
        .client()
        .put(&format!("/api/rooms/{room}/bans/{}", bob.id))
        .await
        .expect_problem(401, "unauthenticated");

    // An admin, not a member, bans and lifts.
    ban(&admin, room, bob.id).await.expect(204);
    bob.join(room).await.expect_problem(403, "banned");
    let members = owner.members(room).await.expect(200);
    assert!(
        !members["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == bob.id),
        "{members}"
    );
    unban(&admin, room, bob.id).await.expect(204);
    bob.join(room).await.expect(201);
}

/// Twenty users join while the owner bans each of them at the same moment: afterwards none
/// of them is a member, and the seats add up.
async fn bans_racing_joins_leave_no_banned_member(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(100).await;
    let users = server.users(20).await;
    let joins = join_all(users.iter().map(|u| u.join(room)));
    let bans = join_all(users.iter().map(|u| ban(&owner, room, u.id)));
    let (joined, banned) = tokio::join!(joins, bans);
    for r in banned {
        r.expect(204);
    }
    for r in joined {
        assert!(
            r.status == 201 || (r.status == 403 && r.json["type"] == "banned"),
            "{} {}",
            r.status,
            r.text
        );
    }
    let members = owner.members(room).await.expect(200);
    let listed = members["members"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "only the owner is left: {members}");
    let shown = owner.room(room).await.expect(200);
    assert_eq!(shown["member_count"], 1, "{shown}");
    for u in &users {
        u.join(room).await.expect_problem(403, "banned");
    }
}

/// The ban is the reason that lasts: a full room must not hide it behind `room-full`, or the
/// banned user would retry once a seat frees and be refused for a different reason.
async fn a_banned_user_hears_banned_even_when_the_room_is_full(b: Backend) {
    let server = TestServer::start(b).await;
    let _admin = server.user().await;
    let owner = server.user().await;
    let bob = server.user().await;
    let carol = server.user().await;
    let room = owner.new_room(2).await;
    ban(&owner, room, bob.id).await.expect(204);
    carol.join(room).await.expect(201);
    bob.join(room).await.expect_problem(403, "banned");
    // The room is full for everyone else: the capacity rule is unchanged.
    let dave = server.user().await;
    dave.join(room).await.expect_problem(409, "room-full");
}
