//! SecLang operators (`@rx`, `@pm`, `@detectSQLi`, ...): the test a rule
//! applies to each transformed value.

use std::net::IpAddr;
use std::path::Path;

use aho_corasick::AhoCorasick;

/// Expands `%{...}` macros in operator parameters at evaluation time.
pub(crate) trait Expand {
    fn expand(&self, template: &str) -> Vec<u8>;
}

/// A parameter that may hold macros.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Fixed(Vec<u8>),
    Macro(String),
}

impl Param {
    fn new(text: &str) -> Self {
        if text.contains("%{") {
            Self::Macro(text.to_owned())
        } else {
            Self::Fixed(text.as_bytes().to_vec())
        }
    }

    fn resolve<'a>(&'a self, env: &dyn Expand) -> std::borrow::Cow<'a, [u8]> {
        match self {
            Self::Fixed(bytes) => std::borrow::Cow::Borrowed(bytes),
            Self::Macro(template) => std::borrow::Cow::Owned(env.expand(template)),
        }
    }
}

/// A compiled regular expression: the fast engine when it can, the
/// backtracking one for look-around and back-references.
#[derive(Debug)]
pub(crate) enum Pattern {
    Fast(regex::bytes::Regex),
    Backtracking(Box<fancy_regex::Regex>),
}

/// The compiled `@rx` operand and what the prefilter knows about it.
#[derive(Debug)]
pub(crate) struct Rx {
    pub pattern: Pattern,
    pub literals: Option<Vec<Vec<u8>>>,
}

/// The operator of one rule (or chain link).
#[derive(Debug)]
pub(crate) enum Operator {
    Rx(Box<Rx>),
    Pm(Box<AhoCorasick>),
    StrEq(Param),
    Contains(Param),
    ContainsWord(Param),
    BeginsWith(Param),
    EndsWith(Param),
    Within(Param),
    Compare(Comparison, Param),
    ValidateByteRange(Box<[bool; 256]>),
    ValidateUrlEncoding,
    ValidateUtf8Encoding,
    IpMatch(Vec<(IpAddr, u8)>),
    /// libinjection; fingerprints listed here count only with SQL syntax.
    DetectSqli(Vec<String>),
    DetectXss,
    Unconditional,
    NoMatch,
}

/// Numeric comparisons (`@eq`, `@ge`, ...).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Comparison {
    Eq,
    Ge,
    Gt,
    Le,
    Lt,
}

/// What a successful match yields: capture groups (`TX:0`..`TX:9`).
#[derive(Debug, Default)]
pub(crate) struct OperatorMatch {
    pub captures: Vec<Vec<u8>>,
}

/// Why an operator could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OperatorError {
    #[error("unsupported operator @{0}")]
    Unsupported(String),
    #[error("regex does not compile: {0}")]
    Regex(String),
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
    #[error("bad parameter: {0}")]
    Param(String),
}

impl Operator {
    /// Builds operator `name` with `param`; files resolve against `base`.
    pub(crate) fn build(
        name: &str,
        param: &str,
        base: Option<&Path>,
    ) -> Result<Self, OperatorError> {
        Ok(match name {
            "rx" => Self::Rx(Box::new(compile_rx(param)?)),
            "pm" => Self::Pm(Box::new(phrases(param.split_whitespace())?)),
            "pmfromfile" | "pmf" => Self::Pm(Box::new(phrase_file(param, base)?)),
            "streq" => Self::StrEq(Param::new(param)),
            "contains" => Self::Contains(Param::new(param)),
            "containsword" => Self::ContainsWord(Param::new(param)),
            "beginswith" => Self::BeginsWith(Param::new(param)),
            "endswith" => Self::EndsWith(Param::new(param)),
            "within" => Self::Within(Param::new(param)),
            "eq" => Self::Compare(Comparison::Eq, Param::new(param)),
            "ge" => Self::Compare(Comparison::Ge, Param::new(param)),
            "gt" => Self::Compare(Comparison::Gt, Param::new(param)),
            "le" => Self::Compare(Comparison::Le, Param::new(param)),
            "lt" => Self::Compare(Comparison::Lt, Param::new(param)),
            "validatebyterange" => Self::ValidateByteRange(Box::new(byte_ranges(param)?)),
            "validateurlencoding" => Self::ValidateUrlEncoding,
            "validateutf8encoding" => Self::ValidateUtf8Encoding,
            "ipmatch" => Self::IpMatch(networks(param)?),
            "detectsqli" => Self::DetectSqli(param.split_whitespace().map(str::to_owned).collect()),
            "detectxss" => Self::DetectXss,
            "unconditionalmatch" => Self::Unconditional,
            "nomatch" => Self::NoMatch,
            other => return Err(OperatorError::Unsupported(other.to_owned())),
        })
    }

    pub(crate) fn is_regex(&self) -> bool {
        matches!(self, Self::Rx(_))
    }

    /// The prefilter literals, for `@rx` operators that have them.
    pub(crate) fn literals(&self) -> Option<&[Vec<u8>]> {
        match self {
            Self::Rx(rx) => rx.literals.as_deref(),
            _ => None,
        }
    }

    /// Tests `value`; `Some` on a match (before any negation).
    pub(crate) fn evaluate(&self, value: &[u8], env: &dyn Expand) -> Option<OperatorMatch> {
        let hit = |yes: bool| yes.then(OperatorMatch::default);
        match self {
            Self::Rx(rx) => rx_match(&rx.pattern, value),
            Self::Pm(automaton) => automaton.find(value).map(|found| OperatorMatch {
                captures: vec![value[found.range()].to_vec()],
            }),
            Self::StrEq(param) => hit(value == param.resolve(env).as_ref()),
            Self::Contains(param) => hit(contains(value, &param.resolve(env))),
            Self::ContainsWord(param) => hit(contains_word(value, &param.resolve(env))),
            Self::BeginsWith(param) => hit(value.starts_with(&param.resolve(env))),
            Self::EndsWith(param) => hit(value.ends_with(&param.resolve(env))),
            Self::Within(param) => hit(!value.is_empty() && contains(&param.resolve(env), value)),
            Self::Compare(comparison, param) => hit(compare(
                *comparison,
                number(value),
                number(&param.resolve(env)),
            )),
            Self::ValidateByteRange(allowed) => {
                hit(value.iter().any(|&b| !allowed[usize::from(b)]))
            }
            Self::ValidateUrlEncoding => hit(bad_url_encoding(value)),
            Self::ValidateUtf8Encoding => hit(std::str::from_utf8(value).is_err()),
            Self::IpMatch(networks) => hit(ip_in(value, networks)),
            Self::DetectSqli(weak) => detect_sqli(value, weak),
            Self::DetectXss => hit(libinjectionrs::detect_xss(value).is_injection()),
            Self::Unconditional => hit(true),
            Self::NoMatch => None,
        }
    }
}

/// Compiles `pattern` the way ModSecurity's PCRE does (dot matches newline),
/// trying the linear-time engine first.
pub(crate) fn compile_rx(pattern: &str) -> Result<Rx, OperatorError> {
    let bytewise = bytewise_pattern(pattern);
    let build = |unicode: bool| {
        let pattern = if unicode { pattern } else { bytewise.as_str() };
        regex::bytes::RegexBuilder::new(pattern)
            .unicode(unicode)
            .dot_matches_new_line(true)
            .size_limit(64 << 20)
            .dfa_size_limit(16 << 20)
            .build()
    };
    if let Ok(regex) = build(false) {
        return Ok(Rx {
            pattern: Pattern::Fast(regex),
            literals: crate::prefilter::required_literals(&bytewise, false),
        });
    }
    if let Ok(regex) = build(true) {
        return Ok(Rx {
            pattern: Pattern::Fast(regex),
            literals: crate::prefilter::required_literals(pattern, true),
        });
    }
    let fancy = fancy_regex::RegexBuilder::new(&format!("(?s){pattern}"))
        .backtrack_limit(100_000)
        .build()
        .map_err(|err| OperatorError::Regex(err.to_string()))?;
    Ok(Rx {
        pattern: Pattern::Backtracking(Box::new(fancy)),
        literals: None,
    })
}

/// PCRE without UTF mode (as ModSecurity runs it) reads a non-ASCII
/// character in a pattern as its UTF-8 bytes, each a separate unit (so a
/// class `[’]` matches any one of its three bytes), and `\x{bc}` as the
/// byte 0xBC. Spelling those as `\xHH` gives Rust's byte-oriented regex
/// the same meaning.
fn bytewise_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(c);
            let Some(next) = chars.next() else { break };
            if next == 'x' && chars.peek() == Some(&'{') {
                let braced: String = chars.by_ref().take_while(|&d| d != '}').collect();
                let braced = braced.trim_start_matches('{');
                match u8::from_str_radix(braced, 16) {
                    Ok(byte) => out.push_str(&format!("x{byte:02X}")),
                    Err(_) => out.push_str(&format!("x{{{braced}}}")),
                }
            } else {
                push_bytewise(&mut out, next);
            }
        } else {
            push_bytewise(&mut out, c);
        }
    }
    out
}

fn push_bytewise(out: &mut String, c: char) {
    if c.is_ascii() {
        out.push(c);
    } else {
        let mut buffer = [0u8; 4];
        for byte in c.encode_utf8(&mut buffer).bytes() {
            out.push_str(&format!("\\x{byte:02X}"));
        }
    }
}

fn rx_match(pattern: &Pattern, value: &[u8]) -> Option<OperatorMatch> {
    match pattern {
        Pattern::Fast(regex) => {
            let captures = regex.captures(value)?;
            Some(OperatorMatch {
                captures: captures
                    .iter()
                    .take(10)
                    .map(|group| group.map(|m| m.as_bytes().to_vec()).unwrap_or_default())
                    .collect(),
            })
        }
        Pattern::Backtracking(regex) => {
            let text = String::from_utf8_lossy(value);
            // A pattern that exhausts its backtracking budget counts as no match.
            let captures = regex.captures(&text).ok()??;
            Some(OperatorMatch {
                captures: captures
                    .iter()
                    .take(10)
                    .map(|group| {
                        group
                            .map(|m| m.as_str().as_bytes().to_vec())
                            .unwrap_or_default()
                    })
                    .collect(),
            })
        }
    }
}

/// libinjection's verdict; a weak fingerprint also needs SQL syntax.
fn detect_sqli(value: &[u8], weak: &[String]) -> Option<OperatorMatch> {
    let result = libinjectionrs::detect_sqli(value);
    if !result.is_injection() {
        return None;
    }
    let fingerprint = result
        .fingerprint
        .map(|f| f.to_string())
        .unwrap_or_default();
    if weak.contains(&fingerprint) && !has_sql_syntax(value) {
        return None;
    }
    Some(OperatorMatch {
        captures: vec![fingerprint.into_bytes()],
    })
}

fn has_sql_syntax(value: &[u8]) -> bool {
    value.iter().any(|b| {
        matches!(
            b,
            b'\'' | b'`' | b'#' | b';' | b'(' | b'=' | b'<' | b'>' | b'!' | b'|' | b'\\'
        )
    }) || contains(value, b"--")
        || contains(value, b"/*")
}

fn phrases<'a>(words: impl Iterator<Item = &'a str>) -> Result<AhoCorasick, OperatorError> {
    let words: Vec<&str> = words.filter(|w| !w.is_empty()).collect();
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(words)
        .map_err(|err| OperatorError::Param(err.to_string()))
}

fn phrase_file(names: &str, base: Option<&Path>) -> Result<AhoCorasick, OperatorError> {
    let mut lines = Vec::new();
    for name in names.split_whitespace() {
        let path = base.map_or_else(|| Path::new(name).to_path_buf(), |dir| dir.join(name));
        let text = std::fs::read_to_string(&path).map_err(|err| OperatorError::File {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
        lines.extend(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_owned),
        );
    }
    phrases(lines.iter().map(String::as_str))
}

fn byte_ranges(param: &str) -> Result<[bool; 256], OperatorError> {
    let mut allowed = [false; 256];
    for item in param.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (low, high) = item.split_once('-').unwrap_or((item, item));
        let parse = |text: &str| {
            text.trim()
                .parse::<u8>()
                .map_err(|_| OperatorError::Param(format!("byte range {item:?}")))
        };
        for byte in parse(low)?..=parse(high)? {
            allowed[usize::from(byte)] = true;
        }
    }
    Ok(allowed)
}

fn networks(param: &str) -> Result<Vec<(IpAddr, u8)>, OperatorError> {
    param
        .split([',', ' '])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (addr, bits) = item.split_once('/').unwrap_or((item, ""));
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| OperatorError::Param(format!("address {item:?}")))?;
            let full = if addr.is_ipv4() { 32 } else { 128 };
            let bits = if bits.is_empty() {
                full
            } else {
                bits.parse()
                    .map_err(|_| OperatorError::Param(format!("prefix {item:?}")))?
            };
            Ok((addr, bits))
        })
        .collect()
}

fn ip_in(value: &[u8], networks: &[(IpAddr, u8)]) -> bool {
    let Some(addr) = std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.trim().parse::<IpAddr>().ok())
    else {
        return false;
    };
    networks
        .iter()
        .any(|(network, bits)| match (addr, network) {
            (IpAddr::V4(a), IpAddr::V4(n)) => prefix_equal(&a.octets(), &n.octets(), *bits),
            (IpAddr::V6(a), IpAddr::V6(n)) => prefix_equal(&a.octets(), &n.octets(), *bits),
            _ => false,
        })
}

fn prefix_equal(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    a.iter().zip(b).enumerate().all(|(i, (x, y))| {
        let used = bits.saturating_sub(i * 8).min(8);
        let mask = if used == 0 { 0 } else { 0xffu8 << (8 - used) };
        x & mask == y & mask
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || crate::transform::find(haystack, needle).is_some()
}

fn contains_word(haystack: &[u8], word: &[u8]) -> bool {
    if word.is_empty() {
        return true;
    }
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    haystack.windows(word.len()).enumerate().any(|(i, window)| {
        window == word
            && (i == 0 || !is_word(haystack[i - 1]))
            && haystack.get(i + word.len()).is_none_or(|&b| !is_word(b))
    })
}

/// The leading integer of `value`, as C's `atoi` reads it (0 if none).
fn number(value: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(value);
    let text = text.trim_start();
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

fn compare(comparison: Comparison, left: i64, right: i64) -> bool {
    match comparison {
        Comparison::Eq => left == right,
        Comparison::Ge => left >= right,
        Comparison::Gt => left > right,
        Comparison::Le => left <= right,
        Comparison::Lt => left < right,
    }
}

fn bad_url_encoding(value: &[u8]) -> bool {
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'%' {
            let valid = value.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && value.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !valid {
                return true;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoMacros;
    impl Expand for NoMacros {
        fn expand(&self, template: &str) -> Vec<u8> {
            template.replace("%{tx.n}", "5").into_bytes()
        }
    }

    fn op(name: &str, param: &str) -> Operator {
        Operator::build(name, param, None).unwrap()
    }

    fn matches(operator: &Operator, value: &str) -> bool {
        operator.evaluate(value.as_bytes(), &NoMacros).is_some()
    }

    #[test]
    fn rx_captures_and_falls_back_for_lookaround() {
        let rx = op("rx", r"(\d+)-(\d+)");
        let found = rx.evaluate(b"x 12-34", &NoMacros).unwrap();
        assert_eq!(
            found.captures,
            vec![b"12-34".to_vec(), b"12".to_vec(), b"34".to_vec()]
        );
        let lookahead = op("rx", r"a(?!b)");
        assert!(matches(&lookahead, "ac"));
        assert!(!matches(&lookahead, "ab"));
    }

    #[test]
    fn non_ascii_pattern_characters_are_bytes() {
        let class = op("rx", "^[’]{3}$");
        assert!(class.evaluate("’".as_bytes(), &NoMacros).is_some());
        assert!(op("rx", r"\x{bc}x").evaluate(b"\xbcx", &NoMacros).is_some());
    }

    #[test]
    fn phrase_and_string_operators() {
        assert!(matches(&op("pm", "nikto sqlmap"), "Mozilla SQLMap/1.0"));
        assert!(!matches(&op("pm", "nikto sqlmap"), "Mozilla"));
        assert!(matches(&op("within", "GET HEAD POST"), "POST"));
        assert!(!matches(&op("within", "GET HEAD POST"), "DELETE"));
        assert!(matches(&op("containsword", "or"), "1 or 2"));
        assert!(!matches(&op("containsword", "or"), "order"));
    }

    #[test]
    fn numbers_and_macros() {
        assert!(matches(&op("ge", "%{tx.n}"), "7"));
        assert!(!matches(&op("lt", "%{tx.n}"), "7"));
        assert!(matches(&op("eq", "0"), "abc"));
    }

    #[test]
    fn validators() {
        assert!(matches(&op("validatebyterange", "32-126"), "a\u{1}"));
        assert!(!matches(&op("validatebyterange", "32-126"), "abc"));
        assert!(matches(&Operator::ValidateUrlEncoding, "%zz"));
        assert!(!matches(&Operator::ValidateUrlEncoding, "%41"));
        assert!(
            Operator::ValidateUtf8Encoding
                .evaluate(b"\xc3(", &NoMacros)
                .is_some()
        );
    }

    #[test]
    fn ip_match() {
        let networks = op("ipmatch", "127.0.0.1,10.0.0.0/8,::1");
        assert!(matches(&networks, "10.1.2.3"));
        assert!(matches(&networks, "::1"));
        assert!(!matches(&networks, "11.0.0.1"));
    }

    #[test]
    fn libinjection_operators() {
        let plain = Operator::DetectSqli(Vec::new());
        assert!(matches(&plain, "1' OR '1'='1"));
        assert!(!matches(&plain, "O'Brien"));
        assert!(
            matches(&plain, "\"LIKE\" STAMP"),
            "libinjection alone flags it"
        );
        let guarded = op("detectsqli", "sos 1&1");
        assert!(!matches(&guarded, "\"LIKE\" STAMP"));
        assert!(!matches(&guarded, "80% ACRYLIC AND 20% WOOL"));
        assert!(matches(&guarded, "1 or 1=1"));
        assert!(matches(&guarded, "1' OR '1'='1"));
        assert!(matches(&Operator::DetectXss, "<script>alert(1)</script>"));
    }
}
