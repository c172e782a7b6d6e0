//! Why the server ends an event stream, and the close code it says so with.

use crate::support::{kind, seq, Backend, EventSocket, TestServer, User};

backend_tests!(
    logout_closes_that_sessions_sockets_with_4001,
    leaving_closes_the_leavers_socket_with_4003,
    removal_closes_the_removed_members_socket_with_4003,
    deleting_the_room_closes_its_sockets_with_4004,
    client_data_frames_close_with_1008,
    answered_pings_keep_an_idle_socket_open,
);

async fn logout_closes_that_sessions_sockets_with_4001(b: Backend) {
    let server = TestServer::start(b).await;
    let user = server.user().await;
    let room = user.new_room(5).await;
    let other_room = user.new_room(5).await;
    // The same account in another browser: a separate session.
    let elsewhere = server.client();
    elsewhere
        .login(&user.username, &user.password)
        .await
        .expect(200);

    let mut first = user.events(room, None).await;
    let mut second = user.events(other_room, None).await;
    let mut other_session = elsewhere.events(room, None).await;
    let cookie = user.session_cookie();

    user.logout().await.expect(204);

    first.expect_close(4001).await;
    second.expect_close(4001).await;
    let url = user.events_url(room, None);
    let replayed = crate::support::connect(&url, &[("cookie", cookie)]).await;
    assert_eq!(replayed.err(), Some(401), "handshake with the old cookie");

    // Only that session ended.
    let message = elsewhere.send_message(room, "still here").await.expect(201);
    assert_eq!(other_session.next_event().await["data"], message);
}

async fn leaving_closes_the_leavers_socket_with_4003(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let leaver = server.user().await;
    let room = owner.new_room(5).await;
    leaver.join(room).await.expect(201);
    let mut owners = owner.events(room, None).await;
    let mut leavers = leaver.events(room, None).await;

    leaver.leave(room).await.expect(204);

    let before_close = leavers.expect_close(4003).await;
    only_about_leaving(&before_close, &leaver, "member.left");
    // Everyone else hears about it and stays connected.
    let left = owners.next_event().await;
    assert_eq!(kind(&left), "member.left");
    assert_eq!(left["data"]["user"]["id"], leaver.id);
    assert_sentinel_arrives(&owner, room, &mut owners).await;
}

async fn removal_closes_the_removed_members_socket_with_4003(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let member = server.user().await;
    let room = owner.new_room(5).await;
    member.join(room).await.expect(201);
    let mut owners = owner.events(room, None).await;
    let mut members = member.events(room, None).await;

    owner.remove_member(room, member.id).await.expect(204);

    let before_close = members.expect_close(4003).await;
    only_about_leaving(&before_close, &member, "member.left");
    let left = owners.next_event().await;
    assert_eq!(kind(&left), "member.left");
    assert_eq!(left["data"]["user"]["id"], member.id);
    assert_eq!(member.try_events(room, None).await.err(), Some(403));
}

async fn deleting_the_room_closes_its_sockets_with_4004(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let member = server.user().await;
    let room = owner.new_room(5).await;
    member.join(room).await.expect(201);
    let mut sockets = [
        owner.events(room, None).await,
        member.events(room, None).await,
    ];

    owner.delete_room(room).await.expect(204);

    for socket in &mut sockets {
        // A room.deleted frame before the close is allowed, nothing else.
        for event in socket.expect_close(4004).await {
            assert_eq!(kind(&event), "room.deleted", "{event}");
            assert_eq!(seq(&event), 3, "{event}");
        }
    }
}

async fn client_data_frames_close_with_1008(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;

    let mut text = owner.events(room, None).await;
    text.send_text(r#"{"type":"message.create","content":"hi"}"#)
        .await;
    text.expect_close(1008).await;

    let mut binary = owner.events(room, None).await;
    binary.send_binary(b"\x00\x01").await;
    binary.expect_close(1008).await;

    // The protocol violation did not send anything to the room.
    assert_eq!(owner.room(room).await.expect(200)["last_seq"], 1);
}

async fn answered_pings_keep_an_idle_socket_open(b: Backend) {
    let server = TestServer::builder(b)
        .env("ROOMCAST_WS_HEARTBEAT_SECS", "1")
        .env("ROOMCAST_WS_TIMEOUT_SECS", "3")
        .start()
        .await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let mut socket = owner.events(room, None).await;

    // Six pings at one a second outlast the 3 s timeout, so the socket only
    // survives if the server heard tungstenite's pongs.
    socket.expect_pings(6).await;
    assert_sentinel_arrives(&owner, room, &mut socket).await;
}

/// A socket being closed for its owner's leaving may first carry the news.
fn only_about_leaving(events: &[serde_json::Value], who: &User, expected: &str) {
    for event in events {
        assert_eq!(kind(event), expected, "{event}");
        assert_eq!(event["data"]["user"]["id"], who.id, "{event}");
    }
}

/// Proves a socket is still open and current: the next thing on it is a
/// message sent now.
async fn assert_sentinel_arrives(sender: &User, room: i64, socket: &mut EventSocket) {
    let message = sender.say(room, "sentinel").await;
    assert_eq!(socket.next_event().await["data"], message);
}
