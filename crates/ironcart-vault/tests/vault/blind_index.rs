//! Blind indexes: deterministic under one key, distinct for distinct
//! addresses, and unlinkable across keys.

use std::collections::HashSet;

use ironcart_vault::normalize_email;
use proptest::prelude::*;

use crate::{TestResult, fresh_ring};

#[test]
fn the_same_address_in_any_spelling_gives_the_same_index() -> TestResult {
    let (_, _, ring) = fresh_ring()?;
    let canonical = ring.email_blind_index("rene@example.fr")?;
    assert_eq!(canonical.len(), 64);
    assert!(
        canonical
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    for spelling in ["rene@example.fr", " RENE@Example.FR", "René@example.fr\t"] {
        let index = ring.email_blind_index(spelling)?;
        if spelling.contains('é') {
            assert_ne!(index, canonical, "é is not e");
            // Composed and decomposed é are one address.
            assert_eq!(index, ring.email_blind_index("Rene\u{301}@EXAMPLE.fr")?);
        } else {
            assert_eq!(index, canonical, "{spelling:?}");
        }
    }
    Ok(())
}

#[test]
fn different_addresses_give_different_indexes() -> TestResult {
    let (_, _, ring) = fresh_ring()?;
    let mut seen = HashSet::new();
    for i in 0..2_000 {
        assert!(seen.insert(ring.email_blind_index(&format!("customer{i}@example.com"))?));
    }
    // Near misses too.
    for email in [
        "a@example.com",
        "a@example.co",
        "a@examp1e.com",
        "a+1@example.com",
        "a@example.com.",
    ] {
        assert!(seen.insert(ring.email_blind_index(email)?), "{email}");
    }
    Ok(())
}

#[test]
fn without_the_key_an_index_links_to_nothing() -> TestResult {
    let (_, _, ours) = fresh_ring()?;
    let (_, _, theirs) = fresh_ring()?;
    let email = "ann@example.com";
    let index = ours.email_blind_index(email)?;
    // Another installation (another root key) computes an unrelated value,
    // and the index is not a plain hash of the address either.
    assert_ne!(index, theirs.email_blind_index(email)?);
    let differing_nibbles = index
        .chars()
        .zip(theirs.email_blind_index(email)?.chars())
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        differing_nibbles > 32,
        "only {differing_nibbles} of 64 nibbles differ"
    );
    assert!(
        !index.contains("616e6e"),
        "index must not embed the hex of the address"
    );
    Ok(())
}

proptest! {
    #[test]
    fn normalisation_is_idempotent(raw in "\\PC{0,40}") {
        let once = normalize_email(&raw);
        prop_assert_eq!(normalize_email(&once), once.clone());
        prop_assert_eq!(once.trim(), once.as_str());
    }

    #[test]
    fn distinct_normalised_addresses_get_distinct_indexes(a in "[a-zA-Z0-9.+_-]{1,20}@[a-z]{1,10}\\.[a-z]{2,4}", b in "[a-zA-Z0-9.+_-]{1,20}@[a-z]{1,10}\\.[a-z]{2,4}") {
        let (_, _, ring) = fresh_ring().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let same = normalize_email(&a) == normalize_email(&b);
        let index_a = ring.email_blind_index(&a).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let index_b = ring.email_blind_index(&b).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(same, index_a == index_b);
    }
}
