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
use crate::security::rbac::{Access, Permission};

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

/// Enforces a route's declared access. Anonymous callers of protected routes get
/// 401; signed-in callers lacking the permission get 403 and a security event.
pub async fn authorize(app: &AppState, access: Access, request: Request, next: Next) -> Response {
    let Access::Requires(permission) = access else {
        return next.run(request).await;
    };
    let Some(principal) = request.extensions().get::<Principal>() else {
        return ApiError::Unauthenticated.into_response();
    };
    if principal.can(permission) {
        return next.run(request).await;
    }
    let event = AuditEvent::new(app.now(), "authz.denied", Outcome::Denied)
        .actor(principal.user_id.clone())
        .target(request.uri().path().to_owned())
        .details(serde_json::json!({
            "permission": permission.as_str(),
            "method": request.method().as_str(),
        }));
    app.events.record(event).await;
    ApiError::Forbidden.into_response()
}
