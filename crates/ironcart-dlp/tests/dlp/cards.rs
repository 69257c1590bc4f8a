//! Payment card numbers: found in every layout, never confused with the
//! other numbers of a shop, masked down to the last four digits.

use ironcart_dlp::{CardBrand, Kind, card_brand, contains_card_number, mask, scan};

use crate::{TEST_CARDS, found, layouts};

#[test]
fn every_providers_test_card_is_found_in_every_layout() {
    let mut checked = 0;
    for (name, digits) in TEST_CARDS {
        for layout in layouts(digits) {
            for text in [
                layout.clone(),
                format!("Please charge my card {layout}, thanks"),
                format!("card:{layout}"),
                format!("\"pan\":\"{layout}\""),
                format!("({layout})"),
                format!("line one\n{layout}\nline three"),
            ] {
                assert_eq!(
                    found(&text, &scan(&text)),
                    vec![(Kind::PaymentCard, layout.as_str())],
                    "{name} in {text:?}"
                );
                assert!(contains_card_number(&text), "{name} in {text:?}");
                checked += 1;
            }
        }
    }
    assert_eq!(
        checked,
        6 * TEST_CARDS
            .iter()
            .map(|(_, d)| layouts(d).len())
            .sum::<usize>()
    );
}

#[test]
fn brands_are_recognised() {
    let expected = [
        ("4242424242424242", CardBrand::Visa),
        ("2223003122003222", CardBrand::Mastercard),
        ("378282246310005", CardBrand::Amex),
        ("6011111111111117", CardBrand::Discover),
        ("3566002020360505", CardBrand::Jcb),
        ("36227206271667", CardBrand::DinersClub),
        ("6200000000000005", CardBrand::UnionPay),
        ("6304000000000000", CardBrand::Maestro),
        ("6799998900000099990", CardBrand::Maestro),
    ];
    for (digits, brand) in expected {
        assert_eq!(card_brand(digits), Some(brand), "{digits}");
    }
}

#[test]
fn two_cards_in_one_text_are_both_found() {
    let text = "old 4242 4242 4242 4242, new 5555-5555-5555-4444 and 378282246310005.";
    assert_eq!(
        found(text, &scan(text)),
        vec![
            (Kind::PaymentCard, "4242 4242 4242 4242"),
            (Kind::PaymentCard, "5555-5555-5555-4444"),
            (Kind::PaymentCard, "378282246310005"),
        ]
    );
    assert_eq!(
        mask(text, &scan(text)),
        "old **** **** **** 4242, new ****-****-****-4444 and ***********0005."
    );
}

#[test]
fn a_card_followed_by_its_expiry_or_code_is_still_found() {
    let text = "4242 4242 4242 4242 12 27 123";
    assert_eq!(
        found(text, &scan(text)),
        vec![(Kind::PaymentCard, "4242 4242 4242 4242")]
    );
    assert_eq!(mask(text, &scan(text)), "**** **** **** 4242 12 27 123");
}

#[test]
fn luhn_invalid_numbers_are_not_cards() {
    for digits in [
        "4242424242424241",
        "5555555555554445",
        "4111111111111112",
        "6011111111111118",
        "378282246310006",
    ] {
        for layout in layouts(digits) {
            assert!(scan(&layout).is_empty(), "{layout}");
            assert!(!contains_card_number(&layout), "{layout}");
        }
    }
}

#[test]
fn the_other_numbers_of_a_shop_are_not_cards() {
    let ordinary = [
        // Order numbers and ids.
        "Order #100045 confirmed",
        "order ORD-2024-000123",
        "order 20240515000123",
        "ref 1000000000000001",
        // UUIDs, including one whose last group is a valid 12-digit Maestro.
        "550e8400-e29b-41d4-a716-446655440000",
        "id 123e4567-e89b-12d3-a456-501800000009",
        "0194f1c2-7d1e-7b2a-9c3d-4e5f60718293",
        // Phone numbers.
        "call +1 (415) 555-0132",
        "+44 20 7946 0958",
        "415-555-0132",
        "+49 30 901820",
        "tel 0049 30 1234 5678",
        // Timestamps.
        "1715000000",
        "created 1715000000123",
        "2024-05-15T10:30:00Z",
        "20240515103000",
        // Prices and quantities.
        "EUR 4242.42",
        "$1,299.99",
        "4,242,424,242.00",
        "ratio 0.4242424242424242",
        "4242424242424242.00",
        "qty 12 x 19.99",
        // SKUs and barcodes.
        "SKU-4242424242424242",
        "sku_5555555555554444",
        "TSHIRT-RED-XL-4242",
        "EAN 5012345678900",
        // ISBNs.
        "ISBN 978-0-306-40615-7",
        "ISBN 9780306406157",
        "ISBN 0-306-40615-2",
        // Bank and parcel references.
        "IBAN DE89 3704 0044 0532 0130 00",
        "tracking 1Z999AA10123456784",
        // Long digit runs containing a valid card number.
        "42424242424242424242",
        "x 0004242424242424242 y",
        "74242424242424242",
        "424242424242424242424242424242",
    ];
    for text in ordinary {
        let findings = scan(text);
        assert!(
            findings.is_empty(),
            "{text:?}: {:?}",
            found(text, &findings)
        );
    }
}

#[test]
fn masking_shows_at_most_the_last_four_digits() {
    for (_, digits) in TEST_CARDS {
        for layout in layouts(digits) {
            let text = format!("pay with {layout} now");
            let findings = scan(&text);
            let masked = mask(&text, &findings);
            let shown: String = masked.chars().filter(char::is_ascii_digit).collect();
            assert_eq!(shown, digits[digits.len() - 4..], "{masked}");
            assert_eq!(masked.len(), text.len(), "layout is kept: {masked}");
            assert_eq!(
                findings.first().map(|f| f.preview.as_str()),
                masked.get(9..9 + layout.len())
            );
        }
    }
    assert_eq!(
        mask("4242 4242 4242 4242", &scan("4242 4242 4242 4242")),
        "**** **** **** 4242"
    );
}

#[test]
fn the_ingress_check_also_refuses_numbers_glued_to_words() {
    for text in [
        "card4242424242424242",
        "my card is 4242-4242-4242-4242!",
        "SKU-4242424242424242",
        "pan=5555555555554444x",
    ] {
        assert!(contains_card_number(text), "{text}");
    }
    for text in [
        "no card here",
        "ratio 0.4242424242424242",
        "4242424242424242.5",
        "42424242424242424242",
        "call 415-555-0132",
    ] {
        assert!(!contains_card_number(text), "{text}");
    }
}
