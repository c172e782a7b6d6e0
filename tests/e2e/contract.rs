//! The OpenAPI document (`GET /api/openapi.json`) against the real server:
//! every response of a scenario that walks every endpoint, successes and
//! refusals, WebSocket frames included, is checked against the document's
//! entry for its path, method and status: the status must be documented,
//! the content type too, and the body must validate (JSON Schema 2020-12)
//! against the documented schema, with objects closed, so a field the
//! server adds or drops is drift as well. Every documented operation must
//! exist on the server, and every one must have been seen succeeding.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use reqwest::header::{CONNECTION, CONTENT_TYPE, ORIGIN, UPGRADE};
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::support::{
    id, unique_username, Backend, Bot, Client, EventSocket, Incoming, Resp, TestServer, User,
    PASSWORD,
};

backend_tests!(
    the_document_is_openapi_3_1_with_both_security_schemes,
    every_documented_operation_is_served,
    real_responses_match_the_document,
);

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

async fn fetch_document(client: &Client) -> Value {
    let resp = client.get("/api/openapi.json").await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    assert!(
        resp.content_type().starts_with("application/json"),
        "Content-Type {:?}",
        resp.content_type()
    );
    assert!(resp.json.is_object(), "not a JSON object: {}", resp.text);
    resp.json
}

/// Every `(method, path)` the document lists.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("no paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.push((method.to_string(), path.clone()));
            }
        }
    }
    ops
}

async fn the_document_is_openapi_3_1_with_both_security_schemes(b: Backend) {
    let server = TestServer::start(b).await;
    let doc = fetch_document(&server.client()).await;

    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "openapi: {}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"],
        json!({
            "session": { "type": "apiKey", "in": "cookie", "name": "roomcast_session" },
            "bearer": { "type": "http", "scheme": "bearer" },
        })
    );
    for schema in ["EventFrame", "Problem"] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "no {schema} schema"
        );
    }
    let open: BTreeSet<(&str, &str)> = [
        ("post", "/api/accounts"),
        ("post", "/api/session"),
        ("get", "/healthz"),
        ("get", "/readyz"),
    ]
    .into();
    let mut problems = Vec::new();
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let responses = op["responses"].as_object().unwrap();
        if !open.contains(&(method.as_str(), path.as_str())) {
            // Cookie or token, either one.
            if op["security"] != json!([{ "session": [] }, { "bearer": [] }]) {
                problems.push(format!("{method} {path}: security {}", op["security"]));
            }
            if !responses.contains_key("401") {
                problems.push(format!("{method} {path}: takes credentials, no 401"));
            }
        }
        for (status, response) in responses {
            let is_error = status.starts_with('4') || status.starts_with('5');
            let content = &response["content"];
            if is_error
                && *content
                    != json!({ "application/problem+json": {
                        "schema": { "$ref": "#/components/schemas/Problem" } } })
            {
                problems.push(format!(
                    "{method} {path} {status}: an error documented as {content}, \
                     not application/problem+json with the Problem schema"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A documented path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{user}", "1")
        .replace("{message_id}", "1")
        .replace("{emoji}", "%F0%9F%91%8D")
}

async fn every_documented_operation_is_served(b: Backend) {
    let server = TestServer::start(b).await;
    let anonymous = server.client();
    let doc = fetch_document(&anonymous).await;
    let mut contract = Contract::new(doc.clone());
    let mut missing = Vec::new();

    // Anonymous requests change nothing, and a route that exists answers them
    // with something other than the fallback's 404 `not-found` or a 405.
    for (method, path) in operations(&doc) {
        let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let request = anonymous
            .request(verb, &concrete(&path))
            .header(CONTENT_TYPE, "application/json")
            .body("{}");
        let resp = anonymous.send(request).await;
        if resp.status == 405 || (resp.status == 404 && resp.json["type"] == "not-found") {
            missing.push(format!(
                "{method} {path}: HTTP {} {}",
                resp.status, resp.text
            ));
        }
        contract.saw(&method, &path, resp);
    }
    assert!(
        missing.is_empty(),
        "documented but not served:\n{}",
        missing.join("\n")
    );
    contract.assert_clean();

    // And the fallback really does answer 404 `not-found` (so the check above means something).
    anonymous
        .get("/api/no-such-thing")
        .await
        .expect_problem(404, "not-found");
}

/// Checks responses against the document and collects every mismatch.
struct Contract {
    doc: Value,
    /// Closed, dereferenced schemas by JSON pointer into the document.
    validators: HashMap<String, jsonschema::Validator>,
    failures: Vec<String>,
    /// Statuses seen per `(method, path)`.
    seen: BTreeMap<(String, String), BTreeSet<u16>>,
}

impl Contract {
    fn new(doc: Value) -> Contract {
        Contract {
            doc,
            validators: HashMap::new(),
            failures: Vec::new(),
            seen: BTreeMap::new(),
        }
    }

    /// Checks `resp` as the answer to `method path` (a documented template,
    /// e.g. `/api/rooms/{id}`) and hands it back.
    fn saw(&mut self, method: &str, path: &str, resp: Resp) -> Resp {
        let at = format!("{} {path} -> {}", method.to_uppercase(), resp.status);
        self.seen
            .entry((method.to_string(), path.to_string()))
            .or_default()
            .insert(resp.status);
        let op_pointer = format!("/paths/{}/{method}", escape(path));
        if self.doc.pointer(&op_pointer).is_none() {
            self.failures
                .push(format!("{at}: the operation is not documented"));
            return resp;
        }
        let response_pointer = format!("{op_pointer}/responses/{}", resp.status);
        let Some(documented) = self.doc.pointer(&response_pointer).cloned() else {
            self.failures
                .push(format!("{at}: status not documented (body {})", resp.text));
            return resp;
        };
        self.check_headers(&at, &documented, &resp);
        let content = documented["content"].as_object();
        if resp.text.is_empty() {
            if let Some(content) = content.filter(|c| !c.is_empty()) {
                let types: Vec<_> = content.keys().collect();
                self.failures
                    .push(format!("{at}: empty body, documented content {types:?}"));
            }
            return resp;
        }
        let media = resp.content_type().split(';').next().unwrap_or("").trim();
        let media = media.to_string();
        if content.and_then(|c| c.get(&media)).is_none() {
            self.failures.push(format!(
                "{at}: body of type {media:?} not documented (documented: {:?}): {}",
                content.map(|c| c.keys().collect::<Vec<_>>()),
                resp.text
            ));
            return resp;
        }
        if resp.json.is_null() {
            self.failures
                .push(format!("{at}: {media} body is not JSON: {}", resp.text));
            return resp;
        }
        let schema = format!("{response_pointer}/content/{}/schema", escape(&media));
        self.validate(&at, &schema, &resp.json);
        resp
    }

    /// Documented response headers that are present must match their schema, and a
    /// success carries the `RateLimit-*` headers exactly where the document says so.
    fn check_headers(&mut self, at: &str, documented: &Value, resp: &Resp) {
        if (200..300).contains(&resp.status) {
            for name in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
                let promised = documented["headers"].get(name).is_some();
                let sent = resp.header(name).is_some();
                if promised != sent {
                    self.failures
                        .push(format!("{at}: {name} sent: {sent}, documented: {promised}"));
                }
            }
        }
        let Some(headers) = documented["headers"].as_object() else {
            return;
        };
        for (name, header) in headers {
            let Some(raw) = resp.header(name) else {
                continue;
            };
            let value = match header["schema"]["type"].as_str() {
                Some("integer") => raw.parse::<i64>().map(Value::from).ok(),
                Some("boolean") => raw.parse::<bool>().map(Value::from).ok(),
                _ => Some(Value::from(raw)),
            };
            match value {
                Some(value) => match compile(&resolve(&self.doc, &header["schema"], 0)) {
                    Err(e) => self.failures.push(format!("{at}: header {name}: {e}")),
                    Ok(validator) => {
                        let found = errors(&validator, &value);
                        if !found.is_empty() {
                            self.failures
                                .push(format!("{at}: header {name}: {raw:?}: {found:?}"));
                        }
                    }
                },
                None => self.failures.push(format!(
                    "{at}: header {name}: {raw:?} is not a {}",
                    header["schema"]
                )),
            }
        }
    }

    /// Validates `instance` against the schema at `pointer` in the document.
    fn validate(&mut self, at: &str, pointer: &str, instance: &Value) {
        if !self.validators.contains_key(pointer) {
            let Some(schema) = self.doc.pointer(pointer) else {
                self.failures.push(format!("{at}: no schema at {pointer}"));
                return;
            };
            let mut schema = resolve(&self.doc, schema, 0);
            close(&mut schema, false);
            match compile(&schema) {
                Ok(validator) => {
                    self.validators.insert(pointer.to_string(), validator);
                }
                Err(e) => {
                    self.failures
                        .push(format!("{at}: schema at {pointer} does not compile: {e}"));
                    return;
                }
            }
        }
        let found = errors(&self.validators[pointer], instance);
        if !found.is_empty() {
            self.failures.push(format!(
                "{at}: body does not match {pointer}:\n    {}\n    body: {instance}",
                found.join("\n    ")
            ));
        }
    }

    /// A WebSocket frame of `path`: the documented 101 schema (EventFrame),
    /// and its `data` as EventFrame's description says: a MessageJson for
    /// `message.created`, a MessageUpdatedJson for `message.updated`, a
    /// MessageDeletedJson for `message.deleted`, `{"user": UserRef}` for member
    /// and room events.
    fn frame(&mut self, path: &str, frame: &Value) {
        let at = format!("GET {path} -> 101 frame {}", frame["type"]);
        let pointer = format!("/paths/{}/get/responses/101/content", escape(path));
        let Some(media) = self
            .doc
            .pointer(&pointer)
            .and_then(Value::as_object)
            .and_then(|c| c.keys().next().cloned())
        else {
            self.failures
                .push(format!("{at}: no documented content for 101"));
            return;
        };
        self.validate(&at, &format!("{pointer}/{}/schema", escape(&media)), frame);
        match frame["type"].as_str() {
            Some("message.created") => {
                self.validate(&at, "/components/schemas/MessageJson", &frame["data"])
            }
            Some("message.updated") => self.validate(
                &at,
                "/components/schemas/MessageUpdatedJson",
                &frame["data"],
            ),
            Some("reaction.added" | "reaction.removed") => {
                self.validate(&at, "/components/schemas/ReactionEventJson", &frame["data"])
            }
            Some("message.deleted") => self.validate(
                &at,
                "/components/schemas/MessageDeletedJson",
                &frame["data"],
            ),
            // The summary stream's frames: data as UserFrame documents it.
            Some("room.added") => {
                self.validate(&at, "/components/schemas/RoomJson", &frame["data"])
            }
            Some("room.activity" | "room.removed" | "read.updated") => {
                let data = &frame["data"];
                let ok = data["room_id"].is_i64()
                    && match frame["type"].as_str() {
                        Some("room.activity") => data["last_seq"].is_i64(),
                        Some("read.updated") => data["last_read_seq"].is_i64(),
                        _ => data.as_object().map(Map::len) == Some(1),
                    };
                if !ok {
                    self.failures
                        .push(format!("{at}: data is not as documented: {data}"));
                }
            }
            Some(_) => {
                let user = &frame["data"]["user"];
                self.validate(&at, "/components/schemas/UserRef", user);
                if frame["data"].as_object().map(Map::len) != Some(1) {
                    self.failures.push(format!(
                        "{at}: data is not just {{user}}: {}",
                        frame["data"]
                    ));
                }
            }
            None => {}
        }
    }

    #[track_caller]
    fn assert_clean(&self) {
        assert!(
            self.failures.is_empty(),
            "{} mismatches between the server and its OpenAPI document:\n\n{}",
            self.failures.len(),
            self.failures.join("\n\n")
        );
    }
}

/// A JSON pointer segment (RFC 6901).
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The schema with every `$ref` replaced by what it points at (the document
/// has no recursive schemas; the depth limit guards against one appearing).
fn resolve(doc: &Value, schema: &Value, depth: usize) -> Value {
    assert!(depth < 32, "$ref nesting too deep (recursive schema?)");
    match schema {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                let target = reference
                    .strip_prefix('#')
                    .and_then(|p| doc.pointer(p))
                    .unwrap_or_else(|| panic!("unresolvable $ref {reference}"));
                return resolve(doc, target, depth + 1);
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), resolve(doc, v, depth + 1)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| resolve(doc, v, depth + 1)).collect())
        }
        other => other.clone(),
    }
}

/// Closes every object schema: properties the document does not name are
/// errors. An `allOf` is closed as a whole (`unevaluatedProperties`), its
/// branches are not, since each branch names only part of the object.
fn close(schema: &mut Value, in_all_of: bool) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    let open_ended =
        !map.contains_key("additionalProperties") && !map.contains_key("unevaluatedProperties");
    if let Some(Value::Array(branches)) = map.get_mut("allOf") {
        for branch in branches {
            close(branch, true);
        }
        if !in_all_of && open_ended {
            map.insert("unevaluatedProperties".into(), Value::Bool(false));
        }
    } else if map.contains_key("properties") && !in_all_of && open_ended {
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for property in properties.values_mut() {
            close(property, false);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(inner) = map.get_mut(key) {
            close(inner, false);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = map.get_mut(key) {
            for branch in branches {
                close(branch, false);
            }
        }
    }
}

fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| e.to_string())
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("at {:?}: {e}", e.instance_path().to_string()))
        .collect()
}

/// A WebSocket handshake sent through reqwest, for refusals: the problem
/// body of a refused upgrade is part of the contract too.
async fn handshake(client: &Client, path: &str, headers: &[(&str, &str)]) -> Resp {
    let mut request = client
        .request(Method::GET, path)
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    client.send(request).await
}

/// All of a socket's events until `n` have arrived.
async fn put_read(who: &Client, room: i64, body: Value) -> Resp {
    let request = who
        .request(Method::PUT, &format!("/api/rooms/{room}/read"))
        .json(&body);
    who.send(request).await
}

async fn frames(socket: &mut EventSocket, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        match socket.next().await {
            Incoming::Event(event) => out.push(event),
            Incoming::Closed(c) => {
                panic!("socket closed ({:?} {}) after {out:?}", c.code, c.detail)
            }
        }
    }
    out
}

async fn real_responses_match_the_document(b: Backend) {
    // Bot creation is limited low enough to see its 429 (every attempt that
    // gets past authentication counts: 2 bots, a 409 and a 422 use up 4);
    // everything else keeps the suite's generous limits.
    let server = TestServer::builder(b)
        .env("ROOMCAST_RATE_BOTS_PER_MINUTE", "1")
        .env("ROOMCAST_RATE_BOTS_BURST", "4")
        .start()
        .await;
    let anonymous = server.client();
    let doc = fetch_document(&anonymous).await;
    let mut c = Contract::new(doc.clone());

    // Operations.
    c.saw("get", "/healthz", anonymous.healthz().await);
    c.saw("get", "/readyz", anonymous.readyz().await);

    // Accounts and sessions, with every kind of bad body.
    let name = unique_username("contract");
    let visitor = server.client();
    c.saw(
        "post",
        "/api/accounts",
        visitor.register(&name, PASSWORD).await,
    )
    .expect(201);
    c.saw(
        "post",
        "/api/accounts",
        visitor.register(&name, PASSWORD).await,
    )
    .expect_problem(409, "username-taken");
    c.saw(
        "post",
        "/api/accounts",
        visitor.register("x", PASSWORD).await,
    )
    .expect_problem(422, "validation-failed");
    for (path, method) in [("/api/accounts", "post"), ("/api/session", "post")] {
        let bodies = [
            ("application/json", "{\"username\":".to_string(), 400),
            ("text/plain", "{}".to_string(), 415),
            (
                "application/json",
                format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000)),
                413,
            ),
            ("application/json", "[\"a\",\"b\"]".to_string(), 422),
        ];
        for (content_type, body, status) in bodies {
            let request = visitor
                .request(Method::POST, path)
                .header(CONTENT_TYPE, content_type)
                .body(body);
            let resp = c.saw(method, path, visitor.send(request).await);
            assert_eq!(resp.status, status, "{path}: {}", resp.text);
        }
    }
    c.saw(
        "post",
        "/api/session",
        visitor.login(&name, "wrong password").await,
    )
    .expect_problem(401, "invalid-credentials");
    c.saw("post", "/api/session", visitor.login(&name, PASSWORD).await)
        .expect(200);
    let me = c.saw("get", "/api/me", visitor.me().await).expect(200);
    let owner = User {
        id: id(&me),
        username: name.clone(),
        password: PASSWORD.into(),
        client: visitor,
    };
    c.saw("get", "/api/me", anonymous.me().await)
        .expect_problem(401, "unauthenticated");
    let forged = anonymous.with_bearer("rcb_forged");
    c.saw("get", "/api/me", forged.me().await)
        .expect_problem(401, "invalid-token");

    // Bots.
    let created = c
        .saw(
            "post",
            "/api/bots",
            owner.create_bot(&unique_username("cbot")).await,
        )
        .expect(201);
    let bot = Bot::from_created(&owner, &created);
    c.saw("get", "/api/me", bot.me().await).expect(200);
    c.saw("post", "/api/bots", owner.create_bot(&bot.username).await)
        .expect_problem(409, "username-taken");
    c.saw("post", "/api/bots", owner.create_bot("!").await)
        .expect_problem(422, "validation-failed");
    c.saw("post", "/api/bots", anonymous.create_bot("anon_bot").await)
        .expect_problem(401, "unauthenticated");
    c.saw("post", "/api/bots", bot.create_bot("bot_bot").await)
        .expect_problem(403, "forbidden");
    c.saw("get", "/api/bots", owner.bots().await).expect(200);
    c.saw("get", "/api/bots", anonymous.bots().await)
        .expect_problem(401, "unauthenticated");
    c.saw("get", "/api/bots", bot.bots().await)
        .expect_problem(403, "forbidden");
    let spare = Bot::from_created(
        &owner,
        &c.saw(
            "post",
            "/api/bots",
            owner.create_bot(&unique_username("spare")).await,
        )
        .expect(201),
    );
    let token = "/api/bots/{id}/token";
    let rotated = c
        .saw("post", token, owner.rotate_bot_token(spare.id).await)
        .expect(200);
    c.saw("post", token, owner.rotate_bot_token(owner.id).await)
        .expect_problem(404, "bot-not-found");
    c.saw("post", token, spare.rotate_bot_token(spare.id).await)
        .expect_problem(401, "invalid-token");
    let spare = spare.with_token(rotated["token"].as_str().unwrap());
    c.saw("post", token, spare.rotate_bot_token(spare.id).await)
        .expect_problem(403, "forbidden");
    c.saw("delete", token, owner.revoke_bot_token(spare.id).await)
        .expect(204);
    c.saw("delete", token, owner.revoke_bot_token(999_999).await)
        .expect_problem(404, "bot-not-found");
    c.saw("delete", token, anonymous.revoke_bot_token(spare.id).await)
        .expect_problem(401, "unauthenticated");
    c.saw("delete", token, bot.revoke_bot_token(spare.id).await)
        .expect_problem(403, "forbidden");
    c.saw("delete", "/api/bots/{id}", bot.delete_bot(spare.id).await)
        .expect_problem(403, "forbidden");
    c.saw("delete", "/api/bots/{id}", owner.delete_bot(spare.id).await)
        .expect(204);
    c.saw("delete", "/api/bots/{id}", owner.delete_bot(spare.id).await)
        .expect_problem(404, "bot-not-found");
    c.saw(
        "delete",
        "/api/bots/{id}",
        anonymous.delete_bot(spare.id).await,
    )
    .expect_problem(401, "unauthenticated");
    // The burst of 4 is used up: the next creation is limited.
    c.saw(
        "post",
        "/api/bots",
        owner.create_bot(&unique_username("late")).await,
    )
    .expect_problem(429, "rate-limited");

    // Rooms.
    let room = c
        .saw("post", "/api/rooms", owner.create_room("contract", 3).await)
        .expect(201);
    let room = id(&room);
    c.saw("post", "/api/rooms", owner.create_room("", 3).await)
        .expect_problem(422, "validation-failed");
    c.saw("post", "/api/rooms", anonymous.create_room("x", 3).await)
        .expect_problem(401, "unauthenticated");
    let request = owner
        .request(Method::POST, "/api/rooms")
        .header(CONTENT_TYPE, "application/json")
        .body("{");
    c.saw("post", "/api/rooms", owner.send(request).await)
        .expect_problem(400, "malformed-json");
    c.saw("get", "/api/rooms", owner.rooms().await).expect(200);
    c.saw("get", "/api/rooms", bot.rooms().await).expect(200);
    c.saw("get", "/api/rooms", anonymous.rooms().await)
        .expect_problem(401, "unauthenticated");
    let one = "/api/rooms/{id}";
    c.saw("get", one, owner.room(room).await).expect(200);
    c.saw("get", one, owner.room(999_999).await)
        .expect_problem(404, "room-not-found");
    c.saw("get", one, owner.get("/api/rooms/abc").await)
        .expect_problem(404, "not-found");
    c.saw("get", one, anonymous.room(room).await)
        .expect_problem(401, "unauthenticated");

    // Members.
    let stranger = server.user().await;
    let member = server.user().await;
    let me_path = "/api/rooms/{id}/members/me";
    c.saw("put", me_path, member.join(room).await).expect(201);
    c.saw("put", me_path, member.join(room).await).expect(200);
    c.saw("put", me_path, bot.join(room).await).expect(201);
    c.saw("put", me_path, stranger.join(room).await)
        .expect_problem(409, "room-full");
    c.saw("put", me_path, member.join(999_999).await)
        .expect_problem(404, "room-not-found");
    c.saw("put", me_path, anonymous.join(room).await)
        .expect_problem(401, "unauthenticated");
    let members = "/api/rooms/{id}/members";
    c.saw("get", members, owner.members(room).await).expect(200);
    c.saw("get", members, owner.members(999_999).await)
        .expect_problem(404, "room-not-found");
    c.saw("get", members, anonymous.members(room).await)
        .expect_problem(401, "unauthenticated");

    // Presence (nobody online yet: the list is empty, checked against the schema anyway).
    let presence = "/api/rooms/{id}/presence";
    let path = format!("/api/rooms/{room}/presence");
    c.saw("get", presence, member.get(&path).await).expect(200);
    c.saw("get", presence, stranger.get(&path).await)
        .expect_problem(403, "not-a-member");
    c.saw(
        "get",
        presence,
        member.get("/api/rooms/999999/presence").await,
    )
    .expect_problem(404, "room-not-found");
    c.saw("get", presence, anonymous.get(&path).await)
        .expect_problem(401, "unauthenticated");

    // Typing (no socket is open yet: the frame itself is checked in typing.rs).
    let typing = "/api/rooms/{id}/typing";
    use crate::typing::type_in;
    c.saw("post", typing, type_in(&member, room).await)
        .expect(204);
    c.saw("post", typing, type_in(&member, room).await)
        .expect(204);
    c.saw("post", typing, type_in(&stranger, room).await)
        .expect_problem(403, "not-a-member");
    c.saw("post", typing, type_in(&member, 999_999).await)
        .expect_problem(404, "room-not-found");
    c.saw("post", typing, type_in(&anonymous, room).await)
        .expect_problem(401, "unauthenticated");

    // Messages.
    let messages = "/api/rooms/{id}/messages";
    let first = c.saw("post", messages, owner.send_message(room, "hello").await);
    let first = first.expect(201);
    c.saw("post", messages, bot.send_message(room, "beep").await)
        .expect(201);
    c.saw(
        "post",
        messages,
        owner.send_keyed(room, "keyed", "k-1").await,
    )
    .expect(201);
    let replay = c.saw(
        "post",
        messages,
        owner.send_keyed(room, "keyed", "k-1").await,
    );
    assert!(replay.replayed(), "{:?}", replay.headers);
    c.saw(
        "post",
        messages,
        owner.send_keyed(room, "other", "k-1").await,
    )
    .expect_problem(422, "idempotency-key-reused");
    c.saw(
        "post",
        messages,
        owner.send_keyed(room, "long key", &"k".repeat(300)).await,
    )
    .expect_problem(400, "invalid-idempotency-key");
    c.saw("post", messages, owner.send_message(room, "   ").await)
        .expect_problem(422, "validation-failed");
    c.saw("post", messages, stranger.send_message(room, "hi").await)
        .expect_problem(403, "not-a-member");
    c.saw("post", messages, owner.send_message(999_999, "hi").await)
        .expect_problem(404, "room-not-found");
    c.saw("post", messages, anonymous.send_message(room, "hi").await)
        .expect_problem(401, "unauthenticated");
    // Read markers.
    let read = "/api/rooms/{id}/read";
    c.saw(
        "put",
        read,
        put_read(&owner, room, json!({ "seq": 2 })).await,
    )
    .expect(200);
    c.saw(
        "put",
        read,
        put_read(&bot, room, json!({ "seq": 999 })).await,
    )
    .expect(200);
    c.saw(
        "put",
        read,
        put_read(&owner, room, json!({ "seq": -1 })).await,
    )
    .expect_problem(422, "validation-failed");
    c.saw(
        "put",
        read,
        put_read(&stranger, room, json!({ "seq": 1 })).await,
    )
    .expect_problem(403, "not-a-member");
    c.saw(
        "put",
        read,
        put_read(&owner, 999_999, json!({ "seq": 1 })).await,
    )
    .expect_problem(404, "room-not-found");
    c.saw(
        "put",
        read,
        put_read(&anonymous, room, json!({ "seq": 1 })).await,
    )
    .expect_problem(401, "unauthenticated");
    let request = owner
        .request(Method::PUT, &format!("/api/rooms/{room}/read"))
        .header(CONTENT_TYPE, "application/json")
        .body("{");
    c.saw("put", read, owner.send(request).await)
        .expect_problem(400, "malformed-json");
    let request = owner
        .request(Method::POST, &format!("/api/rooms/{room}/messages"))
        .header(CONTENT_TYPE, "text/plain")
        .body("hi");
    c.saw("post", messages, owner.send(request).await)
        .expect_problem(415, "unsupported-media-type");
    let huge = json!({ "content": "x".repeat(70_000) });
    c.saw(
        "post",
        messages,
        owner
            .post(&format!("/api/rooms/{room}/messages"), &huge)
            .await,
    )
    .expect_problem(413, "payload-too-large");
    c.saw(
        "get",
        messages,
        owner.history(room, "after=0&limit=2").await,
    )
    .expect(200);
    c.saw("get", messages, bot.history(room, "").await)
        .expect(200);
    c.saw("get", messages, owner.history(room, "limit=abc").await)
        .expect_problem(400, "bad-request");
    c.saw("get", messages, owner.history(room, "limit=0").await)
        .expect_problem(422, "validation-failed");
    c.saw("get", messages, stranger.history(room, "").await)
        .expect_problem(403, "not-a-member");
    c.saw("get", messages, owner.history(999_999, "").await)
        .expect_problem(404, "room-not-found");
    c.saw("get", messages, anonymous.history(room, "").await)
        .expect_problem(401, "unauthenticated");

    // Edits and deletions.
    let change = "/api/rooms/{id}/messages/{message_id}";
    let target = id(&first);
    c.saw(
        "patch",
        change,
        owner.edit_message(room, target, "hello again", None).await,
    )
    .expect(200);
    c.saw(
        "patch",
        change,
        owner.edit_message(room, target, "keyed", Some("e-1")).await,
    )
    .expect(200);
    let replay = c.saw(
        "patch",
        change,
        owner.edit_message(room, target, "keyed", Some("e-1")).await,
    );
    assert!(replay.replayed(), "{:?}", replay.headers);
    c.saw(
        "patch",
        change,
        owner.edit_message(room, target, "other", Some("e-1")).await,
    )
    .expect_problem(422, "idempotency-key-reused");
    c.saw(
        "patch",
        change,
        owner
            .edit_message(room, target, "x", Some(&"k".repeat(300)))
            .await,
    )
    .expect_problem(400, "invalid-idempotency-key");
    c.saw(
        "patch",
        change,
        owner.edit_message(room, target, " ", None).await,
    )
    .expect_problem(422, "validation-failed");
    c.saw(
        "patch",
        change,
        bot.edit_message(room, target, "mine", None).await,
    )
    .expect_problem(403, "not-author");
    c.saw(
        "patch",
        change,
        stranger.edit_message(room, target, "mine", None).await,
    )
    .expect_problem(403, "not-a-member");
    c.saw(
        "patch",
        change,
        owner.edit_message(room, 999_999, "x", None).await,
    )
    .expect_problem(404, "message-not-found");
    c.saw(
        "patch",
        change,
        owner.edit_message(999_999, target, "x", None).await,
    )
    .expect_problem(404, "room-not-found");
    c.saw(
        "patch",
        change,
        anonymous.edit_message(room, target, "x", None).await,
    )
    .expect_problem(401, "unauthenticated");
    let request = owner
        .request(
            Method::PATCH,
            &format!("/api/rooms/{room}/messages/{target}"),
        )
        .header(CONTENT_TYPE, "text/plain")
        .body("hi");
    c.saw("patch", change, owner.send(request).await)
        .expect_problem(415, "unsupported-media-type");
    let request = owner
        .request(
            Method::PATCH,
            &format!("/api/rooms/{room}/messages/{target}"),
        )
        .json(&huge);
    c.saw("patch", change, owner.send(request).await)
        .expect_problem(413, "payload-too-large");
    let reaction = "/api/rooms/{id}/messages/{message_id}/reactions/{emoji}";
    c.saw("put", reaction, bot.react(room, target, "👍").await)
        .expect(204);
    c.saw("put", reaction, bot.react(room, target, "👍").await)
        .expect(204);
    c.saw("put", reaction, owner.react(room, target, "🎉").await)
        .expect(204);
    c.saw("put", reaction, bot.react(room, target, "nope").await)
        .expect_problem(422, "validation-failed");
    c.saw("put", reaction, stranger.react(room, target, "👍").await)
        .expect_problem(403, "not-a-member");
    c.saw("put", reaction, bot.react(room, 999_999, "👍").await)
        .expect_problem(404, "message-not-found");
    c.saw("put", reaction, bot.react(999_999, target, "👍").await)
        .expect_problem(404, "room-not-found");
    c.saw("put", reaction, anonymous.react(room, target, "👍").await)
        .expect_problem(401, "unauthenticated");
    c.saw("delete", reaction, bot.unreact(room, target, "👍").await)
        .expect(204);
    c.saw("delete", reaction, bot.unreact(room, target, "👍").await)
        .expect(204);
    c.saw("delete", reaction, bot.unreact(room, target, "x").await)
        .expect_problem(422, "validation-failed");
    c.saw(
        "delete",
        reaction,
        stranger.unreact(room, target, "👍").await,
    )
    .expect_problem(403, "not-a-member");
    c.saw(
        "delete",
        reaction,
        anonymous.unreact(room, target, "👍").await,
    )
    .expect_problem(401, "unauthenticated");
    c.saw("get", messages, owner.history(room, "").await)
        .expect(200);
    let doomed = id(&bot.send_message(room, "doomed").await.expect(201));
    c.saw("delete", change, member.delete_message(room, doomed).await)
        .expect_problem(403, "not-author");
    c.saw(
        "delete",
        change,
        stranger.delete_message(room, doomed).await,
    )
    .expect_problem(403, "not-a-member");
    c.saw("delete", change, owner.delete_message(room, 999_999).await)
        .expect_problem(404, "message-not-found");
    c.saw(
        "delete",
        change,
        anonymous.delete_message(room, doomed).await,
    )
    .expect_problem(401, "unauthenticated");
    c.saw("delete", change, owner.delete_message(room, doomed).await)
        .expect(204);
    c.saw(
        "patch",
        change,
        bot.edit_message(room, doomed, "back", None).await,
    )
    .expect_problem(409, "message-deleted");
    c.saw("put", reaction, bot.react(room, doomed, "👍").await)
        .expect_problem(409, "message-deleted");
    c.saw("delete", reaction, bot.unreact(room, doomed, "👍").await)
        .expect_problem(409, "message-deleted");

    // The WebSocket: every replayed frame of the room, through a cookie and a
    // bearer socket, then live frames of every type.
    let events = "/api/rooms/{id}/events";
    let last = owner.room(room).await.expect(200)["last_seq"]
        .as_i64()
        .unwrap();
    let mut cookie_socket = owner.events(room, Some(0)).await;
    c.seen
        .entry(("get".into(), events.into()))
        .or_default()
        .insert(101);
    let mut bot_socket = bot.events(room, Some(0)).await;
    for frame in frames(&mut cookie_socket, usize::try_from(last).unwrap()).await {
        c.frame(events, &frame);
    }
    for frame in frames(&mut bot_socket, usize::try_from(last).unwrap()).await {
        c.frame(events, &frame);
    }
    let ws = format!("/api/rooms/{room}/events");
    c.saw("get", events, handshake(&anonymous, &ws, &[]).await)
        .expect_problem(401, "unauthenticated");
    c.saw(
        "get",
        events,
        handshake(&anonymous, &ws, &[("authorization", "Bearer rcb_forged")]).await,
    )
    .expect_problem(401, "invalid-token");
    c.saw("get", events, handshake(&stranger, &ws, &[]).await)
        .expect_problem(403, "not-a-member");
    c.saw(
        "get",
        events,
        handshake(&owner, &ws, &[(ORIGIN.as_str(), "https://evil.example")]).await,
    )
    .expect_problem(403, "origin-not-allowed");
    c.saw(
        "get",
        events,
        handshake(&owner, "/api/rooms/999999/events", &[]).await,
    )
    .expect_problem(404, "room-not-found");
    // Without an upgrade: the listing, checked as a whole against EventList.
    let listed = c
        .saw(
            "get",
            events,
            owner.get(&format!("{ws}?after=0&limit=200")).await,
        )
        .expect(200);
    assert_eq!(
        listed["events"].as_array().map(Vec::len),
        usize::try_from(last).ok()
    );
    c.saw("get", events, owner.get(&format!("{ws}?limit=2")).await)
        .expect(200);
    c.saw("get", events, owner.get(&format!("{ws}?limit=0")).await)
        .expect_problem(422, "validation-failed");
    c.saw("get", events, owner.get(&format!("{ws}?after=x")).await)
        .expect_problem(400, "bad-request");
    c.saw(
        "get",
        events,
        owner
            .send(owner.request(Method::GET, &ws).header(UPGRADE, "websocket"))
            .await,
    )
    .expect_problem(400, "bad-request");

    // The summary stream: refusals, then frames of every kind but read.updated (checked
    // against the document's UserFrame).
    let me_events = "/api/me/events";
    c.saw(
        "get",
        me_events,
        handshake(&anonymous, me_events, &[]).await,
    )
    .expect_problem(401, "unauthenticated");
    c.saw(
        "get",
        me_events,
        handshake(
            &owner,
            me_events,
            &[(ORIGIN.as_str(), "https://evil.example")],
        )
        .await,
    )
    .expect_problem(403, "origin-not-allowed");
    c.saw("get", me_events, owner.get(me_events).await)
        .expect_problem(400, "bad-request");
    let mut summaries = crate::user_stream::user_stream(&owner).await;
    c.seen
        .entry(("get".into(), me_events.into()))
        .or_default()
        .insert(101);
    let other = owner.new_room(5).await;
    owner.say(other, "for the summary").await;
    owner.delete_room(other).await.expect(204);
    for _ in 0..3 {
        let frame = summaries.next_event().await;
        c.frame(me_events, &frame);
    }

    // Leaving and removal: member.left frames.
    let remove = "/api/rooms/{id}/members/{user}";
    c.saw("delete", remove, member.remove_member(room, bot.id).await)
        .expect_problem(403, "not-owner");
    c.saw("delete", remove, owner.remove_member(room, owner.id).await)
        .expect_problem(409, "owner-cannot-leave");
    c.saw("delete", remove, owner.remove_member(999_999, bot.id).await)
        .expect_problem(404, "room-not-found");
    c.saw(
        "delete",
        remove,
        anonymous.remove_member(room, bot.id).await,
    )
    .expect_problem(401, "unauthenticated");
    c.saw("delete", remove, owner.remove_member(room, bot.id).await)
        .expect(204);
    c.saw("delete", me_path, member.leave(room).await)
        .expect(204);
    c.saw("delete", me_path, owner.leave(room).await)
        .expect_problem(409, "owner-cannot-leave");
    c.saw("delete", me_path, member.leave(999_999).await)
        .expect_problem(404, "room-not-found");
    c.saw("delete", me_path, anonymous.leave(room).await)
        .expect_problem(401, "unauthenticated");
    stranger.join(room).await.expect(201);

    // Admins (the owner registered first, so is one).
    let users = "/api/users";
    c.saw("get", users, owner.get(users).await).expect(200);
    c.saw("get", users, stranger.get(users).await)
        .expect_problem(403, "not-admin");
    c.saw("get", users, anonymous.get(users).await)
        .expect_problem(401, "unauthenticated");
    let disabled = "/api/users/{id}/disabled";
    let member_disabled = format!("/api/users/{}/disabled", member.id);
    c.saw("put", disabled, stranger.put(&member_disabled).await)
        .expect_problem(403, "not-admin");
    c.saw(
        "put",
        disabled,
        owner.put("/api/users/999999/disabled").await,
    )
    .expect_problem(404, "user-not-found");
    c.saw(
        "put",
        disabled,
        owner
            .put(&format!("/api/users/{}/disabled", owner.id))
            .await,
    )
    .expect_problem(403, "forbidden");
    c.saw("put", disabled, owner.put(&member_disabled).await)
        .expect(204);
    c.saw("delete", disabled, stranger.delete(&member_disabled).await)
        .expect_problem(403, "not-admin");
    c.saw(
        "delete",
        disabled,
        owner.delete("/api/users/999999/disabled").await,
    )
    .expect_problem(404, "user-not-found");
    c.saw("delete", disabled, owner.delete(&member_disabled).await)
        .expect(204);

    // Bans (the stranger is a member now).
    let bans = "/api/rooms/{id}/bans/{user}";
    let stranger_ban = format!("/api/rooms/{room}/bans/{}", stranger.id);
    c.saw("put", bans, bot.put(&stranger_ban).await)
        .expect_problem(403, "not-owner");
    c.saw(
        "put",
        bans,
        owner
            .put(&format!("/api/rooms/{room}/bans/{}", owner.id))
            .await,
    )
    .expect_problem(403, "forbidden");
    c.saw(
        "put",
        bans,
        owner
            .put(&format!("/api/rooms/999999/bans/{}", stranger.id))
            .await,
    )
    .expect_problem(404, "room-not-found");
    c.saw("put", bans, anonymous.put(&stranger_ban).await)
        .expect_problem(401, "unauthenticated");
    c.saw("put", bans, owner.put(&stranger_ban).await)
        .expect(204);
    c.saw("put", me_path, stranger.join(room).await)
        .expect_problem(403, "banned");
    c.saw("delete", bans, bot.delete(&stranger_ban).await)
        .expect_problem(403, "not-owner");
    c.saw("delete", bans, owner.delete(&stranger_ban).await)
        .expect(204);
    stranger.join(room).await.expect(201);

    // Invites to register.
    let invites = "/api/invites";
    let made = c
        .saw(
            "post",
            invites,
            owner.post(invites, &json!({ "uses": 2 })).await,
        )
        .expect(201);
    c.saw(
        "post",
        invites,
        owner.post(invites, &json!({ "uses": 0 })).await,
    )
    .expect_problem(422, "validation-failed");
    c.saw("post", invites, stranger.post(invites, &json!({})).await)
        .expect_problem(403, "not-admin");
    c.saw("get", invites, owner.get(invites).await).expect(200);
    c.saw("get", invites, stranger.get(invites).await)
        .expect_problem(403, "not-admin");
    let one_invite = "/api/invites/{id}";
    let made_path = format!("/api/invites/{}", made["id"]);
    c.saw("delete", one_invite, stranger.delete(&made_path).await)
        .expect_problem(403, "not-admin");
    c.saw("delete", one_invite, owner.delete(&made_path).await)
        .expect(204);
    c.saw("delete", one_invite, owner.delete(&made_path).await)
        .expect_problem(404, "invite-not-found");

    // A private room: invites to it, accepts, a member added directly.
    let body = json!({ "name": "core", "capacity": 3, "visibility": "private" });
    let private = id(&owner.post("/api/rooms", &body).await.expect(201));
    let room_invites = "/api/rooms/{id}/invites";
    let private_invites = format!("/api/rooms/{private}/invites");
    let made = c
        .saw(
            "post",
            room_invites,
            owner.post(&private_invites, &json!({ "uses": 1 })).await,
        )
        .expect(201);
    c.saw(
        "post",
        room_invites,
        owner
            .post(&private_invites, &json!({ "expires_in_s": 1 }))
            .await,
    )
    .expect_problem(422, "validation-failed");
    c.saw(
        "post",
        room_invites,
        stranger.post(&private_invites, &json!({})).await,
    )
    .expect_problem(404, "room-not-found");
    c.saw("get", room_invites, owner.get(&private_invites).await)
        .expect(200);
    c.saw("get", room_invites, stranger.get(&private_invites).await)
        .expect_problem(404, "room-not-found");
    let accept = "/api/room-invites/accept";
    c.saw(
        "post",
        accept,
        stranger.post(accept, &json!({ "code": "rci_nope" })).await,
    )
    .expect_problem(403, "invite-invalid");
    c.saw(
        "post",
        accept,
        stranger
            .post(accept, &json!({ "code": made["code"] }))
            .await,
    )
    .expect(201);
    c.saw(
        "post",
        accept,
        stranger
            .post(accept, &json!({ "code": made["code"] }))
            .await,
    )
    .expect(200);
    let one_room_invite = "/api/rooms/{id}/invites/{invite_id}";
    let made_path = format!("{private_invites}/{}", made["id"]);
    c.saw("delete", one_room_invite, stranger.delete(&made_path).await)
        .expect_problem(403, "not-owner");
    c.saw("delete", one_room_invite, owner.delete(&made_path).await)
        .expect(204);
    c.saw("delete", one_room_invite, owner.delete(&made_path).await)
        .expect_problem(404, "invite-not-found");
    let add = "/api/rooms/{id}/members/{user}";
    let add_member = format!("/api/rooms/{private}/members/{}", member.id);
    c.saw("put", add, stranger.put(&add_member).await)
        .expect_problem(403, "not-owner");
    c.saw("put", add, owner.put(&add_member).await).expect(201);
    c.saw("put", add, owner.put(&add_member).await).expect(200);
    c.saw(
        "put",
        add,
        owner
            .put(&format!("/api/rooms/{private}/members/999999"))
            .await,
    )
    .expect_problem(404, "user-not-found");
    c.saw(
        "put",
        add,
        owner
            .put(&format!("/api/rooms/{private}/members/{}", bot.id))
            .await,
    )
    .expect_problem(409, "room-full");
    let full =
        json!({ "code": owner.post(&private_invites, &json!({})).await.expect(201)["code"] });
    c.saw("post", accept, bot.post(accept, &full).await)
        .expect_problem(409, "room-full");
    owner.delete_room(private).await.expect(204);

    // DMs.
    let dms = "/api/dms";
    let with_stranger = json!({ "user_id": stranger.id });
    let made = c
        .saw("post", dms, owner.post(dms, &with_stranger).await)
        .expect(201);
    c.saw(
        "post",
        dms,
        stranger.post(dms, &json!({ "user_id": owner.id })).await,
    )
    .expect(200);
    c.saw(
        "post",
        dms,
        owner.post(dms, &json!({ "user_id": owner.id })).await,
    )
    .expect_problem(422, "validation-failed");
    c.saw(
        "post",
        dms,
        owner.post(dms, &json!({ "user_id": 999_999 })).await,
    )
    .expect_problem(404, "user-not-found");
    c.saw("post", dms, bot.post(dms, &with_stranger).await)
        .expect_problem(403, "forbidden");
    c.saw("post", dms, anonymous.post(dms, &with_stranger).await)
        .expect_problem(401, "unauthenticated");
    owner.delete_room(id(&made)).await.expect(204);

    // A password change (the stranger's; nothing below needs their old password).
    let password = "/api/me/password";
    let change = |client: &User, current: &str, new: &str| {
        client
            .request(Method::PUT, password)
            .json(&json!({ "current": current, "new": new }))
    };
    c.saw(
        "put",
        password,
        stranger
            .send(change(&stranger, "wrong password", "a new password"))
            .await,
    )
    .expect_problem(403, "wrong-password");
    c.saw(
        "put",
        password,
        stranger.send(change(&stranger, PASSWORD, "short")).await,
    )
    .expect_problem(422, "validation-failed");
    c.saw("put", password, anonymous.put(password).await)
        .expect_problem(401, "unauthenticated");
    c.saw(
        "put",
        password,
        stranger
            .send(change(&stranger, PASSWORD, "a new password"))
            .await,
    )
    .expect(204);

    // Deleting the room: room.deleted.
    c.saw("delete", one, stranger.delete_room(room).await)
        .expect_problem(403, "not-owner");
    c.saw("delete", one, anonymous.delete_room(room).await)
        .expect_problem(401, "unauthenticated");
    c.saw("delete", one, owner.delete_room(room).await)
        .expect(204);
    c.saw("delete", one, owner.delete_room(room).await)
        .expect_problem(404, "room-not-found");
    for frame in cookie_socket.expect_close(4004).await {
        c.frame(events, &frame);
    }
    // The bot was removed: its socket closed with 4003 after member.left.
    for frame in bot_socket.expect_close(4003).await {
        c.frame(events, &frame);
    }
    assert_eq!(first["content"], "hello");

    // Logging out everywhere, then logging out.
    let everywhere = "/api/sessions";
    c.saw("delete", everywhere, bot.delete(everywhere).await)
        .expect_problem(403, "forbidden");
    c.saw("delete", everywhere, stranger.delete(everywhere).await)
        .expect(204);
    c.saw("delete", everywhere, stranger.delete(everywhere).await)
        .expect_problem(401, "unauthenticated");
    c.saw("delete", "/api/session", owner.logout().await)
        .expect(204);
    c.saw("delete", "/api/session", owner.logout().await)
        .expect_problem(401, "unauthenticated");

    // Every documented operation was seen succeeding, so every success schema was checked.
    for (method, path) in operations(&doc) {
        let statuses = c
            .seen
            .get(&(method.clone(), path.clone()))
            .cloned()
            .unwrap_or_default();
        if !statuses.iter().any(|s| (100..300).contains(s)) {
            c.failures.push(format!(
                "{} {path}: the scenario never saw it succeed (saw {statuses:?}); extend it",
                method.to_uppercase()
            ));
        }
    }
    c.assert_clean();
}
