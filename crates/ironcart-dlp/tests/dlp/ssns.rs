//! US social security numbers: found in the written layouts, outside the
//! ranges the SSA never issues, and masked to the last four digits.

use ironcart_dlp::{Kind, mask, scan, ssn_valid};

use crate::found;

#[test]
fn valid_ssns_are_found_and_masked() {
    for (text, ssn) in [
        ("SSN 123-45-6789", "123-45-6789"),
        ("ssn: 123 45 6789.", "123 45 6789"),
        ("078-05-1120", "078-05-1120"),
        ("899-99-9999 on file", "899-99-9999"),
        ("ssn 123-45-6789 4242", "123-45-6789"),
    ] {
        assert_eq!(found(text, &scan(text)), vec![(Kind::Ssn, ssn)], "{text}");
    }
    assert_eq!(
        mask("SSN 123-45-6789", &scan("SSN 123-45-6789")),
        "SSN ***-**-6789"
    );
    assert_eq!(
        mask("SSN 123 45 6789", &scan("SSN 123 45 6789")),
        "SSN *** ** 6789"
    );
}

#[test]
fn numbers_in_never_issued_ranges_or_other_layouts_are_not_ssns() {
    for text in [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "999-12-3456",
        "123-00-4567",
        "123-45-0000",
        "123456789",
        "123-45-67890",
        "1123-45-6789",
        "123-45-6789-1234",
        "123 45 6789 1234",
        "123-456-7890",
        "123-45 6789",
        "A123-45-6789",
        "v123-45-6789",
        "2024-05-15",
    ] {
        assert!(
            scan(text).is_empty(),
            "{text}: {:?}",
            found(text, &scan(text))
        );
    }
}

#[test]
fn the_ssa_rules_are_exact_at_their_edges() {
    assert!(ssn_valid(1, 1, 1));
    assert!(ssn_valid(665, 99, 9999));
    assert!(ssn_valid(667, 1, 1));
    assert!(ssn_valid(899, 1, 1));
    assert!(!ssn_valid(900, 1, 1));
    assert!(!ssn_valid(666, 1, 1));
    assert!(!ssn_valid(0, 1, 1));
    assert!(!ssn_valid(1, 0, 1));
    assert!(!ssn_valid(1, 1, 0));
}
