//! Exfiltration controls on staff reads (docs/SECURITY.md, "Exfiltration controls").
//!
//! A staff principal pays for every record of another person's personal data a
//! response would carry, from a per-principal quota (the `pii-read` rate-limit class,
//! shared through Redis when configured). Past it the response is withheld: a 429
//! problem with `Retry-After`, and, once per episode, a `pii.read_quota_exceeded`
//! security event. One's own records are free. Bulk exports have their own
//! permission, reason and limit instead (`routes::exports`).

use axum::extract::MatchedPath;

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use crate::app::{AppState, log_rate_limited};
use crate::security::audit::{AuditEvent, Outcome};
use crate::security::ratelimit::LimitClass;

/// Charges the caller's quota with the records about other people in a response
/// about to be sent; `owners` holds each record's owner (account id). Call it before
/// anything else is recorded about the read, so a refused one leaves no trace but
/// the alert.
pub async fn charge_personal_reads<'a>(
    app: &AppState,
    principal: &Principal,
    route: &MatchedPath,
    owners: impl IntoIterator<Item = &'a str>,
) -> ApiResult<()> {
    let others = owners
        .into_iter()
        .filter(|owner| *owner != principal.user_id)
        .count();
    if others == 0 {
        return Ok(());
    }
    let cost = u32::try_from(others).unwrap_or(u32::MAX);
    let class = LimitClass::PiiRead;
    let Err(limited) = app
        .limits
        .check_shared_n(class, &principal.user_id, cost)
        .await
    else {
        return Ok(());
    };
    log_rate_limited(&limited);
    if app.limits.first_refusal(class, &principal.user_id).await {
        let event = AuditEvent::new(app.now(), "pii.read_quota_exceeded", Outcome::Denied)
            .actor(principal.user_id.clone())
            .target(route.as_str())
            .details(serde_json::json!({
                "count": others,
                "quota": { "per_minute": limited.quota.per_minute, "burst": limited.quota.burst },
                "retry_after_secs": limited.retry_after.as_secs(),
            }));
        app.events.record(event).await;
    }
    Err(ApiError::RateLimited(limited))
}
