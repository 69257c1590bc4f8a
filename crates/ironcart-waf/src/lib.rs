//! Ironcart's web application firewall: a SecLang rule engine that inspects
//! each request (method, path, query, headers, cookies, JSON / form /
//! multipart / XML bodies) and returns a [`Verdict`] with an anomaly score,
//! the decision and the matched rules, ready to be logged as a security event.
//!
//! - [`Waf::with_default_rules`] gives a zero-setup WAF: an embedded rule set
//!   written for a JSON API (SQL injection and XSS through libinjection, path
//!   traversal, command injection, protocol enforcement), no files needed.
//! - [`WafBuilder::crs`] loads an OWASP CRS 4 directory as users download it,
//!   honouring `crs-setup.conf` (or the `.example`) for paranoia level and
//!   thresholds, which the builder may override.
//! - [`Exclusion`]s are data: per route, per field, per role.
//!
//! The engine is framework-independent: the app adapts its request into a
//! [`Request`] and its routing/authentication result into a [`Context`].
//! Design notes and measured conformance are in `DESIGN.md`.

#![forbid(unsafe_code)]

mod collect;
mod compile;
mod crs;
mod default_rules;
mod engine;
mod exclusion;
mod multipart;
mod operator;
mod prefilter;
pub mod redact;
mod request;
mod seclang;
mod transform;
mod verdict;

use std::path::{Path, PathBuf};

pub use compile::{CompileError, RuleSelector};
pub use exclusion::{Context, Exclusion, ExclusionError};
pub use request::Request;
pub use verdict::{Action, Match, Verdict};

use compile::{EngineMode, RuleSet, RuleSource};
use exclusion::CompiledExclusion;

/// Whether matches block requests or are only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Requests over the anomaly threshold are blocked.
    #[default]
    Blocking,
    /// Nothing is blocked; verdicts still carry scores, matches and `would_block`.
    DetectionOnly,
}

/// A paranoia level from 1 (few false positives) to 4 (most detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Paranoia(u8);

impl Paranoia {
    /// The level, if it lies in 1..=4.
    pub fn new(level: u8) -> Option<Self> {
        (1..=4).contains(&level).then_some(Self(level))
    }

    pub fn level(self) -> u8 {
        self.0
    }
}

/// Why a WAF could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} holds no CRS rules (expected rules/*.conf)")]
    NotCrs(PathBuf),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Exclusion(#[from] ExclusionError),
}

/// Builds a [`Waf`]: mode, paranoia, threshold, rule sources and exclusions.
#[derive(Debug, Clone)]
pub struct WafBuilder {
    mode: Mode,
    paranoia: Option<Paranoia>,
    inbound_threshold: Option<u32>,
    default_rules: bool,
    crs_dir: Option<PathBuf>,
    setup_rules: Vec<(String, String)>,
    extra_rules: Vec<(String, String)>,
    exclusions: Vec<Exclusion>,
}

impl Default for WafBuilder {
    fn default() -> Self {
        Self {
            mode: Mode::Blocking,
            paranoia: None,
            inbound_threshold: None,
            default_rules: true,
            crs_dir: None,
            setup_rules: Vec::new(),
            extra_rules: Vec::new(),
            exclusions: Vec::new(),
        }
    }
}

impl WafBuilder {
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Overrides the paranoia level (default: 1, or what `crs-setup.conf` says).
    pub fn paranoia(mut self, paranoia: Paranoia) -> Self {
        self.paranoia = Some(paranoia);
        self
    }

    /// Overrides the inbound anomaly score threshold (default 5).
    pub fn inbound_threshold(mut self, threshold: u32) -> Self {
        self.inbound_threshold = Some(threshold);
        self
    }

    /// Whether the embedded Ironcart rules are loaded (default yes).
    pub fn default_rules(mut self, enabled: bool) -> Self {
        self.default_rules = enabled;
        self
    }

    /// Loads an OWASP CRS 4 directory (holding `rules/` and
    /// `crs-setup.conf` or `crs-setup.conf.example`).
    pub fn crs(mut self, dir: impl Into<PathBuf>) -> Self {
        self.crs_dir = Some(dir.into());
        self
    }

    /// SecLang evaluated right after the setup file, before any rule
    /// (the place for `SecAction` settings such as CRS's 900xxx rules).
    pub fn setup_rules(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.setup_rules.push((name.into(), text.into()));
        self
    }

    /// SecLang appended after all other rules.
    pub fn rules(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.extra_rules.push((name.into(), text.into()));
        self
    }

    pub fn exclusion(mut self, exclusion: Exclusion) -> Self {
        self.exclusions.push(exclusion);
        self
    }

    pub fn exclusions(mut self, exclusions: impl IntoIterator<Item = Exclusion>) -> Self {
        self.exclusions.extend(exclusions);
        self
    }

    /// Reads and compiles everything.
    pub fn build(self) -> Result<Waf, LoadError> {
        let crs = self.crs_dir.as_deref().map(crs::read).transpose()?;
        let settings = self.settings_rules();
        let mut sources: Vec<RuleSource<'_>> = Vec::new();
        if let Some(files) = &crs {
            sources.push(files.setup_source());
        }
        sources.push(source("settings", &settings, None));
        sources.extend(self.setup_rules.iter().map(|(n, t)| source(n, t, None)));
        if self.default_rules {
            sources.push(source("ironcart-default-rules", default_rules::TEXT, None));
        }
        if let Some(files) = &crs {
            sources.extend(files.rule_sources());
        }
        sources.extend(self.extra_rules.iter().map(|(n, t)| source(n, t, None)));
        let rules = compile::compile(&sources)?;
        let exclusions = self
            .exclusions
            .into_iter()
            .map(CompiledExclusion::new)
            .collect::<Result<_, _>>()?;
        Ok(Waf {
            rules,
            mode: self.mode,
            exclusions,
        })
    }

    /// A `SecAction` setting the builder's overrides for both rule sets.
    fn settings_rules(&self) -> String {
        let mut setvars = Vec::new();
        if let Some(paranoia) = self.paranoia {
            let level = paranoia.level();
            setvars.push(format!("setvar:tx.blocking_paranoia_level={level}"));
            setvars.push(format!("setvar:tx.detection_paranoia_level={level}"));
            setvars.push(format!("setvar:tx.ironcart_paranoia_level={level}"));
        }
        if let Some(threshold) = self.inbound_threshold {
            setvars.push(format!(
                "setvar:tx.inbound_anomaly_score_threshold={threshold}"
            ));
            setvars.push(format!("setvar:tx.ironcart_inbound_threshold={threshold}"));
        }
        if setvars.is_empty() {
            return String::new();
        }
        format!(
            "SecAction \"id:9,phase:1,pass,nolog,{}\"\n",
            setvars.join(",")
        )
    }
}

fn source<'a>(name: &str, text: &'a str, data_dir: Option<&'a Path>) -> RuleSource<'a> {
    RuleSource {
        name: name.to_owned(),
        text,
        data_dir,
    }
}

/// A compiled WAF; cheap to share (`Arc<Waf>`) and safe across threads.
#[derive(Debug)]
pub struct Waf {
    rules: RuleSet,
    mode: Mode,
    exclusions: Vec<CompiledExclusion>,
}

impl Waf {
    pub fn builder() -> WafBuilder {
        WafBuilder::default()
    }

    /// The embedded rule set in blocking mode at paranoia level 1.
    pub fn with_default_rules() -> Result<Self, LoadError> {
        Self::builder().build()
    }

    /// Inspects one request.
    pub fn inspect(&self, request: &Request<'_>, context: &Context<'_>) -> Verdict {
        let outcome = self.run(request, context, false);
        let anomaly_score = ["blocking_inbound_anomaly_score", "ironcart_anomaly_score"]
            .iter()
            .filter_map(|name| outcome.tx.get(*name))
            .map(|value| engine::number(value))
            .sum();
        Verdict {
            action: if outcome.interrupted {
                Action::Block
            } else {
                Action::Allow
            },
            anomaly_score,
            would_block: outcome.would_block,
            matched: outcome.matched,
        }
    }

    /// Number of compiled (request-phase) rules.
    pub fn rule_count(&self) -> usize {
        self.rules.rules.len()
    }

    /// Rules that were loaded inert because they use something unsupported.
    pub fn warnings(&self) -> &[String] {
        &self.rules.warnings
    }

    /// How many `@rx` operators have a prefilter literal set, and how many
    /// must run on every value (reported by the speed example).
    #[doc(hidden)]
    pub fn prefilter_coverage(&self) -> (usize, usize) {
        let links = self.rules.rules.iter().flat_map(|rule| rule.links.iter());
        let regexes: Vec<_> = links.filter(|link| link.operator.is_regex()).collect();
        let filtered = regexes
            .iter()
            .filter(|link| link.prefilter.is_some())
            .count();
        (filtered, regexes.len() - filtered)
    }

    /// Test aid: how many regex matches the prefilter would have skipped
    /// on this request (must always be 0).
    #[doc(hidden)]
    pub fn prefilter_misses(&self, request: &Request<'_>, context: &Context<'_>) -> usize {
        self.run(request, context, true).prefilter_misses
    }

    fn run(&self, request: &Request<'_>, context: &Context<'_>, audit: bool) -> engine::Outcome {
        let removals =
            exclusion::removals_for(&self.exclusions, request.method, request.path(), context);
        let mode = match self.mode {
            Mode::Blocking => EngineMode::On,
            Mode::DetectionOnly => EngineMode::DetectionOnly,
        };
        engine::evaluate(&self.rules, request, mode, removals, audit)
    }
}
