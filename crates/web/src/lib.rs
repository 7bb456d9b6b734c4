//! The HTTP face of the product: actix-web handlers, request and response
//! DTOs, extractors, middleware, the OpenAPI document, the one mapping
//! from errors to HTTP responses, and [`Application`], the API process
//! (services, server, `/metrics`, the in-process job worker) that
//! `bins/api` and the end-to-end tests both build.
//!
//! Handlers are thin: parse the request into domain values (a bad value is a
//! 422 before any service runs), call one service, shape the answer. This
//! crate must not know how data is stored: it never sees SeaORM or a
//! repository, only `application` services.

mod app;
pub mod dto;
mod error;
pub mod extract;
pub mod handlers;
mod middleware;
pub mod openapi;
mod server;
pub mod validation;

pub use app::{AppError, Application};
pub use error::ApiError;
pub(crate) use server::{WebDeps, run, run_metrics};
