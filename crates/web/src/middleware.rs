//! Request-scoped plumbing: the request id, the response logger, and
//! authentication.

use std::time::Instant;

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderName, HeaderValue},
    middleware::Next,
    web,
};
use application::Services;
use tracing::Instrument;

use crate::ApiError;

/// Header that carries the request id in and out.
pub(crate) static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming request id we adopt; longer ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 64;

tokio::task_local! {
    /// The id of the request being served. actix runs a request's middleware,
    /// extractors and handler in one task, so error bodies built anywhere in
    /// that chain can quote it without threading it through every call.
    static REQUEST_ID: String;
}

/// The current request's id, if called while serving one.
pub(crate) fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Adopts a sane incoming `X-Request-Id` (so ids from a proxy carry through)
/// or makes one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), ToOwned::to_owned)
}

/// Outermost middleware: assigns the request id, runs the request inside a
/// span that carries it (so every log line of the request has it), echoes it
/// on the response, and logs the request once when it completes. A 5xx is
/// logged with its full cause chain, which the client never sees.
pub(crate) async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request_id(&req);
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let span = tracing::info_span!("request", request_id = %id);
    let result = REQUEST_ID
        .scope(id.clone(), next.call(req).instrument(span.clone()))
        .await;
    let _entered = span.enter();
    // Whole microseconds as milliseconds: precise enough, short in the log.
    let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            if let Ok(value) = HeaderValue::from_str(&id) {
                res.headers_mut().insert(REQUEST_ID_HEADER.clone(), value);
            }
            if res.status().is_server_error() {
                let cause = res.response().error().map(|err| {
                    err.as_error::<ApiError>()
                        .map_or_else(|| err.to_string(), ApiError::cause_chain)
                });
                tracing::error!(%method, %path, status, latency_ms, cause, "request failed");
            } else {
                tracing::info!(%method, %path, status, latency_ms, "request");
            }
            Ok(res)
        }
        Err(err) => {
            tracing::error!(%method, %path, latency_ms, error = %err, "request failed");
            Err(err)
        }
    }
}

/// Puts the caller on the request when it carries a valid bearer access
/// token. A missing or bad token is not an error here: endpoints that
/// require authentication ask for [`crate::extract::CurrentUser`], which
/// answers 401.
pub(crate) async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    if let Some(token) = token
        && let Some(services) = req.app_data::<web::Data<Services>>()
        && let Some(caller) = services.auth.authenticate(token)
    {
        req.extensions_mut().insert(caller);
    }
    next.call(req).await
}
