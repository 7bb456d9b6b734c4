//! Liveness, readiness and metrics.

use std::time::Duration;

use actix_web::{
    HttpResponse,
    http::{Method, StatusCode},
    web,
};
use application::Services;
use infra::Settings;

use crate::{
    WebDeps,
    dto::monitoring::{HealthResponse, ReadinessResponse},
    handlers::resource,
};

/// How long readiness waits for each dependency: a probe must answer well
/// inside an orchestrator's timeout even when a dependency hangs.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process answers. Does no I/O, so a slow database never
/// makes an orchestrator restart healthy instances.
#[utoipa::path(
    get,
    path = "/v1/monitoring/health",
    tag = "monitoring",
    responses((status = 200, description = "The service is up", body = HealthResponse)),
)]
pub async fn health(settings: web::Data<Settings>) -> HttpResponse {
    HttpResponse::Ok().json(HealthResponse {
        version: settings.http.release_version.clone(),
        status: "Healthy",
    })
}

/// Readiness: whether this instance can serve traffic now, which it cannot
/// without the database or with a schema its build is ahead of (a deploy
/// that has not migrated yet). Redis is reported but never makes it 503: the
/// cache and the rate limits carry on without it, and taking every instance
/// out of service when a shared Redis blips would turn a slowdown into an
/// outage. Each check waits at most two seconds.
#[utoipa::path(
    get,
    path = "/v1/monitoring/ready",
    tag = "monitoring",
    responses(
        (status = 200, description = "The database answers with the expected schema; `redis` may still be down", body = ReadinessResponse),
        (status = 503, description = "The database is down or not migrated; `database` says which", body = ReadinessResponse),
    ),
)]
pub async fn ready(services: web::Data<Services>) -> HttpResponse {
    let database = match tokio::time::timeout(CHECK_TIMEOUT, services.database_ready()).await {
        Ok(Ok(true)) => "ok",
        Ok(Ok(false)) => "migrations_pending",
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: database check failed");
            "unavailable"
        }
        Err(_) => "timeout",
    };
    let redis = match services.redis() {
        None => None,
        Some(redis) => Some(match redis.ping().await {
            Ok(()) => "ok",
            Err(infra::redis::RedisError::Timeout(_)) => "timeout",
            Err(err) => {
                tracing::warn!(error = %err, "readiness: redis check failed");
                "unavailable"
            }
        }),
    };
    let ready = database == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status).json(ReadinessResponse {
        status: if ready { "Ready" } else { "Unavailable" },
        database,
        redis,
    })
}

/// Prometheus metrics in the text format.
pub async fn metrics(services: web::Data<Services>, deps: web::Data<WebDeps>) -> HttpResponse {
    let Some(metrics) = &deps.metrics else {
        return HttpResponse::NotFound().finish();
    };
    // Pool gauges are sampled at scrape time: exact when read, free otherwise.
    services.record_pool_gauges();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/v1/monitoring/health",
        [(Method::GET, web::to(health))],
    ))
    .service(resource(
        "/v1/monitoring/ready",
        [(Method::GET, web::to(ready))],
    ));
}

/// This module's operations, for the OpenAPI document (`handlers::openapi`).
#[derive(utoipa::OpenApi)]
#[openapi(paths(health, ready), tags((name = "monitoring", description = "Liveness and readiness")))]
pub(crate) struct Api;
