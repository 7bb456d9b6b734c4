//! Assembling the actix app and running the HTTP servers.

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::{
    App, HttpResponse, HttpServer, dev::Server, http::header, middleware::from_fn, web,
};
use application::Services;
use infra::{
    Environment, Settings,
    config::{CorsSettings, Origin},
    metrics::Metrics,
    rate_limit::RateLimiter,
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{ApiError, handlers, middleware, openapi};

/// What the HTTP layer uses besides the services and the settings.
#[derive(Debug, Clone)]
pub struct WebDeps {
    /// Counters for rate limits (Redis when configured, else in-process).
    pub rate_limiter: RateLimiter,
    /// What rate-limit keys hold instead of an email address: keys live
    /// in Redis, which must not learn who logs in.
    pub key_pseudonyms: infra::pseudonym::Pseudonyms,
    /// Rendered at `/metrics` when enabled.
    pub metrics: Option<Metrics>,
    /// `Strict-Transport-Security` for every response
    /// (`HSTS_MAX_AGE_SECONDS`), made once rather than per response.
    pub hsts: Option<header::HeaderValue>,
}

impl WebDeps {
    pub fn new(settings: &Settings, services: &Services, metrics: Option<Metrics>) -> Self {
        Self {
            rate_limiter: RateLimiter::new(services.redis().cloned()),
            key_pseudonyms: infra::pseudonym::Pseudonyms::new(
                settings.auth.secret_key.expose().as_bytes(),
                "rate-limit-key",
            ),
            metrics,
            hsts: settings.http.hsts_max_age_seconds.map(|seconds| {
                header::HeaderValue::from_str(&format!("max-age={seconds}; includeSubDomains"))
                    .expect("digits and ASCII make a header value")
            }),
        }
    }
}

fn cors(settings: &CorsSettings) -> Cors {
    if settings.origins.is_empty() {
        // No origins configured: browsers get no CORS grant at all.
        return Cors::default();
    }
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            middleware::REQUEST_ID_HEADER.clone(),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-total-count"),
            middleware::REQUEST_ID_HEADER.clone(),
            header::RETRY_AFTER,
        ])
        .max_age(600);
    if settings.origins.iter().any(Origin::is_any) {
        cors = cors.allow_any_origin().send_wildcard();
    } else {
        for origin in settings.origins.iter() {
            cors = cors.allowed_origin(origin.as_str());
        }
        if settings.allow_credentials {
            cors = cors.supports_credentials();
        }
    }
    cors
}

/// Starts serving the API on an already bound listener (tests bind port 0)
/// and returns the running server; await it to serve until shutdown. On
/// SIGINT/SIGTERM actix stops accepting and lets in-flight requests finish
/// within the grace period.
pub(crate) fn run(
    listener: TcpListener,
    services: Services,
    settings: Settings,
    deps: WebDeps,
) -> std::io::Result<Server> {
    let services = web::Data::new(services);
    let grace = settings.http.shutdown_grace_seconds;
    // Production never serves it on the public port: it shows live login
    // outcomes per route and pool state. There it is `METRICS_PORT` or nowhere.
    let metrics_on_api_port = settings.metrics.enabled
        && settings.metrics.port.is_none()
        && settings.environment != Environment::Production;
    let settings = web::Data::new(settings);
    let deps = web::Data::new(deps);
    let openapi = settings.http.docs_enabled.then(openapi::document);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(services.clone())
            .app_data(settings.clone())
            .app_data(deps.clone())
            .app_data(web::PayloadConfig::new(settings.http.body_limit_bytes))
            .wrap(from_fn(middleware::trim_trailing_slash))
            .wrap(from_fn(middleware::authenticate))
            .wrap(cors(&settings.cors))
            .wrap(from_fn(middleware::security_headers))
            .wrap(from_fn(middleware::log_requests))
            .configure(handlers::routes)
            .configure(|cfg| {
                if metrics_on_api_port {
                    // A resource of its own, so other methods get its 405.
                    cfg.service(
                        web::resource("/metrics")
                            .route(web::get().to(handlers::monitoring::metrics)),
                    );
                }
                if let Some(openapi) = &openapi {
                    cfg.route(
                        "/docs",
                        web::to(|| async {
                            HttpResponse::PermanentRedirect()
                                .insert_header((header::LOCATION, "/docs/"))
                                .finish()
                        }),
                    )
                    .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi.clone()));
                }
            })
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::RouteNotFound)
            }))
    })
    .shutdown_timeout(grace)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Serves `/metrics` alone on its own listener (`METRICS_PORT`), so the
/// scrape endpoint need not be exposed where the API is.
pub(crate) fn run_metrics(
    listener: TcpListener,
    services: Services,
    deps: WebDeps,
) -> std::io::Result<Server> {
    let services = web::Data::new(services);
    let deps = web::Data::new(deps);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(services.clone())
            .app_data(deps.clone())
            .service(web::resource("/metrics").route(web::get().to(handlers::monitoring::metrics)))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok(server)
}
