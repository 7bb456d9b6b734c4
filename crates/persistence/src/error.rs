//! Storage errors, in terms a service can act on.

use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx::error::DatabaseError};

/// Result of a storage operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No row matched.
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    /// A unique constraint on `field` rejected the write: the value is taken.
    /// `entity` is the model's display name (`User`), as in messages.
    #[error("{entity} with this {field} already exists")]
    Conflict {
        entity: &'static str,
        field: &'static str,
    },
    /// A stored value no longer satisfies the domain's rules.
    #[error("stored {entity} is invalid: {reason}")]
    Corrupt {
        entity: &'static str,
        reason: String,
    },
    /// A list was asked to sort by a column that is not sortable.
    #[error("cannot sort by {requested:?}; sortable: {allowed}")]
    InvalidSort { requested: String, allowed: String },
    /// The database is unreachable, the pool is exhausted, or a statement
    /// ran past its timeout: worth retrying later (503).
    #[error("database unavailable")]
    Unavailable(#[source] DbErr),
    /// The database failed or could not be reached.
    #[error("database error")]
    Database(#[source] DbErr),
    /// River refused a job for a reason other than the database (its
    /// arguments, its options).
    #[error("cannot insert the job")]
    Job(#[source] riverqueue::Error),
}

impl Error {
    /// Classifies a database error, turning a unique violation on one of the
    /// `unique_fields` into [`Error::Conflict`].
    ///
    /// Postgres names the constraint (`users_email_key`) and SQLite the
    /// column (`users.email`); both messages contain the column name.
    pub(crate) fn from_write(
        err: DbErr,
        entity: &'static str,
        unique_fields: &[&'static str],
    ) -> Self {
        if let Some(SqlErr::UniqueConstraintViolation(message)) = err.sql_err()
            && let Some(field) = unique_fields.iter().find(|field| message.contains(*field))
        {
            return Self::Conflict { entity, field };
        }
        Self::from(err)
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        let unavailable = match &err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            // Postgres: 57014 query_canceled (statement_timeout), 57P01
            // admin shutdown, 53300 too many connections. SQLite: 5 BUSY,
            // 6 LOCKED, 517 BUSY_SNAPSHOT (the write lock stayed taken past
            // the busy timeout).
            DbErr::Exec(RuntimeErr::SqlxError(runtime))
            | DbErr::Query(RuntimeErr::SqlxError(runtime)) => runtime
                .as_database_error()
                .and_then(DatabaseError::code)
                .is_some_and(|code| {
                    ["57014", "57P01", "53300", "5", "6", "517"].contains(&code.as_ref())
                }),
            _ => false,
        };
        if unavailable {
            Self::Unavailable(err)
        } else {
            Self::Database(err)
        }
    }
}

impl From<riverqueue::Error> for Error {
    /// River's database errors are classified like ours (a timeout or a
    /// busy database is [`Error::Unavailable`]).
    fn from(err: riverqueue::Error) -> Self {
        match err {
            riverqueue::Error::Database(err) => crate::tx::exec_err(err).into(),
            other => Self::Job(other),
        }
    }
}
