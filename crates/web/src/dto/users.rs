//! Users and authentication.

use application::{
    TokenPair,
    services::{auth::Registration, users::ProfileChange},
};
use domain::{Email, User, UserPatch};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    openapi,
    validation::{FieldError, Fields, JsonRequest},
};

/// Body of `POST /v1/users/`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Read through `JsonRequest`; the fields document the schema.
pub struct RegisterUserRequest {
    /// A valid email address; stored lower-cased. (Lengths and patterns of
    /// these fields come from the domain types, see `openapi.rs`.)
    #[schema(example = "john.doe@example.com")]
    email: String,
    /// 8 to 64 characters with upper- and lower-case letters, a digit and a
    /// special character.
    #[schema(example = "Str0ng!pass")]
    password: String,
    /// 3 to 64 letters and digits.
    #[schema(example = "johndoe")]
    username: String,
}

impl JsonRequest for RegisterUserRequest {
    type Parsed = Registration;

    fn parse(mut fields: Fields) -> Result<Registration, Vec<FieldError>> {
        let email = fields.required("email");
        let password = fields.required("password");
        let username = fields.required("username");
        fields.finish(|| {
            Some(Registration {
                email: email?,
                username: username?,
                password: password?,
            })
        })
    }
}

/// Body of `POST /v1/users/login`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Read through `JsonRequest`; the fields document the schema.
pub struct LoginUserRequest {
    #[schema(example = "john.doe@example.com")]
    email: String,
    #[schema(example = "Str0ng!pass")]
    password: String,
}

/// A parsed login: a well-formed email and whatever password was sent (the
/// strength rules apply to new passwords, not to checking old ones).
#[derive(Debug)]
pub struct Login {
    pub email: Email,
    pub password: String,
}

impl JsonRequest for LoginUserRequest {
    type Parsed = Login;

    fn parse(mut fields: Fields) -> Result<Login, Vec<FieldError>> {
        let email = fields.required("email");
        let password = fields.required("password");
        fields.finish(|| {
            Some(Login {
                email: email?,
                password: password?,
            })
        })
    }
}

/// Body of `POST /v1/users/refresh`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Read through `JsonRequest`; the fields document the schema.
pub struct RefreshTokenRequest {
    /// The refresh token from login or the previous refresh.
    refresh_token: String,
}

impl JsonRequest for RefreshTokenRequest {
    type Parsed = String;

    fn parse(mut fields: Fields) -> Result<String, Vec<FieldError>> {
        let token = fields.required("refresh_token");
        fields.finish(|| token)
    }
}

/// A user as other clients see them.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    #[schema(example = "john.doe@example.com")]
    pub email: String,
    #[schema(example = "johndoe")]
    pub username: String,
    pub uuid: Uuid,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            email: user.email.as_str().to_owned(),
            username: user.username.as_str().to_owned(),
            uuid: user.uuid,
        }
    }
}

/// Tokens from login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Bearer token for API calls; expires after `JWT_EXPIRE_MINUTES`.
    pub access_token: String,
    /// Exchange at `POST /v1/users/refresh` for a new pair; single use.
    pub refresh_token: String,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
        }
    }
}

/// Body of `PATCH /v1/users/me`: only the fields present change. Changing
/// the email or the password requires `current_password`. A new password
/// ends every login of the account, this one's too (its access and refresh
/// tokens stop working): log in again with the new password.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Read through `JsonRequest`; the fields document the schema.
pub struct UpdateUserRequest {
    /// Absent: unchanged (null is refused). Rules as at registration.
    #[schema(example = "new.address@example.com", nullable = false)]
    email: Option<String>,
    #[schema(example = "newname", nullable = false)]
    username: Option<String>,
    #[schema(nullable = false)]
    password: Option<String>,
    /// Required with `email` or `password`.
    #[schema(nullable = false)]
    current_password: Option<String>,
}

impl JsonRequest for UpdateUserRequest {
    type Parsed = ProfileChange;

    fn parse(mut fields: Fields) -> Result<ProfileChange, Vec<FieldError>> {
        let email = fields.optional("email");
        let username = fields.optional("username");
        let password = fields.optional("password");
        let current_password = fields.optional("current_password");
        fields.finish(|| {
            Some(ProfileChange {
                patch: UserPatch {
                    email: email?,
                    username: username?,
                    password: password?,
                },
                current_password: current_password?,
            })
        })
    }
}

/// Query of `GET /v1/users/` (documentation of [`crate::extract::ListQuery`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the query that `ListQuery` parses.
pub struct UserListParams {
    /// How many users to skip.
    #[param(minimum = 0, default = 0)]
    skip: Option<u64>,
    /// How many users to return.
    #[param(schema_with = openapi::page_limit)]
    limit: Option<u64>,
    /// A column (`domain::user::SORTABLE`), `-` first for descending.
    /// Default: registration order.
    #[param(example = "username", schema_with = sort_schema)]
    sort: Option<String>,
}

fn sort_schema() -> utoipa::openapi::Object {
    openapi::sort(domain::user::SORTABLE)
}
