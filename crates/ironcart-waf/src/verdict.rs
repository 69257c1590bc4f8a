//! The WAF's answer for one request, shaped to be logged as a security event.

use serde::Serialize;

/// What the app should do with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Let the request through.
    Allow,
    /// Refuse it (the app answers 403 and records a security event).
    Block,
}

/// The decision, the anomaly score behind it and the rules that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// `Block` only in blocking mode; detection-only mode always allows.
    pub action: Action,
    /// Sum of the inbound anomaly scores of the loaded rule sets.
    pub anomaly_score: i64,
    /// Whether blocking mode would have blocked (useful in detection-only mode).
    pub would_block: bool,
    /// Matched rules that log, in evaluation order.
    pub matched: Vec<Match>,
}

impl Verdict {
    /// Whether the request must be refused.
    pub fn is_blocked(&self) -> bool {
        self.action == Action::Block
    }

    /// The ids of the matched rules, in order.
    pub fn rule_ids(&self) -> Vec<u32> {
        self.matched.iter().map(|m| m.rule_id).collect()
    }
}

/// One matched rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    pub rule_id: u32,
    /// The rule's message with its macros expanded.
    pub message: String,
    /// Where it matched, e.g. `ARGS:json.title` or `REQUEST_HEADERS:User-Agent`.
    pub variable: String,
    /// The matched value after transformations: at most 64 characters, with
    /// secret-looking content and values of secret-named fields redacted.
    pub data: String,
    /// The rule's severity, if it declares one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
}
