//! Extractors handlers ask for: the caller, pagination.

use std::{
    collections::HashMap,
    future::{Ready, ready},
};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web::Query};
use application::Caller;
use utoipa::IntoParams;

use crate::{
    ApiError,
    validation::{FieldError, Fields},
};

/// The authenticated caller; a handler that takes it requires a valid bearer
/// access token and answers 401 without one (the template's
/// `AuthenticationRequired`).
#[derive(Debug, Clone, Copy)]
pub struct CurrentUser(pub Caller);

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Caller>()
                .copied()
                .map(CurrentUser)
                .ok_or(ApiError::App(application::Error::Unauthorized(
                    "Authentication required",
                ))),
        )
    }
}

/// `?skip=&limit=` as in the template: skip 0 and limit 100 by default,
/// limit at most 100.
#[derive(Debug, Clone, Copy, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    /// How many items to skip.
    #[param(minimum = 0, default = 0)]
    pub skip: u64,
    /// How many items to return.
    #[param(minimum = 1, maximum = 100, default = 100)]
    pub limit: u64,
}

impl FromRequest for Pagination {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let params = match Query::<HashMap<String, String>>::from_query(req.query_string()) {
            Ok(params) => params.into_inner(),
            Err(_) => {
                return ready(Err(ApiError::Validation(vec![FieldError::new(
                    vec!["query".into()],
                    "query_invalid",
                    "The query string cannot be parsed",
                )])));
            }
        };
        let mut fields = Fields::query(params);
        let skip = fields.integer("skip", 0, 0, i64::MAX as u64);
        let limit = fields.integer("limit", 100, 1, application::services::users::MAX_PAGE_SIZE);
        ready(
            fields
                .finish(|| {
                    Some(Pagination {
                        skip: skip?,
                        limit: limit?,
                    })
                })
                .map_err(ApiError::Validation),
        )
    }
}
