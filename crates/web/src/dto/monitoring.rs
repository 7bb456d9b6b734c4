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
    /// `ok`, `unavailable` or `timeout`.
    #[schema(example = "ok")]
    pub database: String,
    /// Like `database`; absent when Redis is not configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<String>,
}
