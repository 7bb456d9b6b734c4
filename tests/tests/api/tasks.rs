use serde_json::{Value, json};
use tests::{TestApp, spawn_app};

fn total(response: &reqwest::Response) -> u64 {
    response.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn titles(app: &TestApp, query: &str, token: &str) -> (Vec<String>, u64) {
    let response = app.get(&format!("/v1/tasks/{query}"), Some(token)).await;
    assert_eq!(response.status(), 200, "{query}");
    let total = total(&response);
    let body: Value = response.json().await.unwrap();
    let titles = body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    (titles, total)
}

#[tokio::test]
async fn a_task_is_created_read_listed_updated_and_deleted_by_its_author() {
    let app = spawn_app().await;
    let (token, _) = app.signed_up("alice").await;

    let created = app.create_task(&token, "Write report").await;
    assert_eq!(created["title"], "Write report");
    assert_eq!(created["description"], "about Write report");
    assert_eq!(created["is_completed"], false);
    assert_eq!(created.as_object().unwrap().len(), 4, "{created}");
    let path = format!("/v1/tasks/{}", created["uuid"].as_str().unwrap());

    let fetched: Value = app.get(&path, Some(&token)).await.json().await.unwrap();
    assert_eq!(fetched, created);
    for list_path in ["/v1/tasks/", "/v1/tasks"] {
        let listed: Value = app.get(list_path, Some(&token)).await.json().await.unwrap();
        assert_eq!(listed, json!([created]), "{list_path}");
    }

    let response = app
        .patch_json(&path, &json!({"is_completed": true}), Some(&token))
        .await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["is_completed"], true);
    assert_eq!(updated["title"], "Write report", "absent fields stay");

    let response = app
        .patch_json(
            &path,
            &json!({"title": "Send report", "description": "today"}),
            Some(&token),
        )
        .await;
    let updated: Value = response.json().await.unwrap();
    assert_eq!(
        (
            updated["title"].as_str(),
            updated["description"].as_str(),
            updated["is_completed"].as_bool()
        ),
        (Some("Send report"), Some("today"), Some(true))
    );

    assert_eq!(app.delete(&path, Some(&token)).await.status(), 204);
    assert_eq!(app.get(&path, Some(&token)).await.status(), 404);
    assert_eq!(app.delete(&path, Some(&token)).await.status(), 404);
}

#[tokio::test]
async fn every_task_endpoint_requires_authentication() {
    let app = spawn_app().await;
    let (token, _) = app.signed_up("alice").await;
    let task = app.create_task(&token, "mine").await;
    let path = format!("/v1/tasks/{}", task["uuid"].as_str().unwrap());
    let statuses = [
        app.get("/v1/tasks/", None).await.status(),
        app.post_json(
            "/v1/tasks/",
            &json!({"title": "t", "description": "d"}),
            None,
        )
        .await
        .status(),
        app.get(&path, None).await.status(),
        app.patch_json(&path, &json!({"title": "x"}), None)
            .await
            .status(),
        app.delete(&path, None).await.status(),
    ];
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let still: Value = app.get(&path, Some(&token)).await.json().await.unwrap();
    assert_eq!(still, task, "nothing changed");
}

#[tokio::test]
async fn another_users_task_is_403_for_every_verb_and_stays_unchanged() {
    let app = spawn_app().await;
    let (alice, _) = app.signed_up("alice").await;
    let (bob, _) = app.signed_up("bob").await;
    let task = app.create_task(&alice, "private").await;
    let path = format!("/v1/tasks/{}", task["uuid"].as_str().unwrap());

    let response = app.get(&path, Some(&bob)).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], 403);
    assert_eq!(body["message"], "Insufficient permissions");
    assert_eq!(
        app.patch_json(
            &path,
            &json!({"title": "hijacked", "is_completed": true}),
            Some(&bob)
        )
        .await
        .status(),
        403
    );
    assert_eq!(app.delete(&path, Some(&bob)).await.status(), 403);

    let (bob_sees, bob_total) = titles(&app, "", &bob).await;
    assert!(bob_sees.is_empty());
    assert_eq!(bob_total, 0);
    let still: Value = app.get(&path, Some(&alice)).await.json().await.unwrap();
    assert_eq!(still, task, "unchanged after the attempts");
}

#[tokio::test]
async fn admins_see_and_manage_every_task() {
    let app = spawn_app().await;
    let (alice, _) = app.signed_up("alice").await;
    let (bob, _) = app.signed_up("bob").await;
    let (admin, _) = app.signed_up_admin("root").await;
    app.create_task(&alice, "a1").await;
    let bobs = app.create_task(&bob, "b1").await;

    let (all, count) = titles(&app, "", &admin).await;
    assert_eq!((all, count), (vec!["a1".to_owned(), "b1".to_owned()], 2));
    let path = format!("/v1/tasks/{}", bobs["uuid"].as_str().unwrap());
    assert_eq!(app.get(&path, Some(&admin)).await.status(), 200);
    assert_eq!(
        app.patch_json(&path, &json!({"is_completed": true}), Some(&admin))
            .await
            .status(),
        200
    );
    assert_eq!(app.delete(&path, Some(&admin)).await.status(), 204);
    assert_eq!(titles(&app, "", &bob).await.1, 0);
}

#[tokio::test]
async fn unknown_and_malformed_task_ids() {
    let app = spawn_app().await;
    let (token, _) = app.signed_up("alice").await;
    let unknown = format!("/v1/tasks/{}", uuid::Uuid::new_v4());
    let response = app.get(&unknown, Some(&token)).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], 404);
    assert_eq!(
        app.patch_json(&unknown, &json!({}), Some(&token))
            .await
            .status(),
        404
    );

    for verb in ["get", "patch", "delete"] {
        let url = app.url("/v1/tasks/not-a-uuid");
        let request = match verb {
            "get" => app.client.get(url),
            "patch" => app.client.patch(url).json(&json!({})),
            _ => app.client.delete(url),
        };
        let response = request.bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 422, "{verb}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["path", "task_uuid"]),
            "{verb}"
        );
        assert_eq!(body["detail"][0]["type"], "uuid_parsing");
    }
}

#[tokio::test]
async fn task_fields_are_validated() {
    let app = spawn_app().await;
    let (token, _) = app.signed_up("alice").await;
    for (body, field, kind) in [
        (
            json!({"title": "", "description": "d"}),
            "title",
            "string_too_short",
        ),
        (
            json!({"title": "t".repeat(101), "description": "d"}),
            "title",
            "string_too_long",
        ),
        (
            json!({"title": "t", "description": ""}),
            "description",
            "string_too_short",
        ),
        (
            json!({"title": "t", "description": "d".repeat(1001)}),
            "description",
            "string_too_long",
        ),
        (json!({"description": "d"}), "title", "missing"),
        (
            json!({"title": 5, "description": "d"}),
            "title",
            "string_type",
        ),
        // NUL, which Postgres cannot store (it was a 500 there), and the
        // other control characters; a title is one line.
        (
            json!({"title": "a\u{0}b", "description": "d"}),
            "title",
            "string_pattern_mismatch",
        ),
        (
            json!({"title": "t", "description": "\u{0}"}),
            "description",
            "string_pattern_mismatch",
        ),
        (
            json!({"title": "two\nlines", "description": "d"}),
            "title",
            "string_pattern_mismatch",
        ),
        (
            json!({"title": "t", "description": "bell \u{7}"}),
            "description",
            "string_pattern_mismatch",
        ),
    ] {
        let response = app.post_json("/v1/tasks/", &body, Some(&token)).await;
        assert_eq!(response.status(), 422, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["detail"][0]["loc"], json!(["body", field]), "{body}");
        assert_eq!(answer["detail"][0]["type"], kind, "{body}");
    }
    let task = app.create_task(&token, "t").await;
    let path = format!("/v1/tasks/{}", task["uuid"].as_str().unwrap());
    for (body, field, kind) in [
        (json!({"title": ""}), "title", "string_too_short"),
        (json!({"title": null}), "title", "string_type"),
        (json!({"is_completed": "yes"}), "is_completed", "bool_type"),
        (
            json!({"description": "nul \u{0}"}),
            "description",
            "string_pattern_mismatch",
        ),
        (
            json!({"title": "tab\t"}),
            "title",
            "string_pattern_mismatch",
        ),
    ] {
        let response = app.patch_json(&path, &body, Some(&token)).await;
        assert_eq!(response.status(), 422, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["detail"][0]["loc"], json!(["body", field]), "{body}");
        assert_eq!(answer["detail"][0]["type"], kind, "{body}");
    }
    assert_eq!(
        titles(&app, "", &token).await.0,
        ["t"],
        "nothing stored or changed"
    );
    // A description may span lines.
    let multiline = json!({"description": "one\n\ttwo\r\nthree"});
    let response = app.patch_json(&path, &multiline, Some(&token)).await;
    assert_eq!(response.status(), 200);
    let task: Value = app.get(&path, Some(&token)).await.json().await.unwrap();
    assert_eq!(task["description"], multiline["description"]);
}

#[tokio::test]
async fn lists_page_sort_filter_and_count_within_the_callers_tasks() {
    let app = spawn_app().await;
    let (alice, _) = app.signed_up("alice").await;
    let (bob, _) = app.signed_up("bob").await;
    for title in ["c", "a", "e", "b", "d"] {
        app.create_task(&alice, title).await;
    }
    for title in ["x", "y"] {
        app.create_task(&bob, title).await;
    }
    let done = app.create_task(&alice, "f").await;
    let path = format!("/v1/tasks/{}", done["uuid"].as_str().unwrap());
    app.patch_json(&path, &json!({"is_completed": true}), Some(&alice))
        .await;

    let (all, count) = titles(&app, "", &alice).await;
    assert_eq!((all.len(), count), (6, 6), "bob's tasks never counted");
    let (page, count) = titles(&app, "?skip=1&limit=2", &alice).await;
    assert_eq!((page, count), (vec!["a".to_owned(), "e".to_owned()], 6));
    let (sorted, _) = titles(&app, "?sort=title&limit=3", &alice).await;
    assert_eq!(sorted, ["a", "b", "c"]);
    let (sorted, _) = titles(&app, "?sort=-title&skip=4", &alice).await;
    assert_eq!(sorted, ["b", "a"]);
    let (open, count) = titles(&app, "?is_completed=false&sort=title", &alice).await;
    assert_eq!((open.len(), count), (5, 5));
    let (finished, count) = titles(&app, "?is_completed=true", &alice).await;
    assert_eq!((finished, count), (vec!["f".to_owned()], 1));

    for (query, field, kind) in [
        ("sort=password", "sort", "enum"),
        ("sort=task_author_id", "sort", "enum"),
        ("is_completed=maybe", "is_completed", "bool_parsing"),
        ("limit=0", "limit", "greater_than_equal"),
    ] {
        let response = app.get(&format!("/v1/tasks/?{query}"), Some(&alice)).await;
        assert_eq!(response.status(), 422, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["query", field]), "{query}");
        assert_eq!(body["detail"][0]["type"], kind, "{query}");
    }
}
