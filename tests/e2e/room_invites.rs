//! Invites to a room and the owner adding members: the ways into a private room. An invite
//! admits as many joins as it has uses (no more, even at once), until it expires or is
//! revoked; a ban wins over any invite, and a refused join takes no use.

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::private_rooms::new_room;
use crate::support::{id, kind, texts, Backend, Resp, TestServer, User};

backend_tests!(
    an_invite_seats_its_holder_once_per_use,
    only_the_owner_or_an_admin_manages_invites,
    a_single_use_code_accepted_at_once_seats_exactly_one,
    expired_and_revoked_codes_seat_nobody,
    a_ban_or_a_full_room_wins_and_takes_no_use,
    the_owner_adds_members_directly,
);

async fn invite(by: &User, room: i64, body: Value) -> Resp {
    by.post(&format!("/api/rooms/{room}/invites"), &body).await
}

async fn accept(by: &User, code: &str) -> Resp {
    by.post("/api/room-invites/accept", &json!({ "code": code }))
        .await
}

fn code_in(made: &Value) -> String {
    made["code"].as_str().unwrap().to_string()
}

async fn uses_left(owner: &User, room: i64, invite: i64) -> i64 {
    let listed = owner
        .get(&format!("/api/rooms/{room}/invites"))
        .await
        .expect(200);
    listed["invites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == invite)
        .unwrap_or_else(|| panic!("invite {invite} not listed: {listed}"))["uses_left"]
        .as_i64()
        .unwrap()
}

async fn an_invite_seats_its_holder_once_per_use(b: Backend) {
    let server = TestServer::start(b).await;
    let _admin = server.user().await;
    let owner = server.user().await;
    let ann = server.user().await;
    let room = id(&new_room(&owner, "private").await);
    let mut owners = owner.events(room, None).await;

    let made = invite(&owner, room, json!({ "uses": 2, "expires_in_s": 3600 }))
        .await
        .expect(201);
    let code = code_in(&made);
    assert!(code.starts_with("rci_"), "{made}");
    assert_eq!(made["url"], format!("/#/invite/{code}"), "{made}");
    assert_eq!(made["room_id"], room, "{made}");
    assert_eq!(made["uses_left"], 2, "{made}");
    assert_eq!(made["created_by"], owner.id, "{made}");
    let expires = chrono::DateTime::parse_from_rfc3339(made["expires_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let in_an_hour = chrono::Utc::now().timestamp() + 3600;
    assert!((expires - in_an_hour).abs() < 120, "{made}");

    // Before: the room is not there for ann.
    ann.room(room).await.expect_problem(404, "room-not-found");
    let joined = accept(&ann, &code).await.expect(201);
    assert_eq!(joined["id"], room, "{joined}");
    assert_eq!(joined["joined"], true, "{joined}");
    assert_eq!(joined["visibility"], "private", "{joined}");
    assert_eq!(joined["member_count"], 2, "{joined}");
    let event = owners.next_event().await;
    assert_eq!(kind(&event), "member.joined", "{event}");
    assert_eq!(event["data"]["user"]["id"], ann.id, "{event}");
    // A member now: the room is listed, and the member paths work.
    ann.room(room).await.expect(200);
    ann.say(room, "thanks").await;
    let listed = ann.rooms().await.expect(200);
    assert!(
        listed["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == room),
        "{listed}"
    );
    // Accepting again: 200, no use taken.
    accept(&ann, &code).await.expect(200);
    assert_eq!(uses_left(&owner, room, id(&made)).await, 1);
    // The listing never shows a code.
    let listed = owner
        .get(&format!("/api/rooms/{room}/invites"))
        .await
        .expect(200);
    assert!(!listed.to_string().contains(&code), "{listed}");
    // Leaving and coming back takes the second use.
    ann.leave(room).await.expect(204);
    ann.room(room).await.expect_problem(404, "room-not-found");
    accept(&ann, &code).await.expect(201);
    assert_eq!(uses_left(&owner, room, id(&made)).await, 0);
    // Used up: a member opening the link again still hears 200, anyone else 403.
    accept(&ann, &code).await.expect(200);
    let carol = server.user().await;
    accept(&carol, &code)
        .await
        .expect_problem(403, "invite-invalid");

    // The defaults: one use, seven days.
    let default = invite(&owner, room, json!({})).await.expect(201);
    assert_eq!(default["uses_left"], 1, "{default}");
    // Public rooms take invites too.
    let public = owner.new_room(5).await;
    let made = invite(&owner, public, json!({})).await.expect(201);
    let bob = server.user().await;
    accept(&bob, &code_in(&made)).await.expect(201);

    for bad in [
        json!({ "uses": 0 }),
        json!({ "uses": 1001 }),
        json!({ "expires_in_s": 59 }),
        json!({ "expires_in_s": 2_592_001 }),
        json!({ "uses": "2" }),
    ] {
        invite(&owner, room, bad)
            .await
            .expect_problem(422, "validation-failed");
    }
    accept(&bob, "")
        .await
        .expect_problem(422, "validation-failed");
    // Only whitespace (here U+0085, which trims away) is a code that names no invite: the
    // same 403 as any unknown code, since the schema's 1-200 characters allow it.
    accept(&bob, "\u{85}")
        .await
        .expect_problem(403, "invite-invalid");
}

async fn only_the_owner_or_an_admin_manages_invites(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = server.user().await;
    let owner = server.user().await;
    let member = server.user().await;
    let outsider = server.user().await;
    let room = id(&new_room(&owner, "private").await);
    owner
        .put(&format!("/api/rooms/{room}/members/{}", member.id))
        .await
        .expect(201);
    let made = invite(&owner, room, json!({})).await.expect(201);
    let revoke = format!("/api/rooms/{room}/invites/{}", made["id"]);

    // A member who does not own it: 403; an outsider: the missing room's 404.
    invite(&member, room, json!({}))
        .await
        .expect_problem(403, "not-owner");
    member
        .get(&format!("/api/rooms/{room}/invites"))
        .await
        .expect_problem(403, "not-owner");
    member
        .delete(&revoke)
        .await
        .expect_problem(403, "not-owner");
    invite(&outsider, room, json!({}))
        .await
        .expect_problem(404, "room-not-found");
    outsider
        .get(&format!("/api/rooms/{room}/invites"))
        .await
        .expect_problem(404, "room-not-found");
    outsider
        .delete(&revoke)
        .await
        .expect_problem(404, "room-not-found");
    server
        .client()
        .post(
            "/api/room-invites/accept",
            &json!({ "code": code_in(&made) }),
        )
        .await
        .expect_problem(401, "unauthenticated");

    // An admin manages any room's invites.
    let by_admin = invite(&admin, room, json!({ "uses": 3 })).await.expect(201);
    assert_eq!(by_admin["created_by"], admin.id);
    let listed = admin
        .get(&format!("/api/rooms/{room}/invites"))
        .await
        .expect(200);
    assert_eq!(listed["invites"].as_array().unwrap().len(), 2, "{listed}");
    admin.delete(&revoke).await.expect(204);
    owner
        .delete(&revoke)
        .await
        .expect_problem(404, "invite-not-found");
    // An invite of another room is not found under this one.
    let other = owner.new_room(5).await;
    let elsewhere = invite(&owner, other, json!({})).await.expect(201);
    owner
        .delete(&format!("/api/rooms/{room}/invites/{}", elsewhere["id"]))
        .await
        .expect_problem(404, "invite-not-found");
    // An invite to register is no invite to a room.
    let to_register = admin.post("/api/invites", &json!({})).await.expect(201);
    accept(&outsider, to_register["code"].as_str().unwrap())
        .await
        .expect_problem(403, "invite-invalid");
    owner
        .delete(&format!("/api/rooms/{room}/invites/{}", to_register["id"]))
        .await
        .expect_problem(404, "invite-not-found");
    // Nor is a room's invite listed among the invites to register.
    let registration = admin.get("/api/invites").await.expect(200);
    assert_eq!(
        registration["invites"].as_array().unwrap().len(),
        1,
        "{registration}"
    );
}

/// Twenty people accept one single-use code at the same moment: exactly one is seated, the
/// others hear `invite-invalid`; a three-use code among ten seats exactly three.
async fn a_single_use_code_accepted_at_once_seats_exactly_one(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = id(&new_room(&owner, "private").await);
    let users = server.users(30).await;

    for (uses, group, seated) in [(1, &users[..20], 1), (3, &users[20..], 3)] {
        let takers = group.len();
        let made = invite(&owner, room, json!({ "uses": uses }))
            .await
            .expect(201);
        let code = code_in(&made);
        let before = owner.members(room).await.expect(200)["members"]
            .as_array()
            .unwrap()
            .len();
        let answers = join_all(group.iter().map(|u| accept(u, &code))).await;
        let created = answers.iter().filter(|r| r.status == 201).count();
        let invalid = answers
            .iter()
            .filter(|r| r.status == 403 && r.json["type"] == "invite-invalid")
            .count();
        assert_eq!(
            (created, invalid),
            (seated, takers - seated),
            "{:?}",
            answers
                .iter()
                .map(|r| (r.status, r.text.as_str()))
                .collect::<Vec<_>>()
        );
        let shown = owner.room(room).await.expect(200);
        assert_eq!(shown["member_count"], json!(before + seated), "{shown}");
        assert_eq!(uses_left(&owner, room, id(&made)).await, 0);
        let members = owner.members(room).await.expect(200);
        assert_eq!(
            members["members"].as_array().unwrap().len(),
            before + seated
        );
    }
}

async fn expired_and_revoked_codes_seat_nobody(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let ann = server.user().await;
    let room = id(&new_room(&owner, "private").await);

    accept(&ann, "rci_made_up")
        .await
        .expect_problem(403, "invite-invalid");

    // Expired: its time moved into the past in the database (the shortest lifetime is a
    // minute; the server compares with its clock at each accept).
    let brief = invite(&owner, room, json!({ "uses": 5, "expires_in_s": 60 }))
        .await
        .expect(201);
    let expired_at = chrono::Utc::now().timestamp_millis() - 1000;
    let moved = texts(
        server.database_url(),
        &format!(
            "UPDATE invites SET expires_at = {expired_at} WHERE id = {} RETURNING code_hash AS v",
            brief["id"]
        ),
    )
    .await;
    assert_eq!(moved.len(), 1);
    accept(&ann, &code_in(&brief))
        .await
        .expect_problem(403, "invite-invalid");
    assert_eq!(uses_left(&owner, room, id(&brief)).await, 5);

    let revoked = invite(&owner, room, json!({ "uses": 5 })).await.expect(201);
    owner
        .delete(&format!("/api/rooms/{room}/invites/{}", revoked["id"]))
        .await
        .expect(204);
    accept(&ann, &code_in(&revoked))
        .await
        .expect_problem(403, "invite-invalid");

    // A deleted room takes its invites with it.
    let live = invite(&owner, room, json!({})).await.expect(201);
    owner.delete_room(room).await.expect(204);
    accept(&ann, &code_in(&live))
        .await
        .expect_problem(403, "invite-invalid");
    ann.room(room).await.expect_problem(404, "room-not-found");
}

async fn a_ban_or_a_full_room_wins_and_takes_no_use(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let bob = server.user().await;
    let carol = server.user().await;
    let dave = server.user().await;
    let body = json!({ "name": "small", "capacity": 2, "visibility": "private" });
    let room = id(&owner.post("/api/rooms", &body).await.expect(201));

    owner
        .put(&format!("/api/rooms/{room}/bans/{}", bob.id))
        .await
        .expect(204);
    let made = invite(&owner, room, json!({ "uses": 1 })).await.expect(201);
    accept(&bob, &code_in(&made))
        .await
        .expect_problem(403, "banned");
    assert_eq!(uses_left(&owner, room, id(&made)).await, 1);
    owner
        .put(&format!("/api/rooms/{room}/members/{}", bob.id))
        .await
        .expect_problem(403, "banned");
    // The use bob could not take is carol's.
    accept(&carol, &code_in(&made)).await.expect(201);

    // Full (owner and carol): refused, and the use stays.
    let more = invite(&owner, room, json!({ "uses": 3 })).await.expect(201);
    accept(&dave, &code_in(&more))
        .await
        .expect_problem(409, "room-full");
    owner
        .put(&format!("/api/rooms/{room}/members/{}", dave.id))
        .await
        .expect_problem(409, "room-full");
    assert_eq!(uses_left(&owner, room, id(&more)).await, 3);
    carol.leave(room).await.expect(204);
    accept(&dave, &code_in(&more)).await.expect(201);
    assert_eq!(uses_left(&owner, room, id(&more)).await, 2);
}

async fn the_owner_adds_members_directly(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = server.user().await;
    let owner = server.user().await;
    let ann = server.user().await;
    let bob = server.user().await;
    let gone = server.user().await;
    let room = id(&new_room(&owner, "private").await);
    let mut owners = owner.events(room, None).await;
    let add = |user: i64| format!("/api/rooms/{room}/members/{user}");

    let added = owner.put(&add(ann.id)).await.expect(201);
    assert_eq!(added["id"], room, "{added}");
    assert_eq!(added["member_count"], 2, "{added}");
    let event = owners.next_event().await;
    assert_eq!(kind(&event), "member.joined", "{event}");
    assert_eq!(event["data"]["user"]["id"], ann.id, "{event}");
    assert_eq!(event["data"]["user"]["username"], ann.username.as_str());
    owner.put(&add(ann.id)).await.expect(200);
    // ann is in: the room, its history, its socket.
    ann.room(room).await.expect(200);
    let mut anns = ann.events(room, None).await;

    // A member who is not the owner: 403; an outsider: 404; unknown users: 404.
    ann.put(&add(bob.id)).await.expect_problem(403, "not-owner");
    bob.put(&add(bob.id))
        .await
        .expect_problem(404, "room-not-found");
    owner
        .put(&add(999_999_999))
        .await
        .expect_problem(404, "user-not-found");
    admin
        .put(&format!("/api/users/{}/disabled", gone.id))
        .await
        .expect(204);
    owner
        .put(&add(gone.id))
        .await
        .expect_problem(404, "user-not-found");

    // An admin adds anyone.
    admin.put(&add(bob.id)).await.expect(201);
    let event = anns.next_event().await;
    assert_eq!(event["data"]["user"]["id"], bob.id, "{event}");
    let members = owner.members(room).await.expect(200);
    let ids: Vec<i64> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [owner.id, ann.id, bob.id]);
}
