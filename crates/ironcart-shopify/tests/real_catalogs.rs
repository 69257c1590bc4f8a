//! Parses the real Shopify sample exports in the shared test data and checks
//! the numbers established by reading the files by hand.

use std::fs;
use std::path::PathBuf;

use ironcart_shopify::{CatalogPlan, ImagePlan, InventoryPolicy, ProductPlan, VariantPlan, parse};

const CATALOGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/catalogs");

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// (price, compare-at price, inventory) of one variant, in minor units.
type PriceAndStock = (i64, Option<i64>, i64);

fn read_catalog(name: &str) -> Result<Vec<u8>, String> {
    let path = PathBuf::from(CATALOGS).join(name);
    fs::read(&path).map_err(|error| {
        format!(
            "test data {} is missing ({error}); these tests need /work/shared/data/catalogs",
            path.display()
        )
    })
}

fn parse_catalog(name: &str) -> Result<CatalogPlan, String> {
    parse(read_catalog(name)?.as_slice()).map_err(|error| format!("{name} should parse: {error}"))
}

fn product<'p>(plan: &'p CatalogPlan, handle: &str) -> Result<&'p ProductPlan, String> {
    plan.products
        .iter()
        .find(|p| p.handle == handle)
        .ok_or_else(|| format!("product {handle} missing"))
}

/// Price, compare-at price and stock of each variant, in order.
fn money_and_stock(product: &ProductPlan) -> Vec<PriceAndStock> {
    product
        .variants
        .iter()
        .map(|v| (v.price_minor, v.compare_at_minor, v.inventory_quantity))
        .collect()
}

fn default_variant(
    price_minor: i64,
    compare_at_minor: Option<i64>,
    inventory_quantity: i64,
    line: u64,
) -> VariantPlan {
    VariantPlan {
        sku: None,
        option_values: vec![],
        price_minor,
        compare_at_minor,
        inventory_quantity,
        inventory_policy: InventoryPolicy::Deny,
        grams: Some(0),
        requires_shipping: true,
        taxable: true,
        barcode: None,
        line,
    }
}

#[test]
fn apparel_counts_and_order() -> TestResult {
    let plan = parse_catalog("shopify-apparel.csv")?;
    assert_eq!(plan.products.len(), 20);
    assert_eq!(plan.variant_count(), 22);
    assert_eq!(plan.image_count(), 20);
    assert_eq!(plan.notes, vec![]);
    let handles: Vec<&str> = plan.products.iter().map(|p| p.handle.as_str()).collect();
    assert_eq!(
        handles,
        [
            "ocean-blue-shirt",
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
        ]
    );
    let prices: Vec<i64> = plan
        .products
        .iter()
        .flat_map(|p| &p.variants)
        .map(|v| v.price_minor)
        .collect();
    assert_eq!(
        prices,
        [
            5000, 6000, 6000, 6000, 8000, 7500, 5000, 8000, 6000, 6000, 5000, 3000, 6500, 7000,
            5000, 5000, 3000, 6500, 7000, 5000, 5000, 8000
        ]
    );
    assert!(
        plan.products
            .iter()
            .flat_map(|p| &p.variants)
            .all(|v| v.compare_at_minor.is_none())
    );
    Ok(())
}

#[test]
fn apparel_default_title_product_in_full() -> TestResult {
    let plan = parse_catalog("shopify-apparel.csv")?;
    let expected = ProductPlan {
        handle: "ocean-blue-shirt".into(),
        title: "Ocean Blue Shirt".into(),
        body_html: "Ocean blue cotton shirt with a narrow collar and buttons down the front and long sleeves. \
                    Comfortable fit and tiled kalidoscope patterns."
            .into(),
        vendor: Some("partners-demo".into()),
        product_type: None,
        tags: vec!["men".into()],
        published: true,
        option_names: vec![],
        variants: vec![default_variant(5000, None, 1, 2)],
        images: vec![ImagePlan {
            src: "https://burst.shopifycdn.com/photos/young-man-in-bright-fashion_925x.jpg".into(),
            position: Some(1),
            alt: None,
            line: 2,
        }],
        line: 2,
    };
    assert_eq!(product(&plan, "ocean-blue-shirt")?, &expected);
    Ok(())
}

#[test]
fn apparel_sized_product_gathers_its_variant_rows() -> TestResult {
    let plan = parse_catalog("shopify-apparel.csv")?;
    let top = product(&plan, "classic-varsity-top")?;
    assert_eq!(top.title, "Classic Varsity Top");
    assert_eq!(top.option_names, ["Size"]);
    let sizes: Vec<(&[String], u64)> = top
        .variants
        .iter()
        .map(|v| (v.option_values.as_slice(), v.line))
        .collect();
    assert_eq!(
        sizes,
        [
            (&["Small".to_string()][..], 3),
            (&["Medium".to_string()][..], 4),
            (&["Large".to_string()][..], 5)
        ]
    );
    assert_eq!(
        money_and_stock(top),
        [(6000, None, 1), (6000, None, 1), (6000, None, 1)]
    );
    assert!(
        top.variants
            .iter()
            .all(|v| v.inventory_policy == InventoryPolicy::Deny)
    );
    assert_eq!(top.tags, ["women"]);
    assert!(top.published);
    assert_eq!(top.images.len(), 1);
    assert_eq!(top.line, 3);
    Ok(())
}

#[test]
fn apparel_descriptions_are_sanitised_text() -> TestResult {
    let plan = parse_catalog("shopify-apparel.csv")?;
    let jumper = product(&plan, "yellow-wool-jumper")?;
    assert_eq!(
        jumper.body_html,
        "Knitted jumper in a soft wool blend with low dropped shoulders and wide&nbsp;sleeves \
         and think cuffs. Perfect for keeping warm during Fall."
    );
    let jacket = product(&plan, "navy-sport-jacket")?;
    assert_eq!(jacket.title, "Navy Sports Jacket");
    assert!(
        jacket
            .body_html
            .ends_with("you'll be kept comfortable and protected when out in all weathers.")
    );
    assert_eq!(money_and_stock(jacket), [(6000, None, 1)]);
    assert_eq!(jacket.tags, ["men"]);
    Ok(())
}

#[test]
fn home_and_garden_counts_prices_and_stock() -> TestResult {
    let plan = parse_catalog("shopify-home-and-garden.csv")?;
    assert_eq!(plan.products.len(), 20);
    assert_eq!(plan.variant_count(), 21);
    assert_eq!(plan.image_count(), 21);
    assert_eq!(plan.notes, vec![]);
    let table: Vec<(&str, Vec<PriceAndStock>)> = plan
        .products
        .iter()
        .map(|p| (p.handle.as_str(), money_and_stock(p)))
        .collect();
    let expected: Vec<(&str, Vec<PriceAndStock>)> = vec![
        ("clay-plant-pot", vec![(999, None, 1), (1599, None, 3)]),
        ("copper-light", vec![(5999, Some(7500), 2)]),
        ("cream-sofa", vec![(50000, Some(75000), 4)]),
        ("antique-drawers", vec![(25000, Some(30000), 2)]),
        ("white-bed-clothes", vec![(2999, Some(3500), 1)]),
        ("pink-armchair", vec![(75000, None, 0)]),
        ("wooden-outdoor-table", vec![(9999, None, 3)]),
        ("brown-throw-pillows", vec![(1999, Some(2599), 5)]),
        ("white-ceramic-pot", vec![(1599, Some(3000), 1)]),
        ("yellow-watering-can", vec![(4099, Some(5000), 4)]),
        ("gardening-hand-trowel", vec![(1099, Some(2500), 2)]),
        ("biodegradable-cardboard-pots", vec![(1000, None, 8)]),
        ("grey-sofa", vec![(2999, Some(3500), 6)]),
        ("wooden-outdoor-slats", vec![(2599, Some(3500), 0)]),
        ("wooden-fence", vec![(20000, Some(30000), 5)]),
        ("yellow-sofa", vec![(9999, Some(15000), 5)]),
        ("knitted-throw-pillows", vec![(1999, Some(2599), 1)]),
        ("vanilla-candle", vec![(1599, Some(3000), 5)]),
        ("black-bean-bag", vec![(6999, Some(8000), 6)]),
        ("bedside-table", vec![(6999, Some(8500), 1)]),
    ];
    assert_eq!(table, expected);
    Ok(())
}

#[test]
fn home_and_garden_two_size_pot_with_two_images() -> TestResult {
    let plan = parse_catalog("shopify-home-and-garden.csv")?;
    let pot = product(&plan, "clay-plant-pot")?;
    assert_eq!(pot.title, "Clay Plant Pot");
    assert_eq!(pot.body_html, "<p>Classic blown clay pot for plants</p>");
    assert_eq!(pot.vendor.as_deref(), Some("Company 123"));
    assert_eq!(pot.product_type.as_deref(), Some("Outdoor"));
    assert_eq!(pot.tags, ["Pot", "Plants"]);
    assert!(pot.published);
    assert_eq!(pot.option_names, ["Size"]);
    let values: Vec<&[String]> = pot
        .variants
        .iter()
        .map(|v| v.option_values.as_slice())
        .collect();
    assert_eq!(
        values,
        [&["Regular".to_string()][..], &["Large".to_string()][..]]
    );
    let images: Vec<(&str, Option<i64>, u64)> = pot
        .images
        .iter()
        .map(|i| (i.src.as_str(), i.position, i.line))
        .collect();
    assert_eq!(
        images,
        [
            (
                "https://burst.shopifycdn.com/photos/single-sprout-in-a-pot_925x.jpg",
                Some(1),
                2
            ),
            (
                "https://burst.shopifycdn.com/photos/pot-with-a-single-sprout_925x.jpg",
                Some(2),
                3
            ),
        ]
    );
    Ok(())
}

#[test]
fn home_and_garden_out_of_stock_and_discounted_products() -> TestResult {
    let plan = parse_catalog("shopify-home-and-garden.csv")?;
    let armchair = product(&plan, "pink-armchair")?;
    assert_eq!(armchair.variants, [default_variant(75000, None, 0, 8)]);
    assert_eq!(armchair.images.len(), 1);
    assert_eq!(armchair.images[0].position, None);
    assert_eq!(armchair.tags, ["Chair"]);

    let slats = product(&plan, "wooden-outdoor-slats")?;
    assert_eq!(slats.variants, [default_variant(2599, Some(3500), 0, 16)]);
    assert_eq!(slats.tags, ["Wood", "Garden"]);
    assert_eq!(slats.vendor.as_deref(), Some("Rustic LTD"));

    let light = product(&plan, "copper-light")?;
    assert_eq!(light.variants, [default_variant(5999, Some(7500), 2, 4)]);
    assert_eq!(light.tags, ["Copper", "Bedroom"]);
    assert_eq!(light.product_type.as_deref(), Some("Indoor"));
    assert!(light.published);
    assert_eq!(light.images.len(), 1);
    Ok(())
}

#[test]
fn parsing_is_deterministic() -> TestResult {
    for name in ["shopify-apparel.csv", "shopify-home-and-garden.csv"] {
        let bytes = read_catalog(name)?;
        let first = parse(bytes.as_slice());
        let second = parse(bytes.as_slice());
        assert!(first.is_ok(), "{name}");
        assert_eq!(first, second, "{name}");
    }
    Ok(())
}
