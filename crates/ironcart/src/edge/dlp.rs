//! Data loss prevention on what leaves: every JSON response body is scanned for
//! card numbers, social security numbers, private keys, JWTs and API-key-shaped
//! secrets where the endpoint does not expect them. Findings are masked (a card
//! shows at most its last four digits) or, for key material, the response is
//! replaced by a 500 problem; either way a security event names the kinds and JSON
//! paths, never the values.
//!
//! Every byte of a JSON body is read by a pre-screen
//! ([`ironcart_dlp::json_may_contain_findings`]); only a body in which it sees
//! something a detector could start from is parsed and scanned in full. Most
//! responses (a catalog page, an empty cart) are cleared by the pre-screen alone.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use ironcart_dlp::{Action, Kind, Policy, blocked, json_may_contain_findings, scan_json};

use super::error::problem_response;
use crate::app::AppState;
use crate::security::audit::{AuditEvent, Outcome};

/// Responses larger than this are not buffered for scanning; no endpoint sends one.
const MAX_SCANNED_BODY: usize = 8 * 1024 * 1024;

/// The egress policy: mask personal data, block key material, and allow the few
/// places where a token is the point of the response.
pub fn egress_policy() -> Policy {
    let allowed = [
        ("$.access_token", Kind::Jwt),
        ("$.refresh_token", Kind::ApiKey),
        ("$.payments[*].reference", Kind::ApiKey),
        ("$.items[*].payments[*].reference", Kind::ApiKey),
    ];
    allowed
        .into_iter()
        .try_fold(
            Policy::mask_all().with_action(Kind::PrivateKey, Action::Block),
            |policy, (path, kind)| policy.allow(path, kind),
        )
        .unwrap_or_else(|_| Policy::mask_all().with_action(Kind::PrivateKey, Action::Block))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

pub async fn filter_responses(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if !is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_SCANNED_BODY).await else {
        return problem_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            None,
            &[],
        );
    };
    if !json_may_contain_findings(&bytes) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let (masked, findings) = scan_json(&document, &app.egress_policy);
    if findings.is_empty() {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let block = blocked(&findings);
    let reported: Vec<_> = findings
        .iter()
        .map(|f| serde_json::json!({ "path": f.json_path, "kind": f.kind.as_str() }))
        .collect();
    let event = AuditEvent::new(app.now(), "dlp.egress", if block { Outcome::Denied } else { Outcome::Success })
        .details(serde_json::json!({ "action": if block { "blocked" } else { "masked" }, "findings": reported }));
    app.events.record(event).await;
    if block {
        return problem_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            None,
            &[],
        );
    }
    let body = serde_json::to_vec(&masked).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}
