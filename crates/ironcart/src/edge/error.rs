//! Errors as RFC 9457 problem documents. The client gets a stable type, a short
//! title, safe detail and the request id; causes go to the log, once, here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::security::ratelimit::{LimitClass, LimitQuota, Limited};
use crate::store::StoreError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field, by JSON pointer-like path.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request body is malformed")]
    Malformed(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("authentication required")]
    Unauthenticated,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("forbidden")]
    Forbidden,
    #[error("address blocked")]
    AddressBlocked,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("conflict")]
    Conflict(String),
    #[error("payment declined")]
    PaymentDeclined,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("too many requests")]
    RateLimited(Limited),
    #[error("service unavailable")]
    Unavailable { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn field(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(err.into())
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            Malformed(_) => (
                StatusCode::BAD_REQUEST,
                "malformed-request",
                "Malformed request",
            ),
            Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "The request is not valid",
            ),
            Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            ),
            InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid-credentials",
                "Invalid email or password",
            ),
            Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
            AddressBlocked => (StatusCode::FORBIDDEN, "address-blocked", "Address blocked"),
            NotFound => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            PaymentDeclined => (
                StatusCode::PAYMENT_REQUIRED,
                "payment-declined",
                "The payment was declined",
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
            ),
            RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
            ),
            Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service temporarily unavailable",
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }
}

/// The problem document. `type` is a relative URI naming the problem kind.
#[derive(Debug, Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
}

/// Renders a problem response; also used for errors raised outside handlers.
pub fn problem_response(
    status: StatusCode,
    slug: &str,
    title: &str,
    detail: Option<&str>,
    errors: &[FieldError],
) -> Response {
    let body = ProblemBody {
        kind: format!("/problems/{slug}"),
        title,
        status: status.as_u16(),
        detail,
        request_id: crate::edge::context::current_request_id(),
        errors,
    };
    let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, json).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        let empty: &[FieldError] = &[];
        let (detail, errors) = match &self {
            ApiError::Malformed(detail) | ApiError::Conflict(detail) => {
                (Some(detail.as_str()), empty)
            }
            ApiError::Validation(errors) => (None, errors.as_slice()),
            _ => (None, empty),
        };
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let mut response = problem_response(status, slug, title, detail, errors);
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthenticated => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::Unavailable { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            ApiError::RateLimited(limited) => {
                let seconds = limited.retry_after.as_secs() + 1;
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                insert_rate_limit_headers(headers, limited.class, limited.quota, 0, seconds);
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict => {
                ApiError::Conflict("the change conflicts with existing data".into())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The IETF draft's `RateLimit-Policy` and `RateLimit` fields: the quota (q, the
/// burst) per window (w, the seconds a full burst takes to replenish), what remains
/// (r) and seconds until more is allowed (t). A stricter class already reported on
/// the response is kept.
pub fn insert_rate_limit_headers(
    headers: &mut axum::http::HeaderMap,
    class: LimitClass,
    quota: LimitQuota,
    remaining: u32,
    reset_secs: u64,
) {
    if headers.contains_key("ratelimit") {
        return;
    }
    let name = class.name();
    let window = u64::from(quota.burst) * 60 / u64::from(quota.per_minute.max(1));
    let policy = format!("\"{name}\";q={};w={window}", quota.burst);
    let state = format!("\"{name}\";r={remaining};t={reset_secs}");
    if let (Ok(policy), Ok(state)) = (
        HeaderValue::from_str(&policy),
        HeaderValue::from_str(&state),
    ) {
        headers.insert("ratelimit-policy", policy);
        headers.insert("ratelimit", state);
    }
}
