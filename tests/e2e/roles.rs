//! Admins: the first account of an empty server is one (once, even when two register at
//! the same moment), the CLI grants and withdraws the right, and admins disable and enable
//! accounts, delete any room and remove any member. Everyone else gets 403 `not-admin`.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::Value;
use tokio::time::timeout;

use crate::cli::roomcast_with;
use crate::support::{unique_username, Backend, TestServer, PASSWORD};

backend_tests!(
    the_first_account_is_the_admin,
    two_first_registrations_make_one_admin,
    admins_disable_and_enable_accounts,
    admins_delete_any_room_and_remove_any_member,
    the_cli_grants_and_withdraws_admin_rights,
);

async fn the_first_account_is_the_admin(b: Backend) {
    let server = TestServer::start(b).await;
    let alice = server.user().await;
    let bob = server.user().await;
    assert_eq!(alice.me().await.expect(200)["admin"], true);
    let me = bob.me().await.expect(200);
    assert_eq!(me["admin"], false, "{me}");
    assert_eq!(me["id"], bob.id);

    bob.get("/api/users").await.expect_problem(403, "not-admin");
    let listed = alice.get("/api/users").await.expect(200);
    let users = listed["users"].as_array().unwrap();
    assert_eq!(users.len(), 2, "{listed}");
    assert_eq!(users[0]["id"], alice.id);
    assert_eq!(users[0]["admin"], true);
    assert_eq!(users[1]["id"], bob.id);
    assert_eq!(users[1]["admin"], false);
    assert_eq!(users[1]["disabled"], false);
    assert!(!listed.to_string().contains(PASSWORD), "{listed}");
}

/// Ten registrations at once on an empty server: exactly one of them is the admin.
async fn two_first_registrations_make_one_admin(b: Backend) {
    let server = TestServer::start(b).await;
    let clients: Vec<_> = (0..10).map(|_| server.client()).collect();
    let names: Vec<String> = (0..10).map(|_| unique_username("racer")).collect();
    let registered = join_all(
        clients
            .iter()
            .zip(&names)
            .map(|(client, name)| client.register(name, PASSWORD)),
    )
    .await;
    for r in registered {
        r.expect(201);
    }
    let mut admins = 0;
    for (client, name) in clients.iter().zip(&names) {
        client.login(name, PASSWORD).await.expect(200);
        if client.me().await.expect(200)["admin"] == true {
            admins += 1;
        }
    }
    assert_eq!(admins, 1, "one admin among ten first registrations");
}

async fn admins_disable_and_enable_accounts(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = server.user().await;
    let bob = server.user().await;
    let carol = server.user().await;
    let room = bob.new_room(5).await;
    let mut socket = bob.events(room, None).await;

    // Not an admin: refused, and nothing changes.
    let path = format!("/api/users/{}/disabled", carol.id);
    bob.put(&path).await.expect_problem(403, "not-admin");
    bob.delete(&path).await.expect_problem(403, "not-admin");
    carol.me().await.expect(200);

    let path = format!("/api/users/{}/disabled", bob.id);
    admin.put(&path).await.expect(204);
    timeout(Duration::from_secs(10), socket.expect_close(4001))
        .await
        .expect("the disabled user's socket closes");
    bob.me().await.expect_problem(401, "unauthenticated");
    bob.login(&bob.username, PASSWORD)
        .await
        .expect_problem(401, "invalid-credentials");
    let users = admin.get("/api/users").await.expect(200);
    let listed: &Value = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == bob.id)
        .unwrap();
    assert_eq!(listed["disabled"], true, "{listed}");

    admin.delete(&path).await.expect(204);
    bob.login(&bob.username, PASSWORD).await.expect(200);
    bob.room(room).await.expect(200);

    // An admin cannot lock themselves out; unknown ids are 404.
    admin
        .put(&format!("/api/users/{}/disabled", admin.id))
        .await
        .expect_problem(403, "forbidden");
    admin
        .put("/api/users/999999/disabled")
        .await
        .expect_problem(404, "user-not-found");
    admin
        .delete("/api/users/999999/disabled")
        .await
        .expect_problem(404, "user-not-found");
}

async fn admins_delete_any_room_and_remove_any_member(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = server.user().await;
    let owner = server.user().await;
    let carol = server.user().await;
    let room = owner.new_room(5).await;
    carol.join(room).await.expect(201);
    let mut carols = carol.events(room, None).await;
    let mut owners = owner.events(room, None).await;

    // A member who is no admin may do neither.
    carol
        .delete_room(room)
        .await
        .expect_problem(403, "not-owner");
    let second = owner.new_room(5).await;
    carol.join(second).await.expect(201);
    admin.join(second).await.expect(201);
    carol
        .remove_member(second, admin.id)
        .await
        .expect_problem(403, "not-owner");

    // The admin, not a member of `room`, removes carol: member.left, her socket closes 4003.
    admin.remove_member(room, carol.id).await.expect(204);
    timeout(Duration::from_secs(10), carols.expect_close(4003))
        .await
        .expect("the removed member's socket closes");
    let left = owners.next_event().await;
    assert_eq!(left["type"], "member.left", "{left}");
    assert_eq!(left["data"]["user"]["id"], carol.id, "{left}");
    // The owner still cannot be removed, even by an admin.
    admin
        .remove_member(room, owner.id)
        .await
        .expect_problem(409, "owner-cannot-leave");

    admin.delete_room(room).await.expect(204);
    timeout(Duration::from_secs(10), owners.expect_close(4004))
        .await
        .expect("the deleted room's socket closes");
    owner.room(room).await.expect_problem(404, "room-not-found");
    admin
        .delete_room(room)
        .await
        .expect_problem(404, "room-not-found");
}

async fn the_cli_grants_and_withdraws_admin_rights(b: Backend) {
    let server = TestServer::start(b).await;
    let url = server.database_url().to_string();
    let first = server.user().await;
    let stdin = format!("{PASSWORD}\n");

    let boss = unique_username("boss");
    roomcast_with(&url, &["user", "create", &boss, "--admin"], &stdin, &[])
        .await
        .ok();
    let carol = server.user().await;
    let boss_client = server.client();
    boss_client.login(&boss, PASSWORD).await.expect(200);
    assert_eq!(boss_client.me().await.expect(200)["admin"], true);
    assert_eq!(first.me().await.expect(200)["admin"], true);

    carol
        .get("/api/users")
        .await
        .expect_problem(403, "not-admin");
    let out = roomcast_with(&url, &["user", "admin", &carol.username, "on"], "", &[]).await;
    assert!(out.ok().contains("an admin"), "{}", out.ok());
    // At once, on the session she already has.
    carol.get("/api/users").await.expect(200);
    roomcast_with(&url, &["user", "admin", &carol.username, "off"], "", &[])
        .await
        .ok();
    carol
        .get("/api/users")
        .await
        .expect_problem(403, "not-admin");

    let listed = roomcast_with(&url, &["user", "list", "--json"], "", &[]).await;
    let rows: Vec<Value> = listed
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let admins: Vec<&str> = rows
        .iter()
        .filter(|r| r["admin"] == true)
        .map(|r| r["username"].as_str().unwrap())
        .collect();
    assert_eq!(admins, [first.username.as_str(), boss.as_str()], "{rows:?}");

    let missing = roomcast_with(&url, &["user", "admin", "nobody_here", "on"], "", &[]).await;
    assert!(
        missing.failed().contains("no user named"),
        "{}",
        missing.failed()
    );
    let bad = roomcast_with(&url, &["user", "admin", &carol.username, "maybe"], "", &[]).await;
    bad.failed();

    // Disable and enable from the console.
    roomcast_with(&url, &["user", "disable", &carol.username], "", &[])
        .await
        .ok();
    carol
        .login(&carol.username, PASSWORD)
        .await
        .expect_problem(401, "invalid-credentials");
    roomcast_with(&url, &["user", "enable", &carol.username], "", &[])
        .await
        .ok();
    carol.login(&carol.username, PASSWORD).await.expect(200);
    carol.me().await.expect(200);
}
