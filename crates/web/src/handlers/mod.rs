//! Handlers, one module per resource; each ends with its `routes`.

pub mod monitoring;
pub mod tasks;
pub mod users;

use actix_web::{HttpResponse, Resource, web};
use serde::Serialize;

use crate::ApiError;

/// Header carrying the number of items matching a list query, all pages
/// together, so the body can stay the template's plain JSON list.
pub const TOTAL_COUNT_HEADER: &str = "X-Total-Count";

/// A resource at `path`, answering 405 in the error shape for a method it
/// does not serve. The path is registered without a trailing slash; the
/// `trim_trailing_slash` middleware makes `/v1/users/` (what the template's
/// clients call) reach it too. One plain pattern per resource keeps routing
/// a string comparison: a resource with two patterns is matched with a
/// regex set, which cost about a tenth of the time of a health check.
pub(crate) fn resource(path: &str) -> Resource {
    web::resource(path.trim_end_matches('/')).default_service(web::to(|| async {
        Err::<&str, _>(ApiError::MethodNotAllowed)
    }))
}

/// A page of a list: the items as a JSON array, the total in a header.
pub(crate) fn list_response<T: Serialize>(items: Vec<T>, total: u64) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((TOTAL_COUNT_HEADER, total.to_string()))
        .insert_header(("Access-Control-Expose-Headers", TOTAL_COUNT_HEADER))
        .json(items)
}
