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

/// A list's own filters, read from its query string beside `skip`,
/// `limit` and `sort`.
pub trait ListFilter: Sized {
    /// The filters, or `None` with each bad one recorded in `fields`.
    fn read(fields: &mut Fields) -> Option<Self>;
}

/// No filters.
impl ListFilter for () {
    fn read(_: &mut Fields) -> Option<Self> {
        Some(())
    }
}

/// `?skip=&limit=&sort=` as in the template (skip 0, limit 1–100
/// defaulting to 100) and the list's filters `F`, every bad parameter
/// reported at once.
#[derive(Debug, Clone)]
pub struct ListQuery<F = ()> {
    pub page: Page,
    pub sort: Option<Sort>,
    pub filter: F,
}

impl<F: ListFilter> FromRequest for ListQuery<F> {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(list_query(req))
    }
}

fn list_query<F: ListFilter>(req: &HttpRequest) -> Result<ListQuery<F>, ApiError> {
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
    let filter = F::read(&mut fields);
    fields
        .finish(|| {
            Some(ListQuery {
                page: Page {
                    offset: skip?,
                    limit: limit?,
                },
                sort: sort?.map(|raw| Sort::parse(&raw)),
                filter: filter?,
            })
        })
        .map_err(ApiError::Validation)
}
