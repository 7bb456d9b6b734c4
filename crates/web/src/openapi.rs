//! The OpenAPI document, served at `/openapi.json` and rendered at `/docs`.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::{
    dto, error,
    handlers::{monitoring, tasks, users},
    validation,
};

/// Every endpoint, schema and error of the API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Rust Production Template",
        description = "A production-ready API: users, authentication, tasks. \
            Errors are `{\"error_code\", \"message\"}`; validation errors are 422 `{\"detail\": [...]}`."
    ),
    paths(
        monitoring::health,
        monitoring::ready,
        users::register,
        users::login,
        users::refresh,
        users::logout,
        users::list,
        users::me,
        users::update_me,
        users::get,
        users::delete,
        tasks::list,
        tasks::create,
        tasks::get,
        tasks::update,
        tasks::delete,
    ),
    components(schemas(
        error::ErrorBody,
        error::ValidationErrorBody,
        validation::FieldError,
        dto::monitoring::HealthResponse,
        dto::monitoring::ReadinessResponse,
        dto::users::RegisterUserRequest,
        dto::users::LoginUserRequest,
        dto::users::RefreshTokenRequest,
        dto::users::UserResponse,
        dto::users::TokenResponse,
        dto::users::UpdateUserRequest,
        dto::tasks::CreateTaskRequest,
        dto::tasks::UpdateTaskRequest,
        dto::tasks::TaskResponse,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "users", description = "Accounts and authentication"),
        (name = "tasks", description = "Tasks; each visible to its author and admins"),
        (name = "monitoring", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme the secured paths refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
