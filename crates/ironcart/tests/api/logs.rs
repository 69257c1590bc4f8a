//! The logs of the attack suites carry no secrets. This test runs those suites again,
//! in a child process of this very binary, with their logs written the way
//! production writes them (the product's telemetry: JSON lines through the redacting
//! writer) while the harness notes every secret it handles. Then it searches the log
//! for each secret, and for the encodings an attacker would try.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Instant;

use base64::Engine as _;
use serde_json::Value;

use crate::common::{CAPTURED_LOG, CAPTURED_SECRETS, LOG_DIR_VARIABLE, PASSWORD};

/// The suites that attack the product, by module.
const ATTACK_SUITES: [&str; 12] = [
    "auth::",
    "bans::",
    "tokens::",
    "waf::",
    "validation::",
    "dlp::",
    "limits::",
    "rbac::",
    "orders::",
    "checkout::",
    "encryption::",
    "exfil::",
];

/// Security events the attack suites must have caused, proving the capture is real.
const EXPECTED_ACTIONS: [&str; 7] = [
    "waf.blocked",
    "auth.login",
    "auth.token_rejected",
    "authz.denied",
    "ratelimit.exceeded",
    "pii.read_quota_exceeded",
    "security.ip_banned",
];

/// Shorter values (weak passwords the policy refuses, such as "password") would
/// match words of the log itself and prove nothing.
const SHORTEST_SECRET: usize = 10;

#[test]
fn attack_suites_leak_no_secrets() {
    if std::env::var_os(LOG_DIR_VARIABLE).is_some() {
        return; // Already the capturing child: never recurse.
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args(ATTACK_SUITES)
        .args(["--skip", "logs::"])
        .env(LOG_DIR_VARIABLE, dir.path())
        .env_remove("RUST_LOG")
        .output()
        .expect("re-run the attack suites");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let tail: String = stdout.lines().rev().take(60).collect::<Vec<_>>().join("\n");
    assert!(output.status.success(), "the attack suites failed:\n{tail}");
    eprintln!(
        "attack suites re-run with log capture in {:.1?}",
        started.elapsed()
    );

    let log = std::fs::read_to_string(dir.path().join(CAPTURED_LOG)).expect("captured log");
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).expect("every log line is one JSON object"))
        .collect();
    assert!(
        lines.len() > 1000,
        "only {} log lines captured",
        lines.len()
    );
    let actions: BTreeSet<&str> = lines
        .iter()
        .filter(|line| line["target"] == "security")
        .filter_map(|line| line["fields"]["action"].as_str())
        .collect();
    for action in EXPECTED_ACTIONS {
        assert!(
            actions.contains(action),
            "no {action} event logged: {actions:?}"
        );
    }

    let secrets = noted_secrets(&dir.path().join(CAPTURED_SECRETS));
    assert!(
        secrets.contains(&("password".to_owned(), PASSWORD.to_owned())),
        "the suite's own password is searched for"
    );
    let kinds: BTreeSet<&str> = secrets.iter().map(|(kind, _)| kind.as_str()).collect();
    for kind in [
        "password",
        "email",
        "token",
        "bearer token",
        "card number",
        "KEK",
        "signing key",
    ] {
        assert!(kinds.contains(kind), "no {kind} was noted: {kinds:?}");
    }
    let searched: Vec<(&str, String)> = secrets
        .iter()
        .flat_map(|(kind, secret)| {
            encodings(kind, secret)
                .into_iter()
                .map(move |f| (kind.as_str(), f))
        })
        .collect();
    let matcher = aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(searched.iter().map(|(_, form)| form))
        .expect("secret matcher");
    let mut leaks: Vec<String> = matcher
        .find_overlapping_iter(&log)
        .map(|found| {
            let (kind, form) = &searched[found.pattern().as_usize()];
            let line = log[..found.start()].matches('\n').count() + 1;
            format!("a {kind} ({} chars) at log line {line}", form.len())
        })
        .collect();
    leaks.extend(token_shapes(&log));
    assert!(
        leaks.is_empty(),
        "secrets in the logs:\n{}",
        leaks.join("\n")
    );
}

/// (kind, value) of every secret the harness noted, long enough to search for, and
/// never also sent where it is public.
fn noted_secrets(path: &std::path::Path) -> BTreeSet<(String, String)> {
    let noted: BTreeSet<(String, String)> = std::fs::read_to_string(path)
        .expect("noted secrets")
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("secret line"))
        .map(|s| {
            let field = |name: &str| s[name].as_str().unwrap_or("").to_owned();
            (field("kind"), field("value"))
        })
        .collect();
    let public: Vec<&str> = noted
        .iter()
        .filter(|(kind, _)| kind == "public")
        .map(|(_, value)| value.as_str())
        .collect();
    noted
        .iter()
        .filter(|(kind, value)| {
            kind != "public"
                && value.trim().chars().count() >= SHORTEST_SECRET
                && !public.iter().any(|p| p.contains(value.as_str()))
        })
        .cloned()
        .collect()
}

/// The forms a secret could take in a log line.
fn encodings(kind: &str, secret: &str) -> Vec<String> {
    let escaped = serde_json::to_string(secret).expect("json string");
    let mut forms = vec![
        secret.to_owned(),
        escaped.trim_matches('"').to_owned(),
        percent_encoded(secret),
        percent_encoded(secret).replace("%20", "+"),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
    ];
    match kind {
        "email" => {
            forms.push(secret.replace('@', "\\u0040"));
            if let Some((local, _)) = secret.rsplit_once('@')
                && local.len() >= 12
            {
                forms.push(local.to_owned());
            }
        }
        "card number" => forms.push(secret.chars().filter(char::is_ascii_digit).collect()),
        _ => {}
    }
    forms
}

fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Anything shaped like an access token (a JWS) or a refresh token, noted or not.
fn token_shapes(log: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in log.match_indices("eyJ") {
        let candidate: String = log[at..]
            .chars()
            .take_while(|c| is_token_char(*c) || *c == '.')
            .collect();
        let segments: Vec<&str> = candidate.split('.').collect();
        if segments.len() >= 3 && segments.iter().take(3).all(|s| s.len() >= 10) {
            found.push(format!("a JWS-shaped string at byte {at}"));
        }
    }
    for (at, _) in log.match_indices("rt_") {
        let body = log[at + 3..]
            .chars()
            .take_while(|c| is_token_char(*c))
            .count();
        let starts_word = !log[..at].chars().next_back().is_some_and(is_token_char);
        if starts_word && body >= 32 {
            found.push(format!("a refresh-token-shaped string at byte {at}"));
        }
    }
    found
}
