//! The catalog: Shopify imports through the admin API and the command line, what the
//! public can see of them, and search. Expected numbers come from reading the shared
//! CSV files by hand (the parser crate's `real_catalogs.rs` pins the same ones).

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{self, TestApp, assert_problem, catalog_csv, handles, variant_id};

const APPAREL: &str = "shopify-apparel.csv";
const HOME: &str = "shopify-home-and-garden.csv";

/// Apparel handles in file order, one per CSV row (the varsity top has three rows).
const APPAREL_ROWS: [&str; 22] = [
    "ocean-blue-shirt",
    "classic-varsity-top",
    "classic-varsity-top",
    "classic-varsity-top",
    "yellow-wool-jumper",
    "floral-white-top",
    "striped-silk-blouse",
    "classic-leather-jacket",
    "dark-denim-top",
    "navy-sport-jacket",
    "dark-winter-jacket",
    "black-leather-bag",
    "zipped-jacket",
    "silk-summer-top",
    "longsleeve-cotton-top",
    "chequered-red-shirt",
    "white-cotton-shirt",
    "olive-green-jacket",
    "blue-silk-tuxedo",
    "red-sports-tee",
    "striped-skirt-and-top",
    "led-high-tops",
];

/// Apparel prices in minor units, row by row.
const APPAREL_PRICES: [i64; 22] = [
    5000, 6000, 6000, 6000, 8000, 7500, 5000, 8000, 6000, 6000, 5000, 3000, 6500, 7000, 5000, 5000,
    3000, 6500, 7000, 5000, 5000, 8000,
];

/// Home and garden: handle, then (price, compare-at, stock) per variant, file order.
type VariantFacts = (i64, Option<i64>, i64);
const HOME_TABLE: [(&str, &[VariantFacts]); 20] = [
    ("clay-plant-pot", &[(999, None, 1), (1599, None, 3)]),
    ("copper-light", &[(5999, Some(7500), 2)]),
    ("cream-sofa", &[(50000, Some(75000), 4)]),
    ("antique-drawers", &[(25000, Some(30000), 2)]),
    ("white-bed-clothes", &[(2999, Some(3500), 1)]),
    ("pink-armchair", &[(75000, None, 0)]),
    ("wooden-outdoor-table", &[(9999, None, 3)]),
    ("brown-throw-pillows", &[(1999, Some(2599), 5)]),
    ("white-ceramic-pot", &[(1599, Some(3000), 1)]),
    ("yellow-watering-can", &[(4099, Some(5000), 4)]),
    ("gardening-hand-trowel", &[(1099, Some(2500), 2)]),
    ("biodegradable-cardboard-pots", &[(1000, None, 8)]),
    ("grey-sofa", &[(2999, Some(3500), 6)]),
    ("wooden-outdoor-slats", &[(2599, Some(3500), 0)]),
    ("wooden-fence", &[(20000, Some(30000), 5)]),
    ("yellow-sofa", &[(9999, Some(15000), 5)]),
    ("knitted-throw-pillows", &[(1999, Some(2599), 1)]),
    ("vanilla-candle", &[(1599, Some(3000), 5)]),
    ("black-bean-bag", &[(6999, Some(8000), 6)]),
    ("bedside-table", &[(6999, Some(8500), 1)]),
];

/// A small hand-written catalog: one hostile but published product, one explicitly
/// unpublished and one whose `Published` cell is empty (which must mean unpublished).
const HOSTILE_CSV: &str = "\
Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Variant SKU,Variant Inventory Qty,Variant Inventory Policy,Variant Price,Variant Compare At Price
hostile-hoodie,Hostile Hoodie,\"<p onclick=\"\"steal()\"\">Warm</p><script>alert(document.cookie)</script><a href=\"\"javascript:alert(1)\"\">care</a>\",Evil Co,Hoodie,\"hoodie, fleece\",true,Title,Default Title,HH-1,4,deny,45.00,
secret-jacket,Secret Jacket,<p>Not yet</p>,Evil Co,Jacket,jacket,false,Title,Default Title,SJ-1,5,deny,99.00,
draft-jacket,Draft Jacket,<p>Draft</p>,Evil Co,Jacket,jacket,,Title,Default Title,DJ-1,5,deny,10,
";

fn money(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "USD" })
}

/// Handle → (product id, variant ids) of every public product.
async fn ids_by_handle(app: &TestApp) -> BTreeMap<String, (String, Vec<String>)> {
    app.all_products()
        .await
        .iter()
        .map(|p| {
            let variants = (0..p["variants"].as_array().map_or(0, Vec::len))
                .map(|i| variant_id(p, i))
                .collect();
            (
                p["handle"].as_str().unwrap_or_default().to_owned(),
                (p["id"].as_str().unwrap_or_default().to_owned(), variants),
            )
        })
        .collect()
}

/// The (line, handle, outcome) triples of an import report's rows.
fn row_outcomes(report: &Value) -> Vec<(u64, String, String)> {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().expect("line"),
                r["handle"].as_str().expect("handle").to_owned(),
                r["outcome"].as_str().expect("outcome").to_owned(),
            )
        })
        .collect()
}

fn counts(report: &Value) -> [u64; 6] {
    [
        "products_created",
        "products_updated",
        "products_unchanged",
        "variants_created",
        "variants_updated",
        "variants_unchanged",
    ]
    .map(|k| report[k].as_u64().unwrap_or(u64::MAX))
}

/// Replaces `from` by `to` in the CSV record on `line` (1-based), which must
/// contain `marker`; every other byte of the file stays as it was.
fn edit_line(csv: &str, line: usize, marker: &str, from: &str, to: &str) -> String {
    let mut lines: Vec<String> = csv.split('\n').map(str::to_owned).collect();
    let target = &mut lines[line - 1];
    assert!(
        target.contains(marker),
        "line {line} is not the {marker} row"
    );
    assert_eq!(target.matches(from).count(), 1, "{from} on line {line}");
    *target = target.replacen(from, to, 1);
    lines.join("\n")
}

// ---------------------------------------------------------------- import through the API

#[tokio::test]
async fn apparel_import_reports_every_row_and_publishes_exact_products() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;

    let report = app.import_catalog(APPAREL, &admin).await;
    assert_eq!(counts(&report), [20, 0, 0, 22, 0, 0]);
    let expected_rows: Vec<(u64, String, String)> = APPAREL_ROWS
        .iter()
        .enumerate()
        .map(|(i, h)| (i as u64 + 2, (*h).to_owned(), "created".to_owned()))
        .collect();
    assert_eq!(row_outcomes(&report), expected_rows);
    assert_eq!(report["skipped"], json!([]));

    let products = app.all_products().await;
    assert_eq!(products.len(), 20);
    let variants: usize = products
        .iter()
        .map(|p| p["variants"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(variants, 22);
    let mut sorted: Vec<&str> = APPAREL_ROWS.to_vec();
    sorted.dedup();
    sorted.sort_unstable();
    let listed: Vec<&str> = products
        .iter()
        .map(|p| p["handle"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(listed, sorted, "listed by handle");

    let by_handle: BTreeMap<&str, &Value> = products
        .iter()
        .map(|p| (p["handle"].as_str().unwrap_or_default(), p))
        .collect();
    for (row, handle) in APPAREL_ROWS.iter().copied().enumerate() {
        let product = by_handle[handle];
        let index = APPAREL_ROWS[..row].iter().filter(|h| **h == handle).count();
        assert_eq!(
            product["variants"][index]["price"],
            money(APPAREL_PRICES[row]),
            "{handle} variant {index}"
        );
        assert!(product["variants"][index].get("compare_at_price").is_none());
        assert_eq!(product["variants"][index]["available"], 1);
    }
}

#[tokio::test]
async fn apparel_products_show_options_tags_and_descriptions() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    app.import_catalog(APPAREL, &admin).await;

    let shirt = app.product("ocean-blue-shirt").await;
    assert_eq!(shirt["title"], "Ocean Blue Shirt");
    assert_eq!(
        shirt["body_html"],
        "Ocean blue cotton shirt with a narrow collar and buttons down the front and long \
         sleeves. Comfortable fit and tiled kalidoscope patterns."
    );
    assert_eq!(shirt["vendor"], "partners-demo");
    assert_eq!(shirt["product_type"], Value::Null);
    assert_eq!(shirt["tags"], json!(["men"]));
    assert_eq!(shirt["published"], true);
    assert_eq!(shirt["options"], json!([]));
    assert_eq!(
        shirt["images"],
        json!([{
            "src": "https://burst.shopifycdn.com/photos/young-man-in-bright-fashion_925x.jpg",
            "alt": null
        }])
    );
    let variant = &shirt["variants"][0];
    assert_eq!(shirt["variants"].as_array().map(Vec::len), Some(1));
    assert_eq!(variant["title"], "Default Title");
    assert_eq!(variant["options"], json!([]));
    assert_eq!(variant["price"], money(5000));
    assert_eq!(variant["available"], 1);
    assert_eq!(variant["in_stock"], true);
    assert_eq!(variant["inventory_policy"], "deny");
    assert_eq!(variant["sku"], Value::Null);

    let top = app.product("classic-varsity-top").await;
    assert_eq!(top["options"], json!(["Size"]));
    assert_eq!(top["tags"], json!(["women"]));
    let sizes: Vec<(&Value, &Value, &Value)> = top["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| (&v["title"], &v["options"], &v["price"]))
        .collect();
    assert_eq!(
        sizes,
        [
            (&json!("Small"), &json!(["Small"]), &money(6000)),
            (&json!("Medium"), &json!(["Medium"]), &money(6000)),
            (&json!("Large"), &json!(["Large"]), &money(6000)),
        ]
    );

    let jumper = app.product("yellow-wool-jumper").await;
    assert_eq!(
        jumper["body_html"],
        "Knitted jumper in a soft wool blend with low dropped shoulders and wide&nbsp;sleeves \
         and think cuffs. Perfect for keeping warm during Fall."
    );
    let jacket = app.product("navy-sport-jacket").await;
    assert_eq!(jacket["title"], "Navy Sports Jacket");
    assert_eq!(jacket["variants"][0]["price"], money(6000));
}

#[tokio::test]
async fn home_and_garden_import_has_exact_prices_discounts_and_stock() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;

    let report = app.import_catalog(HOME, &admin).await;
    assert_eq!(counts(&report), [20, 0, 0, 21, 0, 0]);
    let lines: Vec<u64> = row_outcomes(&report).iter().map(|r| r.0).collect();
    assert_eq!(lines, (2..=22).collect::<Vec<u64>>());

    let products = app.all_products().await;
    assert_eq!(products.len(), 20);
    for (handle, expected) in HOME_TABLE {
        let product = app.product(handle).await;
        let variants = product["variants"].as_array().expect("variants");
        let actual: Vec<VariantFacts> = variants
            .iter()
            .map(|v| {
                (
                    v["price"]["amount"].as_i64().unwrap_or(-1),
                    v.get("compare_at_price")
                        .map(|c| c["amount"].as_i64().unwrap_or(-1)),
                    v["available"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        assert_eq!(actual, expected, "{handle}");
        assert!(variants.iter().all(|v| v["price"]["currency"] == "USD"));
    }

    let pot = app.product("clay-plant-pot").await;
    assert_eq!(pot["body_html"], "<p>Classic blown clay pot for plants</p>");
    assert_eq!(pot["vendor"], "Company 123");
    assert_eq!(pot["product_type"], "Outdoor");
    assert_eq!(pot["tags"], json!(["Pot", "Plants"]));
    assert_eq!(pot["options"], json!(["Size"]));
    assert_eq!(pot["variants"][0]["options"], json!(["Regular"]));
    assert_eq!(pot["variants"][1]["options"], json!(["Large"]));
    assert_eq!(pot["images"].as_array().map(Vec::len), Some(2));

    let light = app.product("copper-light").await;
    assert_eq!(light["variants"][0]["compare_at_price"], money(7500));
    assert_eq!(light["tags"], json!(["Copper", "Bedroom"]));

    let armchair = app.product("pink-armchair").await;
    assert_eq!(armchair["variants"][0]["available"], 0);
    assert_eq!(armchair["variants"][0]["in_stock"], false);
}

#[tokio::test]
async fn unpublished_products_stay_hidden_and_descriptions_lose_their_scripts() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;

    let report = app.import_text(HOSTILE_CSV, &admin).await;
    assert_eq!(counts(&report), [3, 0, 0, 3, 0, 0]);

    let public = app.all_products().await;
    let visible: Vec<&str> = public
        .iter()
        .map(|p| p["handle"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(visible, ["hostile-hoodie"]);
    assert_eq!(app.search("q=jacket").await["total"], 0);
    assert_eq!(app.search("tag=jacket").await["total"], 0);
    assert_eq!(app.search("vendor=evil%20co").await["total"], 1);

    for handle in ["secret-jacket", "draft-jacket"] {
        let by_handle = app.get(&format!("/api/v1/products/{handle}"), None).await;
        assert_problem(by_handle, StatusCode::NOT_FOUND).await;
        let stored = app
            .state
            .store
            .product_by_key(handle)
            .await
            .expect("store read")
            .expect("imported");
        assert!(!stored.published, "{handle} must be imported unpublished");
        let by_id = app
            .get(&format!("/api/v1/products/{}", stored.id), None)
            .await;
        assert_problem(by_id, StatusCode::NOT_FOUND).await;
    }

    let hoodie = app.product("hostile-hoodie").await;
    assert_eq!(
        hoodie["body_html"],
        r#"<p>Warm</p><a rel="noopener noreferrer nofollow">care</a>"#
    );
    let body = hoodie["body_html"].as_str().unwrap_or_default();
    for banned in ["<script", "alert(", "onclick", "javascript:"] {
        assert!(!body.contains(banned), "{banned} survived sanitising");
    }
    assert_eq!(hoodie["tags"], json!(["hoodie", "fleece"]));
    assert_eq!(hoodie["variants"][0]["sku"], "HH-1");
    assert_eq!(hoodie["variants"][0]["price"], money(4500));
    assert_eq!(hoodie["variants"][0]["available"], 4);
}

// ---------------------------------------------------------------- re-import

#[tokio::test]
async fn importing_the_same_file_again_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    app.import_catalog(APPAREL, &admin).await;
    app.import_catalog(HOME, &admin).await;
    let before = ids_by_handle(&app).await;
    assert_eq!(before.len(), 40);

    let again = app.import_catalog(APPAREL, &admin).await;
    assert_eq!(counts(&again), [0, 0, 20, 0, 0, 22]);
    let outcomes = row_outcomes(&again);
    assert_eq!(outcomes.len(), 22);
    assert!(outcomes.iter().all(|(_, _, o)| o == "unchanged"));
    let home_again = app.import_catalog(HOME, &admin).await;
    assert_eq!(counts(&home_again), [0, 0, 20, 0, 0, 21]);

    assert_eq!(ids_by_handle(&app).await, before, "ids survive re-import");
    let top = app.product("classic-varsity-top").await;
    assert_eq!(top["variants"].as_array().map(Vec::len), Some(3));
    assert_eq!(top["variants"][1]["price"], money(6000));
}

#[tokio::test]
async fn a_changed_tax_flag_is_stored_and_a_second_import_finds_nothing_new() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    app.import_catalog(APPAREL, &admin).await;

    // Line 4 is the varsity top in Medium: Variant Taxable true -> false.
    let changed = edit_line(
        &catalog_csv(APPAREL),
        4,
        "Medium",
        ",60,,true,true,",
        ",60,,true,false,",
    );
    let report = app.import_text(&changed, &admin).await;
    let updated: Vec<(u64, String, String)> = row_outcomes(&report)
        .into_iter()
        .filter(|(_, _, o)| o != "unchanged")
        .collect();
    assert_eq!(
        updated,
        [(4, "classic-varsity-top".to_owned(), "updated".to_owned())]
    );

    let again = app.import_text(&changed, &admin).await;
    assert!(
        row_outcomes(&again)
            .iter()
            .all(|(_, _, o)| o == "unchanged"),
        "the flag was stored, so the same file changes nothing"
    );
}

#[tokio::test]
async fn a_changed_price_updates_exactly_that_variant() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    app.import_catalog(APPAREL, &admin).await;
    let before = ids_by_handle(&app).await;

    // Line 4 is the varsity top in Medium.
    let changed = edit_line(
        &catalog_csv(APPAREL),
        4,
        "Medium",
        ",manual,60,",
        ",manual,64.50,",
    );
    let report = app.import_text(&changed, &admin).await;
    assert_eq!(counts(&report), [0, 0, 20, 0, 1, 21]);
    let updated: Vec<(u64, String, String)> = row_outcomes(&report)
        .into_iter()
        .filter(|(_, _, o)| o != "unchanged")
        .collect();
    assert_eq!(
        updated,
        [(4, "classic-varsity-top".to_owned(), "updated".to_owned())]
    );

    let top = app.product("classic-varsity-top").await;
    let prices: Vec<&Value> = top["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| &v["price"]["amount"])
        .collect();
    assert_eq!(prices, [&json!(6000), &json!(6450), &json!(6000)]);
    assert_eq!(ids_by_handle(&app).await, before, "no id changed");
    assert_eq!(
        app.product("ocean-blue-shirt").await["variants"][0]["price"],
        money(5000)
    );
}

// ---------------------------------------------------------------- refused imports

/// A file whose first product is fine and whose fourth line has a bad price.
const BAD_PRICE_CSV: &str = "\
Handle,Title,Vendor,Published,Option1 Name,Option1 Value,Variant Inventory Qty,Variant Price
fresh-socks,Fresh Socks,Knitters,true,Size,S,5,7.00
fresh-socks,,,,,M,5,7.00
broken-scarf,Broken Scarf,Knitters,true,Title,Default Title,5,12.3.4
";

#[tokio::test]
async fn a_bad_price_on_a_later_row_refuses_the_whole_file() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;

    let response = app
        .send_import(BAD_PRICE_CSV, Some("text/csv"), &admin)
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let errors = problem["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{problem}");
    assert_eq!(errors[0]["field"], "line 4");
    assert_eq!(errors[0]["code"], "import_error");
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Variant Price")),
        "{problem}"
    );
    assert_eq!(app.search("").await["total"], 0, "nothing was imported");
    let socks = app.get("/api/v1/products/fresh-socks", None).await;
    assert_problem(socks, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_refused_file_leaves_an_existing_catalog_exactly_as_it_was() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    app.import_catalog(APPAREL, &admin).await;
    let before_ids = ids_by_handle(&app).await;
    let before = app.all_products().await;

    // A copy that lowers the first product's price (a valid change) and breaks the
    // price of the dark winter jacket on line 12.
    let cheaper = edit_line(
        &catalog_csv(APPAREL),
        2,
        "ocean-blue-shirt",
        ",manual,50,",
        ",manual,1.00,",
    );
    let broken = edit_line(
        &cheaper,
        12,
        "dark-winter-jacket",
        ",manual,50,",
        ",manual,-50,",
    );
    let response = app.send_import(broken, Some("text/csv"), &admin).await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&Value> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| &e["field"])
        .collect();
    assert_eq!(fields, [&json!("line 12")]);

    assert_eq!(app.all_products().await, before, "catalog unchanged");
    assert_eq!(ids_by_handle(&app).await, before_ids);
    assert_eq!(
        app.product("ocean-blue-shirt").await["variants"][0]["price"],
        money(5000)
    );
}

#[tokio::test]
async fn a_sku_owned_by_another_product_rolls_back_the_whole_import() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    let original = "\
Handle,Title,Published,Option1 Name,Option1 Value,Variant SKU,Variant Inventory Qty,Variant Price
wool-hat,Wool Hat,true,Title,Default Title,HAT-1,3,20.00
";
    app.import_text(original, &admin).await;
    let before = app.all_products().await;

    // Parses fine, but the second product claims the hat's SKU: only the database
    // can tell, after the first product of this file was already written.
    let clash = "\
Handle,Title,Published,Option1 Name,Option1 Value,Variant SKU,Variant Inventory Qty,Variant Price
new-gloves,New Gloves,true,Title,Default Title,GLOVE-1,3,15.00
stolen-sku,Stolen Sku,true,Title,Default Title,HAT-1,3,10.00
";
    let response = app.send_import(clash, Some("text/csv"), &admin).await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "file");

    assert_eq!(
        app.all_products().await,
        before,
        "nothing of the file stayed"
    );
    for handle in ["new-gloves", "stolen-sku"] {
        let response = app.get(&format!("/api/v1/products/{handle}"), None).await;
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn imports_must_be_sent_as_csv() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    let csv = catalog_csv(HOME);

    for content_type in [Some("application/json"), Some("text/plain"), None] {
        let response = app.send_import(csv.clone(), content_type, &admin).await;
        assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
    assert_eq!(app.search("").await["total"], 0);

    let response = app
        .send_import(csv, Some("text/csv; charset=utf-8"), &admin)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.search("").await["total"], 20);
}

#[tokio::test]
async fn only_holders_of_import_run_may_import() {
    let app = TestApp::spawn().await;
    let csv = catalog_csv(HOME);

    for role in ["customer", "support", "order_manager", "security_officer"] {
        let token = app.token_for_role(role).await;
        let response = app.send_import(csv.clone(), Some("text/csv"), &token).await;
        assert_problem(response, StatusCode::FORBIDDEN).await;
    }
    let anonymous = app
        .client
        .post(app.url("/api/v1/admin/imports/shopify"))
        .header("content-type", "text/csv")
        .body(csv.clone())
        .send()
        .await
        .expect("sent");
    assert_problem(anonymous, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        app.search("").await["total"],
        0,
        "refused imports wrote nothing"
    );

    let manager = app.token_for_role("catalog_manager").await;
    let report = app.import_catalog(HOME, &manager).await;
    assert_eq!(report["products_created"], 20);
}

// ---------------------------------------------------------------- command line import

async fn run_cli(args: &[&std::ffi::OsStr]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ironcart"))
        .args(args)
        .env_remove("IRONCART_DATABASE_URL")
        .env_remove("IRONCART_DATA_DIR")
        .env_remove("IRONCART_CONFIG")
        .output()
        .await
        .expect("run the ironcart binary")
}

async fn cli_import(
    file: &std::path::Path,
    data_dir: &std::path::Path,
    url: Option<&str>,
) -> std::process::Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "import".as_ref(),
        "shopify".as_ref(),
        file.as_os_str(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ];
    if let Some(url) = url {
        args.push("--database-url".as_ref());
        args.push(url.as_ref());
    }
    run_cli(&args).await
}

fn report_of(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON report")
}

/// Good import, refused import, proof that nothing changed, for one database.
async fn cli_import_round(data_dir: &std::path::Path, url: Option<&str>, store_url: &str) {
    let good = common::shared_data(&format!("catalogs/{HOME}"));
    let first = report_of(&cli_import(&good, data_dir, url).await);
    assert_eq!(counts(&first), [20, 0, 0, 21, 0, 0]);
    assert_eq!(first["rows"].as_array().map(Vec::len), Some(21));

    let scratch = tempfile::tempdir().expect("temp dir");
    let bad = scratch.path().join("bad.csv");
    let broken = edit_line(
        &catalog_csv(HOME).replacen(",deny,manual,9.99,", ",deny,manual,1.99,", 1),
        9,
        "wooden-outdoor-table",
        ",manual,99.99,",
        ",manual,ninety,",
    );
    std::fs::write(&bad, broken).expect("write bad copy");
    let refused = cli_import(&bad, data_dir, url).await;
    assert!(!refused.status.success(), "a malformed file must fail");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("line 9: "), "problems on stderr: {stderr}");
    assert!(stderr.contains("catalog is unchanged"), "{stderr}");

    let store = ironcart::store::Store::connect(store_url)
        .await
        .expect("open store");
    let pot = store
        .product_by_key("clay-plant-pot")
        .await
        .expect("read")
        .expect("pot");
    assert_eq!(pot.variants[0].price, 999, "the valid change was not kept");
    assert!(
        store
            .product_by_key("no-such")
            .await
            .expect("read")
            .is_none()
    );
    store.close().await;

    let again = report_of(&cli_import(&good, data_dir, url).await);
    assert_eq!(
        counts(&again),
        [0, 0, 20, 0, 0, 21],
        "database as after the good import"
    );
}

#[tokio::test]
async fn cli_imports_into_a_data_directory() {
    let data = tempfile::tempdir().expect("temp dir");
    let store_url = format!(
        "sqlite://{}?mode=rwc",
        data.path().join("ironcart.db").display()
    );
    cli_import_round(data.path(), None, &store_url).await;
}

#[tokio::test]
async fn cli_imports_into_a_database_url() {
    let data = tempfile::tempdir().expect("temp dir");
    let db_dir = tempfile::tempdir().expect("temp dir");
    let url = common::fresh_database_url(db_dir.path()).await;
    cli_import_round(data.path(), Some(&url), &url).await;
}

// ---------------------------------------------------------------- search

async fn both_catalogs() -> TestApp {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    app.import_catalog(APPAREL, &admin).await;
    app.import_catalog(HOME, &admin).await;
    app
}

#[tokio::test]
async fn search_by_words_is_case_insensitive_and_exact() {
    let app = both_catalogs().await;
    let jackets = [
        "classic-leather-jacket",
        "dark-winter-jacket",
        "navy-sport-jacket",
        "olive-green-jacket",
        "zipped-jacket",
    ];
    for q in ["jacket", "JACKET", "Jacket", "%20jacket%20"] {
        let page = app.search(&format!("q={q}&per_page=100")).await;
        assert_eq!(handles(&page), jackets, "q={q}");
        assert_eq!(page["total"], 5);
    }
    let sofas = app.search("q=sofa").await;
    assert_eq!(handles(&sofas), ["cream-sofa", "grey-sofa", "yellow-sofa"]);
    assert_eq!(app.search("q=no-such-thing").await["total"], 0);
}

#[tokio::test]
async fn search_filters_by_vendor_type_and_tag() {
    let app = both_catalogs().await;
    let total = |page: Value| page["total"].as_i64().unwrap_or(-1);

    assert_eq!(total(app.search("vendor=Rustic%20LTD").await), 9);
    assert_eq!(total(app.search("vendor=rustic%20ltd").await), 9);
    assert_eq!(total(app.search("vendor=Company%20123").await), 8);
    assert_eq!(total(app.search("vendor=partners-demo").await), 20);
    assert_eq!(
        total(app.search("vendor=rustic").await),
        0,
        "vendor is exact"
    );
    assert_eq!(total(app.search("type=Outdoor").await), 7);
    assert_eq!(total(app.search("type=indoor").await), 13);
    assert_eq!(total(app.search("tag=men").await), 6);
    assert_eq!(total(app.search("tag=WOMEN").await), 14);
    assert_eq!(total(app.search("tag=plant").await), 0, "tags are exact");

    let plants = app.search("tag=plants&per_page=100").await;
    assert_eq!(
        handles(&plants),
        [
            "biodegradable-cardboard-pots",
            "clay-plant-pot",
            "gardening-hand-trowel",
            "white-ceramic-pot",
            "yellow-watering-can",
        ]
    );
    let men_jackets = app.search("q=jacket&tag=men").await;
    assert_eq!(
        handles(&men_jackets),
        ["navy-sport-jacket", "zipped-jacket"]
    );
    let rustic_indoor = app.search("vendor=rustic%20ltd&type=indoor").await;
    assert_eq!(
        handles(&rustic_indoor),
        ["brown-throw-pillows", "grey-sofa", "white-ceramic-pot"]
    );
    let wood_garden = app.search("tag=wood&type=outdoor&q=fence").await;
    assert_eq!(handles(&wood_garden), ["wooden-fence"]);
}

#[tokio::test]
async fn every_listed_product_is_its_product_page_with_children_in_order() {
    let app = both_catalogs().await;
    let pot = app.product("clay-plant-pot").await;
    assert_eq!(pot["images"].as_array().map(Vec::len), Some(2), "{pot}");
    assert_eq!(pot["variants"].as_array().map(Vec::len), Some(2), "{pot}");
    let mut checked = 0;
    for query in [
        "per_page=7&page=1",
        "per_page=7&page=4",
        "per_page=100",
        "tag=plants",
    ] {
        let page = app.search(query).await;
        for listed in page["items"].as_array().expect("items") {
            let handle = listed["handle"].as_str().expect("handle");
            assert_eq!(listed, &app.product(handle).await, "{query}: {handle}");
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked}");
}

#[tokio::test]
async fn search_pages_through_the_whole_catalog() {
    let app = both_catalogs().await;
    let mut seen = Vec::new();
    for page in 1..=6 {
        let body = app.search(&format!("per_page=7&page={page}")).await;
        assert_eq!(body["total"], 40);
        assert_eq!(body["page"], page);
        assert_eq!(body["per_page"], 7);
        let size = if page == 6 { 5 } else { 7 };
        assert_eq!(
            body["items"].as_array().map(Vec::len),
            Some(size),
            "page {page}"
        );
        seen.extend(handles(&body));
    }
    let beyond = app.search("per_page=7&page=7").await;
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["total"], 40);

    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "pages are ordered and disjoint");
    assert_eq!(seen.len(), 40);

    let default = app.search("").await;
    assert_eq!(default["per_page"], 20);
    assert_eq!(default["page"], 1);
    assert_eq!(default["items"].as_array().map(Vec::len), Some(20));

    for bad in [
        "per_page=0",
        "per_page=101",
        "page=0",
        "page=-1",
        "per_page=x",
        "colour=red",
    ] {
        let response = app.get(&format!("/api/v1/products?{bad}"), None).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
}

#[tokio::test]
async fn like_wildcards_in_a_query_are_plain_characters() {
    let app = both_catalogs().await;
    // Each of these would match many products if passed to LIKE unescaped.
    for q in [
        "%25", "_", "%25%25", "c_ay", "o%25t", "%5C", "%5C%25", "jack%25",
    ] {
        assert_eq!(app.search(&format!("q={q}")).await["total"], 0, "q={q}");
    }

    let admin = app.token_for_role("admin").await;
    for (handle, title) in [
        ("hundred-tee", "100% Cotton Tee"),
        ("under-tee", "Under_score Tee"),
    ] {
        let response = app
            .post(
                "/api/v1/admin/products",
                Some(&admin),
                json!({
                    "handle": handle,
                    "title": title,
                    "published": true,
                    "variants": [{ "price": 1500, "inventory_quantity": 1 }]
                }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    assert_eq!(handles(&app.search("q=%25").await), ["hundred-tee"]);
    assert_eq!(handles(&app.search("q=0%25%20c").await), ["hundred-tee"]);
    assert_eq!(handles(&app.search("q=_").await), ["under-tee"]);
    assert_eq!(handles(&app.search("q=r_s").await), ["under-tee"]);
    assert_eq!(app.search("q=r_x").await["total"], 0);
}
