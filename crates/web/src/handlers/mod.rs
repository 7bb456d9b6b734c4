//! Handlers, one module per resource; each ends with its `routes`.

pub mod accounts;
pub mod monitoring;
pub mod tasks;
pub mod users;

use actix_web::{HttpResponse, Resource, Route, http::Method, web};
use serde::Serialize;
use utoipa::OpenApi as _;

use crate::ApiError;

/// Every resource's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    monitoring::routes(cfg);
    // Before users': `/v1/users/{user_uuid}` would take their paths.
    accounts::routes(cfg);
    users::routes(cfg);
    tasks::routes(cfg);
    // new-resource: routes
}

/// Every resource's part of the OpenAPI document, in the order of the docs.
pub(crate) fn openapi() -> Vec<utoipa::openapi::OpenApi> {
    vec![
        users::Api::openapi(),
        accounts::Api::openapi(),
        tasks::Api::openapi(),
        // new-resource: openapi
        monitoring::Api::openapi(),
    ]
}

/// `route` behind the rate-limit budget `bucket` (only the routes that
/// guess at secrets or send mail have one).
pub(crate) fn limited(route: Route, bucket: crate::middleware::Bucket) -> Route {
    route.wrap(actix_web::middleware::from_fn(move |req, next| {
        crate::middleware::rate_limit(bucket, req, next)
    }))
}

/// Header carrying the number of items matching a list query, all pages
/// together, so the body can stay the template's plain JSON list.
pub const TOTAL_COUNT_HEADER: &str = "X-Total-Count";

/// A resource at `path` serving `routes`, one handler per method
/// (`(Method::GET, web::to(list))`), and answering any other method with a
/// 405 in the error shape that lists the served ones in `Allow` (RFC 9110).
/// The path is registered without a trailing slash; the
/// `trim_trailing_slash` middleware makes `/v1/users/` (what the template's
/// clients call) reach it too. One plain pattern per resource keeps routing
/// a string comparison: a resource with two patterns is matched with a
/// regex set, which cost about a tenth of the time of a health check.
///
/// In debug builds (tests, `cargo run`) it panics at start-up when a route
/// is missing from the OpenAPI document: adding a handler without its
/// `#[utoipa::path]` and its place in the module's `Api` fails every test.
pub(crate) fn resource<const N: usize>(path: &str, routes: [(Method, Route); N]) -> Resource {
    #[cfg(debug_assertions)]
    crate::openapi::assert_documented(path, routes.iter().map(|(method, _)| method));
    let allow = routes
        .iter()
        .map(|(method, _)| method.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let resource = routes.into_iter().fold(
        web::resource(path.trim_end_matches('/')),
        |resource, (method, route)| resource.route(route.method(method)),
    );
    resource.default_service(web::to(move || {
        let allow = allow.clone();
        async move { Err::<&str, _>(ApiError::MethodNotAllowed { allow }) }
    }))
}

/// A page of a list: the items as a JSON array, the total in a header.
pub(crate) fn list_response<T: Serialize>(items: Vec<T>, total: u64) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((TOTAL_COUNT_HEADER, total.to_string()))
        .insert_header(("Access-Control-Expose-Headers", TOTAL_COUNT_HEADER))
        .json(items)
}
