//! Security events: the one place where security-relevant actions are recorded.
//!
//! Every event goes to the JSON log under the `security` target (for aggregation and
//! detectors) and to the `audit_events` table (for impact assessment). Events carry
//! ids, never personal data or secrets.

use serde_json::Value;

use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// One security-relevant action.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub at: i64,
    pub action: &'static str,
    pub outcome: Outcome,
    pub actor_id: Option<String>,
    pub target: Option<String>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub details: Value,
}

impl AuditEvent {
    pub fn new(at: i64, action: &'static str, outcome: Outcome) -> Self {
        Self {
            at,
            action,
            outcome,
            actor_id: None,
            target: None,
            request_id: None,
            client_ip: None,
            details: Value::Object(Default::default()),
        }
    }

    pub fn actor(mut self, actor_id: impl Into<String>) -> Self {
        self.actor_id = Some(actor_id.into());
        self
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// Where security events go.
#[derive(Clone, Debug)]
pub struct SecurityEvents {
    store: Store,
}

impl SecurityEvents {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Logs the event and appends it to the audit trail. A failure to persist is
    /// logged, not propagated: the action it describes has already happened.
    pub async fn record(&self, mut event: AuditEvent) {
        if event.request_id.is_none() {
            event.request_id = crate::edge::context::current_request_id();
        }
        if event.client_ip.is_none() {
            event.client_ip = crate::edge::context::current_client_ip();
        }
        let (action, outcome) = (event.action, event.outcome.as_str());
        let (actor, target, client_ip) = (
            event.actor_id.as_deref(),
            event.target.as_deref(),
            event.client_ip.as_deref(),
        );
        tracing::info!(
            target: "security",
            action,
            outcome,
            actor_id = actor,
            event_target = target,
            client_ip,
            details = %event.details,
            "security event"
        );
        if let Err(err) = self.store.append_audit(&event).await {
            tracing::error!(target: "security", error = %err, action = event.action, "audit append failed");
        }
    }
}
