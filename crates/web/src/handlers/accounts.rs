//! The account lifecycle: password reset and email verification. The
//! tokens these endpoints take arrive by mail (`application::jobs`).

use actix_web::{HttpRequest, HttpResponse, http::Method, web};
use application::Services;

use crate::{
    ApiError,
    dto::users::{
        AcceptedResponse, PasswordResetConfirmRequest, PasswordResetRequest, VerifyEmailRequest,
    },
    error::{ErrorBody, ValidationErrorBody},
    extract::CurrentUser,
    handlers::{limited, resource},
    middleware::{self, Bucket},
    validation::Valid,
};

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// 202 with a message: the mail (if any) goes out later, from a worker.
fn accepted(message: &str) -> HttpResponse {
    HttpResponse::Accepted().json(AcceptedResponse {
        message: message.to_owned(),
    })
}

/// Ask for a password-reset link by mail. The answer is the same whether
/// the address has an account or not.
#[utoipa::path(
    post,
    path = "/v1/users/password-reset",
    tag = "accounts",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "If the address has an account, a reset link is mailed to it", body = AcceptedResponse),
        (status = 422, description = "Invalid input", body = ValidationErrorBody),
        (status = 429, description = "Too many requests from this client address (an email's own cap answers 202 and mails nothing)", body = ErrorBody),
    ),
)]
pub async fn request_password_reset(
    req: HttpRequest,
    services: web::Data<Services>,
    body: Valid<PasswordResetRequest>,
) -> Result {
    let email = body.into_inner().email;
    if middleware::reset_mail_allowed(&req, email.as_str()).await? {
        services.accounts.request_password_reset(&email).await?;
    }
    Ok(accepted(
        "If an account has this address, a reset link is on its way",
    ))
}

/// Set a new password with the token of a reset link. Every login of the
/// account ends.
#[utoipa::path(
    post,
    path = "/v1/users/password-reset/confirm",
    tag = "accounts",
    request_body = PasswordResetConfirmRequest,
    responses(
        (status = 204, description = "Password changed; log in with it"),
        (status = 400, description = "Invalid or expired token (unknown, used or expired alike)", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationErrorBody),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody),
    ),
)]
pub async fn confirm_password_reset(
    req: HttpRequest,
    services: web::Data<Services>,
    body: Valid<PasswordResetConfirmRequest>,
) -> Result {
    let reset = body.into_inner();
    let client = middleware::client_of(&req);
    services
        .accounts
        .reset_password(&reset.token, &reset.password, client.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Verify an email address with the token of a verification link. For a
/// pending address, it becomes the account's.
#[utoipa::path(
    post,
    path = "/v1/users/verify-email",
    tag = "accounts",
    request_body = VerifyEmailRequest,
    responses(
        (status = 204, description = "Address verified"),
        (status = 400, description = "Invalid or expired token, or the address was taken meanwhile", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationErrorBody),
        (status = 429, description = "Too many attempts from this address", body = ErrorBody),
    ),
)]
pub async fn verify_email(
    services: web::Data<Services>,
    body: Valid<VerifyEmailRequest>,
) -> Result {
    let verification = body.into_inner();
    services.accounts.verify_email(&verification.token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Mail a new verification link: to the pending address if there is one,
/// else to the current one.
#[utoipa::path(
    post,
    path = "/v1/users/verify-email/resend",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "A new link is mailed", body = AcceptedResponse),
        (status = 400, description = "The address is already verified", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 429, description = "Too many requests for this account", body = ErrorBody),
    ),
)]
pub async fn resend_verification(services: web::Data<Services>, user: CurrentUser) -> Result {
    services.accounts.resend_verification(user.0).await?;
    Ok(accepted("A verification link is on its way"))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/v1/users/password-reset",
        [(
            Method::POST,
            limited(web::to(request_password_reset), Bucket::AccountMail),
        )],
    ))
    .service(resource(
        "/v1/users/password-reset/confirm",
        [(
            Method::POST,
            limited(web::to(confirm_password_reset), Bucket::AccountToken),
        )],
    ))
    .service(resource(
        "/v1/users/verify-email",
        [(
            Method::POST,
            limited(web::to(verify_email), Bucket::AccountToken),
        )],
    ))
    .service(resource(
        "/v1/users/verify-email/resend",
        [(
            Method::POST,
            limited(web::to(resend_verification), Bucket::AccountMailUser),
        )],
    ));
}

/// This module's operations, for the OpenAPI document (`handlers::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(request_password_reset, confirm_password_reset, verify_email, resend_verification),
    tags((name = "accounts", description = "Password reset and email verification"))
)]
pub(crate) struct Api;
