//! The single mapping from errors to HTTP responses.
//!
//! Every failure a client can see passes through [`ApiError`]. Bodies keep
//! the FastAPI template's shapes: `{"error_code": <status>, "message": ...}`
//! for errors and `{"detail": [...]}` for 422. A 5xx says nothing about its
//! cause; the request logger logs the cause chain with the request id.

use std::fmt::Write as _;

use actix_web::{HttpResponse, ResponseError, http::StatusCode};
use serde::Serialize;

use crate::validation::FieldError;

/// An error on its way to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A service refused or failed; the status depends on why.
    #[error(transparent)]
    App(#[from] application::Error),
    /// 422: the request did not parse; one entry per offending field.
    #[error("request validation failed")]
    Validation(Vec<FieldError>),
    /// 404: no route matches the path.
    #[error("Not Found")]
    RouteNotFound,
    /// 405: the path exists, the method does not; `allow` lists the
    /// methods it serves, for the `Allow` header.
    #[error("Method Not Allowed")]
    MethodNotAllowed { allow: String },
    /// 413: the body is larger than the configured limit.
    #[error("Request body is too large")]
    PayloadTooLarge,
    /// 408: the body did not arrive within `BODY_TIMEOUT_SECONDS`.
    #[error("Request body not received in time")]
    BodyTimeout,
    /// 429: too many requests from this client; retry after the window.
    #[error("Too many requests; retry in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// 500: the app is wired wrongly (a programming error, logged).
    #[error("misconfigured: {0}")]
    Misconfigured(&'static str),
}

/// The body of every non-validation error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The HTTP status code, repeated in the body (as the template does).
    #[schema(example = 400)]
    pub error_code: u16,
    /// What went wrong, for people.
    #[schema(example = "Invalid credentials")]
    pub message: String,
    /// The request's id, to quote when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The body of a 422.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ValidationErrorBody {
    pub detail: Vec<FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ApiError {
    /// The cause chain, one `: `-separated line, for the log.
    pub(crate) fn cause_chain(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let _ = write!(out, ": {cause}");
            source = cause.source();
        }
        out
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        use application::Error as E;
        match self {
            Self::App(E::InvalidCredentials | E::Conflict { .. } | E::Rejected(_)) => {
                StatusCode::BAD_REQUEST
            }
            Self::App(E::Unauthorized(_)) => StatusCode::UNAUTHORIZED,
            Self::App(E::Forbidden | E::EmailNotVerified) => StatusCode::FORBIDDEN,
            Self::App(E::NotFound { .. }) | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::App(E::Invalid { .. }) | Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::App(E::Unavailable(_) | E::Overloaded { .. } | E::OutcomeUnknown(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::App(E::Storage(_) | E::Crypto { .. } | E::Jobs(_)) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Misconfigured(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        // The id of the request being answered, set by `log_requests`.
        let request_id = infra::telemetry::REQUEST_ID.try_with(Clone::clone).ok();
        let mut response = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        // Retrying is safe only where nothing was done; after a lost COMMIT
        // a retried write may be done twice, so the client is not invited.
        if status == StatusCode::SERVICE_UNAVAILABLE
            && !matches!(self, Self::App(application::Error::OutcomeUnknown(_)))
        {
            response.insert_header(("Retry-After", "5"));
        }
        if status == StatusCode::REQUEST_TIMEOUT {
            // The rest of the body may still trickle in: end the connection.
            response.force_close();
        }
        if let Self::MethodNotAllowed { allow } = self {
            response.insert_header((actix_web::http::header::ALLOW, allow.as_str()));
        }
        if let Self::RateLimited { retry_after_secs } = self {
            response.insert_header(("Retry-After", retry_after_secs.to_string()));
        }
        let detail = match self {
            Self::Validation(detail) => Some(detail.clone()),
            Self::App(application::Error::Invalid {
                location,
                field,
                kind,
                message,
            }) => Some(vec![FieldError::new(
                vec![(*location).into(), (*field).into()],
                *kind,
                message.clone(),
            )]),
            _ => None,
        };
        if let Some(detail) = detail {
            return response.json(ValidationErrorBody { detail, request_id });
        }
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            "Service temporarily unavailable".to_owned()
        } else if status.is_server_error() {
            // Never the cause: it may hold SQL, paths or hostnames.
            "Internal server error".to_owned()
        } else {
            self.to_string()
        };
        response.json(ErrorBody {
            error_code: status.as_u16(),
            message,
            request_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_template() {
        use application::Error as E;
        let cases = [
            (ApiError::App(E::InvalidCredentials), 400),
            (
                ApiError::App(E::Conflict {
                    entity: "User",
                    field: "email",
                }),
                400,
            ),
            (
                ApiError::App(E::Unauthorized("Authentication required")),
                401,
            ),
            (ApiError::App(E::Forbidden), 403),
            (ApiError::App(E::NotFound { entity: "task" }), 404),
            (ApiError::Validation(vec![]), 422),
            (ApiError::RouteNotFound, 404),
            (
                ApiError::MethodNotAllowed {
                    allow: "GET".into(),
                },
                405,
            ),
            (ApiError::PayloadTooLarge, 413),
            (ApiError::BodyTimeout, 408),
        ];
        for (error, status) in cases {
            assert_eq!(error.status_code().as_u16(), status, "{error:?}");
        }
    }

    #[test]
    fn server_errors_hide_their_cause_but_log_it() {
        let error = ApiError::App(application::Error::Crypto {
            context: "token signing failed",
            source: "secret key at /etc/secret is unreadable".into(),
        });
        assert_eq!(error.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        let chain = error.cause_chain();
        assert!(chain.contains("/etc/secret"), "{chain}");
        let body = actix_web::body::to_bytes(error.error_response().into_body());
        let body = futures_util::FutureExt::now_or_never(body)
            .unwrap()
            .unwrap();
        let body = std::str::from_utf8(&body).unwrap();
        assert!(!body.contains("/etc/secret"), "{body}");
        assert!(body.contains("\"error_code\":500"), "{body}");
    }
}
