//! Replays a deterministic sample of the CRS regression tests (go-ftw YAML)
//! over real HTTPS against `ironcart serve --waf-rules <CRS>`, and prints per
//! rule family how many `expect_ids` and `no_expect_ids` cases pass, judged by
//! the rule ids in the server's security events, with every failure and its
//! reason. The in-process run of the whole corpus is `ironcart-waf`'s
//! `crs_conformance` example.
//!
//! ```text
//! cargo build --release -p ironcart --bin ironcart --example crs_http
//! target/release/examples/crs_http                 # 40 stages per family
//! target/release/examples/crs_http --per-family 0  # every stage
//! target/release/examples/crs_http --bin PATH 942 941
//! ```
//!
//! `--modsecurity ADDR ERROR_LOG` also replays the sample through nginx with
//! libmodsecurity and the same CRS at ADDR (plain HTTP; `bench/waf_nginx.sh`
//! sets it up) and prints both engines side by side.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/crs_over_http.rs"]
mod crs_over_http;
#[allow(dead_code)]
#[path = "../../ironcart-waf/tests/support/ftw.rs"]
mod ftw;

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut per_family = 40;
    let mut binary: Option<PathBuf> = None;
    let mut families = Vec::new();
    let mut modsecurity = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--per-family" => per_family = args.next().and_then(|n| n.parse().ok()).unwrap(),
            "--bin" => binary = args.next().map(PathBuf::from),
            "--modsecurity" => {
                let addr = args.next().and_then(|a| a.parse().ok()).unwrap();
                let error_log = args.next().map(PathBuf::from).unwrap();
                modsecurity = Some(crs_over_http::ModSecurity { addr, error_log });
            }
            family => families.push(format!("REQUEST-{family}")),
        }
    }
    if families.is_empty() {
        families.push("REQUEST-9".to_owned());
    }
    // The server binary built next to this example (target/<profile>/ironcart).
    let binary = binary.unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent()
            .and_then(|p| p.parent())
            .unwrap()
            .join("ironcart")
    });
    let prefixes: Vec<&str> = families.iter().map(String::as_str).collect();
    let all = ftw::stages(&prefixes);
    let stages = if per_family == 0 {
        all
    } else {
        crs_over_http::sample(all, per_family)
    };

    let server = crs_over_http::Server::start(&binary, None);
    let waf = ftw::crs_waf();
    let started = Instant::now();
    let cases = crs_over_http::replay(&server, &stages, &waf);
    println!(
        "{} stages over HTTPS in {:.1} s against {}\n",
        cases.len(),
        started.elapsed().as_secs_f64(),
        binary.display()
    );
    crs_over_http::report(&cases);

    if let Some(nginx) = modsecurity {
        let started = Instant::now();
        let theirs = nginx.replay(&stages, &waf);
        println!(
            "\n{} stages over HTTP through nginx + ModSecurity at {} in {:.1} s\n",
            theirs.len(),
            nginx.addr,
            started.elapsed().as_secs_f64()
        );
        crs_over_http::report(&theirs);
        crs_over_http::compare(&cases, &theirs);
    }
}
