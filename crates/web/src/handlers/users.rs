//! Users and authentication: register, login, refresh, logout, list, me.

use actix_web::{
    HttpRequest, HttpResponse,
    http::{Method, header},
    web,
};
use application::Services;

use crate::{
    ApiError,
    dto::users::{
        LoginUserRequest, MeResponse, RefreshTokenRequest, RegisterUserRequest, TokenResponse,
        UpdateUserRequest, UserListParams, UserResponse,
    },
    error::{ErrorBody, ValidationErrorBody},
    extract::{CurrentUser, ListQuery, Principals},
    handlers::{limited, list_response, resource},
    middleware::{Bucket, LoginGate},
    validation::{Valid, path_uuid},
};

type Result<T = HttpResponse> = std::result::Result<T, ApiError>;

/// Register a new user.
#[utoipa::path(
    post,
    path = "/v1/users/",
    tag = "users",
    request_body = RegisterUserRequest,
    responses(
        (status = 201, description = "Registered", body = UserResponse),
        (status = 400, description = "Email or username already taken", body = ErrorBody),
        (status = 422, description = "Invalid input", body = ValidationErrorBody),
        (status = 429, description = "Too many registrations from this address", body = ErrorBody),
    ),
)]
pub async fn register(services: web::Data<Services>, body: Valid<RegisterUserRequest>) -> Result {
    let user = services.auth.register(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(UserResponse::from(user)))
}

/// Log in with email and password; returns an access and a refresh token.
#[utoipa::path(
    post,
    path = "/v1/users/login",
    tag = "users",
    request_body = LoginUserRequest,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 400, description = "Invalid credentials", body = ErrorBody),
        (status = 403, description = "Email address not verified (only with `REQUIRE_VERIFIED_EMAIL`)", body = ErrorBody),
        (status = 422, description = "Malformed request", body = ValidationErrorBody),
        (status = 429, description = "Too many attempts from this address, or failed ones on this account from this address", body = ErrorBody),
    ),
)]
pub async fn login(
    req: HttpRequest,
    services: web::Data<Services>,
    body: Valid<LoginUserRequest>,
) -> Result {
    let login = body.into_inner();
    // `Email` is stored lower-cased: one count per account.
    let (gate, attempt) =
        LoginGate::check(&req, &services, &login.email, login.device_token).await?;
    match services
        .auth
        .login(&login.email, login.password, &attempt)
        .await
    {
        Ok(pair) => Ok(tokens(pair)),
        Err(error) => {
            if matches!(error, application::Error::InvalidCredentials) {
                gate.failed(&req).await;
            }
            Err(error.into())
        }
    }
}

/// Tokens in a response no cache may keep (RFC 6749 §5.1).
fn tokens(pair: application::TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenResponse::from(pair))
}

/// Exchange a refresh token for a new pair. The presented token stops
/// working; presenting it again revokes the whole login.
#[utoipa::path(
    post,
    path = "/v1/users/refresh",
    tag = "users",
    request_body = RefreshTokenRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Invalid, expired, used or revoked refresh token", body = ErrorBody),
        (status = 422, description = "Malformed request", body = ValidationErrorBody),
        (status = 429, description = "Too many refreshes from this address", body = ErrorBody),
    ),
)]
pub async fn refresh(services: web::Data<Services>, body: Valid<RefreshTokenRequest>) -> Result {
    let pair = services
        .auth
        .refresh(&body.into_inner().refresh_token)
        .await?;
    Ok(tokens(pair))
}

/// Log out: every refresh token of this login stops working.
#[utoipa::path(
    post,
    path = "/v1/users/logout",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ),
)]
pub async fn logout(services: web::Data<Services>, user: CurrentUser) -> Result {
    services.auth.logout(user.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List users.
#[utoipa::path(
    get,
    path = "/v1/users/",
    tag = "users",
    security(("bearer" = [])),
    params(UserListParams),
    responses(
        (status = 200, description = "A page of users", body = Vec<UserResponse>,
            headers(("X-Total-Count" = u64, description = "Users matching the query, all pages"))),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Bad query", body = ValidationErrorBody),
    ),
)]
pub async fn list(
    services: web::Data<Services>,
    principals: Principals,
    query: ListQuery,
) -> Result {
    let (users, total) = services
        .users
        .list(&principals.0, query.sort.as_ref(), query.page)
        .await?;
    Ok(list_response(
        users.into_iter().map(UserResponse::from).collect(),
        total,
    ))
}

/// One user by uuid.
#[utoipa::path(
    get,
    path = "/v1/users/{user_uuid}",
    tag = "users",
    security(("bearer" = [])),
    params(("user_uuid" = uuid::Uuid, Path, description = "The user's uuid")),
    responses(
        (status = 200, description = "The user", body = UserResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Malformed uuid", body = ValidationErrorBody),
    ),
)]
pub async fn get(
    services: web::Data<Services>,
    principals: Principals,
    path: web::Path<String>,
) -> Result<web::Json<UserResponse>> {
    let uuid = path_uuid("user_uuid", &path)?;
    Ok(web::Json(
        services.users.get(&principals.0, uuid).await?.into(),
    ))
}

/// Delete a user and everything they own (admins only).
#[utoipa::path(
    delete,
    path = "/v1/users/{user_uuid}",
    tag = "users",
    security(("bearer" = [])),
    params(("user_uuid" = uuid::Uuid, Path, description = "The user's uuid")),
    responses(
        (status = 204, description = "Deleted, with their tasks"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 422, description = "Malformed uuid", body = ValidationErrorBody),
    ),
)]
pub async fn delete(
    services: web::Data<Services>,
    principals: Principals,
    path: web::Path<String>,
) -> Result {
    let uuid = path_uuid("user_uuid", &path)?;
    services.users.delete(&principals.0, uuid).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change the caller's email, username or password.
#[utoipa::path(
    patch,
    path = "/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The updated account (a new email waits in `pending_email` until verified)", body = MeResponse),
        (status = 400, description = "Email or username already taken", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 422, description = "Invalid input, or current password missing or wrong", body = ValidationErrorBody),
        (status = 429, description = "Too many changes for this account (as many per window as logins)", body = ErrorBody),
    ),
)]
pub async fn update_me(
    req: HttpRequest,
    services: web::Data<Services>,
    principals: Principals,
    body: Valid<UpdateUserRequest>,
) -> Result<web::Json<MeResponse>> {
    let client = crate::middleware::client_of(&req);
    let user = services
        .users
        .update_me(&principals.0, body.into_inner(), client.as_deref())
        .await?;
    Ok(web::Json(user.into()))
}

/// The caller's own account.
#[utoipa::path(
    get,
    path = "/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
    ),
)]
pub async fn me(services: web::Data<Services>, user: CurrentUser) -> Result<web::Json<MeResponse>> {
    let me = services.users.me(user.0).await?;
    Ok(web::Json(me.into()))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // On the routes that guess at secrets only: reading the user list or
    // one's profile passes no rate-limit layer.
    cfg.service(resource(
        "/v1/users",
        [
            (Method::GET, web::to(list)),
            (Method::POST, limited(web::to(register), Bucket::Register)),
        ],
    ))
    .service(resource(
        "/v1/users/login",
        // No request budget: `LoginGate` counts failed logins.
        [(Method::POST, web::to(login))],
    ))
    .service(resource(
        "/v1/users/refresh",
        [(Method::POST, limited(web::to(refresh), Bucket::Refresh))],
    ))
    .service(resource(
        "/v1/users/logout",
        [(Method::POST, web::to(logout))],
    ))
    .service(resource(
        "/v1/users/me",
        [
            (Method::GET, web::to(me)),
            (Method::PATCH, limited(web::to(update_me), Bucket::Profile)),
        ],
    ))
    // After the fixed paths above, which would otherwise match as a uuid.
    .service(resource(
        "/v1/users/{user_uuid}",
        [
            (Method::GET, web::to(get)),
            (Method::DELETE, web::to(delete)),
        ],
    ));
}

/// This module's operations, for the OpenAPI document (`handlers::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(register, login, refresh, logout, list, me, update_me, get, delete), components(schemas(crate::dto::users::UserSort)), tags((name = "users", description = "Accounts and authentication")))]
pub(crate) struct Api;
