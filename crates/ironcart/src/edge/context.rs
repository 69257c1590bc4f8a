//! Per-request context (request id, client address) available to any code running
//! inside the request's task, so errors and security events can carry it without
//! threading it through every call.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use ipnet::IpNet;

use crate::app::AppState;
use crate::security::audit::{AuditEvent, Outcome};
use crate::security::ratelimit::LimitClass;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

tokio::task_local! {
    static REQUEST: RequestContext;
}

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: String,
    pub client_ip: String,
}

pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub fn current_request_id() -> Option<String> {
    REQUEST.try_with(|c| c.request_id.clone()).ok()
}

pub fn current_client_ip() -> Option<String> {
    REQUEST.try_with(|c| c.client_ip.clone()).ok()
}

/// The client's address: the socket peer, unless the peer is a trusted proxy, in
/// which case the right-most `X-Forwarded-For` entry that is not itself a trusted
/// proxy. A client cannot choose its address by sending the header directly.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .map(|entry| entry.parse::<IpAddr>().ok())
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

/// Gives the request a fresh id (a client-sent one is ignored: it could be forged
/// or carry log-injection payloads), resolves the client address, opens the
/// request's tracing span, logs one line when it completes, and returns the id in
/// the `x-request-id` header.
pub async fn request_context(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_ip = match request.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => {
            client_address(peer.ip(), request.headers(), &app.settings.trusted_proxies).to_string()
        }
        None => "unknown".to_owned(),
    };
    let span = tracing::info_span!(
        "request",
        request.id = %request_id,
        http.method = %request.method(),
        url.path = %request.uri().path(),
        client.ip = %client_ip,
    );
    let context = RequestContext {
        request_id: request_id.clone(),
        client_ip,
    };
    let started = std::time::Instant::now();
    let mut response = REQUEST
        .scope(context, next.run(request).instrument(span.clone()))
        .await;
    span.in_scope(|| {
        tracing::info!(
            http.status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request completed"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// The first rate limit: every request, by client address.
pub async fn limit_by_address(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let address = current_client_ip().unwrap_or_default();
    match app.limits.check_shared(LimitClass::Address, &address).await {
        Ok(Some(admitted)) => {
            let mut response = next.run(request).await;
            super::error::insert_rate_limit_headers(
                response.headers_mut(),
                admitted.class,
                admitted.quota,
                admitted.remaining,
                60,
            );
            response
        }
        Ok(None) => next.run(request).await,
        Err(limited) => {
            app.rate_limited(&limited).await;
            super::ApiError::RateLimited(limited).into_response()
        }
    }
}

/// The ban list, checked as soon as the client address is known: a banned address
/// gets a bare 403 problem before rate limits, the WAF or any handler run. Health
/// endpoints are not exempt: a load balancer's checks come from its own address,
/// which as a trusted proxy is never banned. Refusals are reported at most once a
/// minute per address, so a flood from a banned address writes almost nothing.
pub async fn refuse_banned(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let client = current_client_ip().and_then(|ip| ip.parse::<IpAddr>().ok());
    let Some(client) = client else {
        return next.run(request).await;
    };
    let now = app.now();
    let Some(ban) = app.bans.check(client, now).await else {
        return next.run(request).await;
    };
    if let Some(refused) = app.bans.refusal_to_report(&ban.address, now) {
        let event = AuditEvent::new(now, "security.ban_refused", Outcome::Denied)
            .target(ban.address.clone())
            .details(serde_json::json!({
                "address": ban.address,
                "refused_since_last_report": refused,
                "until": ban.until,
            }));
        app.events.record(event).await;
    }
    super::ApiError::AddressBlocked.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn forwarded_for_is_ignored_from_an_untrusted_peer() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let headers = forwarded("1.2.3.4");
        assert_eq!(
            client_address(ip("203.0.113.9"), &headers, &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_address(ip("203.0.113.9"), &headers, &[]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_for_from_a_trusted_proxy_gives_the_rightmost_untrusted_entry() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let spoofed_then_real = forwarded("6.6.6.6, 198.51.100.7, 10.0.0.5");
        assert_eq!(
            client_address(ip("10.0.0.2"), &spoofed_then_real, &trusted),
            ip("198.51.100.7")
        );
        let garbage = forwarded("not-an-ip, 198.51.100.7");
        assert_eq!(
            client_address(ip("10.0.0.2"), &garbage, &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }
}
