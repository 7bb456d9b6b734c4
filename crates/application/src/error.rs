//! What a service call can fail with, in business terms.

/// Result of a service call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a service call failed. Variants up to [`Error::NotFound`] are the
/// caller's doing and are shown to them; the rest are ours and are not.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Email unknown or password wrong; deliberately not saying which.
    #[error("Invalid credentials")]
    InvalidCredentials,
    /// The caller is not (or no longer) authenticated.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A unique value (a user's email or username) is already taken.
    /// `entity` is the model's display name (`User`).
    #[error("{entity} already exists with this {field}")]
    Conflict {
        entity: &'static str,
        field: &'static str,
    },
    /// The caller may not do this.
    #[error("Insufficient permissions")]
    Forbidden,
    /// `REQUIRE_VERIFIED_EMAIL` is on and the account's address is not
    /// verified yet.
    #[error(
        "Email address not verified: follow the link in the verification mail, or ask for a new one"
    )]
    EmailNotVerified,
    /// A request the service refuses as it stands (an invalid, used or
    /// expired account token, say); the message says why.
    #[error("{0}")]
    Rejected(&'static str),
    /// The thing asked for does not exist.
    #[error("{entity} not found")]
    NotFound { entity: &'static str },
    /// A value the caller sent breaks a rule only the service can check
    /// (e.g. an unknown sort column); `location` is `body`, `query` or `path`.
    #[error("{message}")]
    Invalid {
        location: &'static str,
        field: &'static str,
        kind: &'static str,
        message: String,
    },
    /// A dependency (the database) is down, saturated or too slow; the
    /// request may succeed if retried later.
    #[error("Service temporarily unavailable")]
    Unavailable(#[source] persistence::Error),
    /// The database connection was lost while the write committed: it may
    /// or may not have taken effect (503 without `Retry-After`).
    #[error("Service temporarily unavailable; the change may or may not have been made")]
    OutcomeUnknown(#[source] persistence::Error),
    /// A bounded internal queue (password hashing) is full: the request
    /// may succeed if retried shortly.
    #[error("Service temporarily unavailable")]
    Overloaded { what: &'static str },
    /// Storage failed.
    #[error("storage failed")]
    Storage(#[source] persistence::Error),
    /// Hashing or token signing failed.
    #[error("{context}")]
    Crypto {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// River could not insert or change a job.
    #[error("job queue failed")]
    Jobs(#[source] riverqueue::Error),
}

impl From<persistence::Error> for Error {
    fn from(err: persistence::Error) -> Self {
        match err {
            persistence::Error::Conflict { entity, field } => Self::Conflict { entity, field },
            persistence::Error::NotFound { entity, .. } => Self::NotFound { entity },
            persistence::Error::InvalidSort { requested, allowed } => Self::Invalid {
                location: "query",
                field: "sort",
                kind: "enum",
                message: format!("Cannot sort by {requested:?}; expected one of: {allowed}"),
            },
            unavailable @ persistence::Error::Unavailable(_) => Self::Unavailable(unavailable),
            unknown @ persistence::Error::OutcomeUnknown(_) => Self::OutcomeUnknown(unknown),
            other => Self::Storage(other),
        }
    }
}
