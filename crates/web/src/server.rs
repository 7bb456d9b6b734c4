//! Assembling the actix app and running the HTTP server.

use std::net::TcpListener;

use actix_web::{
    App, HttpResponse, HttpServer, dev::Server, http::header, middleware::from_fn, web,
};
use application::Services;
use infra::Settings;
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

use crate::{ApiError, handlers, middleware, openapi::ApiDoc};

/// What the HTTP layer needs from the settings.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Reported by the health endpoint.
    pub release_version: String,
    /// Serve `/docs` and `/openapi.json`.
    pub docs_enabled: bool,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
}

impl WebConfig {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            release_version: settings.release_version.clone(),
            docs_enabled: settings.docs_enabled,
            body_limit: 64 * 1024,
        }
    }
}

/// Starts serving on an already bound listener (tests bind port 0) and
/// returns the running server; await it to serve until shutdown. actix
/// handles SIGINT/SIGTERM itself: it stops accepting and lets in-flight
/// requests finish.
pub fn run(
    listener: TcpListener,
    services: Services,
    config: WebConfig,
) -> std::io::Result<Server> {
    let services = web::Data::new(services);
    let config = web::Data::new(config);
    let openapi = config.docs_enabled.then(ApiDoc::openapi);
    let server = HttpServer::new(move || {
        let app = App::new()
            .app_data(services.clone())
            .app_data(config.clone())
            .app_data(web::PayloadConfig::new(config.body_limit))
            .wrap(from_fn(middleware::authenticate))
            .wrap(from_fn(middleware::log_requests))
            .configure(handlers::monitoring::routes)
            .configure(handlers::users::routes)
            .configure(handlers::tasks::routes)
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::RouteNotFound)
            }));
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
    .listen(listener)?
    .run();
    Ok(server)
}
