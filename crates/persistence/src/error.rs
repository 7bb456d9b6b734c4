//! Storage errors, in terms a service can act on.

use sea_orm::{
    DbErr, RuntimeErr, SqlErr,
    sqlx::{Error as Sqlx, error::DatabaseError},
};

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
    /// The connection failed while COMMIT was on its way: the database may
    /// or may not have committed, and nobody here can tell (503 without
    /// `Retry-After`: a retried write may be done twice).
    #[error("database connection lost during COMMIT; outcome unknown")]
    OutcomeUnknown(#[source] DbErr),
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

impl Error {
    /// A failed COMMIT: lost on the connection, its outcome is unknown;
    /// refused by the database (a deferred constraint, a serialization
    /// failure), it did not happen.
    pub(crate) fn from_commit(err: DbErr) -> Self {
        if connection_lost(&err) {
            Self::OutcomeUnknown(err)
        } else {
            Self::from(err)
        }
    }
}

/// Whether `err` is the connection failing (I/O, TLS, the server going
/// away mid-statement), not the database answering with an error.
fn connection_lost(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(runtime))
    | DbErr::Query(RuntimeErr::SqlxError(runtime))) = err
    else {
        return false;
    };
    matches!(
        &**runtime,
        Sqlx::Io(_) | Sqlx::Tls(_) | Sqlx::Protocol(_) | Sqlx::PoolClosed | Sqlx::WorkerCrashed
    )
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
        // Before COMMIT is sent, a lost connection committed nothing: the
        // request can be retried (a restart, a failover, a cut link).
        if unavailable || connection_lost(&err) {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::{DbErr, RuntimeErr, sqlx};

    use super::Error;

    /// What sqlx reports when Postgres restarts under a TLS connection.
    fn tls_cut() -> DbErr {
        let io = std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "peer closed connection without sending TLS close_notify",
        );
        DbErr::Exec(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Io(io))))
    }

    #[test]
    fn a_lost_connection_is_unavailable_before_commit_and_unknown_during_it() {
        assert!(matches!(Error::from(tls_cut()), Error::Unavailable(_)));
        assert!(matches!(
            Error::from_commit(tls_cut()),
            Error::OutcomeUnknown(_)
        ));
        let refused = DbErr::Exec(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Protocol(
            "unexpected message".into(),
        ))));
        assert!(matches!(
            Error::from_commit(refused),
            Error::OutcomeUnknown(_)
        ));
        let custom = DbErr::Custom("constraint".into());
        assert!(matches!(Error::from_commit(custom), Error::Database(_)));
    }
}
