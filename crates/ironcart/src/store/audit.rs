//! The audit trail: the one table where security-relevant actions are recorded.

use sqlx::Row;

use super::{Store, StoreResult, new_id};
use crate::security::audit::AuditEvent;

impl Store {
    pub async fn append_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, at, actor_id, action, target, outcome, request_id, \
             client_ip, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id())
        .bind(event.at)
        .bind(event.actor_id.clone())
        .bind(event.action)
        .bind(event.target.clone())
        .bind(event.outcome.as_str())
        .bind(event.request_id.clone())
        .bind(event.client_ip.clone())
        .bind(event.details.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest audit events, for the security officer.
    pub async fn recent_audit(
        &self,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<serde_json::Value>> {
        let rows = sqlx::query(
            "SELECT id, at, actor_id, action, target, outcome, request_id, client_ip, details \
             FROM audit_events ORDER BY at DESC, id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let details: String = r.try_get("details")?;
                Ok(serde_json::json!({
                    "id": r.try_get::<String, _>("id")?,
                    "at": r.try_get::<i64, _>("at")?,
                    "actor_id": r.try_get::<Option<String>, _>("actor_id")?,
                    "action": r.try_get::<String, _>("action")?,
                    "target": r.try_get::<Option<String>, _>("target")?,
                    "outcome": r.try_get::<String, _>("outcome")?,
                    "request_id": r.try_get::<Option<String>, _>("request_id")?,
                    "client_ip": r.try_get::<Option<String>, _>("client_ip")?,
                    "details": serde_json::from_str::<serde_json::Value>(&details)
                        .unwrap_or(serde_json::Value::Null),
                }))
            })
            .collect()
    }
}
