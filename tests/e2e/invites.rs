//! Registration modes (`registration = open | invite | closed`) and invites to register: an
//! invite admits as many registrations as it has uses (no more, even at once), until it
//! expires or is revoked; only admins (and the CLI) make them.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::cli::roomcast_with;
use crate::support::{unique_username, Backend, Client, Resp, TestServer, User, PASSWORD};

backend_tests!(
    closed_registration_leaves_only_the_cli,
    an_invite_admits_as_many_as_its_uses_even_at_once,
    expired_and_revoked_invites_admit_nobody,
    only_admins_make_invites,
    the_cli_creates_lists_and_revokes_invites,
);

async fn register(client: &Client, invite: Option<&str>) -> Resp {
    let mut body = json!({ "username": unique_username("guest"), "password": PASSWORD });
    if let Some(code) = invite {
        body["invite"] = json!(code);
    }
    client.post("/api/accounts", &body).await
}

/// An admin made with the CLI (registration through the API is not open), logged in.
async fn cli_admin(server: &TestServer) -> User {
    let name = unique_username("root");
    let stdin = format!("{PASSWORD}\n");
    roomcast_with(
        server.database_url(),
        &["user", "create", &name, "--admin"],
        &stdin,
        &[],
    )
    .await
    .ok();
    let client = server.client();
    let me = client.login(&name, PASSWORD).await.expect(200);
    User {
        id: me["id"].as_i64().unwrap(),
        username: name,
        password: PASSWORD.into(),
        client,
    }
}

async fn new_invite(admin: &User, body: Value) -> Value {
    let made = admin.post("/api/invites", &body).await.expect(201);
    assert!(made["code"].as_str().unwrap().starts_with("rci_"), "{made}");
    made
}

async fn closed_registration_leaves_only_the_cli(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_REGISTRATION", "closed")
        .start()
        .await;
    register(&server.client(), None)
        .await
        .expect_problem(403, "registration-closed");
    // Even with an invite: closed is closed.
    let admin = cli_admin(&server).await;
    let made = new_invite(&admin, json!({})).await;
    register(&server.client(), made["code"].as_str())
        .await
        .expect_problem(403, "registration-closed");
    assert_eq!(admin.me().await.expect(200)["admin"], true);
}

async fn an_invite_admits_as_many_as_its_uses_even_at_once(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_REGISTRATION", "invite")
        .start()
        .await;
    let anyone = server.client();
    register(&anyone, None)
        .await
        .expect_problem(403, "invite-invalid");
    register(&anyone, Some("rci_made_up"))
        .await
        .expect_problem(403, "invite-invalid");

    let admin = cli_admin(&server).await;
    let made = new_invite(&admin, json!({ "uses": 3 })).await;
    assert_eq!(made["uses_left"], 3, "{made}");
    let code = made["code"].as_str().unwrap().to_string();

    // A refused registration (a bad password) takes no use.
    let refused = anyone
        .post(
            "/api/accounts",
            &json!({ "username": unique_username("guest"), "password": "short", "invite": code }),
        )
        .await;
    refused.expect_problem(422, "validation-failed");

    let clients: Vec<Client> = (0..10).map(|_| server.client()).collect();
    let answers = join_all(clients.iter().map(|c| register(c, Some(&code)))).await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    let invalid = answers
        .iter()
        .filter(|r| r.status == 403 && r.json["type"] == "invite-invalid")
        .count();
    assert_eq!(
        (created, invalid),
        (3, 7),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );

    let listed = admin.get("/api/invites").await.expect(200);
    let invite = &listed["invites"][0];
    assert_eq!(invite["id"], made["id"]);
    assert_eq!(invite["uses_left"], 0, "{listed}");
    assert_eq!(invite["created_by"], admin.id);
    assert!(!listed.to_string().contains(&code), "a code is shown once");
    let users = admin.get("/api/users").await.expect(200);
    assert_eq!(users["users"].as_array().unwrap().len(), 4, "{users}");
}

async fn expired_and_revoked_invites_admit_nobody(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_REGISTRATION", "invite")
        .start()
        .await;
    let admin = cli_admin(&server).await;
    let anyone = server.client();

    let brief = new_invite(&admin, json!({ "uses": 5, "expires_in_secs": 1 })).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    register(&anyone, brief["code"].as_str())
        .await
        .expect_problem(403, "invite-invalid");

    let revoked = new_invite(&admin, json!({ "uses": 5 })).await;
    let path = format!("/api/invites/{}", revoked["id"]);
    admin.delete(&path).await.expect(204);
    admin
        .delete(&path)
        .await
        .expect_problem(404, "invite-not-found");
    register(&anyone, revoked["code"].as_str())
        .await
        .expect_problem(403, "invite-invalid");

    // A live one still works, once by default.
    let single = new_invite(&admin, json!({})).await;
    assert_eq!(single["uses_left"], 1);
    register(&anyone, single["code"].as_str()).await.expect(201);
    register(&anyone, single["code"].as_str())
        .await
        .expect_problem(403, "invite-invalid");

    for bad in [
        json!({ "uses": 0 }),
        json!({ "uses": 1001 }),
        json!({ "expires_in_secs": 0 }),
        json!({ "expires_in_secs": 2_592_001 }),
    ] {
        admin
            .post("/api/invites", &bad)
            .await
            .expect_problem(422, "validation-failed");
    }
}

async fn only_admins_make_invites(b: Backend) {
    let server = TestServer::start(b).await;
    let admin = server.user().await;
    let someone = server.user().await;
    let made = new_invite(&admin, json!({})).await;
    someone
        .post("/api/invites", &json!({}))
        .await
        .expect_problem(403, "not-admin");
    someone
        .get("/api/invites")
        .await
        .expect_problem(403, "not-admin");
    someone
        .delete(&format!("/api/invites/{}", made["id"]))
        .await
        .expect_problem(403, "not-admin");
    server
        .client()
        .get("/api/invites")
        .await
        .expect_problem(401, "unauthenticated");
    // Open registration ignores invites.
    register(&server.client(), Some("anything"))
        .await
        .expect(201);
}

async fn the_cli_creates_lists_and_revokes_invites(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_REGISTRATION", "invite")
        .start()
        .await;
    let url = server.database_url().to_string();
    let made = roomcast_with(&url, &["invite", "create", "--uses", "2"], "", &[]).await;
    let code = made.ok().trim().to_string();
    assert!(code.starts_with("rci_"), "{code}");
    register(&server.client(), Some(&code)).await.expect(201);

    let listed = roomcast_with(&url, &["invite", "list", "--json"], "", &[]).await;
    let rows: Vec<Value> = listed
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["uses_left"], 1);
    assert_eq!(rows[0]["created_by"], Value::Null);
    let id = rows[0]["id"].to_string();

    roomcast_with(&url, &["invite", "revoke", &id], "", &[])
        .await
        .ok();
    register(&server.client(), Some(&code))
        .await
        .expect_problem(403, "invite-invalid");
    let again = roomcast_with(&url, &["invite", "revoke", &id], "", &[]).await;
    assert!(
        again.failed().contains("no such invite"),
        "{}",
        again.failed()
    );
    let bad = roomcast_with(&url, &["invite", "create", "--uses", "0"], "", &[]).await;
    assert!(bad.failed().contains("uses"), "{}", bad.failed());
}
