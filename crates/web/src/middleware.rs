//! Request-scoped plumbing: the request id, the response logger and HTTP
//! metrics, security headers, the client's address, per-route rate limits,
//! and authentication.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use actix_web::{
    Error, HttpMessage, HttpRequest,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Method,
        header::{self, HeaderName, HeaderValue},
    },
    middleware::Next,
    web,
};
use application::{Admission, Services};
use infra::{
    Settings,
    config::IpRange,
    telemetry::{REQUEST_ID, trace},
};
use tracing::Instrument as _;

use crate::{ApiError, WebDeps};

/// Header that carries the request id in and out.
pub(crate) static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming request id we adopt; longer ones are replaced.
const MAX_REQUEST_ID_LEN: usize = 64;

/// Adopts a sane incoming `X-Request-Id` (so ids from a proxy carry through)
/// or makes one.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_REQUEST_ID_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), ToOwned::to_owned)
}

/// Innermost middleware: routes `/v1/.../` like `/v1/...`, so each API
/// resource needs one pattern (see `handlers::resource`). Only under `/v1/`:
/// `/docs/` must keep its slash.
pub(crate) async fn trim_trailing_slash(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let path = req.path();
    if path.len() > "/v1/".len() && path.starts_with("/v1/") && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let rewritten = match req.query_string() {
            "" => trimmed.to_owned(),
            query => format!("{trimmed}?{query}"),
        };
        if let Ok(uri) = rewritten.parse::<actix_web::http::Uri>() {
            req.head_mut().uri = uri.clone();
            req.match_info_mut().get_mut().update(&uri);
        }
    }
    next.call(req).await
}

/// Outermost middleware: assigns the request id, serves the request with
/// it in the `REQUEST_ID` task-local (which the log formatters write into
/// every line logged meanwhile; a span only when the request is traced, see
/// `infra::telemetry`), echoes it on the response, and logs the request
/// once when it completes. A 5xx is logged with its full cause chain, which
/// the client never sees.
pub(crate) async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request_id(&req);
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    // With tracing on and this trace sampled, the request's span (else a
    // disabled one, which costs nothing). The route and client address are
    // looked up only for a span that is made.
    let span = trace::server_span(
        method.as_str(),
        // As routed once the trailing slash is trimmed (the innermost
        // middleware does that).
        || {
            req.request()
                .resource_map()
                .match_pattern(match path.trim_end_matches('/') {
                    "" => "/",
                    trimmed => trimmed,
                })
        },
        &path,
        || {
            let (settings, _) = web_data(req.request()).ok()?;
            let ip = client_ip(req.request(), &settings.http.trusted_proxies)?;
            settings.otel.client_address.of(ip)
        },
        &id,
        |name| {
            req.headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
        },
    );
    let result = REQUEST_ID
        .scope(id.clone(), next.call(req).instrument(span.clone()))
        .await;
    // Whole microseconds as milliseconds: precise enough, short in the log.
    let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    // The request's line belongs to its trace.
    let _in_span = span.enter();
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            // The route template, not the path: one series per endpoint, not
            // one per task uuid.
            let matched = res.request().match_pattern();
            let cause = if res.status().is_server_error() {
                res.response().error().map(|err| {
                    err.as_error::<ApiError>()
                        .map_or_else(|| err.to_string(), ApiError::cause_chain)
                })
            } else {
                None
            };
            trace::finish_server_span(&span, status, cause.as_deref());
            let route = matched.unwrap_or_else(|| "unmatched".to_owned());
            // Known methods only: a client inventing methods must not invent
            // series (each new label value is a series kept for ever).
            let method_label = method_label(&method);
            metrics::counter!(
                "http_requests_total",
                "method" => method_label,
                "route" => route.clone(),
                "status" => status.to_string(),
            )
            .increment(1);
            metrics::histogram!(
                "http_request_duration_seconds",
                "method" => method_label,
                "route" => route,
            )
            .record(started.elapsed().as_secs_f64());
            if let Ok(value) = HeaderValue::from_str(&id) {
                res.headers_mut().insert(REQUEST_ID_HEADER.clone(), value);
            }
            if res.status().is_server_error() {
                tracing::error!(target: trace::ACCESS, request_id = %id, %method, %path, status, latency_ms, cause, "request failed");
            } else {
                tracing::info!(target: trace::ACCESS, request_id = %id, %method, %path, status, latency_ms, "request");
            }
            Ok(res)
        }
        Err(err) => {
            trace::fail(&span, &err.to_string());
            tracing::error!(target: trace::ACCESS, request_id = %id, %method, %path, latency_ms, error = %err, "request failed");
            Err(err)
        }
    }
}

/// The method as a metric label: the standard methods by name, anything
/// else `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Puts the caller on the request when it carries a valid bearer access
/// token. A missing or bad token is not an error here: endpoints that
/// require authentication ask for [`crate::extract::CurrentUser`], which
/// answers 401.
pub(crate) async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    if let Some(token) = token
        && let Some(services) = req.app_data::<web::Data<Services>>()
        && let Some(caller) = services.auth.authenticate(token)
    {
        req.extensions_mut().insert(caller);
    }
    next.call(req).await
}

/// Content-Security-Policy of API responses: JSON needs nothing.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
/// Content-Security-Policy of the Swagger UI pages, served from the binary:
/// own scripts and styles only (its bundle sets inline styles), no CDN.
const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                        script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/// Security headers on every response.
pub(crate) async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let docs = req.path().starts_with("/docs");
    let hsts = req
        .app_data::<web::Data<WebDeps>>()
        .and_then(|deps| deps.hsts.clone());
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if docs { DOCS_CSP } else { API_CSP }),
    );
    Ok(res)
}

/// The client's address: the socket peer, or, when the peer is a trusted
/// proxy, the right-most `X-Forwarded-For` entry that is not itself a
/// trusted proxy. Entries further left are written by the client and never
/// believed; an entry that does not parse (even after dropping a port)
/// means the peer is used.
pub(crate) fn client_ip(req: &HttpRequest, trusted_proxies: &[IpRange]) -> Option<IpAddr> {
    let trusted = |ip: IpAddr| trusted_proxies.iter().any(|range| range.contains(ip));
    let peer = req.peer_addr()?.ip();
    if !trusted(peer) {
        return Some(peer);
    }
    let forwarded: Vec<&str> = req
        .headers()
        .get_all(HeaderName::from_static("x-forwarded-for"))
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    for entry in forwarded.iter().rev() {
        // `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:5678`.
        let ip = entry.parse().ok().or_else(|| {
            let socket = entry.parse::<std::net::SocketAddr>();
            socket.ok().map(|socket| socket.ip())
        });
        match ip {
            Some(ip) if trusted(ip) => {}
            Some(ip) => return Some(ip),
            None => return Some(peer),
        }
    }
    Some(peer)
}

/// The request budgets, each counted per client.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bucket {
    Register,
    Refresh,
    /// Profile changes, which can check the current password: keyed by the
    /// signed-in user so a stolen access token cannot guess it quickly.
    Profile,
    /// Requests for a password-reset mail, per client (and, through
    /// [`reset_mail_allowed`], per address).
    AccountMail,
    /// Requests for a new verification mail, per signed-in user.
    AccountMailUser,
    /// Uses of a mailed token (reset, verification), per client.
    AccountToken,
}

/// Middleware of the routes with a budget (`from_fn` with a closure that
/// names the bucket): counts the request against the client's budget and
/// answers 429 with `Retry-After` once it is spent.
pub(crate) async fn rate_limit<B: MessageBody + 'static>(
    bucket: Bucket,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<B>>, Error> {
    let client = |settings: &Settings| match bucket {
        Bucket::Profile | Bucket::AccountMailUser => req
            .extensions()
            .get::<application::Caller>()
            .map(|caller| format!("user-{}", caller.user_id)),
        _ => client_ip(req.request(), &settings.http.trusted_proxies).map(client_key),
    };
    if let Err(error) = spend(req.request(), bucket, client).await {
        // A response, not an `Err`: outer middleware (request id,
        // security headers, metrics) then treat it like any other.
        return Ok(req.error_response(error).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Whether a reset mail to `email` is within the address's own budget,
/// `RATE_LIMIT_RESET_MAILS_PER_ADDRESS` per reset link lifetime (at most an
/// hour), so that no number of clients can flood one mailbox. Past it the
/// request is answered as any other and mails nothing: a refusal would let
/// anyone stop an owner from asking. The window is no longer than a link
/// lives, and a new link retires none, so whenever the cap holds back a
/// mail the owner has a working link from a recent one.
pub(crate) async fn reset_mail_allowed(req: &HttpRequest, email: &str) -> Result<bool, ApiError> {
    let (settings, deps) = web_data(req)?;
    let limits = &settings.rate_limits;
    if !limits.enabled {
        return Ok(true);
    }
    let lifetime = u64::from(settings.auth.password_reset_expire_minutes) * 60;
    let window = Duration::from_secs(lifetime.min(3600));
    let key = format!("reset-mail:{}", deps.key_pseudonyms.of(email));
    let decision = deps
        .rate_limiter
        .hit(&key, limits.reset_mails_per_address, window)
        .await;
    if !decision.allowed {
        metrics::counter!("rate_limited_total", "bucket" => "reset-mail-address").increment(1);
    }
    Ok(decision.allowed)
}

/// Counts one hit of the `client` (its key, made only when rate limits are
/// on) against `bucket`'s budget; a 429 once spent.
async fn spend(
    req: &HttpRequest,
    bucket: Bucket,
    client: impl FnOnce(&Settings) -> Option<String>,
) -> Result<(), ApiError> {
    let (settings, deps) = web_data(req)?;
    let limits = &settings.rate_limits;
    let Some(client) = limits.enabled.then(|| client(settings)).flatten() else {
        return Ok(());
    };
    // Redis holds the key, and must not learn who asks.
    let client = deps.key_pseudonyms.of(&client);
    let (name, limit) = match bucket {
        Bucket::Register => ("register", limits.register),
        Bucket::Refresh => ("refresh", limits.refresh),
        Bucket::Profile => ("profile", limits.login),
        Bucket::AccountMail | Bucket::AccountMailUser => ("account-mail", limits.account_mail),
        Bucket::AccountToken => ("account-token", limits.login),
    };
    let window = Duration::from_secs(limits.window_seconds);
    let decision = deps
        .rate_limiter
        .hit(&format!("{name}:{client}"), limit, window)
        .await;
    if decision.allowed {
        return Ok(());
    }
    Err(limited(name, decision.reset_after))
}

/// The settings and what web built from them, registered as app data.
fn web_data(req: &HttpRequest) -> Result<(&Settings, &WebDeps), ApiError> {
    let settings = req.app_data::<web::Data<Settings>>();
    let deps = req.app_data::<web::Data<WebDeps>>();
    match (settings, deps) {
        (Some(settings), Some(deps)) => Ok((settings, deps)),
        _ => Err(ApiError::Misconfigured("web settings are not registered")),
    }
}

/// The 429 of a spent budget, counted by `bucket`.
fn limited(bucket: &'static str, reset_after: Duration) -> ApiError {
    metrics::counter!("rate_limited_total", "bucket" => bucket).increment(1);
    let retry_after_secs = reset_after.as_secs_f64().ceil().max(1.0);
    // Whole seconds, at most the window: the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let retry_after_secs = retry_after_secs as u64;
    ApiError::RateLimited { retry_after_secs }
}

/// The login limits: failed logins are counted, never attempts, per client
/// address, per account and client, and per account (an email, with an
/// account or not). What they guarantee:
///
/// - A client the account knows (it sends a device token of the account,
///   or comes from an address that logged in to it within
///   `LOGIN_TRUST_DAYS`) is never capped by anyone else's failures, and
///   gets the room the hashing queue keeps for such clients under a flood
///   (two checks per account at a time).
/// - A client that fails `RATE_LIMIT_LOGIN` times in a window, on any
///   accounts, gets 429 until the window ends; clients behind one address
///   share that address's budget, of failures only.
/// - A client that fails `RATE_LIMIT_LOGIN_ACCOUNT` times on one account
///   gets 429 on that account.
/// - Once an account has had that many failures from all clients, it is
///   under attack: the clients it does not know share
///   `RATE_LIMIT_LOGIN_UNTRUSTED` attempts per window on it, however many
///   they are, and get 429 beyond it. A client sending nothing new from an
///   address never seen before can then be refused; its owner is not.
///
/// Keys name the account and the client by a pseudonym (`Pseudonyms`),
/// never the email or the address.
pub(crate) struct LoginGate {
    /// The per-client, per-account-and-client and per-account keys of the
    /// failure counts, when rate limits are on.
    keys: Option<[String; 3]>,
}

impl LoginGate {
    /// Refuses a login the limits refuse, or says who it is for: the
    /// attempt to hand the auth service.
    pub async fn check(
        req: &HttpRequest,
        services: &Services,
        email: &domain::Email,
        device_token: Option<String>,
    ) -> Result<(Self, application::LoginAttempt), ApiError> {
        let (settings, deps) = web_data(req)?;
        let limits = &settings.rate_limits;
        let client = client_of(req);
        let mut attempt = application::LoginAttempt {
            device_token,
            client: client.clone(),
            admission: Admission::Untrusted,
        };
        let auth = &services.auth;
        let Some(client) = client.filter(|_| limits.enabled) else {
            if auth.hashing_crowded() && auth.knows(email, &attempt).await? {
                attempt.admission = Admission::Trusted;
            }
            return Ok((Self { keys: None }, attempt));
        };
        let account = deps.key_pseudonyms.of(email.as_str());
        let client = deps.key_pseudonyms.of(&client);
        let keys = [
            format!("login-failed-client:{client}"),
            format!("login-failed:{account}:{client}"),
            format!("login-failed:{account}"),
        ];
        let window = Duration::from_secs(limits.window_seconds);
        let limiter = &deps.rate_limiter;
        let client_spent = limiter.hits(&keys[0], window).await >= u64::from(limits.login);
        let account_budget = u64::from(limits.login_account);
        let account_client_spent = limiter.hits(&keys[1], window).await >= account_budget;
        let under_attack = limiter.hits(&keys[2], window).await >= account_budget;
        // Failures from the client's address cap it on the account, known
        // address or not (a neighbour behind the same NAT may be the one
        // failing); only the account's own device token goes past.
        if account_client_spent {
            let device_only = application::LoginAttempt {
                client: None,
                ..attempt.clone()
            };
            if device_only.device_token.is_some() && auth.knows(email, &device_only).await? {
                attempt.admission = Admission::Trusted;
                return Ok((Self { keys: Some(keys) }, attempt));
            }
            return Err(limited("login-account", window));
        }
        // Trust is looked up only where it changes the outcome.
        let matters = client_spent
            || under_attack
            || attempt.device_token.is_some()
            || auth.hashing_crowded();
        if matters && auth.knows(email, &attempt).await? {
            attempt.admission = Admission::Trusted;
            return Ok((Self { keys: Some(keys) }, attempt));
        }
        if client_spent {
            return Err(limited("login", window));
        }
        if under_attack {
            let shared = format!("login-untrusted:{account}");
            let decision = limiter.hit(&shared, limits.login_untrusted, window).await;
            if !decision.allowed {
                return Err(limited("login-untrusted", decision.reset_after));
            }
            attempt.admission = Admission::OverBudget;
        }
        Ok((Self { keys: Some(keys) }, attempt))
    }

    /// Counts a failed login against the client, the account and client,
    /// and the account.
    pub async fn failed(self, req: &HttpRequest) {
        let (Some(keys), Ok((settings, deps))) = (self.keys, web_data(req)) else {
            return;
        };
        let window = Duration::from_secs(settings.rate_limits.window_seconds);
        // Counted, never refused here: `check` decides.
        for key in &keys {
            deps.rate_limiter.hit(key, u32::MAX, window).await;
        }
    }
}

/// The key an address is counted under: IPv4 addresses one by one, IPv6
/// ones by /64, the block one subscriber usually gets (counting each of its
/// 2^64 addresses apart would give every client unlimited budgets).
/// The client's address as rate limits and trusted logins key it
/// ([`client_ip`], an IPv6 address as its /64).
pub(crate) fn client_of(req: &HttpRequest) -> Option<String> {
    let (settings, _) = web_data(req).ok()?;
    client_ip(req, &settings.http.trusted_proxies).map(client_key)
}

fn client_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !u128::from(u64::MAX);
            format!("{}/64", std::net::Ipv6Addr::from(network))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::client_key;

    #[test]
    fn ipv6_clients_count_per_64_and_ipv4_per_address() {
        let key = |ip: &str| client_key(ip.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("203.0.113.9"), "203.0.113.9");
        assert_eq!(key("::ffff:203.0.113.9"), "203.0.113.9");
    }
}
