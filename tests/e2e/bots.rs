//! Bots: created by a human, speaking with a bearer token on every endpoint
//! that takes the cookie (WebSocket included); rotation, revocation and
//! deletion kill the token at once and close the bot's sockets with 4001.

use reqwest::header::{AUTHORIZATION, COOKIE};
use reqwest::Method;
use serde_json::json;

use crate::support::{
    assert_token_shape, bearer_events, id, kind, unique_username, Backend, Bot, TestServer,
    PASSWORD,
};

backend_tests!(
    a_bot_joins_sends_reads_and_receives_with_its_token,
    the_token_works_on_every_endpoint_that_takes_the_cookie,
    bots_cannot_manage_bots,
    other_peoples_bots_are_not_found,
    bot_names_follow_the_username_rules_and_namespace,
    rotation_kills_the_old_token_and_closes_its_sockets,
    revocation_kills_the_token_until_the_next_rotation,
    a_deleted_bot_cannot_authenticate_but_its_messages_stay,
    missing_and_bad_credentials_say_how_to_authenticate,
    tokens_never_reach_the_server_log,
);

async fn a_bot_joins_sends_reads_and_receives_with_its_token(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let name = unique_username("helper");

    let created = owner.create_bot(&name).await.expect(201);
    let mut fields: Vec<_> = created.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(
        fields,
        ["active", "bot", "created_at", "id", "token", "username"],
        "{created}"
    );
    assert_eq!(created["username"], name.as_str());
    assert_eq!(created["bot"], true);
    assert_eq!(created["active"], true);
    assert!(created["created_at"].is_string(), "{created}");
    let bot = Bot::from_created(&owner, &created);

    // The list shows the bot, never its token.
    let listed = owner.bots().await.expect(200);
    let mut without_token = created.clone();
    without_token.as_object_mut().unwrap().remove("token");
    assert_eq!(listed, json!({ "bots": [without_token] }));
    assert!(!listed.to_string().contains(&bot.token), "{listed}");

    // The token alone (no cookie) is the bot's identity.
    assert!(bot.cookie_header().is_none());
    assert_eq!(bot.me().await.expect(200), bot.me_json());
    let joined = bot.join(room).await.expect(201);
    assert_eq!(
        (joined["joined"].clone(), joined["member_count"].clone()),
        (json!(true), json!(2))
    );
    let mut bots_socket = bot
        .events(room, Some(joined["last_seq"].as_i64().unwrap()))
        .await;
    let mut owners_socket = owner.events(room, None).await;

    let hello = owner.say(room, &format!("hello @{name}")).await;
    assert_eq!(
        hello["author"],
        json!({ "id": owner.id, "username": owner.username, "bot": false })
    );
    let heard = bots_socket.next_event().await;
    assert_eq!(kind(&heard), "message.created");
    assert_eq!(heard["data"], hello);

    let reply = bot.say(room, "hello, human").await;
    assert_eq!(reply["author"], bot.user_ref());
    assert_eq!(owners_socket.next_event().await["data"], hello);
    let seen = owners_socket.next_event().await;
    assert_eq!(seen["data"], reply);
    assert_eq!(seen["data"]["author"]["bot"], true);
    // The bot's own socket carries its own message too.
    assert_eq!(bots_socket.next_event().await["data"], reply);

    let history = bot.history(room, "").await.expect(200);
    assert_eq!(history, json!({ "messages": [hello, reply] }));
    let members = owner.members(room).await.expect(200);
    let listed_bot = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == bot.id)
        .unwrap_or_else(|| panic!("bot not among members: {members}"));
    assert_eq!(
        (&listed_bot["username"], &listed_bot["bot"]),
        (&json!(name), &json!(true))
    );

    bot.leave(room).await.expect(204);
    let before = bots_socket.expect_close(4003).await;
    assert!(
        before.iter().all(|e| kind(e) == "member.left"),
        "{before:?}"
    );
}

async fn the_token_works_on_every_endpoint_that_takes_the_cookie(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let bot = Bot::create(&owner).await;
    let human = server.user().await;

    // Rooms: create, show, list, delete.
    let created = bot.create_room("bot's room", 3).await.expect(201);
    assert_eq!(created["owner"], bot.user_ref());
    let room = id(&created);
    assert_eq!(bot.room(room).await.expect(200), created);
    let rooms = bot.rooms().await.expect(200);
    assert!(
        rooms["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == room),
        "{rooms}"
    );

    // Members: a human joins the bot's room; the bot lists and removes them.
    human.join(room).await.expect(201);
    let members = bot.members(room).await.expect(200)["members"].clone();
    assert_eq!(members[0]["id"], bot.id);
    assert_eq!(members[0]["bot"], true);
    assert_eq!(members[1]["id"], human.id);
    assert_eq!(members[1]["bot"], false);
    let mut humans_socket = human.events(room, None).await;
    bot.remove_member(room, human.id).await.expect(204);
    humans_socket.expect_close(4003).await;

    // Messages and history with a resume point.
    let first = bot.say(room, "one").await;
    let second = bot.say(room, "two").await;
    let after = first["seq"].as_i64().unwrap();
    let page = bot
        .history(room, &format!("after={after}"))
        .await
        .expect(200);
    assert_eq!(page, json!({ "messages": [second] }));

    // The socket replays with after=0 for a bot too.
    let mut socket = bot.events(room, Some(0)).await;
    let log = socket
        .next_events(usize::try_from(second["seq"].as_u64().unwrap()).unwrap())
        .await;
    assert_eq!(log.last().unwrap()["data"], second);
    socket.close().await;

    // Join and leave someone else's room.
    let humans_room = human.new_room(5).await;
    bot.join(humans_room).await.expect(201);
    bot.join(humans_room).await.expect(200);
    bot.leave(humans_room).await.expect(204);

    bot.delete_room(room).await.expect(204);
    bot.room(room).await.expect_problem(404, "room-not-found");
}

async fn bots_cannot_manage_bots(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let bot = Bot::create(&owner).await;

    let refusals = [
        bot.create_bot(&unique_username("minion")).await,
        bot.bots().await,
        bot.rotate_bot_token(bot.id).await,
        bot.revoke_bot_token(bot.id).await,
        bot.delete_bot(bot.id).await,
    ];
    for refusal in &refusals {
        refusal.expect_problem(403, "forbidden");
    }
    // None of that touched the bot or its token.
    assert_eq!(bot.me().await.expect(200), bot.me_json());
    let listed = owner.bots().await.expect(200);
    assert_eq!(listed["bots"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["bots"][0]["active"], true);
}

async fn other_peoples_bots_are_not_found(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let stranger = server.user().await;
    let bot = Bot::create(&owner).await;

    assert_eq!(stranger.bots().await.expect(200), json!({ "bots": [] }));
    for target in [bot.id, stranger.id, owner.id, 987_654] {
        stranger
            .rotate_bot_token(target)
            .await
            .expect_problem(404, "bot-not-found");
        stranger
            .revoke_bot_token(target)
            .await
            .expect_problem(404, "bot-not-found");
        stranger
            .delete_bot(target)
            .await
            .expect_problem(404, "bot-not-found");
    }
    // A human is not a bot, even to themself.
    owner
        .rotate_bot_token(owner.id)
        .await
        .expect_problem(404, "bot-not-found");
    // The bot's token survived all of it.
    assert_eq!(bot.me().await.expect(200), bot.me_json());
}

async fn bot_names_follow_the_username_rules_and_namespace(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;

    // Stored lowercased, like usernames.
    let lower = unique_username("mixed");
    let created = owner
        .create_bot(&lower.to_ascii_uppercase())
        .await
        .expect(201);
    assert_eq!(created["username"], lower.as_str());

    // One namespace for people and bots, both ways.
    owner
        .create_bot(&owner.username)
        .await
        .expect_problem(409, "username-taken");
    owner
        .create_bot(&lower)
        .await
        .expect_problem(409, "username-taken");
    server
        .client()
        .register(&lower, PASSWORD)
        .await
        .expect_problem(409, "username-taken");

    for bad in ["ab", &"b".repeat(33), "has space", "bang!", "émile", ""] {
        let refusal = owner.create_bot(bad).await;
        refusal.expect_problem(422, "validation-failed");
        assert_eq!(refusal.json["field"], "name", "{}", refusal.text);
    }
    for body in [json!({}), json!({ "name": 5 })] {
        owner
            .post("/api/bots", &body)
            .await
            .expect_problem(422, "validation-failed");
    }
    // The boundaries are accepted.
    let n = unique_username("e");
    owner.create_bot(&format!("{n}.-_9")).await.expect(201);
    let longest = format!("{n}{}", "z".repeat(32 - n.len()));
    owner.create_bot(&longest).await.expect(201);
}

async fn rotation_kills_the_old_token_and_closes_its_sockets(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let old = Bot::create(&owner).await;
    old.join(room).await.expect(201);
    let mut socket = old.events(room, None).await;
    let mut owners_socket = owner.events(room, None).await;

    let rotated = owner.rotate_bot_token(old.id).await.expect(200);
    let token = rotated["token"].as_str().unwrap();
    assert_eq!(rotated, json!({ "token": token }), "only the token");
    assert_token_shape(token);
    assert_ne!(token, old.token);

    // The open socket ends, and the old token is dead everywhere at once.
    socket.expect_close(4001).await;
    old.me().await.expect_invalid_token();
    old.send_message(room, "with the old token")
        .await
        .expect_invalid_token();
    old.history(room, "").await.expect_invalid_token();
    assert_eq!(old.try_events(room, None).await.err(), Some(401));

    // The new one works, for HTTP and the socket alike.
    let bot = old.with_token(token);
    assert_eq!(bot.me().await.expect(200), bot.me_json());
    let mut fresh = bot.events(room, None).await;
    let message = bot.say(room, "with the new token").await;
    assert_eq!(fresh.next_event().await["data"], message);
    // Only the bot's sockets were closed.
    assert_eq!(owners_socket.next_event().await["data"], message);
    let listed = owner.bots().await.expect(200);
    assert_eq!(listed["bots"][0]["active"], true);

    // Rotating again retires this token in turn.
    let again = owner.rotate_bot_token(bot.id).await.expect(200);
    fresh.expect_close(4001).await;
    bot.me().await.expect_invalid_token();
    let bot = bot.with_token(again["token"].as_str().unwrap());
    bot.me().await.expect(200);
}

async fn revocation_kills_the_token_until_the_next_rotation(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let bot = Bot::create(&owner).await;
    bot.join(room).await.expect(201);
    let mut socket = bot.events(room, None).await;

    let revoked = owner.revoke_bot_token(bot.id).await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    assert!(revoked.text.is_empty(), "204 with a body: {}", revoked.text);

    socket.expect_close(4001).await;
    bot.me().await.expect_invalid_token();
    bot.join(room).await.expect_invalid_token();
    assert_eq!(bot.try_events(room, None).await.err(), Some(401));
    let listed = owner.bots().await.expect(200);
    assert_eq!(listed["bots"][0]["active"], false, "{listed}");

    // Revoking twice is harmless; a rotation brings the bot back.
    owner.revoke_bot_token(bot.id).await.expect(204);
    let rotated = owner.rotate_bot_token(bot.id).await.expect(200);
    let bot = bot.with_token(rotated["token"].as_str().unwrap());
    bot.say(room, "back again").await;
    assert_eq!(owner.bots().await.expect(200)["bots"][0]["active"], true);
}

async fn a_deleted_bot_cannot_authenticate_but_its_messages_stay(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let bot = Bot::create(&owner).await;
    bot.join(room).await.expect(201);
    let said = bot.say(room, "remember me").await;
    let mut socket = bot.events(room, None).await;

    let deleted = owner.delete_bot(bot.id).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);

    socket.expect_close(4001).await;
    bot.me().await.expect_invalid_token();
    assert_eq!(bot.try_events(room, None).await.err(), Some(401));
    assert_eq!(owner.bots().await.expect(200), json!({ "bots": [] }));
    for gone in [
        owner.delete_bot(bot.id).await,
        owner.rotate_bot_token(bot.id).await,
        owner.revoke_bot_token(bot.id).await,
    ] {
        gone.expect_problem(404, "bot-not-found");
    }
    // Its words stay, still attributed to it.
    let history = owner.history(room, "").await.expect(200);
    assert_eq!(history, json!({ "messages": [said] }));
    assert_eq!(said["author"], bot.user_ref());
}

async fn missing_and_bad_credentials_say_how_to_authenticate(b: Backend) {
    let server = TestServer::start(b).await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let bot = Bot::create(&owner).await;
    let anonymous = server.client();

    anonymous.me().await.expect_unauthenticated();
    anonymous.rooms().await.expect_unauthenticated();
    anonymous
        .send_message(room, "hi")
        .await
        .expect_unauthenticated();
    assert_eq!(anonymous.try_events(room, None).await.err(), Some(401));

    let unknown = format!("rcb_{}", "0".repeat(64));
    let bad_headers = [
        format!("Bearer {unknown}"),
        format!("bearer {}x", bot.token), // the right scheme, a wrong token
        format!("Basic {}", bot.token),   // the wrong scheme
        "Bearer".to_string(),
        "Bearer   ".to_string(),
        bot.token.clone(), // no scheme at all
    ];
    for header in &bad_headers {
        let request = anonymous
            .request(Method::GET, "/api/me")
            .header(AUTHORIZATION, header);
        anonymous.send(request).await.expect_invalid_token();
    }
    // A presented token is the credential even next to a good cookie.
    let request = owner
        .request(Method::GET, "/api/me")
        .header(AUTHORIZATION, format!("Bearer {unknown}"))
        .header(COOKIE, owner.session_cookie());
    owner.send(request).await.expect_invalid_token();
    // The scheme is case-insensitive.
    let request = anonymous
        .request(Method::GET, "/api/me")
        .header(AUTHORIZATION, format!("bEaReR {}", bot.token));
    assert_eq!(anonymous.send(request).await.expect(200), bot.me_json());

    bot.join(room).await.expect(201);
    assert_eq!(
        bearer_events(&anonymous, &unknown, room, None).await.err(),
        Some(401)
    );
    bearer_events(&anonymous, &bot.token, room, None)
        .await
        .unwrap_or_else(|s| panic!("the bot's own token refused with {s}"))
        .close()
        .await;
}

async fn tokens_never_reach_the_server_log(b: Backend) {
    let server = TestServer::builder(b)
        .env("RUST_LOG", "debug")
        .env("ROOMCAST_LOG", "debug")
        .start()
        .await;
    let owner = server.user().await;
    let room = owner.new_room(5).await;
    let mut tokens: Vec<String> = Vec::new();

    // Issued, used over HTTP and WebSocket, refused, rotated, revoked.
    let bot = Bot::create(&owner).await;
    tokens.push(bot.token.clone());
    bot.join(room).await.expect(201);
    let mut socket = bot.events(room, Some(0)).await;
    bot.say(room, "logged?").await;
    socket.next_event().await;
    assert_not_logged(&server, &tokens, "after create, join, send and socket");

    let bad = format!("{}0", bot.token);
    tokens.push(bad.clone());
    owner.with_bearer(&bad).me().await.expect_invalid_token();
    assert_eq!(
        bearer_events(&owner, &bad, room, None).await.err(),
        Some(401)
    );
    assert_not_logged(&server, &tokens, "after refusals");

    let rotated = owner.rotate_bot_token(bot.id).await.expect(200);
    let token = rotated["token"].as_str().unwrap().to_string();
    tokens.push(token.clone());
    socket.expect_close(4001).await;
    bot.me().await.expect_invalid_token();
    let bot = bot.with_token(&token);
    bot.say(room, "rotated").await;
    owner.revoke_bot_token(bot.id).await.expect(204);
    bot.me().await.expect_invalid_token();
    assert_not_logged(&server, &tokens, "after rotation and revocation");

    // Not vacuous: the server did log the requests that carried tokens (the access log has
    // a line for each, the refused ones too).
    let log = server.log_tail(2000);
    assert!(
        log.contains(r#"route="/api/me" status=401"#)
            && log.contains(r#"route="/api/rooms/{id}/events" status=401"#),
        "the server logged no request with a token; the check proves nothing:\n{log}"
    );
}

/// Neither a token nor its secret part appears in what the server printed.
#[track_caller]
fn assert_not_logged(server: &TestServer, tokens: &[String], when: &str) {
    let log = server.log_tail(2000);
    for token in tokens {
        let secret = token.trim_start_matches("rcb_");
        let secret = &secret[..secret.len().min(64)];
        if let Some(line) = log.lines().find(|l| l.contains(secret)) {
            panic!("a bot token is in the server log {when}:\n{line}");
        }
    }
}
