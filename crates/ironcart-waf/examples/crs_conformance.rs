//! Prints the CRS regression conformance of the engine, per rule family,
//! and every failing case with its reason.
//!
//! ```text
//! cargo run --release -p ironcart-waf --example crs_conformance
//! ```
//! Optional arguments restrict the families, e.g. `942 941`;
//! `--audit-prefilter` also runs every regex the prefilter skipped and
//! reports any that would have matched (there must be none).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/ftw.rs"]
mod ftw;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let audit = args.iter().any(|a| a == "--audit-prefilter");
    let families: Vec<String> = args.into_iter().filter(|a| !a.starts_with("--")).collect();
    let prefixes: Vec<String> = if families.is_empty() {
        vec!["REQUEST-9".to_owned()]
    } else {
        families.iter().map(|f| format!("REQUEST-{f}")).collect()
    };
    let prefix_refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();

    let waf = ftw::crs_waf();
    println!("CRS loaded: {} request rules", waf.rule_count());
    for warning in waf.warnings() {
        println!("  load warning: {warning}");
    }
    let results = ftw::run_suite_with(&waf, &prefix_refs, audit);
    if audit {
        let misses: usize = results.iter().map(|c| c.prefilter_misses).sum();
        println!(
            "prefilter audit: {misses} regex matches skipped in {} requests",
            results.len()
        );
        for case in results.iter().filter(|c| c.prefilter_misses > 0) {
            println!("  prefilter skipped a match in {}", case.test);
        }
    }

    println!("\nfailures:");
    for case in results
        .iter()
        .filter(|c| !c.missing.is_empty() || !c.unexpected.is_empty())
    {
        let mut reasons = Vec::new();
        if !case.missing.is_empty() {
            reasons.push(format!("expected {:?} did not fire", case.missing));
        }
        if !case.unexpected.is_empty() {
            reasons.push(format!("{:?} fired but must not", case.unexpected));
        }
        println!(
            "  {} [{}]: {} (fired: {:?})",
            case.test,
            case.family,
            reasons.join("; "),
            case.got
        );
    }

    println!("\nfamily  expect_ids pass/total      no_expect_ids pass/total");
    let mut total = ftw::Tally::default();
    let mut target = ftw::Tally::default();
    for (family, tally) in ftw::tallies(&results) {
        tally.print_row(&family);
        total.merge(&tally);
        if family.as_str() >= "920" {
            target.merge(&tally);
        }
    }
    for (label, tally) in [("all", total), ("920-944", target)] {
        tally.print_row(label);
    }
}
