//! Users beyond the template: one user, profile changes, deletion by admins.

use serde_json::{Value, json};
use tests::{PASSWORD, spawn_app};

#[tokio::test]
async fn a_user_is_readable_by_uuid() {
    let app = spawn_app().await;
    let (token, _) = app.signed_up("alice").await;
    let bob = app.register("bob").await;
    let path = format!("/v1/users/{}", bob["uuid"].as_str().unwrap());
    let response = app.get(&path, Some(&token)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), bob);
    assert_eq!(app.get(&path, None).await.status(), 401);

    let unknown = format!("/v1/users/{}", uuid::Uuid::new_v4());
    assert_eq!(app.get(&unknown, Some(&token)).await.status(), 404);
    let response = app.get("/v1/users/nope", Some(&token)).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["detail"][0]["loc"], json!(["path", "user_uuid"]));
}

#[tokio::test]
async fn the_list_counts_all_users_and_sorts() {
    let app = spawn_app().await;
    let (token, _) = app.signed_up("carol").await;
    app.register("alice").await;
    app.register("bob").await;
    let response = app
        .get("/v1/users/?sort=-username&limit=2", Some(&token))
        .await;
    assert_eq!(response.headers()["x-total-count"], "3");
    let body: Value = response.json().await.unwrap();
    let names: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["carol", "bob"]);
    let response = app.get("/v1/users/?sort=password", Some(&token)).await;
    assert_eq!(response.status(), 422, "the hash is not a sort key");
}

#[tokio::test]
async fn changing_the_username_needs_no_password_but_a_free_name() {
    let app = spawn_app().await;
    let (token, _) = app.signed_up("alice").await;
    app.register("bob").await;
    let response = app
        .patch_json("/v1/users/me", &json!({"username": "alicia"}), Some(&token))
        .await;
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["username"], "alicia");

    let response = app
        .patch_json("/v1/users/me", &json!({"username": "bob"}), Some(&token))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "User already exists with this username");

    let response = app
        .patch_json("/v1/users/me", &json!({"username": "a_b"}), Some(&token))
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        app.patch_json("/v1/users/me", &json!({}), None)
            .await
            .status(),
        401
    );
    let me: Value = app
        .get("/v1/users/me", Some(&token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "alicia");
}

#[tokio::test]
async fn email_and_password_changes_need_the_current_password() {
    let app = spawn_app().await;
    let (token, _) = app.signed_up("alice").await;
    app.register("bob").await;
    for (body, kind) in [
        (json!({"email": "new@example.com"}), "missing"),
        (
            json!({"email": "new@example.com", "current_password": "Wr0ng!pass"}),
            "value_error",
        ),
        (json!({"password": "N3w!password"}), "missing"),
    ] {
        let response = app.patch_json("/v1/users/me", &body, Some(&token)).await;
        assert_eq!(response.status(), 422, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["body", "current_password"]),
            "{body}"
        );
        assert_eq!(answer["detail"][0]["type"], kind, "{body}");
    }
    let response = app
        .patch_json(
            "/v1/users/me",
            &json!({"email": "BOB@example.com", "current_password": PASSWORD}),
            Some(&token),
        )
        .await;
    assert_eq!(response.status(), 400, "taken, case-insensitively");

    let response = app
        .patch_json(
            "/v1/users/me",
            &json!({"email": "Alice@New.example", "current_password": PASSWORD}),
            Some(&token),
        )
        .await;
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    // The address in force stays until the new one is verified
    // (`lifecycle.rs` follows the link).
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["pending_email"], "alice@new.example");
}

#[tokio::test]
async fn a_new_password_works_and_ends_every_other_login() {
    let app = spawn_app().await;
    let (token, refresh) = app.signed_up("alice").await;
    let (_, other_device) = app.login("alice").await;
    let response = app
        .patch_json(
            "/v1/users/me",
            &json!({"password": "N3w!password", "current_password": PASSWORD}),
            Some(&token),
        )
        .await;
    assert_eq!(response.status(), 200);
    for old in [refresh, other_device] {
        let response = app
            .post_json("/v1/users/refresh", &json!({"refresh_token": old}), None)
            .await;
        assert_eq!(response.status(), 401, "refresh tokens revoked");
    }
    let old_login = app
        .post_json(
            "/v1/users/login",
            &json!({"email": "alice@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(old_login.status(), 400);
    let new_login = app
        .post_json(
            "/v1/users/login",
            &json!({"email": "alice@example.com", "password": "N3w!password"}),
            None,
        )
        .await;
    assert_eq!(new_login.status(), 200);
}

#[tokio::test]
async fn only_admins_delete_users_and_the_users_tasks_go_with_them() {
    let app = spawn_app().await;
    let (alice, _) = app.signed_up("alice").await;
    let (bob, _) = app.signed_up("bob").await;
    let (admin, _) = app.signed_up_admin("root").await;
    let bob_user: Value = app
        .get("/v1/users/me", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    let task = app.create_task(&bob, "bob's").await;
    let bob_path = format!("/v1/users/{}", bob_user["uuid"].as_str().unwrap());

    for token in [&alice, &bob] {
        let response = app.delete(&bob_path, Some(token)).await;
        assert_eq!(response.status(), 403);
    }
    assert_eq!(app.delete(&bob_path, None).await.status(), 401);
    assert_eq!(
        app.get(&bob_path, Some(&alice)).await.status(),
        200,
        "still there"
    );

    assert_eq!(app.delete(&bob_path, Some(&admin)).await.status(), 204);
    assert_eq!(app.get(&bob_path, Some(&alice)).await.status(), 404);
    let task_path = format!("/v1/tasks/{}", task["uuid"].as_str().unwrap());
    assert_eq!(
        app.get(&task_path, Some(&admin)).await.status(),
        404,
        "tasks cascaded"
    );
    let response = app.get("/v1/tasks/", Some(&admin)).await;
    assert_eq!(response.headers()["x-total-count"], "0");
    // Bob's still-unexpired access token no longer opens anything.
    assert_eq!(app.get("/v1/users/me", Some(&bob)).await.status(), 401);
    assert_eq!(app.get("/v1/tasks/", Some(&bob)).await.status(), 401);
    assert_eq!(app.delete(&bob_path, Some(&admin)).await.status(), 404);
}
