//! Health.

use serde::Serialize;
use utoipa::ToSchema;

/// The template's health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `RELEASE_VERSION`.
    #[schema(example = "0.1.0")]
    pub version: String,
    /// Always `Healthy` when the process answers.
    #[schema(example = "Healthy")]
    pub status: &'static str,
}

/// Readiness and what each dependency answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessResponse {
    /// `Ready` or `Unavailable`.
    #[schema(example = "Ready")]
    pub status: &'static str,
    /// `ok`, `unavailable`, `timeout`, or `migrations_pending` (the
    /// database answers but lacks migrations of this build).
    #[schema(example = "ok")]
    pub database: &'static str,
    /// `ok`, `unavailable` or `timeout`, for information only: Redis down
    /// leaves the instance ready. Absent when Redis is not configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<&'static str>,
}
