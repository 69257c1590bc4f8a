//! Scanning JSON documents (API responses, webhook bodies, log payloads):
//! every string is scanned, findings are masked in a copy of the document,
//! and each one is reported by its JSON path with the policy's action.
//!
//! Some fields are expected to hold a given kind: a login response carries
//! an access token in `$.access_token`, an order's `$.payment.reference` is a
//! processor reference that can look like a card number. The policy's
//! allowlist names such (path, kind) pairs; a finding of another kind at the
//! same path is still reported.
//!
//! Paths are written `$`, `.name` or `["name"]` for object members, `[3]` for
//! array elements; allowlist patterns may use `[*]` for any element and `.*`
//! for any member. Object keys are not scanned (a card number used as a key
//! would go unnoticed); only values are.

use std::fmt;

use serde_json::Value;

use crate::finding::{Kind, mask, resolve_overlaps, scan};
use crate::numbers;
use crate::secrets;

/// What to do about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Replace it in the returned document and report it.
    Mask,
    /// Report it as a reason to refuse the whole document. The returned
    /// document is masked as well, so a caller that forgets to check still
    /// sends nothing sensitive.
    Block,
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Member(String),
    Element(usize),
    AnyMember,
    AnyElement,
}

/// One step of a concrete path in the document being walked, borrowing the
/// member name from it (no allocation per node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Located<'a> {
    Member(&'a str),
    Element(usize),
}

/// A JSON path pattern for the allowlist, such as `$.payment.reference` or
/// `$.items[*].note`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath(Vec<Step>);

/// A path pattern that could not be parsed; the message says where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON path {path:?}: {reason}")]
pub struct JsonPathError {
    path: String,
    reason: &'static str,
}

impl JsonPath {
    /// Parses `$`, `.name`, `["name"]`, `[N]`, `[*]` and `.*` steps.
    pub fn parse(path: &str) -> Result<Self, JsonPathError> {
        let error = |reason| JsonPathError {
            path: path.to_owned(),
            reason,
        };
        let mut rest = path
            .strip_prefix('$')
            .ok_or_else(|| error("must start with $"))?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix(".*") {
                steps.push(Step::AnyMember);
                rest = after;
            } else if let Some(after) = rest.strip_prefix('.') {
                let len = after
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                    .unwrap_or(after.len());
                if len == 0 {
                    return Err(error("empty member name"));
                }
                steps.push(Step::Member(after[..len].to_owned()));
                rest = &after[len..];
            } else if let Some(after) = rest.strip_prefix("[*]") {
                steps.push(Step::AnyElement);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("[\"") {
                let (name, after) =
                    parse_quoted(after).ok_or_else(|| error("unterminated quoted name"))?;
                steps.push(Step::Member(name));
                rest = after
                    .strip_prefix(']')
                    .ok_or_else(|| error("expected ] after quoted name"))?;
            } else if let Some(after) = rest.strip_prefix('[') {
                let close = after.find(']').ok_or_else(|| error("unterminated index"))?;
                let index = after[..close]
                    .parse()
                    .map_err(|_| error("index is not a number"))?;
                steps.push(Step::Element(index));
                rest = &after[close + 1..];
            } else {
                return Err(error("expected . or ["));
            }
        }
        Ok(Self(steps))
    }

    /// Whether a concrete path matches this pattern.
    fn matches(&self, concrete: &[Located<'_>]) -> bool {
        self.0.len() == concrete.len()
            && self
                .0
                .iter()
                .zip(concrete)
                .all(|(pattern, step)| match (pattern, step) {
                    (Step::AnyMember, Located::Member(_))
                    | (Step::AnyElement, Located::Element(_)) => true,
                    (Step::Member(expected), Located::Member(name)) => expected == name,
                    (Step::Element(expected), Located::Element(index)) => expected == index,
                    _ => false,
                })
    }
}

/// A JSON string body after `["`, up to the closing quote, with `\"` and
/// `\\` escapes.
fn parse_quoted(text: &str) -> Option<(String, &str)> {
    let mut name = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((name, &text[index + 1..])),
            '\\' => name.push(chars.next()?.1),
            c => name.push(c),
        }
    }
    None
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::from("$");
        for step in &self.0 {
            match step {
                Step::Member(name) => push_member(&mut text, name),
                Step::Element(index) => text.push_str(&format!("[{index}]")),
                Step::AnyMember => text.push_str(".*"),
                Step::AnyElement => text.push_str("[*]"),
            }
        }
        f.write_str(&text)
    }
}

/// A concrete path as text, e.g. `$.items[2]["odd key"]`.
fn render(path: &[Located<'_>]) -> String {
    let mut text = String::from("$");
    for step in path {
        match step {
            Located::Member(name) => push_member(&mut text, name),
            Located::Element(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

fn push_member(text: &mut String, name: &str) {
    if is_plain_name(name) {
        text.push('.');
        text.push_str(name);
        return;
    }
    text.push_str("[\"");
    for c in name.chars() {
        if c == '"' || c == '\\' {
            text.push('\\');
        }
        text.push(c);
    }
    text.push_str("\"]");
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        && name != "*"
}

/// What [`scan_json`] does with each kind, and where a kind is expected.
#[derive(Debug, Clone)]
pub struct Policy {
    default: Action,
    overrides: Vec<(Kind, Action)>,
    allowed: Vec<(JsonPath, Kind)>,
}

impl Policy {
    /// Mask every finding (for responses and logs).
    pub fn mask_all() -> Self {
        Self {
            default: Action::Mask,
            overrides: Vec::new(),
            allowed: Vec::new(),
        }
    }

    /// Block on every finding (for request bodies that must never carry
    /// sensitive data).
    pub fn block_all() -> Self {
        Self {
            default: Action::Block,
            ..Self::mask_all()
        }
    }

    /// Uses `action` for `kind` instead of the default.
    pub fn with_action(mut self, kind: Kind, action: Action) -> Self {
        self.overrides.retain(|(existing, _)| *existing != kind);
        self.overrides.push((kind, action));
        self
    }

    /// Declares that `kind` is expected at `path`: such findings are neither
    /// masked nor reported.
    pub fn allow(mut self, path: &str, kind: Kind) -> Result<Self, JsonPathError> {
        self.allowed.push((JsonPath::parse(path)?, kind));
        Ok(self)
    }

    /// The action for a finding of `kind`.
    pub fn action(&self, kind: Kind) -> Action {
        self.overrides
            .iter()
            .find(|(existing, _)| *existing == kind)
            .map_or(self.default, |(_, action)| *action)
    }

    fn allows(&self, path: &[Located<'_>], kind: Kind) -> bool {
        self.allowed
            .iter()
            .any(|(pattern, allowed)| *allowed == kind && pattern.matches(path))
    }
}

/// A finding located in a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingAt {
    /// Where, e.g. `$.items[2].note`.
    pub json_path: String,
    /// What.
    pub kind: Kind,
    /// What the policy says to do.
    pub action: Action,
}

/// Whether any finding calls for refusing the document.
pub fn blocked(findings: &[FindingAt]) -> bool {
    findings
        .iter()
        .any(|finding| finding.action == Action::Block)
}

/// Scans every string (and every integer, since a card number is sometimes
/// stored as one) of `document`. Returns a copy with the findings masked,
/// and the findings in document order. Allowlisted findings are left as
/// they are and not reported.
///
/// A string under a member whose name announces a credential (`api_key`,
/// `client_secret`, `refresh_token`, …) is also reported when the whole
/// value looks random, as it would be in `name=value` text.
///
/// The walk uses an explicit stack rather than recursion. (Documents parsed
/// by serde_json are at most 128 levels deep anyway; a deeper one built in
/// code is bounded by `Value`'s own recursive clone and drop.)
pub fn scan_json(document: &Value, policy: &Policy) -> (Value, Vec<FindingAt>) {
    let mut masked = document.clone();
    let mut findings = Vec::new();
    let mut path: Vec<Located<'_>> = Vec::new();
    let mut stack: Vec<(usize, Option<Located<'_>>, &mut Value)> = vec![(0, None, &mut masked)];

    while let Some((depth, step, value)) = stack.pop() {
        path.truncate(depth);
        path.extend(step);
        match value {
            Value::Object(members) => {
                for (name, child) in members.iter_mut().rev() {
                    stack.push((path.len(), Some(Located::Member(name.as_str())), child));
                }
            }
            Value::Array(elements) => {
                for (index, child) in elements.iter_mut().enumerate().rev() {
                    stack.push((path.len(), Some(Located::Element(index)), child));
                }
            }
            Value::String(text) => {
                if let Some(replaced) = scan_string(text, &path, policy, &mut findings) {
                    *text = replaced;
                }
            }
            Value::Number(number) => {
                let digits = number.to_string();
                let is_card = digits.len() >= 12 && numbers::is_card_number(digits.as_bytes());
                if is_card && !policy.allows(&path, Kind::PaymentCard) {
                    let text = scan_string(&digits, &path, policy, &mut findings);
                    *value = Value::String(text.unwrap_or(digits));
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
    (masked, findings)
}

/// Scans one string at `path`; returns its masked form if anything was
/// found that the policy does not allow.
fn scan_string(
    text: &str,
    path: &[Located<'_>],
    policy: &Policy,
    out: &mut Vec<FindingAt>,
) -> Option<String> {
    let mut found = scan(text);
    let keyed_secret = matches!(path.last(), Some(Located::Member(name)) if secrets::is_secret_name(name))
        && secrets::looks_random(text);
    if keyed_secret && !found.iter().any(|finding| finding.span == (0..text.len())) {
        let mut candidates: Vec<(Kind, std::ops::Range<usize>)> = found
            .iter()
            .map(|finding| (finding.kind, finding.span.clone()))
            .collect();
        candidates.push((Kind::ApiKey, 0..text.len()));
        found = resolve_overlaps(text, candidates);
    }
    found.retain(|finding| !policy.allows(path, finding.kind));
    if found.is_empty() {
        return None;
    }
    let json_path = render(path);
    out.extend(found.iter().map(|finding| FindingAt {
        json_path: json_path.clone(),
        kind: finding.kind,
        action: policy.action(finding.kind),
    }));
    Some(mask(text, &found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_render_back() -> Result<(), JsonPathError> {
        for text in [
            "$",
            "$.payment.reference",
            "$.items[*].note",
            "$.a[3].*",
            "$[\"odd key\"].x",
            "$[\"q\\\"\"]",
        ] {
            assert_eq!(JsonPath::parse(text)?.to_string(), text);
        }
        assert_eq!(JsonPath::parse("$[\"plain\"]")?.to_string(), "$.plain");
        for bad in ["payment", "$.", "$[", "$[x]", "$[\"open", "$..a", "$ .a"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn wildcards_match_one_step_of_their_kind() -> Result<(), JsonPathError> {
        let pattern = JsonPath::parse("$.items[*].note")?;
        let concrete = |index| {
            [
                Located::Member("items"),
                Located::Element(index),
                Located::Member("note"),
            ]
        };
        assert!(pattern.matches(&concrete(0)));
        assert!(pattern.matches(&concrete(7)));
        assert!(!pattern.matches(&[
            Located::Member("items"),
            Located::Member("x"),
            Located::Member("note")
        ]));
        assert!(!pattern.matches(&concrete(0)[..2]));
        assert!(JsonPath::parse("$.*")?.matches(&[Located::Member("anything")]));
        assert!(!JsonPath::parse("$.*")?.matches(&[Located::Element(0)]));
        Ok(())
    }

    #[test]
    fn concrete_paths_render_odd_member_names_quoted() {
        let path = [
            Located::Member("a"),
            Located::Element(2),
            Located::Member("odd \"key\""),
            Located::Member("*"),
        ];
        assert_eq!(render(&path), "$.a[2][\"odd \\\"key\\\"\"][\"*\"]");
    }
}
