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
