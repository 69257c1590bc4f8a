//! Gives parsed SecLang its meaning: resolves variable names to request
//! sources, builds operators and transformation pipelines, groups rules by
//! phase, and builds one prefilter automaton per transformation pipeline.
//!
//! Only request phases (1 and 2) are kept; response rules are counted and
//! dropped. A rule that uses something this engine does not implement is
//! kept inert and reported in [`RuleSet::warnings`], never silently
//! half-evaluated.

use std::collections::HashMap;
use std::path::Path;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::collect::{BodyProcessor, Source};
use crate::operator::{Operator, OperatorError};
use crate::seclang::{ActionText, Directive, KeyText, RuleText, VariableText};
use crate::transform::Transform;

/// Rule engine mode (`SecRuleEngine`, `ctl:ruleEngine`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EngineMode {
    On,
    DetectionOnly,
    Off,
}

impl EngineMode {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "on" => Self::On,
            "detectiononly" => Self::DetectionOnly,
            "off" => Self::Off,
            _ => return None,
        })
    }
}

/// What a variable name in a rule reads.
#[derive(Debug, Clone)]
#[allow(clippy::enum_variant_names)] // the names are SecLang's
pub(crate) enum Var {
    Sources(Vec<Source>),
    Tx,
    MatchedVar,
    MatchedVarName,
    MatchedVars,
    MatchedVarsNames,
    /// Known to SecLang but not implemented here: resolves to nothing.
    Unsupported,
}

/// A key selector within a collection.
#[derive(Debug, Clone)]
pub(crate) enum Key {
    Name(String),
    Pattern(regex::Regex),
}

impl Key {
    pub(crate) fn matches(&self, name: &str) -> bool {
        match self {
            Self::Name(wanted) => wanted.eq_ignore_ascii_case(name),
            Self::Pattern(regex) => regex.is_match(name),
        }
    }
}

/// One positive target of a rule.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub label: String,
    pub var: Var,
    pub key: Option<Key>,
    pub count: bool,
}

/// A value removed from inspection: a source and a key within it.
#[derive(Debug, Clone)]
pub(crate) struct TargetExclusion {
    pub sources: Vec<Source>,
    pub tx: bool,
    pub key: Option<Key>,
}

impl TargetExclusion {
    pub(crate) fn covers(&self, source: Option<Source>, name: &str) -> bool {
        let source_matches = match source {
            Some(source) => self.sources.contains(&source),
            None => self.tx,
        };
        source_matches && self.key.as_ref().is_none_or(|key| key.matches(name))
    }
}

/// `setvar` on the TX collection.
#[derive(Debug, Clone)]
pub(crate) struct SetVar {
    pub name: String,
    pub change: Change,
}

#[derive(Debug, Clone)]
pub(crate) enum Change {
    Set(String),
    Add(String),
    Subtract(String),
    Delete,
}

/// Selects rules by id range or tag (exclusions and `ctl` actions).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSelector {
    /// Every rule.
    All,
    /// Rules whose id lies in this inclusive range.
    Ids { from: u32, to: u32 },
    /// Rules carrying this tag (compared without case).
    Tag(String),
}

impl RuleSelector {
    pub(crate) fn selects(&self, rule: &Rule) -> bool {
        match self {
            Self::All => true,
            Self::Ids { from, to } => (*from..=*to).contains(&rule.id),
            Self::Tag(tag) => rule.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)),
        }
    }
}

/// Per-transaction controls (`ctl:`).
#[derive(Debug, Clone)]
pub(crate) enum Ctl {
    RemoveRules(RuleSelector),
    RemoveTargets(RuleSelector, TargetExclusion),
    Engine(EngineMode),
    BodyProcessor(BodyProcessor),
    ForceBodyVariable,
}

/// Disruptive outcome of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disruptive {
    Pass,
    Block,
    Deny,
    Allow,
    AllowPhase,
}

/// One rule of a chain (the first is the chain starter).
#[derive(Debug)]
pub(crate) struct Link {
    pub targets: Vec<Target>,
    pub exclusions: Vec<TargetExclusion>,
    pub operator: Operator,
    pub negated: bool,
    pub pipeline: usize,
    pub multi_match: bool,
    pub capture: bool,
    pub setvars: Vec<SetVar>,
    pub ctls: Vec<Ctl>,
    pub prefilter: Option<usize>,
}

/// A compiled rule (a chain of one or more links).
#[derive(Debug)]
pub(crate) struct Rule {
    pub id: u32,
    pub phase: u8,
    pub links: Vec<Link>,
    pub msg: Option<String>,
    pub severity: Option<String>,
    pub tags: Vec<String>,
    pub log: bool,
    pub disruptive: Disruptive,
    pub skip_after: Option<String>,
    pub skip: usize,
    pub inert: bool,
}

/// A position in a phase's rule list.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Rule(usize),
    Marker,
}

/// One automaton over the prefilter literals of every rule sharing a pipeline.
#[derive(Debug)]
pub(crate) struct PipelinePrefilter {
    pub automaton: AhoCorasick,
    pub owner: Vec<usize>,
    pub slots: usize,
}

/// Everything the engine needs to evaluate requests.
#[derive(Debug)]
pub(crate) struct RuleSet {
    pub rules: Vec<Rule>,
    pub phases: [Vec<Step>; 2],
    pub markers: [HashMap<String, usize>; 2],
    pub pipelines: Vec<Vec<Transform>>,
    pub prefilters: Vec<Option<PipelinePrefilter>>,
    pub block_action: [Disruptive; 2],
    pub warnings: Vec<String>,
}

/// A rule file that cannot be loaded at all.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}:{line}: {reason}")]
pub struct CompileError {
    pub source_name: String,
    pub line: usize,
    pub reason: String,
}

/// A named piece of SecLang text and the folder its data files live in.
pub(crate) struct RuleSource<'a> {
    pub name: String,
    pub text: &'a str,
    pub data_dir: Option<&'a Path>,
}

/// Builds a rule set from SecLang sources in order.
pub(crate) fn compile(sources: &[RuleSource<'_>]) -> Result<RuleSet, CompileError> {
    let mut builder = Builder::default();
    for source in sources {
        let directives = crate::seclang::parse(source.text).map_err(|err| CompileError {
            source_name: source.name.clone(),
            line: err.line,
            reason: err.reason,
        })?;
        builder.add_directives(source, directives)?;
    }
    Ok(builder.finish())
}

#[derive(Default)]
struct Builder {
    rules: Vec<Rule>,
    order: Vec<Entry>,
    pipelines: Vec<Vec<Transform>>,
    block_action: [Option<Disruptive>; 2],
    warnings: Vec<String>,
    pending_chain: Option<Pending>,
}

/// Where the next chain link goes: a kept rule, or a dropped (response) one.
#[derive(Clone, Copy)]
enum Pending {
    Rule(usize),
    Dropped,
}

enum Entry {
    Rule(usize),
    Marker(String),
}

impl Builder {
    fn add_directives(
        &mut self,
        source: &RuleSource<'_>,
        directives: Vec<Directive>,
    ) -> Result<(), CompileError> {
        for directive in directives {
            match directive {
                Directive::Rule(text) => self.add_rule(source, &text)?,
                Directive::Marker(name) => self.order.push(Entry::Marker(name)),
                Directive::DefaultAction(actions) => self.set_default(&actions),
                Directive::RemoveById(ranges) => {
                    let selectors: Vec<RuleSelector> =
                        ranges.iter().filter_map(|r| id_range(r)).collect();
                    self.remove_rules(|rule| selectors.iter().any(|s| s.selects(rule)));
                }
                Directive::RemoveByTag(tag) => {
                    let selector = RuleSelector::Tag(tag);
                    self.remove_rules(|rule| selector.selects(rule));
                }
                Directive::UpdateTargetById { rule, targets } => {
                    self.update_targets(&rule, &targets)
                }
                Directive::Engine(_) | Directive::Ignored(_) => {}
            }
        }
        Ok(())
    }

    fn set_default(&mut self, actions: &[ActionText]) {
        let phase = actions
            .iter()
            .find(|a| a.name == "phase")
            .and_then(|a| a.value.as_deref())
            .and_then(phase_number)
            .unwrap_or(2);
        if let Some(slot) = self
            .block_action
            .get_mut(usize::from(phase).wrapping_sub(1))
        {
            *slot = actions.iter().find_map(|a| disruptive(&a.name));
        }
    }

    fn remove_rules(&mut self, mut selected: impl FnMut(&Rule) -> bool) {
        for rule in &mut self.rules {
            if selected(rule) {
                rule.inert = true;
            }
        }
    }

    fn update_targets(&mut self, id: &str, targets: &[VariableText]) {
        let Some(selector) = id_range(id) else { return };
        for rule in self.rules.iter_mut().filter(|rule| selector.selects(rule)) {
            if let Some(starter) = rule.links.first_mut() {
                for target in targets {
                    if target.negated {
                        starter.exclusions.push(exclusion(target));
                    } else if let Some(compiled) = compile_target(target) {
                        starter.targets.push(compiled);
                    }
                }
            }
        }
    }

    fn add_rule(&mut self, source: &RuleSource<'_>, text: &RuleText) -> Result<(), CompileError> {
        let error = |reason: String| CompileError {
            source_name: source.name.clone(),
            line: text.line,
            reason,
        };
        let actions = Actions::read(&text.actions).map_err(&error)?;
        let (link, unsupported) = self.link(source, text, &actions);
        let chained = actions.chain;
        match self.pending_chain.take() {
            Some(Pending::Dropped) => {
                if chained {
                    self.pending_chain = Some(Pending::Dropped);
                }
            }
            Some(Pending::Rule(index)) => {
                let rule = &mut self.rules[index];
                if let Some(reason) = &unsupported {
                    self.warnings
                        .push(format!("rule {} is inert: {reason}", rule.id));
                }
                rule.links.push(link);
                rule.inert |= unsupported.is_some();
                if chained {
                    self.pending_chain = Some(Pending::Rule(index));
                }
            }
            None => {
                let id = actions
                    .id
                    .ok_or_else(|| error("rule without id".to_owned()))?;
                let phase = actions.phase.unwrap_or(2);
                if phase > 2 {
                    if chained {
                        self.pending_chain = Some(Pending::Dropped);
                    }
                    return Ok(());
                }
                if let Some(reason) = &unsupported {
                    self.warnings.push(format!("rule {id} is inert: {reason}"));
                }
                let index = self.rules.len();
                self.rules.push(Rule {
                    id,
                    phase,
                    links: vec![link],
                    msg: actions.msg,
                    severity: actions.severity,
                    tags: actions.tags,
                    log: actions.log,
                    disruptive: actions.disruptive.unwrap_or(Disruptive::Pass),
                    skip_after: actions.skip_after,
                    skip: actions.skip,
                    inert: unsupported.is_some(),
                });
                self.order.push(Entry::Rule(index));
                if chained {
                    self.pending_chain = Some(Pending::Rule(index));
                }
            }
        }
        Ok(())
    }

    /// Compiles one link; the second value explains why it cannot run, if so.
    fn link(
        &mut self,
        source: &RuleSource<'_>,
        text: &RuleText,
        actions: &Actions,
    ) -> (Link, Option<String>) {
        let mut unsupported = None;
        let operator = Operator::build(&text.operator.name, &text.operator.param, source.data_dir)
            .unwrap_or_else(|err: OperatorError| {
                unsupported = Some(err.to_string());
                Operator::NoMatch
            });
        if let Some(name) = &actions.unknown_transform {
            unsupported = Some(format!("unsupported transformation t:{name}"));
        }
        let mut targets = Vec::new();
        let mut exclusions = Vec::new();
        for variable in &text.variables {
            if variable.negated {
                exclusions.push(exclusion(variable));
            } else {
                match compile_target(variable) {
                    Some(target) => targets.push(target),
                    None => {
                        unsupported = Some(format!("unsupported variable {}", variable.collection))
                    }
                }
            }
        }
        let pipeline = self.intern(actions.transforms.clone());
        let link = Link {
            targets,
            exclusions,
            operator,
            negated: text.operator.negated,
            pipeline,
            multi_match: actions.multi_match,
            capture: actions.capture,
            setvars: actions.setvars.clone(),
            ctls: actions.ctls.clone(),
            prefilter: None,
        };
        (link, unsupported)
    }

    fn intern(&mut self, pipeline: Vec<Transform>) -> usize {
        match self.pipelines.iter().position(|known| *known == pipeline) {
            Some(index) => index,
            None => {
                self.pipelines.push(pipeline);
                self.pipelines.len() - 1
            }
        }
    }

    fn finish(mut self) -> RuleSet {
        let prefilters = self.build_prefilters();
        let mut phases: [Vec<Step>; 2] = [Vec::new(), Vec::new()];
        let mut markers: [HashMap<String, usize>; 2] = [HashMap::new(), HashMap::new()];
        for entry in &self.order {
            match entry {
                Entry::Rule(index) => {
                    let phase = usize::from(self.rules[*index].phase.max(1)) - 1;
                    phases[phase].push(Step::Rule(*index));
                }
                Entry::Marker(name) => {
                    for phase in 0..2 {
                        markers[phase].insert(name.clone(), phases[phase].len());
                        phases[phase].push(Step::Marker);
                    }
                }
            }
        }
        RuleSet {
            rules: self.rules,
            phases,
            markers,
            pipelines: self.pipelines,
            prefilters,
            block_action: [
                // ModSecurity's own default action is `pass`.
                self.block_action[0].unwrap_or(Disruptive::Pass),
                self.block_action[1].unwrap_or(Disruptive::Pass),
            ],
            warnings: self.warnings,
        }
    }

    /// Assigns each prefiltered link a slot in its pipeline's automaton.
    fn build_prefilters(&mut self) -> Vec<Option<PipelinePrefilter>> {
        let mut literals: Vec<Vec<Vec<u8>>> = vec![Vec::new(); self.pipelines.len()];
        let mut owners: Vec<Vec<usize>> = vec![Vec::new(); self.pipelines.len()];
        let mut slots = vec![0usize; self.pipelines.len()];
        for rule in &mut self.rules {
            for link in &mut rule.links {
                if link.multi_match {
                    continue;
                }
                let Some(set) = link.operator.literals() else {
                    continue;
                };
                let pipeline = link.pipeline;
                let slot = slots[pipeline];
                slots[pipeline] += 1;
                link.prefilter = Some(slot);
                for literal in set {
                    literals[pipeline].push(literal.clone());
                    owners[pipeline].push(slot);
                }
            }
        }
        literals
            .into_iter()
            .zip(owners)
            .zip(slots)
            .map(|((patterns, owner), slots)| {
                if patterns.is_empty() {
                    return None;
                }
                let automaton = AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)
                    .ok()?;
                Some(PipelinePrefilter {
                    automaton,
                    owner,
                    slots,
                })
            })
            .collect()
    }
}

/// The actions of one rule, read into fields.
#[derive(Default)]
struct Actions {
    id: Option<u32>,
    phase: Option<u8>,
    chain: bool,
    msg: Option<String>,
    severity: Option<String>,
    tags: Vec<String>,
    log: bool,
    disruptive: Option<Disruptive>,
    skip_after: Option<String>,
    skip: usize,
    transforms: Vec<Transform>,
    unknown_transform: Option<String>,
    multi_match: bool,
    capture: bool,
    setvars: Vec<SetVar>,
    ctls: Vec<Ctl>,
}

impl Actions {
    fn read(list: &[ActionText]) -> Result<Self, String> {
        let mut actions = Self {
            log: true,
            ..Self::default()
        };
        for action in list {
            actions.apply(action)?;
        }
        Ok(actions)
    }

    fn apply(&mut self, action: &ActionText) -> Result<(), String> {
        let value = action.value.as_deref().unwrap_or_default();
        match action.name.as_str() {
            "id" => {
                self.id = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad id {value:?}"))?,
                )
            }
            "phase" => self.phase = phase_number(value),
            "chain" => self.chain = true,
            "msg" => self.msg = Some(value.to_owned()),
            "severity" => self.severity = Some(value.to_owned()),
            "tag" => self.tags.push(value.to_owned()),
            "log" => self.log = true,
            "nolog" => self.log = false,
            "skipafter" => self.skip_after = Some(value.to_owned()),
            "skip" => self.skip = value.trim().parse().unwrap_or(0),
            "multimatch" => self.multi_match = true,
            "capture" => self.capture = true,
            "t" => self.add_transform(value),
            "setvar" => self.setvars.extend(setvar(value)),
            "ctl" => self.ctls.extend(ctl(value)),
            "allow" => {
                self.disruptive = Some(if value.eq_ignore_ascii_case("phase") {
                    Disruptive::AllowPhase
                } else {
                    Disruptive::Allow
                });
            }
            name => {
                if let Some(kind) = disruptive(name) {
                    self.disruptive = Some(kind);
                }
            }
        }
        Ok(())
    }

    fn add_transform(&mut self, name: &str) {
        if name.eq_ignore_ascii_case("none") {
            self.transforms.clear();
            return;
        }
        match Transform::from_name(name) {
            Some(transform) => self.transforms.push(transform),
            None => self.unknown_transform = Some(name.to_owned()),
        }
    }
}

fn disruptive(name: &str) -> Option<Disruptive> {
    Some(match name {
        "pass" => Disruptive::Pass,
        "block" => Disruptive::Block,
        "deny" | "drop" | "redirect" | "proxy" => Disruptive::Deny,
        _ => return None,
    })
}

fn phase_number(value: &str) -> Option<u8> {
    match value.trim().to_ascii_lowercase().as_str() {
        "request" => Some(2),
        "response" => Some(4),
        "logging" => Some(5),
        other => other.parse().ok(),
    }
}

fn setvar(value: &str) -> Option<SetVar> {
    if let Some(name) = value.strip_prefix('!') {
        return Some(SetVar {
            name: tx_name(name)?,
            change: Change::Delete,
        });
    }
    let (name, assigned) = value.split_once('=').unwrap_or((value, "1"));
    let change = if let Some(amount) = assigned.strip_prefix('+') {
        Change::Add(amount.to_owned())
    } else if let Some(amount) = assigned.strip_prefix('-') {
        Change::Subtract(amount.to_owned())
    } else {
        Change::Set(assigned.to_owned())
    };
    Some(SetVar {
        name: tx_name(name)?,
        change,
    })
}

/// `tx.name` → `name` (lower-cased); other collections are not kept.
fn tx_name(name: &str) -> Option<String> {
    let (collection, key) = name.trim().split_once('.')?;
    collection
        .eq_ignore_ascii_case("tx")
        .then(|| key.to_ascii_lowercase())
}

fn ctl(value: &str) -> Option<Ctl> {
    let (name, argument) = value.split_once('=')?;
    let argument = argument.trim();
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "ruleremovebyid" => Ctl::RemoveRules(id_range(argument)?),
        "ruleremovebytag" => Ctl::RemoveRules(RuleSelector::Tag(argument.to_owned())),
        "ruleremovetargetbyid" => {
            let (id, target) = argument.split_once(';')?;
            Ctl::RemoveTargets(id_range(id)?, target_exclusion(target)?)
        }
        "ruleremovetargetbytag" => {
            let (tag, target) = argument.split_once(';')?;
            Ctl::RemoveTargets(RuleSelector::Tag(tag.to_owned()), target_exclusion(target)?)
        }
        "ruleengine" => Ctl::Engine(EngineMode::from_name(argument)?),
        "requestbodyprocessor" => Ctl::BodyProcessor(BodyProcessor::from_name(argument)?),
        "forcerequestbodyvariable" => Ctl::ForceBodyVariable,
        _ => return None,
    })
}

fn target_exclusion(text: &str) -> Option<TargetExclusion> {
    let variables = crate::seclang::variables(text).ok()?;
    variables.first().map(exclusion)
}

/// `942100` or `942100-942199` as a selector.
pub(crate) fn id_range(text: &str) -> Option<RuleSelector> {
    let text = text.trim().trim_matches('\'').trim_matches('"');
    let (from, to) = text.split_once('-').unwrap_or((text, text));
    Some(RuleSelector::Ids {
        from: from.trim().parse().ok()?,
        to: to.trim().parse().ok()?,
    })
}

fn compile_key(key: &Option<KeyText>) -> Option<Key> {
    match key {
        None => None,
        Some(KeyText::Name(name)) => Some(Key::Name(name.clone())),
        Some(KeyText::Regex(pattern)) => regex::RegexBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .ok()
            .map(Key::Pattern),
    }
}

fn exclusion(variable: &VariableText) -> TargetExclusion {
    let var = variable_kind(&variable.collection, variable.key.as_ref());
    TargetExclusion {
        sources: match &var {
            Some(Var::Sources(sources)) => sources.clone(),
            _ => Vec::new(),
        },
        tx: matches!(var, Some(Var::Tx)),
        key: compile_key(&variable.key),
    }
}

fn compile_target(variable: &VariableText) -> Option<Target> {
    let var = variable_kind(&variable.collection, variable.key.as_ref())?;
    let key = match &var {
        Var::Sources(sources) if is_xml(sources) => None,
        _ => compile_key(&variable.key),
    };
    Some(Target {
        label: variable.collection.clone(),
        var,
        key,
        count: variable.count,
    })
}

fn is_xml(sources: &[Source]) -> bool {
    sources
        .iter()
        .all(|s| matches!(s, Source::Xml | Source::XmlAttributes))
}

/// The request sources a collection name reads (empty for TX and unknowns).
pub(crate) fn sources_for(name: &str) -> Vec<Source> {
    match variable_kind(name, None) {
        Some(Var::Sources(sources)) => sources,
        _ => Vec::new(),
    }
}

/// Maps a SecLang variable name to what it reads; `None` if unknown.
fn variable_kind(name: &str, key: Option<&KeyText>) -> Option<Var> {
    use Source::*;
    let sources = |list: &[Source]| Some(Var::Sources(list.to_vec()));
    match name {
        "ARGS" => sources(&[ArgsGet, ArgsPost]),
        "ARGS_GET" => sources(&[ArgsGet]),
        "ARGS_POST" => sources(&[ArgsPost]),
        "ARGS_NAMES" => sources(&[ArgsGetNames, ArgsPostNames]),
        "ARGS_GET_NAMES" => sources(&[ArgsGetNames]),
        "ARGS_POST_NAMES" => sources(&[ArgsPostNames]),
        "REQUEST_HEADERS" => sources(&[Headers]),
        "REQUEST_HEADERS_NAMES" => sources(&[HeadersNames]),
        "REQUEST_COOKIES" => sources(&[Cookies]),
        "REQUEST_COOKIES_NAMES" => sources(&[CookiesNames]),
        "FILES" => sources(&[Files]),
        "FILES_NAMES" => sources(&[FilesNames]),
        "FILES_SIZES" => sources(&[FilesSizes]),
        "MULTIPART_PART_HEADERS" => sources(&[MultipartPartHeaders]),
        "XML" => match key {
            Some(KeyText::Name(path)) if path.contains('@') => sources(&[XmlAttributes]),
            Some(KeyText::Name(path)) if path == "/*" => sources(&[Xml]),
            _ => sources(&[Xml, XmlAttributes]),
        },
        "REQUEST_URI" => sources(&[RequestUri]),
        "REQUEST_URI_RAW" => sources(&[RequestUriRaw]),
        "REQUEST_FILENAME" => sources(&[RequestFilename]),
        "REQUEST_BASENAME" => sources(&[RequestBasename]),
        "REQUEST_LINE" => sources(&[RequestLine]),
        "REQUEST_METHOD" => sources(&[RequestMethod]),
        "REQUEST_PROTOCOL" => sources(&[RequestProtocol]),
        "QUERY_STRING" => sources(&[QueryString]),
        "REQUEST_BODY" => sources(&[RequestBody]),
        "REQUEST_BODY_LENGTH" => sources(&[RequestBodyLength]),
        "REMOTE_ADDR" => sources(&[RemoteAddr]),
        "REQBODY_PROCESSOR" => sources(&[ReqbodyProcessor]),
        "REQBODY_ERROR" => sources(&[ReqbodyError]),
        "REQBODY_ERROR_MSG" => sources(&[ReqbodyErrorMsg]),
        "MULTIPART_STRICT_ERROR" => sources(&[MultipartStrictError]),
        "MULTIPART_UNMATCHED_BOUNDARY" => sources(&[MultipartUnmatchedBoundary]),
        "FILES_COMBINED_SIZE" => sources(&[FilesCombinedSize]),
        "ARGS_COMBINED_SIZE" => sources(&[ArgsCombinedSize]),
        "TX" => Some(Var::Tx),
        "MATCHED_VAR" => Some(Var::MatchedVar),
        "MATCHED_VAR_NAME" => Some(Var::MatchedVarName),
        "MATCHED_VARS" => Some(Var::MatchedVars),
        "MATCHED_VARS_NAMES" => Some(Var::MatchedVarsNames),
        "UNIQUE_ID"
        | "IP"
        | "GLOBAL"
        | "SESSION"
        | "USER"
        | "RESOURCE"
        | "GEO"
        | "ENV"
        | "DURATION"
        | "TIME"
        | "TIME_EPOCH"
        | "REQUEST_HEADERS_RAW" => Some(Var::Unsupported),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str) -> RuleSet {
        compile(&[RuleSource {
            name: "test".into(),
            text,
            data_dir: None,
        }])
        .unwrap()
    }

    #[test]
    fn chains_phases_and_markers() {
        let set = build(
            r#"
SecRule ARGS "@rx a" "id:1,phase:1,pass,chain"
    SecRule ARGS_NAMES "@rx b" "t:lowercase"
SecMarker END
SecRule REQUEST_BODY "@rx select\s+from" "id:2,phase:2,deny,t:none,t:urlDecodeUni"
SecRule RESPONSE_BODY "@rx x" "id:3,phase:4,pass"
"#,
        );
        assert_eq!(set.rules.len(), 2);
        assert_eq!(set.rules[0].links.len(), 2);
        assert_eq!(set.phases[0].len(), 2);
        assert_eq!(set.markers[1]["END"], 0);
        assert_eq!(set.rules[1].disruptive, Disruptive::Deny);
        assert!(set.rules[1].links[0].prefilter.is_some());
    }

    #[test]
    fn unsupported_things_make_a_rule_inert_and_are_reported() {
        let set = build(r#"SecRule ARGS "@inspectFile x" "id:5,pass""#);
        assert!(set.rules[0].inert);
        assert_eq!(set.warnings.len(), 1);
    }

    #[test]
    fn load_time_removal_and_target_update() {
        let set = build(
            r#"
SecRule ARGS "@rx a" "id:10,pass,tag:'attack-xss'"
SecRule ARGS "@rx a" "id:11,pass"
SecRuleRemoveByTag attack-xss
SecRuleUpdateTargetById 11 "!ARGS:password"
"#,
        );
        assert!(set.rules[0].inert);
        assert!(!set.rules[1].inert);
        assert_eq!(set.rules[1].links[0].exclusions.len(), 1);
    }
}
