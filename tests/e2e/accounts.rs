//! Registration, login, who-am-I and logout.

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::Method;
use serde_json::json;

use crate::support::{unique_username, Backend, TestServer, PASSWORD, SESSION_COOKIE};

backend_tests!(
    register_login_me_logout,
    duplicate_username_is_case_insensitive,
    wrong_password_and_unknown_user_look_the_same,
    invalid_accounts_are_refused,
    logout_revokes_every_copy_of_the_cookie,
);

async fn register_login_me_logout(b: Backend) {
    let server = TestServer::start(b).await;
    let client = server.client();
    let name = unique_username("reg");

    let account = client.register(&name, PASSWORD).await.expect(201);
    assert_eq!(account["username"], name.as_str());
    assert!(account["id"].is_i64(), "{account}");
    assert!(account["created_at"].is_string(), "{account}");
    assert!(
        account.get("password").is_none() && !account.to_string().contains(PASSWORD),
        "account leaks the password: {account}"
    );
    // Registering does not log in.
    client.me().await.expect_problem(401, "unauthenticated");

    let login = client.login(&name, PASSWORD).await;
    let set_cookie: Vec<_> = login
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with(&format!("{SESSION_COOKIE}=")))
        .unwrap_or_else(|| panic!("login sets no {SESSION_COOKIE}: {set_cookie:?}"));
    let attributes = session.to_ascii_lowercase();
    assert!(attributes.contains("httponly"), "{session}");
    assert!(attributes.contains("samesite=lax"), "{session}");
    let who = login.expect(200);
    assert_eq!(
        who,
        json!({ "id": account["id"], "username": name, "bot": false })
    );

    // The server's first account: an admin.
    assert_eq!(
        client.me().await.expect(200),
        json!({ "id": account["id"], "username": name, "bot": false, "admin": true })
    );

    assert_eq!(client.logout().await.expect(204), serde_json::Value::Null);
    client.me().await.expect_problem(401, "unauthenticated");
}

async fn duplicate_username_is_case_insensitive(b: Backend) {
    let server = TestServer::start(b).await;
    let client = server.client();
    let lower = unique_username("dup");
    let mixed = format!("Dup{}", &lower[3..]);

    // Stored lowercased, so the mixed-case spelling is the same account.
    let account = client.register(&mixed, PASSWORD).await.expect(201);
    assert_eq!(account["username"], lower.as_str());

    for again in [lower.clone(), mixed.clone(), lower.to_ascii_uppercase()] {
        client
            .register(&again, "another password")
            .await
            .expect_problem(409, "username-taken");
    }
    // The first password is still the one that works.
    client.login(&lower, PASSWORD).await.expect(200);
}

async fn wrong_password_and_unknown_user_look_the_same(b: Backend) {
    let server = TestServer::start(b).await;
    let user = server.user().await;
    let client = server.client();

    let wrong_password = client.login(&user.username, "not the password").await;
    let unknown_user = client.login(&unique_username("ghost"), PASSWORD).await;

    wrong_password.expect_problem(401, "invalid-credentials");
    unknown_user.expect_problem(401, "invalid-credentials");
    // An attacker must not learn which usernames exist.
    assert_eq!(wrong_password.json, unknown_user.json);
    assert!(
        client.cookie_header().is_none(),
        "a failed login set a cookie"
    );
}

async fn invalid_accounts_are_refused(b: Backend) {
    let server = TestServer::start(b).await;
    let client = server.client();
    let n = unique_username("v");

    let bad = [
        ("ab".to_string(), PASSWORD.to_string()),        // too short
        ("a".repeat(33), PASSWORD.to_string()),          // too long
        ("has space".to_string(), PASSWORD.to_string()), // bad character
        ("bang!".to_string(), PASSWORD.to_string()),
        ("ålice".to_string(), PASSWORD.to_string()), // not ASCII
        (String::new(), PASSWORD.to_string()),
        (format!("{n}_p"), "1234567".to_string()), // 7 characters
        (format!("{n}_q"), "x".repeat(1025)),      // 1025 bytes
        (format!("{n}_r"), String::new()),
        (format!("{n}_s"), "é".repeat(513)),    // 1026 bytes
        (format!("{n}_u"), "éééé".to_string()), // 8 bytes, but 4 characters
    ];
    for (username, password) in &bad {
        client
            .register(username, password)
            .await
            .expect_problem(422, "validation-failed");
    }
    // Wrong JSON shapes are validation failures too.
    for body in [
        json!({ "username": n }),
        json!({ "username": 5, "password": PASSWORD }),
    ] {
        client
            .post("/api/accounts", &body)
            .await
            .expect_problem(422, "validation-failed");
    }

    // The boundaries themselves are accepted. A password has at least 8
    // characters and at most 1024 bytes: "é" is 2 bytes, so 512 are 1024.
    let good = [
        ("abc".to_string(), "12345678".to_string()),
        ("a".repeat(32), "x".repeat(1024)),
        (format!("{n}.-_9"), "é".repeat(512)),
        (format!("{n}_t"), "éééééééé".to_string()),
    ];
    for (username, password) in &good {
        client.register(username, password).await.expect(201);
        client.login(username, password).await.expect(200);
    }
}

async fn logout_revokes_every_copy_of_the_cookie(b: Backend) {
    let server = TestServer::start(b).await;
    let user = server.user().await;
    // A second agent without a jar, replaying the same cookie by hand: what
    // a stolen cookie looks like.
    let copy = reqwest::Client::builder().no_proxy().build().unwrap();
    let cookie = user.session_cookie();
    let me_with_copy = || {
        copy.request(Method::GET, user.url("/api/me"))
            .header(COOKIE, &cookie)
            .send()
    };
    assert_eq!(me_with_copy().await.unwrap().status(), 200);

    user.logout().await.expect(204);

    let after = me_with_copy().await.unwrap();
    assert_eq!(after.status(), 401);
    let body: serde_json::Value = after.json().await.unwrap();
    assert_eq!(body["type"], "unauthenticated", "{body}");
    user.me().await.expect_problem(401, "unauthenticated");
}
