//! The parsing rules on small hand-written files: grouping of rows, defaults,
//! notes, and every kind of rejection with its line number.

use ironcart_shopify::limits::{MAX_INPUT_BYTES, MAX_ROWS};
use ironcart_shopify::{
    CatalogPlan, ImagePlan, InventoryPolicy, Limits, NoteKind, ParseError, ProductPlan, RowNote,
    VariantPlan, parse, parse_with_limits,
};

/// Columns of the test files, in order. A real export has more; only the
/// names matter. `Gift Card` stands for the columns this crate ignores.
const COLUMNS: [&str; 23] = [
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "Variant SKU",
    "Variant Grams",
    "Variant Inventory Qty",
    "Variant Inventory Policy",
    "Variant Price",
    "Variant Compare At Price",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "Gift Card",
];

/// One CSV line from (column, value) pairs; other cells are empty.
fn row(cells: &[(&str, &str)]) -> String {
    COLUMNS
        .iter()
        .map(|column| {
            let value = cells
                .iter()
                .find(|(name, _)| name == column)
                .map_or("", |(_, v)| v);
            if value.contains([',', '"', '\n']) {
                format!("\"{}\"", value.replace('"', "\"\""))
            } else {
                value.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn file(rows: &[String]) -> String {
    let mut text = COLUMNS.join(",");
    for line in rows {
        text.push_str("\r\n");
        text.push_str(line);
    }
    text
}

fn simple(handle: &str, title: &str, price: &str) -> String {
    row(&[
        ("Handle", handle),
        ("Title", title),
        ("Variant Price", price),
    ])
}

fn parse_text(text: &str) -> Result<CatalogPlan, ParseError> {
    parse(text.as_bytes())
}

/// The rendered problems ("line N: reason"), or the plan if it parsed.
fn problems(text: &str) -> Result<Vec<String>, CatalogPlan> {
    match parse_text(text) {
        Ok(plan) => Err(plan),
        Err(error) => Ok(error.problems.iter().map(ToString::to_string).collect()),
    }
}

#[test]
fn product_with_options_variants_and_images() -> Result<(), ParseError> {
    let text = file(&[
        row(&[
            ("Handle", "Tee"),
            ("Title", " Logo Tee "),
            (
                "Body (HTML)",
                "<p onclick=x>Soft <script>x()</script>cotton</p>",
            ),
            ("Vendor", "Acme"),
            ("Tags", "summer, Cotton,,summer"),
            ("Published", "TRUE"),
            ("Option1 Name", "Size"),
            ("Option1 Value", "S"),
            ("Option2 Name", "Color"),
            ("Option2 Value", "Red"),
            ("Variant SKU", "TEE-S-R"),
            ("Variant Inventory Qty", "4"),
            ("Variant Inventory Policy", "Continue"),
            ("Variant Price", "19.99"),
            ("Variant Compare At Price", "25"),
            ("Image Src", "https://cdn.example.com/tee.jpg"),
            ("Image Position", "1"),
            ("Image Alt Text", "Red tee"),
        ]),
        row(&[
            ("Handle", "tee"),
            ("Option1 Value", "M"),
            ("Option2 Value", "Red"),
            ("Variant SKU", "TEE-M-R"),
            ("Variant Price", "21"),
        ]),
        row(&[
            ("Handle", "tee"),
            ("Image Src", "https://cdn.example.com/back.jpg"),
            ("Image Position", "2"),
        ]),
    ]);
    let plan = parse_text(&text)?;
    let variant =
        |sku: &str, values: [&str; 2], price_minor, compare_at_minor, quantity, policy, line| {
            VariantPlan {
                sku: Some(sku.into()),
                option_values: values.map(String::from).to_vec(),
                price_minor,
                compare_at_minor,
                inventory_quantity: quantity,
                inventory_policy: policy,
                grams: None,
                requires_shipping: true,
                taxable: true,
                barcode: None,
                line,
            }
        };
    let expected = ProductPlan {
        handle: "tee".into(),
        title: "Logo Tee".into(),
        body_html: "<p>Soft cotton</p>".into(),
        vendor: Some("Acme".into()),
        product_type: None,
        tags: vec!["summer".into(), "Cotton".into()],
        published: true,
        option_names: vec!["Size".into(), "Color".into()],
        variants: vec![
            variant(
                "TEE-S-R",
                ["S", "Red"],
                1999,
                Some(2500),
                4,
                InventoryPolicy::Continue,
                2,
            ),
            variant(
                "TEE-M-R",
                ["M", "Red"],
                2100,
                None,
                0,
                InventoryPolicy::Deny,
                3,
            ),
        ],
        images: vec![
            ImagePlan {
                src: "https://cdn.example.com/tee.jpg".into(),
                position: Some(1),
                alt: Some("Red tee".into()),
                line: 2,
            },
            ImagePlan {
                src: "https://cdn.example.com/back.jpg".into(),
                position: Some(2),
                alt: None,
                line: 4,
            },
        ],
        line: 2,
    };
    assert_eq!(plan.products, vec![expected]);
    assert_eq!(
        plan.notes,
        vec![RowNote {
            line: 4,
            kind: NoteKind::ImageRow,
            reason: "image added to product \"tee\"".into()
        }]
    );
    Ok(())
}

#[test]
fn empty_published_means_unpublished() -> Result<(), ParseError> {
    let plan = parse_text(&file(&[
        simple("a", "A", "1"),
        row(&[
            ("Handle", "b"),
            ("Title", "B"),
            ("Variant Price", "1"),
            ("Published", "false"),
        ]),
    ]))?;
    let published: Vec<bool> = plan.products.iter().map(|p| p.published).collect();
    assert_eq!(published, [false, false]);
    Ok(())
}

#[test]
fn harmless_rows_become_notes() -> Result<(), ParseError> {
    let text = file(&[
        simple("a", "A", "1"),
        ",".repeat(COLUMNS.len() - 1),
        row(&[("Gift Card", "false")]),
        row(&[("Handle", "a"), ("Vendor", "Other"), ("Tags", "x")]),
        row(&[("Handle", "a"), ("Image Alt Text", "orphan alt")]),
        row(&[
            ("Handle", "b"),
            ("Title", "B"),
            ("Variant Price", "2"),
            ("Variant Inventory Qty", "-3"),
            ("Image Src", "https://cdn.example.com/b.jpg"),
        ]),
        row(&[
            ("Handle", "b"),
            ("Image Src", "https://cdn.example.com/b.jpg"),
        ]),
    ]);
    let plan = parse_text(&text)?;
    let notes: Vec<(u64, NoteKind, &str)> = plan
        .notes
        .iter()
        .map(|n| (n.line, n.kind, n.reason.as_str()))
        .collect();
    assert_eq!(
        notes,
        [
            (
                3,
                NoteKind::Skipped,
                "row is empty in every column we import"
            ),
            (
                4,
                NoteKind::Skipped,
                "row is empty in every column we import"
            ),
            (
                5,
                NoteKind::Ignored,
                "Vendor, Tags ignored: product details come from the product's first row (line 2)"
            ),
            (
                5,
                NoteKind::Skipped,
                "row for \"a\" has no variant or image data"
            ),
            (
                6,
                NoteKind::Ignored,
                "Image Position and Image Alt Text ignored: Image Src is empty"
            ),
            (
                6,
                NoteKind::Skipped,
                "row for \"a\" has no variant or image data"
            ),
            (
                7,
                NoteKind::Adjusted,
                "Variant Inventory Qty -3 is negative; imported as 0"
            ),
            (
                8,
                NoteKind::Ignored,
                "Image Src already listed for this product on line 7"
            ),
        ]
    );
    let b = &plan.products[1];
    assert_eq!(b.variants[0].inventory_quantity, 0);
    assert_eq!(b.images.len(), 1);
    assert_eq!(plan.products[0].vendor, None);
    Ok(())
}

#[test]
fn columns_are_found_by_name_and_unknown_ones_ignored() -> Result<(), ParseError> {
    let text = "\u{feff}Gift Card, variant price ,HANDLE,title,Whatever\n\
                false,12.5,Mug,Coffee Mug,x\n";
    let plan = parse_text(text)?;
    assert_eq!(plan.products.len(), 1);
    assert_eq!(plan.products[0].handle, "mug");
    assert_eq!(plan.products[0].title, "Coffee Mug");
    assert_eq!(plan.products[0].variants[0].price_minor, 1250);
    assert_eq!(plan.products[0].option_names, Vec::<String>::new());
    Ok(())
}

#[test]
fn unbalanced_quote_is_reported_at_its_line() {
    let text = format!(
        "{}\r\nb,\"Broken title,,,,,,,,,,,,,,,,,,,,\r\n{}",
        file(&[simple("a", "A", "1")]),
        simple("c", "C", "1")
    );
    assert_eq!(
        problems(&text),
        Ok(vec![
            "line 3: a quoted field starts here but its closing quote is missing".to_string()
        ])
    );
}

#[test]
fn missing_handle_column_is_fatal() {
    let text = "Title,Variant Price\nShirt,5\n";
    assert_eq!(
        problems(text),
        Ok(vec![
            "line 1: required column \"Handle\" is missing from the header".to_string()
        ])
    );
}

#[test]
fn empty_file_is_rejected() {
    assert_eq!(
        problems(""),
        Ok(vec![
            "the file is empty: a header row is required".to_string()
        ])
    );
}

#[test]
fn continuation_before_any_titled_row_is_an_orphan() {
    let text = file(&[
        simple("a", "A", "1"),
        row(&[
            ("Handle", "ghost"),
            ("Option1 Value", "M"),
            ("Variant Price", "1"),
        ]),
    ]);
    assert_eq!(
        problems(&text),
        Ok(vec![
            "line 3: Handle \"ghost\" has no earlier row with a Title (a product's first row must carry its Title)"
                .to_string()
        ])
    );
}

#[test]
fn invalid_prices_are_reported_with_excerpt() {
    let text = file(&[
        simple("a", "A", "abc"),
        simple("b", "B", "1,000.00"),
        simple("c", "C", "1.999"),
        simple("d", "D", "-5"),
        simple("e", "E", ""),
        row(&[
            ("Handle", "f"),
            ("Title", "F"),
            ("Variant Price", "1"),
            ("Variant Compare At Price", "9e9"),
        ]),
    ]);
    assert_eq!(
        problems(&text),
        Ok(vec![
            "line 2: Variant Price \"abc\" is not a decimal amount".to_string(),
            "line 3: Variant Price \"1,000.00\" is not a decimal amount".to_string(),
            "line 4: Variant Price \"1.999\" has more than 2 decimal places".to_string(),
            "line 5: Variant Price \"-5\" is negative".to_string(),
            "line 6: Variant Price is empty".to_string(),
            "line 7: Variant Compare At Price \"9e9\" is not a decimal amount".to_string(),
        ])
    );
}

#[test]
fn unknown_inventory_policy_is_rejected() {
    let text = file(&[row(&[
        ("Handle", "a"),
        ("Title", "A"),
        ("Variant Price", "1"),
        ("Variant Inventory Policy", "backorder"),
    ])]);
    assert_eq!(
        problems(&text),
        Ok(vec![
            "line 2: Variant Inventory Policy \"backorder\" must be \"deny\" or \"continue\""
                .to_string()
        ])
    );
}

#[test]
fn duplicate_sku_names_both_lines() {
    let text = file(&[
        row(&[
            ("Handle", "a"),
            ("Title", "A"),
            ("Variant Price", "1"),
            ("Variant SKU", "SKU-1"),
        ]),
        row(&[
            ("Handle", "b"),
            ("Title", "B"),
            ("Variant Price", "1"),
            ("Variant SKU", "sku-1"),
        ]),
    ]);
    assert_eq!(
        problems(&text),
        Ok(vec![
            "line 3: Variant SKU \"sku-1\" is already used by the variant on line 2".to_string()
        ])
    );
}

#[test]
fn duplicate_option_combination_is_rejected() {
    let text = file(&[
        row(&[
            ("Handle", "a"),
            ("Title", "A"),
            ("Variant Price", "1"),
            ("Option1 Name", "Size"),
            ("Option1 Value", "Small"),
        ]),
        row(&[
            ("Handle", "a"),
            ("Variant Price", "2"),
            ("Option1 Value", "small"),
        ]),
        simple("b", "B", "1"),
        row(&[("Handle", "b"), ("Variant Price", "2")]),
    ]);
    assert_eq!(
        problems(&text),
        Ok(vec![
            "line 3: option combination Size=\"small\" is already used by the variant on line 2".to_string(),
            "line 5: product \"b\" has no options, so it can have only one variant (already defined on line 4)"
                .to_string(),
        ])
    );
}

#[test]
fn a_fourth_option_is_rejected() {
    let header = format!("{},Option4 Name,Option4 Value", COLUMNS.join(","));
    let first = format!(
        "{},Material,Cotton",
        row(&[
            ("Handle", "a"),
            ("Title", "A"),
            ("Variant Price", "1"),
            ("Option1 Name", "Size"),
            ("Option1 Value", "S"),
            ("Option2 Name", "Color"),
            ("Option2 Value", "Red"),
            ("Option3 Name", "Fit"),
            ("Option3 Value", "Slim"),
        ])
    );
    let text = format!("{header}\n{first}\n");
    assert_eq!(
        problems(&text),
        Ok(vec![
            "line 2: Option4 Name \"Material\" is set, but a product has at most 3 options"
                .to_string()
        ])
    );
}

#[test]
fn option_rules_are_enforced() {
    let text = file(&[
        row(&[
            ("Handle", "a"),
            ("Title", "A"),
            ("Variant Price", "1"),
            ("Option2 Name", "Color"),
            ("Option2 Value", "Red"),
        ]),
        row(&[
            ("Handle", "b"),
            ("Title", "B"),
            ("Variant Price", "1"),
            ("Option1 Name", "Size"),
            ("Option1 Value", "S"),
        ]),
        row(&[
            ("Handle", "b"),
            ("Variant Price", "1"),
            ("Option1 Name", "Colour"),
            ("Option1 Value", "M"),
        ]),
        row(&[("Handle", "b"), ("Variant Price", "1")]),
        row(&[
            ("Handle", "c"),
            ("Title", "C"),
            ("Variant Price", "1"),
            ("Option1 Value", "Blue"),
        ]),
    ]);
    assert_eq!(
        problems(&text),
        Ok(vec![
            "line 2: Option2 Name is set but Option1 Name is empty".to_string(),
            "line 4: Option1 Name \"Colour\" differs from the option names on the product's first row (line 3)"
                .to_string(),
            "line 5: Option1 Value is empty but the product has the option \"Size\"".to_string(),
            "line 6: Option1 Value \"Blue\" is set but the product has no Option1 Name".to_string(),
        ])
    );
}

#[test]
fn wrong_field_count_and_handle_rules() {
    let text = file(&[
        "short,row".to_string(),
        row(&[("Handle", "short"), ("Variant Price", "1")]),
        row(&[("Title", "No handle"), ("Variant Price", "1")]),
        simple("Bad Handle!", "X", "1"),
        simple("x", "X", "1"),
        simple("x", "Another X", "1"),
    ]);
    assert_eq!(
        problems(&text),
        Ok(vec![
            "line 2: row has 2 fields but the header has 23 (check for unquoted commas or line breaks)".to_string(),
            "line 4: Handle is empty but the row has other data".to_string(),
            "line 5: Handle \"Bad Handle!\" may only contain letters a-z, digits and hyphens".to_string(),
            "line 7: Title \"Another X\" differs from the title of product \"x\" on line 6: a handle names one product"
                .to_string(),
        ])
    );
}

#[test]
fn text_fields_are_bounded_and_control_free() {
    let long_title = "T".repeat(256);
    let text = file(&[
        simple("a", &long_title, "1"),
        simple("b", "Bell\u{7}", "1"),
        row(&[
            ("Handle", "c"),
            ("Title", "C"),
            ("Variant Price", "1"),
            ("Variant SKU", &"S".repeat(65)),
        ]),
        row(&[
            ("Handle", "d"),
            ("Title", "D"),
            ("Variant Price", "1"),
            ("Image Src", "javascript:alert(1)"),
        ]),
        row(&[
            ("Handle", "e"),
            ("Title", "E"),
            ("Variant Price", "1"),
            ("Body (HTML)", "<p>\u{0}</p>"),
        ]),
    ]);
    let expected_title = format!(
        "line 2: Title \"{}…\" is longer than 255 characters",
        "T".repeat(40)
    );
    assert_eq!(
        problems(&text),
        Ok(vec![
            expected_title,
            "line 3: Title \"Bell\u{FFFD}\" contains a control character".to_string(),
            format!(
                "line 4: Variant SKU \"{}…\" is longer than 64 characters",
                "S".repeat(40)
            ),
            "line 5: Image Src \"javascript:alert(1)\" must be an http or https URL".to_string(),
            "line 6: Body (HTML) \"<p>\u{FFFD}</p>\" contains a control character".to_string(),
        ])
    );
}

#[test]
fn huge_hostile_value_yields_a_short_message() {
    let hostile = format!("\u{1b}[2J{}", "9x".repeat(50_000));
    let text = file(&[simple("a", "A", &hostile)]);
    let reasons = problems(&text).unwrap_or_default();
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].len() < 120, "{}", reasons[0]);
    assert!(!reasons[0].chars().any(char::is_control));
    assert!(reasons[0].starts_with("line 2: Variant Price \"\u{FFFD}[2J9x9x"));
}

#[test]
fn invalid_utf8_row_is_reported() {
    let mut bytes = file(&[simple("a", "A", "1")]).into_bytes();
    bytes.extend_from_slice(b"\r\nb,Caf\xE9");
    bytes.extend_from_slice(&b",".repeat(COLUMNS.len() - 2));
    bytes.extend_from_slice(b"\r\n");
    let error = parse(bytes.as_slice()).err();
    assert_eq!(
        error.map(|e| e.to_string()),
        Some("the catalog file was rejected (1 problem):\nline 3: row is not valid UTF-8 text (save the file as UTF-8)".to_string())
    );
}

#[test]
fn several_problems_are_all_reported_in_line_order() {
    let text = file(&[
        simple("ok", "Fine", "10"),
        simple("a", "A", "ten"),
        row(&[("Handle", "orphan"), ("Variant Price", "1")]),
        row(&[
            ("Handle", "b"),
            ("Title", "B"),
            ("Variant Price", "1"),
            ("Published", "yes"),
        ]),
        row(&[
            ("Handle", "c"),
            ("Title", "C"),
            ("Variant Price", "1"),
            ("Variant Inventory Qty", "1.5"),
        ]),
        row(&[
            ("Handle", "d"),
            ("Title", "D"),
            ("Variant Price", "1"),
            ("Image Position", "0"),
            ("Image Src", "https://x.example/d.jpg"),
        ]),
    ]);
    let error = match parse_text(&text) {
        Ok(_) => Vec::new(),
        Err(error) => error.problems,
    };
    let listed: Vec<(Option<u64>, &str)> =
        error.iter().map(|p| (p.line, p.reason.as_str())).collect();
    assert_eq!(
        listed,
        [
            (Some(3), "Variant Price \"ten\" is not a decimal amount"),
            (
                Some(4),
                "Handle \"orphan\" has no earlier row with a Title (a product's first row must carry its Title)"
            ),
            (Some(5), "Published \"yes\" must be \"true\" or \"false\""),
            (
                Some(6),
                "Variant Inventory Qty \"1.5\" is not a whole number"
            ),
            (
                Some(7),
                "Image Position \"0\" is outside the accepted range 1 to 1000"
            ),
        ]
    );
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let oversized = std::io::repeat(b'a').take_bytes(MAX_INPUT_BYTES as u64 + 1);
    assert_eq!(
        parse(oversized).map(|_| ()).map_err(|e| e.to_string()),
        Err(format!(
            "the catalog file was rejected (1 problem):\nthe file is larger than the limit of {MAX_INPUT_BYTES} bytes"
        ))
    );
    let text = file(&[simple("a", "A", "1")]);
    let tight = Limits {
        max_bytes: text.len() - 1,
        ..Limits::default()
    };
    assert!(parse_with_limits(text.as_bytes(), tight).is_err());
    let exact = Limits {
        max_bytes: text.len(),
        ..Limits::default()
    };
    assert!(parse_with_limits(text.as_bytes(), exact).is_ok());
}

#[test]
fn too_many_rows_are_refused() {
    let rows: Vec<String> = (0..=MAX_ROWS)
        .map(|n| simple(&format!("p{n}"), "P", "1"))
        .collect();
    let text = file(&rows);
    let expected_line = MAX_ROWS as u64 + 2;
    assert_eq!(
        problems(&text),
        Ok(vec![format!(
            "line {expected_line}: the file has more than {MAX_ROWS} rows, the most one import accepts"
        )])
    );
    let at_limit = file(&rows[..MAX_ROWS]);
    assert_eq!(
        parse_text(&at_limit).map(|plan| plan.products.len()),
        Ok(MAX_ROWS)
    );
}

#[test]
fn same_bytes_give_equal_plans() {
    let text = file(&[
        row(&[
            ("Handle", "a"),
            ("Title", "A"),
            ("Variant Price", "1"),
            ("Option1 Name", "Size"),
            ("Option1 Value", "S"),
        ]),
        row(&[
            ("Handle", "a"),
            ("Variant Price", "2"),
            ("Option1 Value", "M"),
        ]),
        simple("b", "B", "3"),
    ]);
    let first = parse_text(&text);
    assert!(first.is_ok());
    assert_eq!(first, parse_text(&text));
}

/// `Read::take` under a name that does not clash with iterator `take`.
trait TakeBytes: std::io::Read + Sized {
    fn take_bytes(self, limit: u64) -> std::io::Take<Self> {
        std::io::Read::take(self, limit)
    }
}

impl<R: std::io::Read> TakeBytes for R {}
