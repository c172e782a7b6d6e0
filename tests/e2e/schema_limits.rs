//! The OpenAPI document states the limits the server enforces: for every constrained request
//! field and parameter, values on both sides of each documented bound (and around the
//! patterns) are accepted exactly when the document's own schema says they are valid. A
//! fuzzer that generates from the document (schemathesis) then neither gets 422 for a valid
//! request nor 2xx for an invalid one.

use serde_json::{json, Value};

use crate::support::{id, Backend, Resp, TestServer, PASSWORD};

backend_tests!(the_documented_limits_are_the_enforced_ones);

fn property(doc: &Value, schema: &str, field: &str) -> Value {
    let found = &doc["components"]["schemas"][schema]["properties"][field];
    assert!(found.is_object(), "no {schema}.{field} in the document");
    found.clone()
}

fn parameter(doc: &Value, path: &str, method: &str, name: &str) -> Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .map(|p| p["schema"].clone())
        .unwrap_or_else(|| panic!("no parameter {name} of {method} {path}"))
}

/// Collects every disagreement between the document and the server.
struct Agreement {
    problems: Vec<String>,
}

impl Agreement {
    /// `resp` answered a request whose `what` carried `value`: 2xx exactly when the schema
    /// admits the value, else the given refusal.
    fn check(&mut self, what: &str, schema: &Value, value: &Value, resp: &Resp, refusal: u16) {
        let validator = jsonschema::draft202012::options()
            .build(schema)
            .unwrap_or_else(|e| panic!("{what}: the documented schema does not compile: {e}"));
        let valid = validator.is_valid(value);
        let accepted = (200..300).contains(&resp.status);
        let shown: String = value.to_string().chars().take(40).collect();
        if valid && !accepted {
            self.problems.push(format!(
                "{what} = {shown}: valid per the document, refused with HTTP {} {}",
                resp.status, resp.text
            ));
        } else if !valid && resp.status != refusal {
            self.problems.push(format!(
                "{what} = {shown}: invalid per the document, answered HTTP {} {}",
                resp.status, resp.text
            ));
        }
        // And the document must constrain what it shows: no field is left unbounded (a
        // pattern with bounded repetition bounds a text).
        if ["maxLength", "maximum", "pattern"]
            .iter()
            .all(|k| schema.get(k).is_none())
        {
            self.problems
                .push(format!("{what}: no maximum in the document: {schema}"));
        }
    }
}

async fn the_documented_limits_are_the_enforced_ones(b: Backend) {
    let server = TestServer::start(b).await;
    let visitor = server.client();
    let doc = visitor.get("/api/openapi.json").await.expect(200);
    let mut a = Agreement {
        problems: Vec::new(),
    };
    // Blank and control characters, inside and around the text (blanks are trimmed).
    let blanks = [
        "",
        " ",
        "\t\n",
        "\u{1F}",
        "\u{3000}",
        "\u{85}",
        "\u{A0}x",
        "\u{FEFF}",
        "\u{1C}x",
        "\u{0}",
        "a\u{0}b",
        "\tx\r\n",
        "a\tb",
        "a\nb",
        "a\r\nb",
        "a\rb",
        "a\u{7F}",
        "a\u{85}b",
        "\u{1B}[2J",
        "x\u{200B}y",
    ];

    // Usernames (each candidate distinct even lowercased, so no 409 gets in the way).
    let username = property(&doc, "Credentials", "username");
    let names = [
        "ab".to_string(),
        "Ab3".to_string(),
        "a".repeat(32),
        "b".repeat(33),
        " padded".to_string(),
        "padded2 ".to_string(),
        "has space".to_string(),
        "MiXeD.Case-_9".to_string(),
        "\u{212A}elvin".to_string(),
        "émile".to_string(),
    ];
    for name in names {
        let resp = visitor.register(&name, PASSWORD).await;
        a.check("username", &username, &json!(name), &resp, 422);
    }
    // Passwords: at least 8 characters (not bytes), at most 1024 bytes.
    let password = property(&doc, "Credentials", "password");
    for (i, pw) in [
        "1234567".to_string(),
        "12345678".to_string(),
        "ééééééé".to_string(),
        "éééééééé".to_string(),
        "x".repeat(1024),
        "x".repeat(1025),
    ]
    .into_iter()
    .enumerate()
    {
        let resp = visitor.register(&format!("pw_{i}"), &pw).await;
        a.check("password", &password, &json!(pw), &resp, 422);
    }

    let owner = server.user().await;
    // Room names and capacities.
    let room_name = property(&doc, "NewRoom", "name");
    let mut names: Vec<String> = blanks.iter().map(|s| s.to_string()).collect();
    names.extend([
        "n".repeat(100),
        "n".repeat(101),
        "é".repeat(100),
        format!("  {}\t", "p".repeat(100)),
        format!(" {} ", "q".repeat(101)),
    ]);
    for name in names {
        let resp = owner.create_room(&name, 5).await;
        a.check("room name", &room_name, &json!(name), &resp, 422);
    }
    let capacity = property(&doc, "NewRoom", "capacity");
    for cap in [-1, 0, 1, 10_000, 10_001] {
        let resp = owner.create_room("capacity", cap).await;
        a.check("capacity", &capacity, &json!(cap), &resp, 422);
    }

    // Message content, history limits, Idempotency-Keys.
    let room = id(&owner.create_room("limits", 5).await.expect(201));
    let content = property(&doc, "NewMessage", "content");
    let mut contents: Vec<String> = blanks.iter().map(|s| s.to_string()).collect();
    contents.extend([
        "c".repeat(4000),
        "c".repeat(4001),
        "é".repeat(4000),
        format!("\n{}\r\n", "d".repeat(4000)),
        format!("{}\r\n{}", "e".repeat(1999), "e".repeat(1999)),
        format!("{}\r\n{}", "f".repeat(2000), "f".repeat(1999)),
    ]);
    for text in contents {
        let resp = owner.send_message(room, &text).await;
        a.check("content", &content, &json!(text), &resp, 422);
    }
    let messages = "/api/rooms/{id}/messages";
    let limit = parameter(&doc, messages, "get", "limit");
    for n in [0, 1, 100, 101] {
        let resp = owner.history(room, &format!("limit={n}")).await;
        a.check("limit", &limit, &json!(n), &resp, 422);
    }
    let key = parameter(&doc, messages, "post", "Idempotency-Key");
    for (i, k) in [
        "k".to_string(),
        "a b".to_string(),
        "k".repeat(255),
        "k".repeat(256),
    ]
    .into_iter()
    .enumerate()
    {
        let resp = owner.send_keyed(room, &format!("keyed {i}"), &k).await;
        a.check("Idempotency-Key", &key, &json!(k), &resp, 400);
    }

    // Bot names share the username rule.
    let bot_name = property(&doc, "NewBot", "name");
    for name in ["bo", "Bot_1", "b".repeat(32).as_str(), " bot2", "bot 3"] {
        let resp = owner.create_bot(name).await;
        a.check("bot name", &bot_name, &json!(name), &resp, 422);
    }

    assert!(a.problems.is_empty(), "{}", a.problems.join("\n"));
}
