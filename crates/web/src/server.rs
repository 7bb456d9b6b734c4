//! Assembling the actix app and running the HTTP servers.

use std::{net::IpAddr, net::TcpListener, time::Duration};

use actix_cors::Cors;
use actix_web::{
    App, HttpResponse, HttpServer, dev::Server, http::header, middleware::from_fn, web,
};
use application::Services;
use infra::{Settings, metrics::Metrics, rate_limit::RateLimiter, redis::RedisPool};
use utoipa_swagger_ui::SwaggerUi;

use crate::{ApiError, handlers, middleware, openapi};

/// Requests per client IP per window on the endpoints that guess at secrets.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    pub window: Duration,
    pub login: u32,
    /// Logins per account, from every address together.
    pub login_account: u32,
    pub register: u32,
    pub refresh: u32,
}

/// What the HTTP layer needs from the settings.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Reported by the health endpoint.
    pub release_version: String,
    /// Serve `/docs` and `/openapi.json`.
    pub docs_enabled: bool,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Browser origins allowed to call the API (`*`: any).
    pub cors_origins: Vec<String>,
    pub cors_allow_credentials: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// `None` turns rate limiting off.
    pub rate_limits: Option<RateLimits>,
    /// Serve `/metrics` on the API's own listener.
    pub metrics_on_api_port: bool,
    /// How long in-flight requests may take after SIGTERM.
    pub shutdown_grace: Duration,
    /// `Strict-Transport-Security` for every response (`HSTS_MAX_AGE_SECONDS`).
    pub hsts: Option<header::HeaderValue>,
}

impl WebConfig {
    /// The HTTP sections of the settings: http, CORS, rate limits, metrics.
    pub fn from_settings(settings: &Settings) -> Self {
        let (http, limits) = (&settings.http, &settings.rate_limits);
        Self {
            release_version: http.release_version.clone(),
            docs_enabled: http.docs_enabled,
            body_limit: http.body_limit_bytes,
            cors_origins: settings
                .cors
                .origins
                .iter()
                .map(|origin| origin.as_str().to_owned())
                .collect(),
            cors_allow_credentials: settings.cors.allow_credentials,
            trusted_proxies: http.trusted_proxies.to_vec(),
            rate_limits: limits.enabled.then_some(RateLimits {
                window: Duration::from_secs(limits.window_seconds),
                login: limits.login,
                login_account: limits.login_account,
                register: limits.register,
                refresh: limits.refresh,
            }),
            metrics_on_api_port: settings.metrics.enabled && settings.metrics.port.is_none(),
            shutdown_grace: http.shutdown_grace(),
            hsts: http.hsts_max_age_seconds.map(|seconds| {
                header::HeaderValue::from_str(&format!("max-age={seconds}; includeSubDomains"))
                    .expect("digits and ASCII make a header value")
            }),
        }
    }
}

/// Shared clients the HTTP layer uses besides the services.
#[derive(Debug, Clone)]
pub struct WebDeps {
    /// Counters for rate limits (Redis when configured, else in-process).
    pub rate_limiter: RateLimiter,
    /// Checked by readiness when configured.
    pub redis: Option<RedisPool>,
    /// Rendered at `/metrics` when enabled.
    pub metrics: Option<Metrics>,
}

fn cors(config: &WebConfig) -> Cors {
    if config.cors_origins.is_empty() {
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
    if config.cors_origins.iter().any(|o| o == "*") {
        cors = cors.allow_any_origin().send_wildcard();
    } else {
        for origin in &config.cors_origins {
            cors = cors.allowed_origin(origin);
        }
        if config.cors_allow_credentials {
            cors = cors.supports_credentials();
        }
    }
    cors
}

/// Starts serving the API on an already bound listener (tests bind port 0)
/// and returns the running server; await it to serve until shutdown. On
/// SIGINT/SIGTERM actix stops accepting and lets in-flight requests finish
/// within the grace period.
pub fn run(
    listener: TcpListener,
    services: Services,
    config: WebConfig,
    deps: WebDeps,
) -> std::io::Result<Server> {
    let services = web::Data::new(services);
    let grace = config.shutdown_grace;
    let config = web::Data::new(config);
    let deps = web::Data::new(deps);
    let openapi = config.docs_enabled.then(openapi::document);
    let server = HttpServer::new(move || {
        let app = App::new()
            .app_data(services.clone())
            .app_data(config.clone())
            .app_data(deps.clone())
            .app_data(web::PayloadConfig::new(config.body_limit))
            .wrap(from_fn(middleware::trim_trailing_slash))
            .wrap(from_fn(middleware::authenticate))
            .wrap(cors(&config))
            .wrap(from_fn(middleware::security_headers))
            .wrap(from_fn(middleware::log_requests))
            .configure(handlers::routes)
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::RouteNotFound)
            }));
        let app = if config.metrics_on_api_port {
            app.service(
                web::resource("/metrics").route(web::get().to(handlers::monitoring::metrics)),
            )
        } else {
            app
        };
        match &openapi {
            Some(openapi) => app
                .service(web::resource("/docs").to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header((header::LOCATION, "/docs/"))
                        .finish()
                }))
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi.clone())),
            None => app,
        }
    })
    .shutdown_timeout(grace.as_secs())
    .listen(listener)?
    .run();
    Ok(server)
}

/// Serves `/metrics` alone on its own listener (`METRICS_PORT`), so the
/// scrape endpoint need not be exposed where the API is.
pub fn run_metrics(
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
