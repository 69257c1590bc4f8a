//! Benchmark, not part of the product: end-to-end throughput of the whole
//! pipeline with the WAF off, with the embedded rules, and with OWASP CRS 4 at
//! paranoia 1, in one process and one run, driven by wrk over loopback.
//!
//! "Off" is the same router and pipeline with a rule engine that holds no
//! rules (the product has no switch to remove the WAF): what remains is
//! buffering the body and adapting the request, a few microseconds.
//!
//! Requests: a clean search (GET with a query, browser headers), an SQL
//! injection in that search (403 when the WAF blocks), and a clean and an XSS
//! JSON POST to the cart without a token (401 after the WAF, or 403).
//!
//! ```text
//! apt-get install -y wrk
//! cargo run --release -p ironcart --example waf_throughput -- [SECONDS]
//! ```

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use ironcart::app::Settings;
use ironcart::clock::Clock;
use ironcart::domain::payments::SandboxProvider;
use ironcart::edge::waf::WafSettings;
use ironcart::security::ratelimit::RateLimitSettings;
use ironcart::server::{self, StateParts};
use ironcart::store::{KekSource, Store};
use ironcart_waf::Waf;

const CRS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/waf/crs");
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const CLEAN_GET: &str = "/api/v1/products?q=union+jack&vendor=Ironcart&per_page=5&page=2";
const SQLI_GET: &str =
    "/api/v1/products?q=1%27%20UNION%20SELECT%20email%2Cpassword%20FROM%20users--";
const CLEAN_JSON: &str = r#"{"variant_id":"0196a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b","quantity":2,"note":"Gift wrap please, it's for O'Brien & family"}"#;
const XSS_JSON: &str = r#"{"variant_id":"0196a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b","note":"<img src=x onerror=alert(1)>"}"#;

/// One wrk run: requests per second, p50 and p99 in milliseconds.
struct Figures {
    rps: f64,
    p50: f64,
    p99: f64,
}

async fn serve(waf: Waf, dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let store = Store::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("ironcart.db").display()
    ))
    .await
    .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let settings = Settings {
        rate_limits: RateLimitSettings::unlimited_for_tests(),
        ..Settings::default()
    };
    let state = server::build_state_with_waf(
        StateParts {
            store,
            data_dir: dir.to_path_buf(),
            public_url: base.clone(),
            settings,
            payments: Arc::new(SandboxProvider::default()),
            clock: Clock::System,
            kek: KekSource::default_file(dir),
        },
        waf,
    )
    .await
    .unwrap();
    let running = server::spawn(listener, state, None).await.unwrap();
    std::mem::forget(running);
    base
}

fn lua_post(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(format!("{name}.lua"));
    let script = format!(
        "wrk.method = \"POST\"\nwrk.body = [[{body}]]\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
    );
    std::fs::write(&path, script).unwrap();
    path.display().to_string()
}

fn wrk(url: &str, seconds: u32, script: Option<&str>) -> Figures {
    let mut command = Command::new("wrk");
    command
        .args(["-t2", "-c32", "--latency", &format!("-d{seconds}s")])
        .args(["-H", &format!("User-Agent: {BROWSER}")])
        .args([
            "-H",
            "Accept: application/json",
            "-H",
            "Accept-Language: en-GB,en;q=0.8",
        ]);
    if let Some(script) = script {
        command.args(["-s", script]);
    }
    let output = command
        .arg(url)
        .output()
        .expect("wrk (apt-get install -y wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    let value_of = |label: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} in wrk output:\n{text}"));
        let raw = line.split_whitespace().nth(1).unwrap();
        milliseconds(raw)
    };
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    Figures {
        rps,
        p50: value_of("50%"),
        p99: value_of("99%"),
    }
}

/// wrk latency ("812.00us", "1.20ms", "1.01s") in milliseconds.
fn milliseconds(raw: &str) -> f64 {
    let split = raw
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let number: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => number / 1000.0,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => number,
    }
}

#[tokio::main]
async fn main() {
    let seconds: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
        .min(60);
    let dir = tempfile::tempdir().unwrap();
    let configs = [
        (
            "off (no rules)",
            Waf::builder().default_rules(false).build().unwrap(),
        ),
        (
            "embedded rules",
            ironcart::edge::waf::build(&WafSettings::default()).unwrap(),
        ),
        (
            "CRS 4 paranoia 1",
            ironcart::edge::waf::build(&WafSettings {
                crs_dir: Some(CRS_DIR.into()),
                ..WafSettings::default()
            })
            .unwrap(),
        ),
    ];
    let mut servers = Vec::new();
    for (n, (label, waf)) in configs.into_iter().enumerate() {
        let data = dir.path().join(format!("server-{n}"));
        servers.push((label, serve(waf, &data).await));
    }
    let clean_post = lua_post(dir.path(), "clean", CLEAN_JSON);
    let xss_post = lua_post(dir.path(), "xss", XSS_JSON);
    let cases: [(&str, &str, Option<&str>); 4] = [
        ("clean GET search", CLEAN_GET, None),
        ("SQLi GET search", SQLI_GET, None),
        ("clean JSON POST", "/api/v1/cart/items", Some(&clean_post)),
        ("XSS JSON POST", "/api/v1/cart/items", Some(&xss_post)),
    ];
    println!("wrk -t2 -c32 -d{seconds}s, plain HTTP on loopback, one process, tokio 2 workers\n");
    println!(
        "{:<18} {:<18} {:>10} {:>8} {:>8} {:>9}",
        "request", "WAF", "req/s", "p50 ms", "p99 ms", "vs off"
    );
    for (name, path, script) in cases {
        let mut off_rps = None;
        for (label, base) in &servers {
            let (url, script) = (format!("{base}{path}"), script.map(str::to_owned));
            let figures =
                tokio::task::spawn_blocking(move || wrk(&url, seconds, script.as_deref()))
                    .await
                    .unwrap();
            let ratio = figures.rps / *off_rps.get_or_insert(figures.rps);
            println!(
                "{name:<18} {label:<18} {:>10.0} {:>8.2} {:>8.2} {:>8.2}×",
                figures.rps, figures.p50, figures.p99, ratio
            );
        }
    }
}
