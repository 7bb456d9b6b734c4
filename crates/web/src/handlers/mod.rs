//! Handlers, one module per resource; each ends with its `routes`.

pub mod monitoring;
pub mod users;

use actix_web::{Resource, web};

use crate::ApiError;

/// A resource answering at `path` with and without a trailing slash (the
/// template's clients call `/v1/users/`), and 405 in the error shape for a
/// method it does not serve.
pub(crate) fn resource(path: &str) -> Resource {
    let trimmed = path.trim_end_matches('/');
    web::resource([trimmed.to_owned(), format!("{trimmed}/")]).default_service(web::to(|| async {
        Err::<&str, _>(ApiError::MethodNotAllowed)
    }))
}
