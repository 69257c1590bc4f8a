//! Health, readiness, published signing keys and the API description.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};

use crate::app::AppState;
use crate::edge::error::{ApiError, ApiResult};

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the database answers. Redis, when configured, is reported: losing it
/// degrades rate limits to per-instance counting but does not stop service.
pub async fn readyz(State(app): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    if let Err(err) = app.store.ping().await {
        tracing::warn!(error = %err, "readiness check: database unavailable");
        return Err(ApiError::Unavailable {
            retry_after_secs: 5,
        });
    }
    let redis = match app.limits.shared() {
        None => "not_configured",
        Some(shared) if shared.ping().await => "ok",
        Some(_) => "unavailable",
    };
    Ok(Json(
        serde_json::json!({ "status": "ready", "database": "ok", "redis": redis }),
    ))
}

pub async fn jwks(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(app.keys.jwks()),
    )
}

pub async fn openapi(State(app): State<AppState>) -> impl IntoResponse {
    Json(app.openapi.get().cloned().unwrap_or_default())
}

/// A small documentation page that lists the operations from the OpenAPI document.
/// It runs no script, so the strict CSP holds here too.
pub async fn docs(State(app): State<AppState>) -> Html<String> {
    Html(crate::edge::openapi::render_docs(
        app.openapi.get().unwrap_or(&serde_json::Value::Null),
    ))
}
