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
use application::Services;
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
            web_data(req.request())
                .ok()
                .and_then(|(settings, _)| client_ip(req.request(), &settings.http.trusted_proxies))
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
    Login,
    Register,
    Refresh,
    /// Profile changes, which can check the current password: keyed by the
    /// signed-in user so a stolen access token cannot guess it quickly.
    Profile,
    /// Requests for a password-reset mail, per client (and, through
    /// [`spend_on_address`], per address).
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

/// Counts a request for mail to `email` against the address's own
/// `RATE_LIMIT_ACCOUNT_MAIL` budget, so that no number of clients can flood
/// one mailbox; a 429 once spent.
pub(crate) async fn spend_on_address(req: &HttpRequest, email: &str) -> Result<(), ApiError> {
    spend(req, Bucket::AccountMail, |_| Some(format!("email-{email}"))).await
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
    let (name, limit) = match bucket {
        Bucket::Login => ("login", limits.login),
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

/// The first delay before checking the password of an account that others
/// keep failing to log in to, doubled by each further failure up to
/// [`LOGIN_DELAY_MAX`].
const LOGIN_DELAY_STEP: Duration = Duration::from_millis(100);
/// The longest a login waits, however many failures the account has had.
const LOGIN_DELAY_MAX: Duration = Duration::from_secs(2);

/// Failed logins, counted per account and client and per account, so that
/// guessing fails without letting anyone lock the owner out.
///
/// A client (an address, an IPv6 /64) whose failed logins on one account
/// reach `RATE_LIMIT_LOGIN_ACCOUNT` in a window gets 429 on that account
/// until the window ends; successful logins and other clients spend
/// nothing of it. Guessing spread over many clients is slowed instead: once
/// the account has had more failures in the window than that budget, each
/// login on it waits before its password is checked, 100 ms doubled per
/// further failure up to 2 s. The owner may be slowed, never refused,
/// while someone else guesses from elsewhere.
pub(crate) struct LoginFailures {
    /// The per-client and per-account keys, when rate limits are on.
    keys: Option<(String, String)>,
}

impl LoginFailures {
    /// Refuses a client out of failures on `account`, or waits as long as
    /// the account's failures ask; then the password may be checked.
    pub async fn check(req: &HttpRequest, account: &str) -> Result<Self, ApiError> {
        let (settings, deps) = web_data(req)?;
        let limits = &settings.rate_limits;
        let client = client_ip(req, &settings.http.trusted_proxies).map(client_key);
        let Some(client) = client.filter(|_| limits.enabled) else {
            return Ok(Self { keys: None });
        };
        let keys = (
            format!("login-failed:{account}:{client}"),
            format!("login-failed:{account}"),
        );
        let window = Duration::from_secs(limits.window_seconds);
        let limiter = &deps.rate_limiter;
        let budget = u64::from(limits.login_account);
        if limiter.hits(&keys.0, window).await >= budget {
            return Err(limited("login-account", window));
        }
        let delay = login_delay(limiter.hits(&keys.1, window).await, budget);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(Self { keys: Some(keys) })
    }

    /// Counts a failed login against the client and the account.
    pub async fn failed(self, req: &HttpRequest) {
        let (Some((client, account)), Ok((settings, deps))) = (self.keys, web_data(req)) else {
            return;
        };
        let window = Duration::from_secs(settings.rate_limits.window_seconds);
        // Counted, never refused here: `check` decides.
        deps.rate_limiter.hit(&client, u32::MAX, window).await;
        deps.rate_limiter.hit(&account, u32::MAX, window).await;
    }
}

/// How long a login waits on an account with `failures` in the window,
/// `free` of them without delay.
fn login_delay(failures: u64, free: u64) -> Duration {
    match failures.saturating_sub(free) {
        0 => Duration::ZERO,
        over => {
            let doublings = u32::try_from(over - 1).unwrap_or(u32::MAX).min(16);
            LOGIN_DELAY_STEP
                .saturating_mul(1 << doublings)
                .min(LOGIN_DELAY_MAX)
        }
    }
}

/// The key an address is counted under: IPv4 addresses one by one, IPv6
/// ones by /64, the block one subscriber usually gets (counting each of its
/// 2^64 addresses apart would give every client unlimited budgets).
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
    #[test]
    fn the_login_delay_grows_with_the_failures_past_the_budget_and_is_capped() {
        use std::time::Duration;

        use super::login_delay;
        assert_eq!(login_delay(0, 10), Duration::ZERO);
        assert_eq!(login_delay(10, 10), Duration::ZERO);
        assert_eq!(login_delay(11, 10), Duration::from_millis(100));
        assert_eq!(login_delay(13, 10), Duration::from_millis(400));
        assert_eq!(login_delay(1_000, 10), Duration::from_secs(2));
        assert_eq!(login_delay(u64::MAX, 0), Duration::from_secs(2));
    }

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
