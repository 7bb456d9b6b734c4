//! Liveness.

use actix_web::{HttpResponse, web};

use crate::{WebConfig, dto::monitoring::HealthResponse, handlers::resource};

/// Liveness: the process answers. Does no I/O, so a slow database never
/// makes an orchestrator restart healthy instances.
#[utoipa::path(
    get,
    path = "/v1/monitoring/health",
    tag = "monitoring",
    responses((status = 200, description = "The service is up", body = HealthResponse)),
)]
pub async fn health(config: web::Data<WebConfig>) -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse {
        version: config.release_version.clone(),
        status: "Healthy",
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/monitoring/health").route(web::get().to(health)));
}
