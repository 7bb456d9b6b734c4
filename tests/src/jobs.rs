//! The job-backend matrix: job tests run once per `JOB_BACKEND`.

use crate::redis::{test_redis_url, unique_prefix};

/// Where a job test's queue lives. Job tests run once per backend; see
/// [`on_each_job_backend!`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobBackend {
    Database,
    Redis,
}

impl JobBackend {
    /// The `JOB_BACKEND` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::Redis => "redis",
        }
    }

    /// Settings selecting this backend; for Redis, `TEST_REDIS_URL` under
    /// a key prefix of this test's own.
    ///
    /// # Panics
    /// For Redis when `TEST_REDIS_URL` is not set.
    pub fn settings(self) -> Vec<(String, String)> {
        match self {
            Self::Database => vec![("JOB_BACKEND".into(), self.name().into())],
            Self::Redis => vec![
                ("JOB_BACKEND".into(), self.name().into()),
                (
                    "REDIS_URL".into(),
                    test_redis_url().expect("TEST_REDIS_URL is set"),
                ),
                ("REDIS_KEY_PREFIX".into(), unique_prefix()),
            ],
        }
    }
}

/// Turns `async fn name(backend: JobBackend)` test bodies into two tests
/// each: `database::name` and `redis::name`. The Redis ones run where
/// `TEST_REDIS_URL` is set (as in CI) and return at once elsewhere.
#[macro_export]
macro_rules! on_each_job_backend {
    ($($name:ident),+ $(,)?) => {
        mod database {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    super::$name($crate::JobBackend::Database).await;
                }
            )+
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $name() {
                    if $crate::test_redis_url().is_none() {
                        eprintln!("skipped: set TEST_REDIS_URL to run the Redis job backend");
                        return;
                    }
                    super::$name($crate::JobBackend::Redis).await;
                }
            )+
        }
    };
}
