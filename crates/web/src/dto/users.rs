//! Users and authentication.

use application::{
    TokenPair,
    services::{auth::Registration, users::ProfileChange},
};
use domain::{Email, Password, User, Username};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{openapi, validation::request_body};

request_body! {
    /// Body of `POST /v1/users/`.
    pub struct RegisterUserRequest => Registration {
        /// A valid email address; stored lower-cased. (Lengths and patterns of
        /// these fields come from the domain types, see `openapi.rs`.)
        #[example = "john.doe@example.com"]
        required email: Email,
        /// 8 to 64 characters with upper- and lower-case letters, a digit and a
        /// special character.
        #[example = "Str0ng!pass"]
        required password: Password,
        /// 3 to 64 letters and digits.
        #[example = "johndoe"]
        required username: Username,
    }
}

/// A parsed login: a well-formed email and whatever password was sent (the
/// strength rules apply to new passwords, not to checking old ones).
#[derive(Debug)]
pub struct Login {
    pub email: Email,
    pub password: String,
    pub device_token: Option<String>,
}

request_body! {
    /// Body of `POST /v1/users/login`.
    pub struct LoginUserRequest => Login {
        #[example = "john.doe@example.com"]
        required email: Email,
        #[example = "Str0ng!pass"]
        required password: String,
        /// The `device_token` of this client's last login to the account:
        /// with it, login limits never cap this client on it.
        optional device_token: String,
    }
}

/// A parsed refresh: the token to exchange.
#[derive(Debug)]
pub struct Refresh {
    pub refresh_token: String,
}

request_body! {
    /// Body of `POST /v1/users/refresh`.
    pub struct RefreshTokenRequest => Refresh {
        /// The refresh token from login or the previous refresh.
        required refresh_token: String,
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

/// The caller's own account: what others see, and the state of its address.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// The address in force (a change waits in `pending_email`).
    #[schema(example = "john.doe@example.com")]
    pub email: String,
    #[schema(example = "johndoe")]
    pub username: String,
    pub uuid: Uuid,
    /// Whether the owner of `email` followed the link mailed to it.
    pub email_verified: bool,
    /// An address asked for with `PATCH /v1/users/me`; it replaces `email`
    /// once the link mailed to it is followed.
    #[schema(example = json!(null))]
    pub pending_email: Option<String>,
}

impl From<User> for MeResponse {
    fn from(user: User) -> Self {
        Self {
            email_verified: user.email_verified_at.is_some(),
            pending_email: user.pending_email.map(|email| email.as_str().to_owned()),
            email: user.email.as_str().to_owned(),
            username: user.username.as_str().to_owned(),
            uuid: user.uuid,
        }
    }
}

/// A parsed request for a reset link.
#[derive(Debug)]
pub struct ResetRequest {
    pub email: Email,
}

request_body! {
    /// Body of `POST /v1/users/password-reset`.
    pub struct PasswordResetRequest => ResetRequest {
        /// The account's address; the answer is the same whether it has one.
        #[example = "john.doe@example.com"]
        required email: Email,
    }
}

/// A parsed password reset.
#[derive(Debug)]
pub struct Reset {
    pub token: String,
    pub password: Password,
}

request_body! {
    /// Body of `POST /v1/users/password-reset/confirm`.
    pub struct PasswordResetConfirmRequest => Reset {
        /// The `token` of the link in the reset mail.
        required token: String,
        /// The new password; rules as at registration.
        #[example = "N3w!password"]
        required password: Password,
    }
}

/// A parsed verification.
#[derive(Debug)]
pub struct Verification {
    pub token: String,
}

request_body! {
    /// Body of `POST /v1/users/verify-email`.
    pub struct VerifyEmailRequest => Verification {
        /// The `token` of the link in the verification mail.
        required token: String,
    }
}

/// The answer to a request that sends a mail later (or, to hide whether
/// an account exists, seems to).
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedResponse {
    #[schema(example = "If an account has this address, a link is on its way")]
    pub message: String,
}

/// Tokens from login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// Bearer token for API calls; expires after `JWT_EXPIRE_MINUTES`.
    pub access_token: String,
    /// Exchange at `POST /v1/users/refresh` for a new pair; single use.
    pub refresh_token: String,
    /// Login only: keep it with the account's login and send it at the
    /// next login; while someone guesses at the account's password, a
    /// client that sends it is never refused. Ends with a password change
    /// or reset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            device_token: pair.device_token,
        }
    }
}

request_body! {
    /// Body of `PATCH /v1/users/me`: only the fields present change. Changing
    /// the email or the password requires `current_password`. A new email
    /// becomes `pending_email`, and `email` stays in force until the link
    /// mailed to the new address is followed. A new password
    /// ends every login of the account, this one's too (its access and refresh
    /// tokens stop working): log in again with the new password.
    pub struct UpdateUserRequest => ProfileChange {
        /// Absent: unchanged (null is refused). Rules as at registration.
        #[example = "new.address@example.com"]
        optional email: Email,
        #[example = "newname"]
        optional username: Username,
        optional password: Password,
        /// Required with `email` or `password`.
        optional current_password: String,
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
    #[param(example = "username", value_type = Option<UserSort>)]
    sort: Option<String>,
}

openapi::sort_schema! {
    /// How `GET /v1/users/` may be sorted.
    UserSort = domain::user::SORTABLE
}
