use serde_json::{Value, json};
use tests::{spawn_app, spawn_app_with};

#[tokio::test]
async fn health_reports_the_release_version_with_and_without_trailing_slash() {
    let app = spawn_app_with(&[("RELEASE_VERSION", "2026.11.1")]).await;
    for path in ["/v1/monitoring/health", "/v1/monitoring/health/"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"version": "2026.11.1", "status": "Healthy"}));
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_adopts_a_sane_incoming_one() {
    let app = spawn_app().await;
    let response = app.get("/v1/monitoring/health", None).await;
    let generated = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 36, "a uuid: {generated}");

    let response = app
        .client
        .get(app.url("/v1/users/me"))
        .header("X-Request-Id", "edge-1234.abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "edge-1234.abc");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], "edge-1234.abc", "error bodies quote it");

    // Unsafe or oversized ids are replaced, not echoed.
    for bad in ["has space", "<script>", &"x".repeat(65)] {
        let response = app
            .client
            .get(app.url("/v1/monitoring/health"))
            .header("X-Request-Id", bad)
            .send()
            .await
            .unwrap();
        let echoed = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(echoed, bad);
        assert_eq!(echoed.len(), 36);
    }
}
