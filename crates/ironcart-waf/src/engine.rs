//! Evaluates a compiled rule set against one request: phase 1 (request line
//! and headers), body parsing, then phase 2, with SecLang's control flow
//! (chains, `skipAfter`, `skip`, `allow`, `ctl`), the TX collection and its
//! macros, and the disruptive decision.
//!
//! Each request value is transformed at most once per pipeline and scanned
//! once by that pipeline's prefilter automaton; a rule's regex runs only on
//! values where one of its required literals occurred.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::collect::{RequestData, Source};
use crate::compile::{
    Change, Ctl, Disruptive, EngineMode, Key, Link, Rule, RuleSelector, RuleSet, SetVar, Step,
    Target, TargetExclusion, Var,
};
use crate::operator::{Expand, OperatorMatch};
use crate::request::Request;
use crate::verdict::Match;

/// What the engine concluded about one request.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub matched: Vec<Match>,
    pub interrupted: bool,
    pub would_block: bool,
    pub tx: HashMap<String, Vec<u8>>,
    pub prefilter_misses: usize,
}

/// Rules and targets removed for this request before evaluation starts.
#[derive(Debug, Default, Clone)]
pub(crate) struct Removals {
    pub rules: Vec<RuleSelector>,
    pub targets: Vec<(RuleSelector, TargetExclusion)>,
}

/// Runs `set` over `request`.
pub(crate) fn evaluate(
    set: &RuleSet,
    request: &Request<'_>,
    mode: EngineMode,
    removals: Removals,
    audit_prefilter: bool,
) -> Outcome {
    let mut tx = Transaction {
        set,
        data: RequestData::headers_phase(request),
        vars: HashMap::new(),
        mode,
        removals,
        force_body: false,
        cache: Vec::new(),
        candidates: Vec::new(),
        matched_var: None,
        matched_vars: Vec::new(),
        current_rule: None,
        matched: Vec::new(),
        interrupted: false,
        would_block: false,
        audit_prefilter,
        prefilter_misses: 0,
    };
    if tx.mode != EngineMode::Off && tx.run_phase(0) == Flow::Continue {
        let content_type = request.header_value("content-type");
        tx.data.add_body(request.body, content_type, tx.force_body);
        tx.run_phase(1);
    }
    Outcome {
        matched: tx.matched,
        interrupted: tx.interrupted,
        would_block: tx.would_block,
        tx: tx.vars,
        prefilter_misses: tx.prefilter_misses,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// A value a rule looks at: a request slot (cacheable) or a computed one.
#[derive(Debug, Clone)]
enum Value {
    Slot(usize),
    Computed(Vec<u8>),
}

#[derive(Debug)]
struct Candidate<'s> {
    name: Name<'s>,
    value: Value,
}

/// A candidate's variable name, rendered only when it matches.
#[derive(Debug)]
enum Name<'s> {
    Label(&'s str),
    Field(&'s str, usize),
    Owned(String),
}

impl Name<'_> {
    fn render(&self, data: &RequestData) -> String {
        match self {
            Self::Label(label) => (*label).to_owned(),
            Self::Field(label, slot) => format!("{label}:{}", data.field(*slot).name),
            Self::Owned(name) => name.clone(),
        }
    }
}

/// A value after one pipeline, with its prefilter hits computed on demand.
#[derive(Debug)]
struct Transformed {
    value: Vec<u8>,
    hits: OnceCell<Vec<bool>>,
}

struct Transaction<'s> {
    set: &'s RuleSet,
    data: RequestData,
    vars: HashMap<String, Vec<u8>>,
    mode: EngineMode,
    removals: Removals,
    force_body: bool,
    cache: Vec<Option<Rc<Transformed>>>,
    /// Reused by every link, so resolving targets allocates only once.
    candidates: Vec<Candidate<'s>>,
    matched_var: Option<(String, Vec<u8>)>,
    matched_vars: Vec<(String, Vec<u8>)>,
    current_rule: Option<u32>,
    matched: Vec<Match>,
    interrupted: bool,
    would_block: bool,
    audit_prefilter: bool,
    prefilter_misses: usize,
}

impl<'s> Transaction<'s> {
    fn run_phase(&mut self, phase: usize) -> Flow {
        let set = self.set;
        let steps = &set.phases[phase];
        let mut position = 0;
        while position < steps.len() {
            let Step::Rule(index) = steps[position] else {
                position += 1;
                continue;
            };
            let rule = &set.rules[index];
            if !self.is_active(rule) || !self.rule_matches(rule) {
                position += 1;
                continue;
            }
            if self.decide(rule, phase) == Flow::Stop || self.mode == EngineMode::Off {
                return Flow::Stop;
            }
            position = self.next_position(rule, phase, position);
        }
        Flow::Continue
    }

    fn is_active(&self, rule: &Rule) -> bool {
        !rule.inert && !self.removals.rules.iter().any(|s| s.selects(rule))
    }

    fn next_position(&self, rule: &Rule, phase: usize, position: usize) -> usize {
        match &rule.skip_after {
            Some(marker) => self.set.markers[phase]
                .get(marker)
                .copied()
                .unwrap_or(self.set.phases[phase].len()),
            None => position + 1 + rule.skip,
        }
    }

    /// Applies the rule's disruptive action; `Stop` ends all evaluation.
    fn decide(&mut self, rule: &Rule, phase: usize) -> Flow {
        let action = match rule.disruptive {
            Disruptive::Block => self.set.block_action[phase],
            other => other,
        };
        match action {
            Disruptive::Deny => {
                self.would_block = true;
                if self.mode == EngineMode::On {
                    self.interrupted = true;
                    return Flow::Stop;
                }
                Flow::Continue
            }
            Disruptive::Allow => Flow::Stop,
            Disruptive::AllowPhase | Disruptive::Pass | Disruptive::Block => Flow::Continue,
        }
    }

    /// Evaluates the chain link by link. As in ModSecurity, a link's
    /// `setvar` and `ctl` run as soon as that link matches (a later link may
    /// read what an earlier one set); logging and the disruptive action
    /// happen only when the whole chain matches.
    fn rule_matches(&mut self, rule: &'s Rule) -> bool {
        self.current_rule = Some(rule.id);
        let mut first: Option<(String, Vec<u8>)> = None;
        for link in &rule.links {
            let found = self.link_matches(rule, link);
            if found.is_empty() {
                return false;
            }
            if first.is_none() {
                first = found.first().cloned();
            }
            self.matched_var = found.last().cloned();
            self.matched_vars = found;
            for ctl in &link.ctls {
                self.apply_ctl(ctl);
            }
        }
        if rule.log {
            self.record(rule, first.unwrap_or_default());
        }
        true
    }

    fn record(&mut self, rule: &Rule, (variable, data): (String, Vec<u8>)) {
        let message = rule
            .msg
            .as_deref()
            .map(|msg| String::from_utf8_lossy(&self.expand(msg)).into_owned())
            .unwrap_or_default();
        let data = crate::redact::redact(&variable, &data);
        self.matched.push(Match {
            rule_id: rule.id,
            message,
            variable,
            data,
            severity: rule.severity.clone(),
        });
    }

    /// The (name, transformed value) pairs on which the link's operator hit.
    fn link_matches(&mut self, rule: &'s Rule, link: &'s Link) -> Vec<(String, Vec<u8>)> {
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        if link.targets.is_empty() {
            candidates.push(Candidate {
                name: Name::Label(""),
                value: Value::Computed(Vec::new()),
            });
        }
        for target in &link.targets {
            self.resolve(rule, link, target, &mut candidates);
        }
        let mut found = Vec::new();
        for candidate in candidates.drain(..) {
            if let Some(value) = self.test_candidate(link, &candidate.value) {
                // As in ModSecurity, `setvar` runs once per matched value, with
                // MATCHED_VAR and the captures of that value (CRS counts
                // repeated parameters this way).
                let name = candidate.name.render(&self.data);
                self.matched_var = Some((name.clone(), value.clone()));
                for setvar in &link.setvars {
                    self.apply_setvar(setvar);
                }
                found.push((name, value));
            }
        }
        self.candidates = candidates;
        found
    }

    /// Transforms and tests one value; returns the value that matched.
    fn test_candidate(&mut self, link: &Link, value: &Value) -> Option<Vec<u8>> {
        if link.multi_match {
            return self.test_stages(link, value);
        }
        let transformed = self.transformed(link.pipeline, value);
        let may_match = self.prefilter_allows(link, &transformed);
        let result = if may_match {
            link.operator.evaluate(&transformed.value, self)
        } else {
            self.audit_skipped(link, &transformed.value);
            None
        };
        self.conclude(link, result, &transformed.value)
    }

    fn conclude(
        &mut self,
        link: &Link,
        result: Option<OperatorMatch>,
        value: &[u8],
    ) -> Option<Vec<u8>> {
        if result.is_some() == link.negated {
            return None;
        }
        if let Some(found) = result.filter(|_| link.capture) {
            for (index, group) in found.captures.into_iter().enumerate() {
                self.vars.insert(index.to_string(), group);
            }
        }
        Some(value.to_vec())
    }

    /// `multiMatch`: the operator runs after every transformation step.
    fn test_stages(&mut self, link: &Link, value: &Value) -> Option<Vec<u8>> {
        let mut current = self.raw(value);
        let pipeline = self.set.pipelines[link.pipeline].clone();
        let mut stages = vec![current.clone()];
        for transform in pipeline {
            current = transform.apply(&current);
            stages.push(current.clone());
        }
        stages.into_iter().find_map(|stage| {
            let result = link.operator.evaluate(&stage, self);
            self.conclude(link, result, &stage)
        })
    }

    fn prefilter_allows(&self, link: &Link, transformed: &Transformed) -> bool {
        let (Some(slot), Some(prefilter)) = (link.prefilter, &self.set.prefilters[link.pipeline])
        else {
            return true;
        };
        let hits = transformed.hits.get_or_init(|| {
            let mut hits = vec![false; prefilter.slots];
            for found in prefilter
                .automaton
                .find_overlapping_iter(&transformed.value)
            {
                hits[prefilter.owner[found.pattern().as_usize()]] = true;
            }
            hits
        });
        hits[slot]
    }

    /// In audit mode, counts values the prefilter skipped but the regex matches.
    fn audit_skipped(&mut self, link: &Link, value: &[u8]) {
        if self.audit_prefilter && link.operator.evaluate(value, self).is_some() {
            self.prefilter_misses += 1;
        }
    }

    fn raw(&self, value: &Value) -> Vec<u8> {
        match value {
            Value::Slot(slot) => self.data.field(*slot).value.clone(),
            Value::Computed(bytes) => bytes.clone(),
        }
    }

    fn transformed(&mut self, pipeline: usize, value: &Value) -> Rc<Transformed> {
        let pipelines = self.set.pipelines.len();
        let index = match value {
            Value::Slot(slot) => Some(slot * pipelines + pipeline),
            Value::Computed(_) => None,
        };
        if let Some(cached) = index
            .and_then(|i| self.cache.get(i))
            .and_then(Option::as_ref)
        {
            return Rc::clone(cached);
        }
        let mut current = self.raw(value);
        for transform in &self.set.pipelines[pipeline] {
            current = transform.apply(&current);
        }
        let transformed = Rc::new(Transformed {
            value: current,
            hits: OnceCell::new(),
        });
        if let Some(index) = index {
            if self.cache.len() <= index {
                self.cache.resize(index + 1, None);
            }
            self.cache[index] = Some(Rc::clone(&transformed));
        }
        transformed
    }

    /// Appends the values a target names, minus excluded keys, to `out`.
    fn resolve(&self, rule: &Rule, link: &Link, target: &'s Target, out: &mut Vec<Candidate<'s>>) {
        let start = out.len();
        let name_of =
            |(name, _): &(String, Vec<u8>)| computed(&(name.clone(), name.as_bytes().to_vec()));
        match &target.var {
            Var::Sources(sources) => self.source_values(rule, link, target, sources, out),
            Var::Tx => self.tx_values(rule, link, target.key.as_ref(), out),
            Var::MatchedVar => out.extend(self.matched_var.iter().map(computed)),
            Var::MatchedVarName => out.extend(self.matched_var.iter().map(name_of)),
            Var::MatchedVars => out.extend(self.matched_vars.iter().map(computed)),
            Var::MatchedVarsNames => out.extend(self.matched_vars.iter().map(name_of)),
            Var::Unsupported => {}
        }
        if target.count {
            let count = (out.len() - start).to_string().into_bytes();
            out.truncate(start);
            out.push(Candidate {
                name: Name::Owned(format!("&{}", target.label)),
                value: Value::Computed(count),
            });
        }
    }

    fn source_values(
        &self,
        rule: &Rule,
        link: &Link,
        target: &'s Target,
        sources: &[Source],
        out: &mut Vec<Candidate<'s>>,
    ) {
        for &source in sources {
            let slots = self.data.slots(source);
            // A single value may be pushed again (a changed body processor):
            // only the latest counts.
            let slots = if is_single(source) {
                &slots[slots.len().saturating_sub(1)..]
            } else {
                slots
            };
            for &slot in slots {
                let field = self.data.field(slot);
                if !key_matches(target.key.as_ref(), &field.name)
                    || self.is_excluded(rule, link, Some(source), &field.name)
                {
                    continue;
                }
                let name = if field.name.is_empty() {
                    Name::Label(&target.label)
                } else {
                    Name::Field(&target.label, slot)
                };
                out.push(Candidate {
                    name,
                    value: Value::Slot(slot),
                });
            }
        }
    }

    fn tx_values(&self, rule: &Rule, link: &Link, key: Option<&Key>, out: &mut Vec<Candidate<'s>>) {
        let candidate = |name: &String| Candidate {
            name: Name::Owned(format!("TX:{name}")),
            value: Value::Computed(self.vars[name].clone()),
        };
        if let Some(Key::Name(wanted)) = key {
            let wanted = wanted.to_ascii_lowercase();
            let named = self.vars.get_key_value(&wanted);
            out.extend(
                named
                    .filter(|(name, _)| !self.is_excluded(rule, link, None, name))
                    .map(|(name, _)| candidate(name)),
            );
            return;
        }
        let mut names: Vec<&String> = self
            .vars
            .keys()
            .filter(|name| key_matches(key, name) && !self.is_excluded(rule, link, None, name))
            .collect();
        names.sort();
        out.extend(names.into_iter().map(candidate));
    }

    fn is_excluded(&self, rule: &Rule, link: &Link, source: Option<Source>, name: &str) -> bool {
        link.exclusions.iter().any(|e| e.covers(source, name))
            || self
                .removals
                .targets
                .iter()
                .any(|(selector, e)| selector.selects(rule) && e.covers(source, name))
    }

    fn apply_setvar(&mut self, setvar: &SetVar) {
        let name = String::from_utf8_lossy(&self.expand(&setvar.name)).to_ascii_lowercase();
        match &setvar.change {
            Change::Delete => {
                self.vars.remove(&name);
            }
            Change::Set(value) => {
                let value = self.expand(value);
                self.vars.insert(name, value);
            }
            Change::Add(amount) | Change::Subtract(amount) => {
                let amount = number(&self.expand(amount));
                let amount = if matches!(setvar.change, Change::Subtract(_)) {
                    -amount
                } else {
                    amount
                };
                let current = self.vars.get(&name).map_or(0, |v| number(v));
                self.vars
                    .insert(name, (current + amount).to_string().into_bytes());
            }
        }
    }

    fn apply_ctl(&mut self, ctl: &Ctl) {
        match ctl {
            Ctl::RemoveRules(selector) => self.removals.rules.push(selector.clone()),
            Ctl::RemoveTargets(selector, exclusion) => {
                self.removals
                    .targets
                    .push((selector.clone(), exclusion.clone()));
            }
            Ctl::Engine(mode) => self.mode = *mode,
            Ctl::BodyProcessor(processor) => self.data.set_processor(*processor),
            Ctl::ForceBodyVariable => self.force_body = true,
        }
    }

    /// The value of a macro name such as `tx.score` or `REQUEST_HEADERS.host`.
    fn macro_value(&self, name: &str) -> Vec<u8> {
        let lower = name.to_ascii_lowercase();
        if let Some(key) = lower.strip_prefix("tx.") {
            return self.vars.get(key).cloned().unwrap_or_default();
        }
        match lower.as_str() {
            "matched_var" => return self.matched_var.clone().map(|m| m.1).unwrap_or_default(),
            "matched_var_name" => {
                return self
                    .matched_var
                    .clone()
                    .map(|m| m.0.into_bytes())
                    .unwrap_or_default();
            }
            "rule.id" => {
                return self
                    .current_rule
                    .map(|id| id.to_string().into_bytes())
                    .unwrap_or_default();
            }
            _ => {}
        }
        let (collection, key) = name.split_once('.').unwrap_or((name, ""));
        let sources = crate::compile::sources_for(&collection.to_ascii_uppercase());
        sources
            .iter()
            .flat_map(|&source| self.data.slots(source).iter().rev())
            .map(|&slot| self.data.field(slot))
            .find(|field| key.is_empty() || field.name.eq_ignore_ascii_case(key))
            .map(|field| field.value.clone())
            .unwrap_or_default()
    }
}

impl Expand for Transaction<'_> {
    fn expand(&self, template: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("%{") {
            out.extend_from_slice(&rest.as_bytes()[..start]);
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) => {
                    out.extend(self.macro_value(&after[..end]));
                    rest = &after[end + 1..];
                }
                None => {
                    out.extend_from_slice(&rest.as_bytes()[start..]);
                    rest = "";
                }
            }
        }
        out.extend_from_slice(rest.as_bytes());
        out
    }
}

fn computed<'s>((name, value): &(String, Vec<u8>)) -> Candidate<'s> {
    Candidate {
        name: Name::Owned(name.clone()),
        value: Value::Computed(value.clone()),
    }
}

fn key_matches(key: Option<&Key>, name: &str) -> bool {
    key.is_none_or(|key| key.matches(name))
}

fn is_single(source: Source) -> bool {
    use Source::*;
    !matches!(
        source,
        ArgsGet
            | ArgsPost
            | ArgsGetNames
            | ArgsPostNames
            | Headers
            | HeadersNames
            | Cookies
            | CookiesNames
            | Files
            | FilesNames
            | FilesSizes
            | MultipartPartHeaders
            | Xml
            | XmlAttributes
    )
}

/// The leading integer of a TX value (0 if none).
pub(crate) fn number(value: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(value);
    let text = text.trim();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let digits: String = digits
        .chars()
        .take_while(char::is_ascii_digit)
        .take(18)
        .collect();
    sign * digits.parse::<i64>().unwrap_or(0)
}
