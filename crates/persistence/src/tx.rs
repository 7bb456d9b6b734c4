//! The connection of an open transaction: a sqlx transaction that this
//! crate began itself, with SeaORM's [`ConnectionTrait`] over it.
//!
//! Why not SeaORM's own `DatabaseTransaction`: it keeps its sqlx
//! transaction private, and River inserts jobs only into a sqlx transaction
//! (`.tx(...)`). Owning the sqlx transaction lets repositories' SeaORM
//! statements and River's inserts run in one transaction, so a job exists
//! if and only if the writes that caused it commit.

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr, Statement,
    sea_query::Values,
    sqlx::{self, Executor as _, Postgres, Sqlite, Transaction},
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

/// The sqlx transaction, by backend.
#[derive(Debug)]
pub(crate) enum Inner {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

/// An open transaction's connection; every repository method takes it like
/// a pool. Statements run one at a time (a transaction is one connection).
#[derive(Debug)]
pub struct TxConn {
    backend: DbBackend,
    inner: Mutex<Inner>,
}

impl TxConn {
    pub(crate) fn new(inner: Inner) -> Self {
        let backend = match inner {
            Inner::Postgres(_) => DbBackend::Postgres,
            Inner::Sqlite(_) => DbBackend::Sqlite,
        };
        Self {
            backend,
            inner: Mutex::new(inner),
        }
    }

    /// The sqlx transaction, locked for the caller's statements.
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, Inner> {
        self.inner.lock().await
    }

    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        match self.inner.into_inner() {
            Inner::Postgres(tx) => tx.commit().await,
            Inner::Sqlite(tx) => tx.commit().await,
        }
        .map_err(exec_err)
    }
}

/// Runs `$body` with `$tx` bound to the locked sqlx transaction, whichever
/// the backend: the same code, typed once per backend.
macro_rules! on_tx {
    ($conn:expr, $tx:ident => $body:expr) => {
        match &mut *$conn.lock().await {
            Inner::Postgres($tx) => $body,
            Inner::Sqlite($tx) => $body,
        }
    };
}
pub(crate) use on_tx;

/// The statement with its values bound, for either backend.
fn bind(stmt: &Statement) -> (sqlx::AssertSqlSafe<&str>, SqlxValues) {
    let values = stmt.values.clone().unwrap_or(Values(Vec::new()));
    (sqlx::AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
}

pub(crate) fn exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(err.into()))
}

fn query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(err.into()))
}

#[async_trait::async_trait]
impl ConnectionTrait for TxConn {
    fn get_database_backend(&self) -> DbBackend {
        self.backend
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let (sql, values) = bind(&stmt);
        on_tx!(self, tx => sqlx::query_with(sql, values).execute(&mut **tx).await.map(Into::into))
            .map_err(exec_err)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        on_tx!(self, tx => tx.execute(sql).await.map(Into::into)).map_err(exec_err)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        let (sql, values) = bind(&stmt);
        on_tx!(self, tx => sqlx::query_with(sql, values)
            .fetch_optional(&mut **tx)
            .await
            .map(|row| row.map(Into::into)))
        .map_err(query_err)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let (sql, values) = bind(&stmt);
        on_tx!(self, tx => sqlx::query_with(sql, values)
            .fetch_all(&mut **tx)
            .await
            .map(|rows| rows.into_iter().map(Into::into).collect()))
        .map_err(query_err)
    }
}
