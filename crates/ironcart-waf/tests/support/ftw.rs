//! Runs the OWASP CRS regression tests (go-ftw YAML) in process against the
//! engine with CRS loaded, and tallies per rule family how many
//! `expect_ids` and `no_expect_ids` cases pass. Shared by the
//! `crs_conformance` example (full report) and test (floors).
//!
//! Each test stage becomes one [`Request`]; go-ftw's header autocompletion
//! (Content-Length, and a form Content-Type for bodies without one) is
//! imitated, and `encoded_request` stages are decoded and parsed. The CRS
//! is configured the way its regression suite documents: detection-only,
//! paranoia 4, its argument and file size limits.
//!
//! Each stage also keeps the bytes go-ftw would put on the wire, so the
//! same cases can be replayed over HTTP (`ironcart`'s `crs_http` example).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ironcart_waf::{Context, Mode, Request, Waf};
use serde_yaml::Value;

pub const CRS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/waf/crs");
pub const REGRESSION_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/waf/crs-regression"
);

/// The configuration the CRS regression suite expects (its rule 900005).
pub const SUITE_SETUP: &str = r#"SecAction "id:900005,phase:1,pass,nolog,\
    ctl:ruleRemoveById=910000,\
    setvar:tx.blocking_paranoia_level=4,\
    setvar:tx.crs_validate_utf8_encoding=1,\
    setvar:tx.arg_name_length=100,\
    setvar:tx.arg_length=400,\
    setvar:tx.total_arg_length=64000,\
    setvar:tx.max_num_args=255,\
    setvar:tx.max_file_size=64100,\
    setvar:tx.combined_file_sizes=65535""#;

/// CRS loaded as the regression suite expects it.
pub fn crs_waf() -> Waf {
    assert!(
        Path::new(CRS_DIR).join("rules").is_dir(),
        "CRS rules not found at {CRS_DIR}: the conformance run needs ../shared/data/waf/crs"
    );
    Waf::builder()
        .mode(Mode::DetectionOnly)
        .default_rules(false)
        .crs(CRS_DIR)
        .setup_rules("regression-suite-setup", SUITE_SETUP)
        .build()
        .expect("CRS loads")
}

/// One stage's outcome.
#[derive(Debug, Clone)]
#[allow(dead_code)] // `test`, `got` and the audit are read by the example only
pub struct CaseResult {
    pub family: String,
    pub test: String,
    pub expect: Vec<u32>,
    pub no_expect: Vec<u32>,
    pub missing: Vec<u32>,
    pub unexpected: Vec<u32>,
    pub got: Vec<u32>,
    pub prefilter_misses: usize,
}

/// Pass counts for one family.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub expect_pass: usize,
    pub expect_total: usize,
    pub no_expect_pass: usize,
    pub no_expect_total: usize,
}

impl Tally {
    pub fn add(&mut self, case: &CaseResult) {
        if !case.expect.is_empty() {
            self.expect_total += 1;
            self.expect_pass += usize::from(case.missing.is_empty());
        }
        if !case.no_expect.is_empty() {
            self.no_expect_total += 1;
            self.no_expect_pass += usize::from(case.unexpected.is_empty());
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.expect_pass += other.expect_pass;
        self.expect_total += other.expect_total;
        self.no_expect_pass += other.no_expect_pass;
        self.no_expect_total += other.no_expect_total;
    }

    pub fn expect_rate(&self) -> f64 {
        rate(self.expect_pass, self.expect_total)
    }

    pub fn no_expect_rate(&self) -> f64 {
        rate(self.no_expect_pass, self.no_expect_total)
    }

    /// One line of the per-family report.
    #[allow(dead_code)] // the in-process test asserts, it does not print rows
    pub fn print_row(&self, label: &str) {
        println!(
            "{label:<7} {:>5}/{:<5} {:>6.1}%      {:>5}/{:<5} {:>6.1}%",
            self.expect_pass,
            self.expect_total,
            self.expect_rate(),
            self.no_expect_pass,
            self.no_expect_total,
            self.no_expect_rate()
        );
    }
}

fn rate(pass: usize, total: usize) -> f64 {
    if total == 0 {
        100.0
    } else {
        100.0 * pass as f64 / total as f64
    }
}

/// Runs every stage with an id expectation in the families whose folder
/// starts with one of `prefixes` (e.g. `REQUEST-942`).
#[allow(dead_code)] // the example always passes its audit flag
pub fn run_suite(waf: &Waf, prefixes: &[&str]) -> Vec<CaseResult> {
    run_suite_with(waf, prefixes, false)
}

/// As [`run_suite`]; with `audit`, also counts regex matches the prefilter
/// would have skipped (slow: every skipped regex is run).
pub fn run_suite_with(waf: &Waf, prefixes: &[&str], audit: bool) -> Vec<CaseResult> {
    stages(prefixes)
        .iter()
        .map(|stage| run_stage(waf, stage, audit))
        .collect()
}

/// One go-ftw stage with an id expectation.
#[derive(Debug, Clone)]
pub struct Stage {
    pub family: String,
    /// `<rule>-<test_id>`, e.g. `942100-3`.
    pub test: String,
    pub expect: Vec<u32>,
    pub no_expect: Vec<u32>,
    pub request: RawRequest,
}

impl Stage {
    /// The outcome, given the rule ids that fired for this stage's request.
    pub fn result(&self, got: Vec<u32>) -> CaseResult {
        CaseResult {
            family: self.family.clone(),
            test: self.test.clone(),
            missing: self
                .expect
                .iter()
                .copied()
                .filter(|id| !got.contains(id))
                .collect(),
            unexpected: self
                .no_expect
                .iter()
                .copied()
                .filter(|id| got.contains(id))
                .collect(),
            expect: self.expect.clone(),
            no_expect: self.no_expect.clone(),
            got,
            prefilter_misses: 0,
        }
    }
}

/// Every stage with an id expectation in the families whose folder starts
/// with one of `prefixes`, in file and test order.
pub fn stages(prefixes: &[&str]) -> Vec<Stage> {
    let mut stages = Vec::new();
    for file in yaml_files(prefixes) {
        let text = std::fs::read_to_string(&file).expect("readable test file");
        let document: Value = serde_yaml::from_str(&text).expect("valid YAML");
        let family = family_of(&file);
        let rule = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for test in document["tests"].as_sequence().into_iter().flatten() {
            let test_id = scalar(&test["test_id"]);
            for stage in test["stages"].as_sequence().into_iter().flatten() {
                let name = format!("{rule}-{test_id}");
                stages.extend(read_stage(stage, &family, &name));
            }
        }
    }
    stages
}

fn yaml_files(prefixes: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(REGRESSION_DIR);
    assert!(
        root.is_dir(),
        "CRS regression tests not found at {REGRESSION_DIR}"
    );
    let mut files = Vec::new();
    for family in std::fs::read_dir(root)
        .expect("readable regression dir")
        .flatten()
    {
        let name = family.file_name().to_string_lossy().into_owned();
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        for file in std::fs::read_dir(family.path())
            .expect("readable family")
            .flatten()
        {
            if file.path().extension().is_some_and(|e| e == "yaml") {
                files.push(file.path());
            }
        }
    }
    files.sort();
    files
}

fn family_of(file: &Path) -> String {
    file.parent()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().chars().skip(8).take(3).collect())
        .unwrap_or_default()
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Sequence(items) => items.iter().map(scalar).collect(),
        _ => String::new(),
    }
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|id| scalar(id).parse().ok())
        .collect()
}

/// A request as raw parts, owned so a `Request` can borrow it.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The bytes go-ftw sends: `encoded_request` verbatim (malformed ones
    /// included), else the request line, headers and data as given.
    #[allow(dead_code)] // read by the HTTP replay only
    pub wire: Vec<u8>,
}

impl RawRequest {
    /// The engine's view of this request.
    pub fn to_request(&self) -> Request<'_> {
        let mut request = Request::new(&self.method, &self.target)
            .version(&self.version)
            .body(&self.body);
        for (name, value) in &self.headers {
            request.push_header(name, value);
        }
        request
    }
}

fn read_stage(stage: &Value, family: &str, test: &str) -> Option<Stage> {
    let log = &stage["output"]["log"];
    let expect = ids(&log["expect_ids"]);
    let no_expect = ids(&log["no_expect_ids"]);
    if expect.is_empty() && no_expect.is_empty() {
        return None;
    }
    let input = &stage["input"];
    let request = match input["encoded_request"].as_str() {
        Some(encoded) => decode_raw_request(encoded)?,
        None => stage_request(input),
    };
    Some(Stage {
        family: family.to_owned(),
        test: test.to_owned(),
        expect,
        no_expect,
        request,
    })
}

fn run_stage(waf: &Waf, stage: &Stage, audit: bool) -> CaseResult {
    let request = stage.request.to_request();
    let got = waf.inspect(&request, &Context::anonymous()).rule_ids();
    let mut result = stage.result(got);
    if audit {
        result.prefilter_misses = waf.prefilter_misses(&request, &Context::anonymous());
    }
    result
}

fn stage_request(input: &Value) -> RawRequest {
    let text_or = |key: &str, default: &str| {
        input[key]
            .as_str()
            .map_or_else(|| default.to_owned(), str::to_owned)
    };
    let body = scalar(&input["data"]).into_bytes();
    let mut headers: Vec<(String, Vec<u8>)> = input["headers"]
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(name, value)| (scalar(name), scalar(value).into_bytes()))
        .collect();
    let autocomplete = input["autocomplete_headers"].as_bool().unwrap_or(true);
    let has = |headers: &[(String, Vec<u8>)], name: &str| {
        headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if autocomplete && !body.is_empty() {
        if !has(&headers, "content-length") {
            headers.push((
                "Content-Length".to_owned(),
                body.len().to_string().into_bytes(),
            ));
        }
        if !has(&headers, "content-type") {
            let form = b"application/x-www-form-urlencoded".to_vec();
            headers.push(("Content-Type".to_owned(), form));
        }
    }
    let (method, target, version) = (
        text_or("method", "GET"),
        text_or("uri", "/"),
        text_or("version", "HTTP/1.1"),
    );
    let mut wire = format!("{method} {target} {version}\r\n").into_bytes();
    for (name, value) in &headers {
        wire.extend_from_slice(name.as_bytes());
        wire.extend_from_slice(b": ");
        wire.extend_from_slice(value);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    wire.extend_from_slice(&body);
    RawRequest {
        method,
        target,
        version,
        headers,
        body,
        wire,
    }
}

fn decode_raw_request(encoded: &str) -> Option<RawRequest> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let body = bytes[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let version = request_line.next().unwrap_or("").to_owned();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().as_bytes().to_vec()))
        .collect();
    Some(RawRequest {
        method,
        target,
        version,
        headers,
        body,
        wire: bytes,
    })
}

/// Per-family tallies, in family order.
pub fn tallies(results: &[CaseResult]) -> BTreeMap<String, Tally> {
    let mut out: BTreeMap<String, Tally> = BTreeMap::new();
    for case in results {
        out.entry(case.family.clone()).or_default().add(case);
    }
    out
}
