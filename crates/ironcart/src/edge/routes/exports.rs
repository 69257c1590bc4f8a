//! Bulk export of customer data. It needs its own permission (`customer:export`) and a
//! stated reason, has its own strict rate limit (`customer-export`), and is recorded in
//! the audit trail with who, when, what and why. Exports are not charged to the
//! `pii-read` quota of ordinary staff reads: they are rarer, and each one is audited.

use axum::Json;
use axum::extract::State;

use crate::app::AppState;
use crate::edge::auth::Principal;
use crate::edge::dto::{
    CustomerExport, CustomerExportRequest, EXPORT_FIELDS, export_record, rfc3339,
};
use crate::edge::error::{ApiError, ApiResult};
use crate::edge::extract::ValidJson;
use crate::security::audit::{AuditEvent, Outcome};

/// The most records one export holds; `total` in the answer tells whether more exist.
// Known shortcoming: no paging or streaming past this cap; narrow the export instead.
pub const MAX_EXPORT_RECORDS: i64 = 10_000;

pub async fn export_customers(
    State(app): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CustomerExportRequest>,
) -> ApiResult<Json<CustomerExport>> {
    let role = body.role.unwrap_or_else(|| "customer".to_owned());
    if !app.policy.role_exists(&role) {
        return Err(ApiError::field(
            "role",
            "unknown_role",
            "names a role that does not exist",
        ));
    }
    let fields = body
        .fields
        .unwrap_or_else(|| EXPORT_FIELDS.map(str::to_owned).to_vec());
    let (users, total) = app.store.users_with_role(&role, MAX_EXPORT_RECORDS).await?;
    let records: Vec<_> = users.iter().map(|u| export_record(u, &fields)).collect();

    let event = AuditEvent::new(app.now(), "pii.customers_exported", Outcome::Success)
        .actor(principal.user_id.clone())
        .details(serde_json::json!({
            "reason": body.reason,
            "count": records.len(),
            "total": total,
            "fields": fields,
            "filter": { "role": role },
        }));
    app.events.record(event).await;

    Ok(Json(CustomerExport {
        exported_at: rfc3339(app.now()),
        role,
        fields,
        count: records.len(),
        total,
        records,
    }))
}
