//! Authentication (who is calling) and authorization (may they), as two guards.
//!
//! `authenticate` runs on every request: a bearer token, when present, must verify
//! and belong to a live session of an active account, or the request stops with 401.
//! `authorize` is attached to each route with the [`Access`] that route declares.

use std::collections::HashSet;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::app::AppState;
use crate::security::audit::{AuditEvent, Outcome};
use crate::security::ratelimit::LimitClass;
use crate::security::rbac::{Access, Permission};
use axum::http::Method;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub session_id: String,
    pub roles: Vec<String>,
    pub permissions: HashSet<Permission>,
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(ApiError::Unauthenticated)
    }
}

/// Extracts the bearer token; `Err` when an Authorization header is present but is
/// not a well-formed bearer credential.
fn bearer_token(request: &Request) -> Option<Result<&str, ()>> {
    let value = request.headers().get(header::AUTHORIZATION)?;
    let Ok(value) = value.to_str() else {
        return Some(Err(()));
    };
    let mut parts = value.splitn(2, ' ');
    match (parts.next(), parts.next()) {
        (Some(scheme), Some(token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim();
            if token.is_empty() {
                Some(Err(()))
            } else {
                Some(Ok(token))
            }
        }
        _ => Some(Err(())),
    }
}

pub async fn authenticate(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = match bearer_token(&request) {
        None => None,
        Some(Err(())) => return reject_token(&app, "malformed_authorization").await,
        Some(Ok(token)) => match app.principal_for_token(token).await {
            Ok(principal) => Some(principal),
            Err(reason) => return reject_token(&app, reason).await,
        },
    };
    if let Some(principal) = principal {
        request.extensions_mut().insert(principal);
    }
    next.run(request).await
}

async fn reject_token(app: &AppState, reason: &'static str) -> Response {
    let event = AuditEvent::new(app.now(), "auth.token_rejected", Outcome::Denied)
        .details(serde_json::json!({ "reason": reason }));
    app.events.record(event).await;
    ApiError::Unauthenticated.into_response()
}

/// Enforces a route's declared access, then its rate-limit class. Anonymous
/// callers of protected routes get 401; signed-in callers lacking the permission get
/// 403 and a security event. Writes are also counted per principal.
pub async fn authorize(
    app: &AppState,
    access: Access,
    limit: Option<LimitClass>,
    request: Request,
    next: Next,
) -> Response {
    let principal_id = request
        .extensions()
        .get::<Principal>()
        .map(|p| p.user_id.clone());
    if let Access::Requires(permission) = access {
        let allowed = request
            .extensions()
            .get::<Principal>()
            .map(|p| p.can(permission));
        match (allowed, &principal_id) {
            (Some(true), _) => {}
            (Some(false), Some(user_id)) => {
                let (method, path) = (request.method().clone(), request.uri().path().to_owned());
                return deny(app, user_id, permission, &method, path).await;
            }
            _ => return ApiError::Unauthenticated.into_response(),
        }
    }
    let is_write = !matches!(*request.method(), Method::GET | Method::HEAD);
    let mut classes = Vec::with_capacity(2);
    classes.extend(limit);
    if is_write && principal_id.is_some() {
        classes.push(LimitClass::Write);
    }
    for class in classes {
        let key = match (&principal_id, class.keyed_by_principal()) {
            (Some(id), true) => id.clone(),
            _ => super::context::current_client_ip().unwrap_or_default(),
        };
        if let Err(limited) = app.rate_limit(class, &key).await {
            return ApiError::RateLimited(limited).into_response();
        }
    }
    next.run(request).await
}

async fn deny(
    app: &AppState,
    user_id: &str,
    permission: Permission,
    method: &Method,
    path: String,
) -> Response {
    let event = AuditEvent::new(app.now(), "authz.denied", Outcome::Denied)
        .actor(user_id.to_owned())
        .target(path)
        .details(serde_json::json!({
            "permission": permission.as_str(),
            "method": method.as_str(),
        }));
    app.events.record(event).await;
    ApiError::Forbidden.into_response()
}
