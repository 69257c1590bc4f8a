//! Per-request context (request id, client address) available to any code running
//! inside the request's task, so errors and security events can carry it without
//! threading it through every call.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::HeaderValue;
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

/// Gives the request a fresh id (a client-sent one is ignored: it could be forged
/// or carry log-injection payloads), opens its tracing span, logs one line when it
/// completes, and returns the id in the `x-request-id` header.
pub async fn request_context(request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned());
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
