//! Security events: the one place where security-relevant actions are recorded.
//!
//! Every event goes to the JSON log under the `security` target (for aggregation and
//! detectors) and to the `audit_events` table (for impact assessment). Events carry
//! ids, never personal data or secrets.

use std::sync::Arc;

use serde_json::Value;

use super::bans::{Bans, Detection, Signal};
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
    /// What a detector tells apart (the account of a failed login), as a short
    /// hash; neither logged nor stored.
    pub correlation: Option<String>,
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
            correlation: None,
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

    pub fn correlate(mut self, value: &str) -> Self {
        self.correlation = Some(super::bans::fingerprint(value));
        self
    }
}

/// Where security events go: the log, the audit trail, and the intrusion detectors.
#[derive(Clone, Debug)]
pub struct SecurityEvents {
    store: Store,
    detectors: Option<Arc<Bans>>,
}

impl SecurityEvents {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            detectors: None,
        }
    }

    /// Feeds every event that is a detector signal to the ban list's detectors.
    pub fn with_detectors(mut self, bans: Arc<Bans>) -> Self {
        self.detectors = Some(bans);
        self
    }

    /// Logs the event, appends it to the audit trail, and passes it to the
    /// detectors; a ban they set is recorded as an event of its own.
    pub async fn record(&self, event: AuditEvent) {
        let event = self.write(event).await;
        if let Some(signal) = Signal::of_event(event.action, event.outcome) {
            self.detect(signal, event.at, event.correlation.as_deref())
                .await;
        }
    }

    /// Counts one signal from the current client; records the ban it triggers.
    pub async fn detect(&self, signal: Signal, at: i64, member: Option<&str>) {
        let Some(bans) = &self.detectors else {
            return;
        };
        let Some(client_ip) = crate::edge::context::current_client_ip() else {
            return;
        };
        if let Some(detection) = bans.observe(signal, &client_ip, member, at).await {
            self.write(ban_event(&detection, at)).await;
        }
    }

    /// A failure to persist is logged, not propagated: the action the event
    /// describes has already happened.
    async fn write(&self, mut event: AuditEvent) -> AuditEvent {
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
        event
    }
}

/// The event of an automatic ban: the address, why, for how long, on which signal.
fn ban_event(detection: &Detection, at: i64) -> AuditEvent {
    let ban = &detection.ban;
    AuditEvent::new(at, "security.ip_banned", Outcome::Success)
        .target(ban.address.clone())
        .details(serde_json::json!({
            "address": ban.address,
            "source": ban.source,
            "signal": detection.signal.name(),
            "reason": ban.reason,
            "count": detection.count,
            "threshold": detection.threshold,
            "window_secs": detection.window_secs,
            "duration_secs": ban.until - ban.since,
            "until": ban.until,
        }))
}
