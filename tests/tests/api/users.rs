use serde_json::{Value, json};
use tests::{PASSWORD, spawn_app, spawn_app_with};

fn registration(email: &str, username: &str) -> Value {
    json!({"email": email, "password": PASSWORD, "username": username})
}

#[tokio::test]
async fn register_returns_201_with_the_public_fields_only() {
    let app = spawn_app().await;
    for path in ["/v1/users/", "/v1/users"] {
        let name = if path.ends_with('/') { "alice" } else { "bob" };
        let response = app
            .post_json(
                path,
                &registration(&format!("{name}@Example.COM"), name),
                None,
            )
            .await;
        assert_eq!(response.status(), 201, "{path}");
        let body: Value = response.json().await.unwrap();
        let object = body.as_object().unwrap();
        assert_eq!(object.len(), 3, "only email, username, uuid: {body}");
        assert_eq!(body["email"], format!("{name}@example.com"), "lower-cased");
        assert_eq!(body["username"], name);
        uuid::Uuid::parse_str(body["uuid"].as_str().unwrap()).unwrap();
    }
}

#[tokio::test]
async fn a_taken_email_or_username_is_400() {
    let app = spawn_app().await;
    app.register("alice").await;

    let response = app
        .post_json(
            "/v1/users/",
            &registration("ALICE@example.com", "other"),
            None,
        )
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], 400);
    assert_eq!(body["message"], "User already exists with this email");

    let response = app
        .post_json(
            "/v1/users/",
            &registration("new@example.com", "alice"),
            None,
        )
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "User already exists with this username");
}

#[tokio::test]
async fn usernames_are_unique_without_regard_to_case_and_keep_theirs() {
    let app = tests::spawn_shared_app_with(&[]).await;
    let created = app
        .post_json(
            "/v1/users/",
            &registration("m@example.com", "Mallory"),
            None,
        )
        .await;
    assert_eq!(
        created.json::<Value>().await.unwrap()["username"],
        "Mallory"
    );
    for name in ["mallory", "MALLORY"] {
        let response = app
            .post_json("/v1/users/", &registration("other@example.com", name), None)
            .await;
        assert_eq!(response.status(), 400, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], "User already exists with this username");
    }
    let (token, _) = app.signed_up("bob").await;
    let renamed = app
        .patch_json(
            "/v1/users/me",
            &json!({"username": "mAllory"}),
            Some(&token),
        )
        .await;
    assert_eq!(renamed.status(), 400);
    // The unique index decides too, where the pre-check is passed by (two
    // registrations at once).
    let conflict = persistence::UserRepository::default()
        .create(
            app.pool().await.writer(),
            domain::NewUser {
                uuid: uuid::Uuid::new_v4(),
                email: domain::Email::parse("x@example.com").unwrap(),
                username: domain::Username::parse("MalloRY").unwrap(),
                password_hash: "x".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            conflict,
            persistence::Error::Conflict {
                field: "username",
                ..
            }
        ),
        "{conflict:?}"
    );
}

async fn race_one_email(app: &tests::TestApp) {
    // Spawned, so the requests really are in flight together.
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let request = app
                .client
                .post(app.url("/v1/users/"))
                .json(&registration("racer@example.com", &format!("racer{i}")));
            tokio::spawn(request.send())
        })
        .collect();
    let mut statuses = Vec::new();
    for handle in handles {
        statuses.push(handle.await.unwrap().unwrap().status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        7,
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_of_one_email_create_one_account() {
    let app = spawn_app().await;
    race_one_email(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_on_a_pooled_sqlite_file_create_one_account() {
    // The embedded default: a file with a pool of connections, where the
    // unique constraint (not the pre-check) must settle the race.
    let path = std::env::temp_dir().join(format!("rpt-{}.db", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let app = spawn_app_with(&[("DATABASE_URL", &url)]).await;
    race_one_email(&app).await;
    drop(app);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn invalid_fields_are_422_in_fastapi_shape() {
    let app = spawn_app().await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            registration("not-an-email", "alice"),
            "email",
            "value_error",
        ),
        (registration("a@b", "alice"), "email", "value_error"),
        (
            json!({"email": "a@example.com", "password": "Sh0rt!", "username": "alice"}),
            "password",
            "string_too_short",
        ),
        (
            json!({"email": "a@example.com", "password": format!("Aa1!{}", "x".repeat(61)), "username": "alice"}),
            "password",
            "string_too_long",
        ),
        (
            json!({"email": "a@example.com", "password": "NoSpecial123", "username": "alice"}),
            "password",
            "value_error",
        ),
        (
            json!({"email": "a@example.com", "password": "NoDigits!!x", "username": "alice"}),
            "password",
            "value_error",
        ),
        (
            json!({"email": "a@example.com", "password": "noupper1!x", "username": "alice"}),
            "password",
            "value_error",
        ),
        (
            json!({"email": "a@example.com", "password": "NOLOWER1!X", "username": "alice"}),
            "password",
            "value_error",
        ),
        (
            registration("a@example.com", "al"),
            "username",
            "string_too_short",
        ),
        (
            registration("a@example.com", &"a".repeat(65)),
            "username",
            "string_too_long",
        ),
        (
            registration("a@example.com", "al_ice"),
            "username",
            "value_error",
        ),
        (
            json!({"email": 42, "password": PASSWORD, "username": "alice"}),
            "email",
            "string_type",
        ),
        (
            json!({"email": "a@example.com", "password": null, "username": "alice"}),
            "password",
            "string_type",
        ),
        (
            json!({"email": "a@example.com", "password": PASSWORD}),
            "username",
            "missing",
        ),
    ];
    for (body, field, kind) in cases {
        let response = app.post_json("/v1/users/", &body, None).await;
        assert_eq!(response.status(), 422, "{body}");
        let answer: Value = response.json().await.unwrap();
        let detail = answer["detail"].as_array().unwrap();
        assert_eq!(detail.len(), 1, "{answer}");
        assert_eq!(detail[0]["loc"], json!(["body", field]), "{body}");
        assert_eq!(detail[0]["type"], kind, "{body}");
        assert!(detail[0]["msg"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Nothing was stored by any of them.
    let (token, _) = app.signed_up("checker").await;
    let users: Value = app
        .get("/v1/users/", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn every_bad_field_is_reported_at_once() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/v1/users/",
            &json!({"email": "nope", "username": "x"}),
            None,
        )
        .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    let locs: Vec<&Value> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["loc"])
        .collect();
    assert_eq!(
        locs,
        vec![
            &json!(["body", "email"]),
            &json!(["body", "password"]),
            &json!(["body", "username"])
        ]
    );
}

#[tokio::test]
async fn malformed_bodies_are_422_never_plain_text() {
    let app = spawn_app().await;
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = app.client.post(app.url("/v1/users/")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        request.send()
    };
    let cases = [
        (
            "{\"email\": ",
            Some("application/json"),
            json!(["body", "<position>"]),
            "json_invalid",
        ),
        (
            "not json",
            None,
            json!(["body", "<position>"]),
            "json_invalid",
        ),
        (
            "email=a@example.com",
            Some("application/x-www-form-urlencoded"),
            json!(["body"]),
            "model_attributes_type",
        ),
        (
            "{}",
            Some("text/plain"),
            json!(["body"]),
            "model_attributes_type",
        ),
        (
            "[1, 2]",
            Some("application/json"),
            json!(["body"]),
            "model_attributes_type",
        ),
        (
            "\"text\"",
            Some("application/json"),
            json!(["body"]),
            "model_attributes_type",
        ),
        ("", Some("application/json"), json!(["body"]), "missing"),
    ];
    for (body, content_type, loc, kind) in cases {
        let response = send(body, content_type).await.unwrap();
        assert_eq!(response.status(), 422, "{body:?}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["detail"][0]["type"], kind, "{body:?}: {answer}");
        if kind == "json_invalid" {
            // Like FastAPI: the position of the error in the body.
            assert_eq!(answer["detail"][0]["loc"][0], "body");
            assert!(answer["detail"][0]["loc"][1].is_u64(), "{answer}");
        } else {
            assert_eq!(answer["detail"][0]["loc"], loc, "{body:?}: {answer}");
        }
    }
}

#[tokio::test]
async fn listing_users_requires_auth_and_pages() {
    let app = spawn_app().await;
    let response = app.get("/v1/users/", None).await;
    assert_eq!(response.status(), 401);

    let (token, _) = app.signed_up("alice").await;
    app.register("bob").await;
    app.register("carol").await;
    for path in ["/v1/users/", "/v1/users"] {
        let users: Value = app.get(path, Some(&token)).await.json().await.unwrap();
        let names: Vec<&str> = users
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["alice", "bob", "carol"], "{path}");
        assert!(users[0].get("password").is_none(), "never the hash");
    }
    let page: Value = app
        .get("/v1/users/?skip=1&limit=1", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["username"], "bob");

    for (query, field, kind) in [
        ("limit=0", "limit", "greater_than_equal"),
        ("limit=101", "limit", "less_than_equal"),
        ("limit=ten", "limit", "int_parsing"),
        ("skip=-1", "skip", "greater_than_equal"),
    ] {
        let response = app.get(&format!("/v1/users/?{query}"), Some(&token)).await;
        assert_eq!(response.status(), 422, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{query}");
        assert_eq!(body["detail"][0]["type"], kind, "{query}");
    }
}

#[tokio::test]
async fn me_returns_the_caller() {
    let app = spawn_app().await;
    let registered = app.register("alice").await;
    app.register("bob").await;
    let (token, _) = app.login("alice").await;
    for path in ["/v1/users/me", "/v1/users/me/"] {
        let response = app.get(path, Some(&token)).await;
        assert_eq!(response.status(), 200, "{path}");
        let mut me: Value = response.json().await.unwrap();
        // The template's fields, and the state of the address beside them.
        assert_eq!(me["email_verified"], false);
        assert_eq!(me["pending_email"], Value::Null);
        let own = me.as_object_mut().unwrap();
        own.remove("email_verified");
        own.remove("pending_email");
        assert_eq!(me, registered);
    }
}
