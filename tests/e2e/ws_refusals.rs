//! Who may open a room's event stream: session, membership, Origin.

use crate::support::{connect, Backend, TestServer, SESSION_COOKIE};

backend_tests!(
    no_or_bogus_cookie_is_401,
    non_member_is_403,
    foreign_origin_is_403,
    own_and_allowed_origins_are_accepted,
);

async fn no_or_bogus_cookie_is_401(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let url = owner.events_url(room, None);

    assert_eq!(connect(&url, &[]).await.err(), Some(401));
    let bogus = format!("{SESSION_COOKIE}=not-a-session");
    assert_eq!(connect(&url, &[("cookie", bogus)]).await.err(), Some(401));
    // The same request with the real cookie goes through, so the 401s were
    // about the cookie and nothing else.
    let real = owner.session_cookie();
    assert!(connect(&url, &[("cookie", real)]).await.is_ok());
}

async fn non_member_is_403(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let outsider = server.user().await;
    let room = owner.new_room(5).await;

    assert_eq!(outsider.try_events(room, None).await.err(), Some(403));
    assert_eq!(outsider.try_events(room, Some(0)).await.err(), Some(403));
    outsider.join(room).await.expect(201);
    assert!(outsider.try_events(room, Some(0)).await.is_ok());
}

async fn foreign_origin_is_403(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;

    for origin in [
        "http://evil.example",
        // Same host, another port: a different origin.
        "http://127.0.0.1:1",
        "null",
    ] {
        assert_eq!(
            owner.try_events_from(room, origin).await.err(),
            Some(403),
            "Origin {origin}"
        );
    }
}

async fn own_and_allowed_origins_are_accepted(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_ALLOWED_ORIGINS", r#"["http://good.example"]"#)
        .start()
        .await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;

    let own = format!("http://{}", server.authority());
    assert!(
        owner.try_events_from(room, &own).await.is_ok(),
        "own origin"
    );
    assert!(
        owner
            .try_events_from(room, "http://good.example")
            .await
            .is_ok(),
        "allow-listed origin"
    );
    assert_eq!(
        owner
            .try_events_from(room, "http://bad.example")
            .await
            .err(),
        Some(403),
        "an allow-list admits only what it lists"
    );
}
