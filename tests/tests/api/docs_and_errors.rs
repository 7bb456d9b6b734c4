use std::collections::BTreeSet;

use serde_json::{Value, json};
use tests::{PRODUCTION, spawn_app, spawn_app_with};

/// `path` with a fresh uuid for each `{...}` parameter.
fn with_ids(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                uuid::Uuid::new_v4().to_string()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn docs_and_openapi_describe_every_endpoint() {
    let app = spawn_app().await;
    let response = app.get("/docs", None).await;
    assert_eq!(response.status(), 308);
    assert_eq!(response.headers()["location"], "/docs/");
    let response = app.get("/docs/", None).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger"), "Swagger UI page");
    // The UI's assets come from the binary, not a CDN.
    assert!(!html.contains("cdn."), "{html}");
    let response = app.get("/docs/swagger-ui.css", None).await;
    assert_eq!(response.status(), 200);

    let spec: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let paths = spec["paths"].as_object().unwrap();
    // Every route the server has is documented: `handlers::resource` refuses
    // to register one that is not (in debug builds, as here). The other
    // way: every documented operation is served (not 404, not 405).
    //
    // And every request body's parser reads exactly the fields its schema
    // declares (`request_body!` writes both from one list; this checks the
    // result over HTTP): an empty body is refused naming each required
    // field, and a body with a wrong value in every declared field is
    // refused naming each of them.
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let (admin, _) = app.signed_up_admin("root").await;
    // Checks the bodies: its login outlives the loop, which logs `admin`
    // out on the way.
    let (checker, _) = app.signed_up_admin("checker").await;
    // Paths with an id answer 404 below, for an unknown id: from the
    // handler, naming what was not found.
    let response = app
        .get(&with_ids("/v1/tasks/{task_uuid}"), Some(&admin))
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap()["message"],
        "Task not found"
    );
    let client = reqwest::Client::new();
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let url = app.url(&with_ids(path));
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = client
                .request(method.clone(), url)
                .bearer_auth(&admin)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            // A 404 for an unknown id comes from the handler ("Task not
            // found"); the router's own 404 would mean no such route.
            assert!(
                status != 405 && !(status == 404 && body["message"] == "Not Found"),
                "{method} {path} is documented but answers {status} {body}"
            );
            let body_schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            if let Some(reference) = body_schema["$ref"].as_str() {
                let schema = &schemas[reference.rsplit('/').next().unwrap()];
                let url = app.url(&with_ids(path));
                assert_reads_declared_fields(&client, method, &url, &checker, schema).await;
            }
            operations += 1;
        }
    }
    assert!(operations >= 15, "{operations} operations documented");
    // Protected task endpoints document their refusals.
    let get_task = &paths["/v1/tasks/{task_uuid}"]["get"]["responses"];
    for status in ["200", "401", "403", "404", "422"] {
        assert!(get_task[status].is_object(), "GET task documents {status}");
    }
    assert!(paths["/v1/tasks/"]["get"]["responses"]["200"]["headers"]["X-Total-Count"].is_object());
    for schema in [
        "ErrorBody",
        "ValidationErrorBody",
        "RegisterUserRequest",
        "UserResponse",
        "TokenResponse",
    ] {
        assert!(schemas.contains_key(schema), "{schema}");
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// The field names a 422 `body` refuses.
/// What client generators (openapi-typescript, openapi-python-client) need
/// of the document, checked over HTTP so that `xtask/check` holds generated
/// resources to it too: an id for every operation, unique across the
/// document (generators name functions after it); every enum and every
/// body a named schema (inline ones are named after their operation and
/// collide: `ListSort` for both lists).
#[tokio::test]
async fn the_document_suits_client_generators() {
    let app = spawn_app().await;
    let spec: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let mut ids = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let at = format!("{method} {path}");
            let id = operation["operationId"].as_str().unwrap_or_default();
            let tag = operation["tags"][0].as_str().unwrap_or_default();
            assert!(
                id.starts_with(&format!("{tag}_")),
                "{at}: id {id:?}, tag {tag:?}"
            );
            assert!(ids.insert(id.to_owned()), "{at}: id {id} is used twice");
            let mut bodies = vec![&operation["requestBody"]];
            bodies.extend(operation["responses"].as_object().unwrap().values());
            for body in bodies {
                let Some(schema) = body["content"]["application/json"]["schema"].as_object() else {
                    continue;
                };
                let named = schema
                    .get("items")
                    .unwrap_or(&body["content"]["application/json"]["schema"]);
                assert!(named["$ref"].is_string(), "{at}: an inline body {schema:?}");
            }
        }
    }
    assert!(
        ids.contains("tasks_list") && ids.contains("users_list"),
        "{ids:?}"
    );
    assert_schemas_named(&spec, &spec, &mut Vec::new());
    assert!(spec["components"]["schemas"]["TaskSort"]["enum"].is_array());
}

/// Panics at an `enum` anywhere but at the top of a named schema, and at
/// a `$ref` to a schema the document lacks.
fn assert_schemas_named<'a>(spec: &Value, value: &'a Value, at: &mut Vec<&'a str>) {
    match value {
        Value::Object(object) => {
            let named = matches!(at.as_slice(), ["components", "schemas", _]);
            assert!(
                named || !object.contains_key("enum"),
                "an inline enum at {}",
                at.join("/")
            );
            if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
                let target = reference.trim_start_matches("#/").split('/');
                let found = target.fold(spec, |node, key| &node[key]);
                assert!(
                    found.is_object(),
                    "{reference} at {} is missing",
                    at.join("/")
                );
            }
            for (key, value) in object {
                at.push(key);
                assert_schemas_named(spec, value, at);
                at.pop();
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| assert_schemas_named(spec, item, at)),
        _ => {}
    }
}

fn refused(body: &Value, kind: Option<&str>) -> BTreeSet<String> {
    body["detail"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|error| kind.is_none_or(|kind| error["type"] == kind))
        .filter_map(|error| error["loc"][1].as_str().map(str::to_owned))
        .collect()
}

/// The body `schema` documents for `method url` is read field by field as
/// declared: `{}` is refused naming exactly its required fields, and a
/// wrong value in every declared field is refused naming each.
async fn assert_reads_declared_fields(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    schema: &Value,
) {
    let send = async |body: &Value| -> Value {
        let request = client.request(method.clone(), url).bearer_auth(token);
        let response = request.json(body).send().await.unwrap();
        response.json().await.unwrap()
    };
    let required: BTreeSet<String> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|field| field.as_str().unwrap().to_owned())
        .collect();
    let answer = send(&json!({})).await;
    let missing = refused(&answer, Some("missing"));
    assert_eq!(missing, required, "{method} {url} with {{}}: {answer}");
    // An object is a valid value of no field type.
    let declared = schema["properties"].as_object().unwrap();
    let wrong: Value = declared
        .keys()
        .map(|field| (field.clone(), json!({})))
        .collect();
    let answer = send(&wrong).await;
    let declared: BTreeSet<String> = declared.keys().cloned().collect();
    assert_eq!(
        refused(&answer, None),
        declared,
        "{method} {url} with {wrong}: {answer}"
    );
}

#[tokio::test]
async fn production_hides_the_docs_unless_enabled() {
    let secret = "p".repeat(40);
    let production = [PRODUCTION.as_slice(), &[("SECRET_KEY", &secret)]].concat();
    let app = spawn_app_with(&production).await;
    assert_eq!(app.get("/docs/", None).await.status(), 404);
    assert_eq!(app.get("/openapi.json", None).await.status(), 404);

    let app = spawn_app_with(&[production.as_slice(), &[("DOCS_ENABLED", "true")]].concat()).await;
    assert_eq!(app.get("/openapi.json", None).await.status(), 200);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = spawn_app().await;
    let response = app.get("/v1/nothing-here", None).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], 404);
    assert_eq!(body["message"], "Not Found");

    let response = app
        .client
        .delete(app.url("/v1/users/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], 405);
}

#[tokio::test]
async fn a_storage_failure_is_an_opaque_500() {
    // Break the schema under a running app: login must write a refresh
    // token and cannot. The client learns nothing about why.
    let path = std::env::temp_dir().join(format!("rpt-{}.db", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let app = spawn_app_with(&[("DATABASE_URL", &url)]).await;
    app.register("alice").await;
    let saboteur = sea_orm::Database::connect(&url).await.unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(&saboteur, "DROP TABLE refresh_tokens")
        .await
        .unwrap();

    let response = app
        .post_json(
            "/v1/users/login",
            &json!({"email": "alice@example.com", "password": tests::PASSWORD}),
            None,
        )
        .await;
    assert_eq!(response.status(), 500);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error_code": 500, "message": "Internal server error", "request_id": request_id})
    );
    drop(app);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn an_oversized_body_is_413_in_the_error_shape() {
    let app = spawn_app().await;
    let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(100 * 1024));
    let response = app
        .client
        .post(app.url("/v1/users/"))
        .header("Content-Type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], 413);
}
