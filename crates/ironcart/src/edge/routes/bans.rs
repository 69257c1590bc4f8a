//! Staff control of the ban list: list the addresses banned, ban one by hand with
//! a reason and a duration, lift a ban. Every change is a security event.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::app::AppState;
use crate::edge::auth::Principal;
use crate::edge::dto::{BanRequest, BanView};
use crate::edge::error::{ApiError, ApiResult};
use crate::edge::extract::{ValidJson, ValidPath};
use crate::security::audit::{AuditEvent, Outcome};
use crate::security::bans::Ban;

pub async fn list_bans(State(app): State<AppState>) -> Json<serde_json::Value> {
    let bans = app.bans.list(app.now()).await;
    let items: Vec<BanView> = bans.iter().map(BanView::from).collect();
    Json(serde_json::json!({ "items": items }))
}

/// Bans an address by hand. Allow-listed addresses and trusted proxies are refused.
pub async fn ban_address(
    State(app): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<BanRequest>,
) -> ApiResult<impl IntoResponse> {
    let order = body.into_order().map_err(ApiError::Validation)?;
    let now = app.now();
    let ban = app
        .bans
        .ban_by_hand(
            order.address,
            order.reason,
            order.duration_secs,
            principal.user_id.clone(),
            now,
        )
        .await
        .map_err(|_| {
            ApiError::field(
                "address",
                "never_banned",
                "is on the allow-list or is a trusted proxy",
            )
        })?;
    let event = change_event(now, "security.ip_banned", principal.user_id, &ban);
    app.events.record(event).await;
    Ok((StatusCode::CREATED, Json(BanView::from(&ban))))
}

/// Lifts the ban on an address (for IPv6, on its /64); 404 when none is in force.
pub async fn lift_ban(
    State(app): State<AppState>,
    principal: Principal,
    ValidPath(address): ValidPath<IpAddr>,
) -> ApiResult<StatusCode> {
    let now = app.now();
    let lifted = app
        .bans
        .lift(address, now)
        .await
        .ok_or(ApiError::NotFound)?;
    let event = change_event(now, "security.ip_unbanned", principal.user_id, &lifted);
    app.events.record(event).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The audit event of a change staff made to a ban: who, which address, and the ban.
fn change_event(now: i64, action: &'static str, actor_id: String, ban: &Ban) -> AuditEvent {
    AuditEvent::new(now, action, Outcome::Success)
        .actor(actor_id)
        .target(ban.address.clone())
        .details(serde_json::json!({
            "address": ban.address,
            "source": ban.source,
            "reason": ban.reason,
            "duration_secs": ban.until - ban.since,
            "until": ban.until,
        }))
}
