//! Prints what one inspection costs, per request kind, with the embedded
//! rules and with OWASP CRS loaded (paranoia 1, blocking mode). Figures, not
//! assertions; run optimised:
//!
//! ```text
//! cargo run --release -p ironcart-waf --example waf_speed
//! ```
//!
//! `--profile N` only inspects each request N times with CRS loaded and
//! prints nothing else, for an instruction profiler:
//! `valgrind --tool=callgrind target/release/examples/waf_speed --profile 20`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use ironcart_waf::{Context, Request, Waf};

const CRS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/waf/crs");
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

struct Case {
    name: &'static str,
    method: &'static str,
    target: &'static str,
    content_type: Option<&'static str>,
    body: &'static str,
}

const CASES: [Case; 4] = [
    Case {
        name: "clean GET with query",
        method: "GET",
        target: "/products?category=mugs&page=2&sort=price&q=union+jack",
        content_type: None,
        body: "",
    },
    Case {
        name: "clean POST JSON",
        method: "POST",
        target: "/cart/items",
        content_type: Some("application/json"),
        body: r#"{"sku":"MUG-001","quantity":2,"note":"Gift wrap please, it's for O'Brien & family","address":{"line1":"12 Main St #4","city":"Coeur d'Alene"}}"#,
    },
    Case {
        name: "SQLi GET",
        method: "GET",
        target: "/products?q=1%27%20UNION%20SELECT%20email%2Cpassword%20FROM%20users--",
        content_type: None,
        body: "",
    },
    Case {
        name: "XSS POST JSON",
        method: "POST",
        target: "/reviews",
        content_type: Some("application/json"),
        body: r#"{"product":"MUG-001","text":"<img src=x onerror=alert(document.cookie)>"}"#,
    },
];

fn inspect(waf: &Waf, case: &Case) -> bool {
    let mut request = Request::new(case.method, case.target)
        .header("Host", "shop.example")
        .header("User-Agent", BROWSER)
        .header("Accept", "application/json")
        .header("Accept-Language", "en-GB,en;q=0.8")
        .header("Cookie", "session=Zm9vYmFy; theme=dark")
        .body(case.body.as_bytes());
    if let Some(content_type) = case.content_type {
        request = request.header("Content-Type", content_type);
    }
    waf.inspect(&request, &Context::anonymous()).is_blocked()
}

/// Median per-request time over `rounds` batches.
fn measure(waf: &Waf, case: &Case) -> (Duration, bool) {
    let blocked = inspect(waf, case);
    let per_batch = 200;
    let mut samples: Vec<Duration> = (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                black_box(inspect(waf, black_box(case)));
            }
            start.elapsed() / per_batch
        })
        .collect();
    samples.sort();
    (samples[samples.len() / 2], blocked)
}

fn report(label: &str, waf: &Waf) {
    let (filtered, unfiltered) = waf.prefilter_coverage();
    println!(
        "\n{label} ({} request rules; {filtered} regexes prefiltered, {unfiltered} always run)",
        waf.rule_count()
    );
    for case in &CASES {
        let (cost, blocked) = measure(waf, case);
        let verdict = if blocked { "blocked" } else { "allowed" };
        println!(
            "  {:<22} {:>9.1} µs/request  ({verdict})",
            case.name,
            cost.as_secs_f64() * 1e6
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, rounds] = args.as_slice()
        && flag == "--profile"
    {
        let crs = Waf::builder()
            .default_rules(false)
            .crs(CRS_DIR)
            .build()
            .unwrap();
        for _ in 0..rounds.parse::<usize>().unwrap() {
            for case in &CASES {
                black_box(inspect(&crs, black_box(case)));
            }
        }
        return;
    }
    let empty = Waf::builder().default_rules(false).build().unwrap();
    report("no rules (waf_throughput's \"off\")", &empty);

    let started = Instant::now();
    let default_waf = Waf::with_default_rules().unwrap();
    println!("\ndefault rules compiled in {:?}", started.elapsed());
    report("embedded default rules", &default_waf);

    let started = Instant::now();
    let crs = Waf::builder()
        .default_rules(false)
        .crs(CRS_DIR)
        .build()
        .unwrap();
    println!("\nCRS compiled in {:?}", started.elapsed());
    report("OWASP CRS 4, paranoia 1", &crs);
}
