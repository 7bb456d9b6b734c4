use chrono::Utc;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use tests::{PASSWORD, spawn_app, spawn_app_beside, spawn_app_with, spawn_shared_app_with};

async fn status_of_me(app: &tests::TestApp, token: &str) -> u16 {
    app.get("/v1/users/me", Some(token)).await.status().as_u16()
}

async fn refresh(app: &tests::TestApp, token: &str) -> reqwest::Response {
    app.post_json("/v1/users/refresh", &json!({"refresh_token": token}), None)
        .await
}

#[tokio::test]
async fn login_returns_a_working_token_pair() {
    let app = spawn_app().await;
    app.register("alice").await;
    let response = app
        .post_json(
            "/v1/users/login",
            &json!({"email": "Alice@Example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    assert!(body["refresh_token"].is_string());
    assert_eq!(status_of_me(&app, access).await, 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    app.register("alice").await;
    let mut bodies = Vec::new();
    for (email, password) in [
        ("alice@example.com", "Wr0ng!pass"),
        ("nobody@example.com", PASSWORD),
    ] {
        let response = app
            .post_json(
                "/v1/users/login",
                &json!({"email": email, "password": password}),
                None,
            )
            .await;
        assert_eq!(response.status(), 400, "{email}");
        let mut body: Value = response.json().await.unwrap();
        body.as_object_mut().unwrap().remove("request_id");
        bodies.push(body);
    }
    assert_eq!(
        bodies[0],
        json!({"error_code": 400, "message": "Invalid credentials"})
    );
    assert_eq!(bodies[0], bodies[1]);
}

#[tokio::test]
async fn malformed_logins_are_422() {
    let app = spawn_app().await;
    for (body, field, kind) in [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
            "value_error",
        ),
        (json!({"email": "a@example.com"}), "password", "missing"),
        (json!({"password": PASSWORD}), "email", "missing"),
        (
            json!({"email": "a@example.com", "password": 12_345_678}),
            "password",
            "string_type",
        ),
    ] {
        let response = app.post_json("/v1/users/login", &body, None).await;
        assert_eq!(response.status(), 422, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["detail"][0]["loc"], json!(["body", field]), "{body}");
        assert_eq!(answer["detail"][0]["type"], kind, "{body}");
    }
}

#[tokio::test]
async fn bad_bearer_tokens_are_401() {
    let app = spawn_app().await;
    let (_, refresh_token) = app.signed_up("alice").await;
    let secret = app.settings.auth.secret_key.expose().as_bytes().to_vec();
    let now = Utc::now().timestamp();
    // The login the tokens claim to belong to: a token is only accepted
    // for a live login, so even a correctly signed one names a real family.
    let login: Value = jsonwebtoken::decode(
        &refresh_token,
        &jsonwebtoken::DecodingKey::from_secret(&secret),
        &jsonwebtoken::Validation::default(),
    )
    .unwrap()
    .claims;
    let claims = |exp: i64, typ: &str| json!({"sub": login["sub"], "exp": exp, "iat": now - 10, "jti": uuid::Uuid::new_v4(), "typ": typ, "fid": login["fid"]});
    let sign = |claims: &Value, key: &[u8]| {
        jsonwebtoken::encode(&Header::default(), claims, &EncodingKey::from_secret(key)).unwrap()
    };
    // Sanity: a well-formed token signed with our key does work.
    assert_eq!(
        status_of_me(&app, &sign(&claims(now + 60, "access"), &secret)).await,
        200
    );

    let expired = sign(&claims(now - 60, "access"), &secret);
    let foreign = sign(
        &claims(now + 60, "access"),
        b"someone-elses-secret-someone-elses",
    );
    let wrong_kind = sign(&claims(now + 60, "refresh"), &secret);
    let unsigned = {
        // `alg: none` must never be accepted, whatever the token claims.
        use base64_url as b64;
        format!(
            "{}.{}.",
            b64::encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64::encode(claims(now + 60, "access").to_string().as_bytes())
        )
    };
    for token in [
        expired.as_str(),
        &foreign,
        &wrong_kind,
        &unsigned,
        &refresh_token,
        &sign(
            &json!({"sub": login["sub"], "exp": now + 60, "iat": now - 10, "jti": uuid::Uuid::new_v4(), "typ": "access", "fid": uuid::Uuid::new_v4()}),
            &secret,
        ),
        "garbage",
    ] {
        let response = app.get("/v1/users/me", Some(token)).await;
        assert_eq!(response.status(), 401, "{token}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error_code"], 401);
        assert_eq!(body["message"], "Authentication required");
    }
    // Not a bearer scheme at all.
    let response = app
        .client
        .get(app.url("/v1/users/me"))
        .header("Authorization", "Basic YWxpY2U6c2VjcmV0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// Minimal base64url without padding, so the test needs no extra crate.
mod base64_url {
    pub fn encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

#[tokio::test]
async fn refresh_rotates_and_the_old_token_stops_working() {
    let app = spawn_app().await;
    let (_, first) = app.signed_up("alice").await;

    let response = refresh(&app, &first).await;
    assert_eq!(response.status(), 200);
    let pair: Value = response.json().await.unwrap();
    let second = pair["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(
        status_of_me(&app, pair["access_token"].as_str().unwrap()).await,
        200
    );

    // The second token rotates once more; chains keep working.
    let response = refresh(&app, &second).await;
    assert_eq!(response.status(), 200);
    let third: Value = response.json().await.unwrap();

    // Replaying the first token is detected ...
    let response = refresh(&app, &first).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Invalid refresh token");
    // ... and revokes the whole family, including the newest token.
    let response = refresh(&app, third["refresh_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_refresh_token_reused_after_rotation_revokes_only_its_own_login() {
    let app = spawn_app().await;
    let (_, laptop) = app.signed_up("alice").await;
    let (_, phone) = app.login("alice").await;
    assert_eq!(refresh(&app, &laptop).await.status(), 200);
    assert_eq!(refresh(&app, &laptop).await.status(), 401);
    // The phone's login is another family and keeps working.
    assert_eq!(refresh(&app, &phone).await.status(), 200);
}

#[tokio::test]
async fn refresh_rejects_access_tokens_garbage_and_malformed_bodies() {
    let app = spawn_app().await;
    let (access, _) = app.signed_up("alice").await;
    for token in [access.as_str(), "garbage", ""] {
        let response = refresh(&app, token).await;
        assert_eq!(response.status(), 401, "{token}");
    }
    let response = app.post_json("/v1/users/refresh", &json!({}), None).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["body", "refresh_token"]));
}

#[tokio::test]
async fn logout_revokes_the_login_and_needs_auth() {
    let app = spawn_app().await;
    let (access, refresh_token) = app.signed_up("alice").await;
    let (_, other_login) = app.login("alice").await;

    let response = app.post_json("/v1/users/logout", &json!({}), None).await;
    assert_eq!(response.status(), 401);

    let response = app
        .client
        .post(app.url("/v1/users/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(refresh(&app, &refresh_token).await.status(), 401);
    assert_eq!(
        refresh(&app, &other_login).await.status(),
        200,
        "other logins stay"
    );
}

#[tokio::test]
async fn refresh_state_survives_a_restart_and_is_shared_by_instances() {
    // Two app instances on one database file: a token issued by one is
    // honoured (once) by the other.
    let path = std::env::temp_dir().join(format!("rpt-{}.db", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let first = spawn_app_with(&[("DATABASE_URL", &url)]).await;
    let (_, token) = first.signed_up("alice").await;
    drop(first);
    let second = spawn_app_with(&[("DATABASE_URL", &url)]).await;
    assert_eq!(refresh(&second, &token).await.status(), 200);
    assert_eq!(refresh(&second, &token).await.status(), 401);
    drop(second);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn a_rotated_key_keeps_its_tokens_valid_only_while_it_is_the_previous_one() {
    let (a, b) = (
        "key-a-key-a-key-a-key-a-key-a-ka",
        "key-b-key-b-key-b-key-b-key-b-kb",
    );
    let old = spawn_shared_app_with(&[("SECRET_KEY", a)]).await;
    let (access, refresh_token) = old.signed_up("alice").await;

    // Only the new key: every token signed with the old one is refused.
    let only_b = spawn_app_beside(&old, &[("SECRET_KEY", b)]).await;
    assert_eq!(status_of_me(&only_b, &access).await, 401);
    assert_eq!(refresh(&only_b, &refresh_token).await.status(), 401);

    // The old key as the previous one: its tokens still work, and what is
    // signed now is signed with the new key.
    let rotated = spawn_app_beside(&old, &[("SECRET_KEY", b), ("SECRET_KEY_PREVIOUS", a)]).await;
    assert_eq!(status_of_me(&rotated, &access).await, 200);
    let response = refresh(&rotated, &refresh_token).await;
    assert_eq!(response.status(), 200);
    let pair: Value = response.json().await.unwrap();
    let new_access = pair["access_token"].as_str().unwrap();
    assert_eq!(status_of_me(&only_b, new_access).await, 200);
    assert_eq!(status_of_me(&old, new_access).await, 401);
}
