//! Read-only counts over River's job table (`river_job`), for the `worker
//! jobs` commands and the queue metrics. River's own API ([`riverqueue::Client::jobs`])
//! reads and changes single jobs; it has no counts.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::Result;

/// States in which a job will not run again.
const FINAL: &str = "('completed', 'cancelled', 'discarded')";

/// Counts over River's job table.
#[derive(Debug, Clone, Copy, Default)]
pub struct JobStats;

impl JobStats {
    /// Jobs by state (`available`, `running`, `retryable`, `discarded`, ...).
    pub async fn by_state(&self, conn: &impl ConnectionTrait) -> Result<Vec<(String, u64)>> {
        let state = text(conn, "state");
        self.counts(
            conn,
            &format!("SELECT {state} AS k, COUNT(*) AS n FROM river_job GROUP BY {state}"),
        )
        .await
    }

    /// Jobs ready to run, by queue: the backlog workers have not taken yet.
    pub async fn available_by_queue(
        &self,
        conn: &impl ConnectionTrait,
    ) -> Result<Vec<(String, u64)>> {
        let state = text(conn, "state");
        self.counts(
            conn,
            &format!(
                "SELECT queue AS k, COUNT(*) AS n FROM river_job \
                 WHERE {state} = 'available' GROUP BY queue"
            ),
        )
        .await
    }

    /// How many of the jobs `ids` may still run (not completed, cancelled
    /// or discarded).
    pub async fn unfinished_among(&self, conn: &impl ConnectionTrait, ids: &[i64]) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let state = text(conn, "state");
        // Integers only: nothing to escape.
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let rows = self
            .counts(
                conn,
                &format!(
                    "SELECT 'n' AS k, COUNT(*) AS n FROM river_job \
                     WHERE id IN ({list}) AND {state} NOT IN {FINAL}"
                ),
            )
            .await?;
        Ok(rows.first().map_or(0, |(_, n)| *n))
    }

    async fn counts(&self, conn: &impl ConnectionTrait, sql: &str) -> Result<Vec<(String, u64)>> {
        let rows = conn
            .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await?;
        rows.iter()
            .map(|row| {
                let key: String = row.try_get("", "k")?;
                let count: i64 = row.try_get("", "n")?;
                Ok((key, u64::try_from(count).unwrap_or(0)))
            })
            .collect()
    }
}

/// `column` as text: Postgres keeps River's states as an enum.
fn text(conn: &impl ConnectionTrait, column: &str) -> String {
    match conn.get_database_backend() {
        DbBackend::Postgres => format!("{column}::text"),
        _ => column.to_owned(),
    }
}
