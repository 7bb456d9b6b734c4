//! Extractors handlers ask for: the caller, their principals, list queries.

use std::{
    collections::HashMap,
    future::{Future, Ready, ready},
    pin::Pin,
};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};
use application::{Caller, Services};
use domain::{MAX_PAGE_SIZE, Page, Sort};

use crate::{
    ApiError,
    validation::{FieldError, Fields},
};

/// The authenticated caller; a handler that takes it requires a valid bearer
/// access token of a live login and answers 401 without one (the
/// template's `AuthenticationRequired`). The same check as [`Principals`].
#[derive(Debug, Clone, Copy)]
pub struct CurrentUser(pub Caller);

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let principals = Principals::from_request(req, payload);
        Box::pin(async move {
            let principals = principals.await?;
            Ok(Self(principals.0.require_caller()?))
        })
    }
}

/// The signed-in caller's principals (the template's `Permissions`
/// dependency): `Everyone`, `Authenticated`, `User(id)` and, for admins,
/// `Role("admin")`, read from the user's current row. Services check access
/// with them.
///
/// Without a token that verifies this answers 401 at once, before the
/// path or body of the request is looked at: put it first among a
/// protected handler's arguments, so an anonymous request gets 401, never a
/// 422 about its body. (A signed token whose login has ended is found out
/// by a database read, and then a bad body may be reported first; either
/// way nothing is done.)
#[derive(Debug, Clone)]
pub struct Principals(pub application::Principals);

impl FromRequest for Principals {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let caller = req.extensions().get::<Caller>().copied();
        let services = req.app_data::<web::Data<Services>>().cloned();
        Box::pin(async move {
            let services = services.ok_or(ApiError::Misconfigured(
                "Services are not registered as app data",
            ))?;
            let caller = caller.ok_or(ApiError::App(application::Error::Unauthorized(
                "Authentication required",
            )))?;
            Ok(Self(services.auth.principals(Some(caller)).await?))
        })
    }
}

/// Reads `skip`, `limit` and `sort` as in the template (skip 0, limit 1–100
/// defaulting to 100) plus `extra` list-specific filters, reporting every
/// bad parameter at once.
pub(crate) fn list_query<T>(
    req: &HttpRequest,
    extra: impl FnOnce(&mut Fields) -> Option<T>,
) -> Result<(Page, Option<Sort>, T), ApiError> {
    let mut fields = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|params| Fields::query(params.into_inner()))
        .map_err(|_| {
            ApiError::Validation(vec![FieldError::new(
                vec!["query".into()],
                "query_invalid",
                "The query string cannot be parsed",
            )])
        })?;
    let skip = fields.integer("skip", 0, 0, i64::MAX.unsigned_abs());
    let limit = fields.integer("limit", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE);
    let sort = fields.optional::<String>("sort");
    let extra = extra(&mut fields);
    fields
        .finish(|| {
            Some((
                Page {
                    offset: skip?,
                    limit: limit?,
                },
                sort?.map(|raw| Sort::parse(&raw)),
                extra?,
            ))
        })
        .map_err(ApiError::Validation)
}

/// `?skip=&limit=&sort=` for lists without filters of their own.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub page: Page,
    pub sort: Option<Sort>,
}

impl FromRequest for ListQuery {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(list_query(req, |_| Some(())).map(|(page, sort, ())| Self { page, sort }))
    }
}
