//! Products, variants, tags and images; catalog search; the import upsert.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, StoreResult, from_json_text, new_id, to_json_text};
use crate::domain::catalog::{InventoryPolicy, ProductDraft, VariantDraft, search_text};

#[derive(Debug, Clone)]
pub struct ProductRecord {
    pub id: String,
    pub handle: String,
    pub title: String,
    pub body_html: String,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub tags: Vec<String>,
    pub published: bool,
    pub option_names: Vec<String>,
    pub images: Vec<(String, Option<String>)>,
    pub variants: Vec<VariantRecord>,
}

#[derive(Debug, Clone)]
pub struct VariantRecord {
    pub id: String,
    pub product_id: String,
    pub sku: Option<String>,
    pub options: Vec<String>,
    pub price: i64,
    pub compare_at_price: Option<i64>,
    pub inventory_quantity: i64,
    pub inventory_policy: InventoryPolicy,
    pub title: String,
}

/// Filters of a catalog listing; all values already validated and lower-cased.
#[derive(Debug, Clone, Default)]
pub struct CatalogQuery {
    pub q: Option<String>,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub tag: Option<String>,
    pub limit: i64,
    pub offset: i64,
    pub include_unpublished: bool,
}

/// What an import did, row by row.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportOutcome {
    pub products_created: u64,
    pub products_updated: u64,
    pub products_unchanged: u64,
    pub variants_created: u64,
    pub variants_updated: u64,
    pub variants_unchanged: u64,
    pub rows: Vec<RowOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowOutcome {
    pub line: Option<u64>,
    pub handle: String,
    pub sku: Option<String>,
    pub outcome: &'static str,
}

/// The WHERE clause shared by catalog listing queries. `$1` search pattern, `$2`
/// vendor, `$3` type, `$4` tag (each NULL when unused), `$5` 1 to include unpublished.
macro_rules! catalog_filter {
    () => {
        " FROM products p WHERE (p.published = 1 OR $5 = 1) \
          AND ($1 IS NULL OR p.search_text LIKE $1 ESCAPE '\\') \
          AND ($2 IS NULL OR LOWER(p.vendor) = $2) \
          AND ($3 IS NULL OR LOWER(p.product_type) = $3) \
          AND ($4 IS NULL OR EXISTS (SELECT 1 FROM product_tags t \
               WHERE t.product_id = p.id AND LOWER(t.tag) = $4)) "
    };
}

macro_rules! catalog_page {
    () => {
        concat!(
            "SELECT p.id",
            catalog_filter!(),
            "ORDER BY p.handle LIMIT $6 OFFSET $7"
        )
    };
}

fn like_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn variant_from_row(row: &AnyRow) -> StoreResult<VariantRecord> {
    let policy: String = row.try_get("inventory_policy")?;
    let options = ["option1", "option2", "option3"]
        .iter()
        .map(|c| row.try_get::<String, _>(*c))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>();
    Ok(VariantRecord {
        id: row.try_get("id")?,
        product_id: row.try_get("product_id")?,
        sku: row.try_get("sku")?,
        title: if options.is_empty() {
            "Default Title".to_owned()
        } else {
            options.join(" / ")
        },
        options,
        price: row.try_get("price")?,
        compare_at_price: row.try_get("compare_at_price")?,
        inventory_quantity: row.try_get("inventory_quantity")?,
        inventory_policy: InventoryPolicy::parse(&policy)
            .ok_or_else(|| StoreError::Corrupt("inventory policy".into()))?,
    })
}

fn product_from_row(row: &AnyRow) -> StoreResult<ProductRecord> {
    let option_names: String = row.try_get("option_names")?;
    Ok(ProductRecord {
        id: row.try_get("id")?,
        handle: row.try_get("handle")?,
        title: row.try_get("title")?,
        body_html: row.try_get("body_html")?,
        vendor: row.try_get("vendor")?,
        product_type: row.try_get("product_type")?,
        published: row.try_get::<i64, _>("published")? == 1,
        option_names: from_json_text(&option_names)?,
        tags: Vec::new(),
        images: Vec::new(),
        variants: Vec::new(),
    })
}

/// A catalog listing's bound parameters, in the order of [`catalog_filter!`].
struct PageArgs {
    pattern: Option<String>,
    vendor: Option<String>,
    product_type: Option<String>,
    tag: Option<String>,
    unpublished: i64,
    limit: i64,
    offset: i64,
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

impl PageArgs {
    fn new(query: &CatalogQuery) -> Self {
        Self {
            pattern: query.q.as_deref().map(like_pattern),
            vendor: query.vendor.clone(),
            product_type: query.product_type.clone(),
            tag: query.tag.clone(),
            unpublished: i64::from(query.include_unpublished),
            limit: query.limit,
            offset: query.offset,
        }
    }

    /// Binds `$1`..`$5`, the filter.
    fn bind_filter<'q>(&self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        query
            .bind(self.pattern.clone())
            .bind(self.vendor.clone())
            .bind(self.product_type.clone())
            .bind(self.tag.clone())
            .bind(self.unpublished)
    }

    /// Binds `$1`..`$7`, the filter and the page.
    fn bind_page<'q>(&self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        self.bind_filter(query).bind(self.limit).bind(self.offset)
    }
}

fn image_from_row(row: &AnyRow) -> StoreResult<(String, Option<String>)> {
    Ok((row.try_get("src")?, row.try_get("alt")?))
}

/// Puts variant, tag and image rows (each with a `product_id` column, already in
/// display order) under their products. Rows of products not in `products` are
/// ignored: the catalog may change between the queries of one page.
fn attach_children(
    products: &mut [ProductRecord],
    variants: &[AnyRow],
    tags: &[AnyRow],
    images: &[AnyRow],
) -> StoreResult<()> {
    let index: HashMap<String, usize> = products
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i))
        .collect();
    let owner = |row: &AnyRow| -> StoreResult<Option<usize>> {
        let id: String = row.try_get("product_id")?;
        Ok(index.get(&id).copied())
    };
    for row in variants {
        if let Some(i) = owner(row)? {
            products[i].variants.push(variant_from_row(row)?);
        }
    }
    for row in tags {
        if let Some(i) = owner(row)? {
            products[i].tags.push(row.try_get("tag")?);
        }
    }
    for row in images {
        if let Some(i) = owner(row)? {
            products[i].images.push(image_from_row(row)?);
        }
    }
    Ok(())
}

impl Store {
    /// One page of the catalog and the total number of matches, in five queries
    /// whatever the page size: the count, the products, then their variants, tags
    /// and images, each selected by the page's own filter and paging (`$1`..`$7`).
    pub async fn list_products(
        &self,
        query: &CatalogQuery,
    ) -> StoreResult<(Vec<ProductRecord>, i64)> {
        let args = PageArgs::new(query);
        let total: i64 = args
            .bind_filter(sqlx::query(concat!(
                "SELECT COUNT(*) AS n",
                catalog_filter!()
            )))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let mut products = args
            .bind_page(sqlx::query(concat!(
                "SELECT p.*",
                catalog_filter!(),
                "ORDER BY p.handle LIMIT $6 OFFSET $7"
            )))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(product_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        if products.is_empty() {
            return Ok((products, total));
        }
        let children = |query| args.bind_page(query).fetch_all(&self.pool);
        let variants = children(sqlx::query(concat!(
            "SELECT * FROM variants WHERE product_id IN (",
            catalog_page!(),
            ") ORDER BY product_id, position, id"
        )))
        .await?;
        let tags = children(sqlx::query(concat!(
            "SELECT product_id, tag FROM product_tags WHERE product_id IN (",
            catalog_page!(),
            ") ORDER BY product_id, position"
        )))
        .await?;
        let images = children(sqlx::query(concat!(
            "SELECT product_id, src, alt FROM product_images WHERE product_id IN (",
            catalog_page!(),
            ") ORDER BY product_id, position"
        )))
        .await?;
        attach_children(&mut products, &variants, &tags, &images)?;
        Ok((products, total))
    }

    /// A product by id or handle, with variants, tags and images.
    pub async fn product_by_key(&self, key: &str) -> StoreResult<Option<ProductRecord>> {
        let row = sqlx::query("SELECT * FROM products WHERE id = $1 OR handle = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(self.complete_product(product_from_row(&row)?).await?)),
            None => Ok(None),
        }
    }

    pub async fn product_by_id(&self, id: &str) -> StoreResult<Option<ProductRecord>> {
        let row = sqlx::query("SELECT * FROM products WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some(self.complete_product(product_from_row(&row)?).await?)),
            None => Ok(None),
        }
    }

    async fn complete_product(&self, product: ProductRecord) -> StoreResult<ProductRecord> {
        let variants =
            sqlx::query("SELECT * FROM variants WHERE product_id = $1 ORDER BY position, id")
                .bind(&product.id)
                .fetch_all(&self.pool)
                .await?;
        let tags = sqlx::query(
            "SELECT product_id, tag FROM product_tags WHERE product_id = $1 ORDER BY position",
        )
        .bind(&product.id)
        .fetch_all(&self.pool)
        .await?;
        let images = sqlx::query(
            "SELECT product_id, src, alt FROM product_images WHERE product_id = $1 \
             ORDER BY position",
        )
        .bind(&product.id)
        .fetch_all(&self.pool)
        .await?;
        let mut products = [product];
        attach_children(&mut products, &variants, &tags, &images)?;
        let [product] = products;
        Ok(product)
    }

    pub async fn variant_by_id(&self, id: &str) -> StoreResult<Option<VariantRecord>> {
        let row = sqlx::query("SELECT * FROM variants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(variant_from_row).transpose()
    }

    /// Writes products and their variants, matching products by handle and variants
    /// by SKU (or by option values when there is no SKU). Everything happens in one
    /// transaction: an error leaves the catalog exactly as it was.
    pub async fn upsert_products(
        &self,
        drafts: &[ProductDraft],
        now: i64,
    ) -> StoreResult<ImportOutcome> {
        let mut tx = self.begin_write().await?;
        let mut outcome = ImportOutcome::default();
        for draft in drafts {
            upsert_product(&mut tx, draft, now, &mut outcome).await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// Creates one product; `Conflict` if its handle or a SKU is taken.
    pub async fn create_product(&self, draft: &ProductDraft, now: i64) -> StoreResult<String> {
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query("SELECT id FROM products WHERE handle = $1")
            .bind(&draft.handle)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict);
        }
        let mut outcome = ImportOutcome::default();
        let id = upsert_product(&mut tx, draft, now, &mut outcome).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Replaces a product's fields (not its variants) from a full draft.
    pub async fn update_product(
        &self,
        id: &str,
        draft: &ProductDraft,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE products SET handle = $1, title = $2, body_html = $3, vendor = $4, \
             product_type = $5, published = $6, search_text = $7, updated_at = $8 WHERE id = $9",
        )
        .bind(&draft.handle)
        .bind(&draft.title)
        .bind(&draft.body_html)
        .bind(draft.vendor.clone())
        .bind(draft.product_type.clone())
        .bind(i64::from(draft.published))
        .bind(search_text(draft))
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from_write)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        replace_tags(&mut tx, id, &draft.tags).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes a variant's price and stock settings.
    pub async fn update_variant(
        &self,
        product_id: &str,
        variant_id: &str,
        draft: &VariantDraft,
        now: i64,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE variants SET sku = $1, price = $2, compare_at_price = $3, \
             inventory_quantity = $4, inventory_policy = $5, updated_at = $6 \
             WHERE id = $7 AND product_id = $8",
        )
        .bind(draft.sku.clone())
        .bind(draft.price)
        .bind(draft.compare_at_price)
        .bind(draft.inventory_quantity)
        .bind(draft.inventory_policy.as_str())
        .bind(now)
        .bind(variant_id)
        .bind(product_id)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn delete_product(&self, id: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM products WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

async fn upsert_product(
    tx: &mut Tx,
    draft: &ProductDraft,
    now: i64,
    outcome: &mut ImportOutcome,
) -> StoreResult<String> {
    let existing = sqlx::query("SELECT * FROM products WHERE handle = $1")
        .bind(&draft.handle)
        .fetch_optional(&mut **tx)
        .await?;
    let option_names = to_json_text(&draft.option_names);
    let id = match existing {
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO products (id, handle, title, body_html, vendor, product_type, \
                 published, option_names, search_text, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
            )
            .bind(&id)
            .bind(&draft.handle)
            .bind(&draft.title)
            .bind(&draft.body_html)
            .bind(draft.vendor.clone())
            .bind(draft.product_type.clone())
            .bind(i64::from(draft.published))
            .bind(&option_names)
            .bind(search_text(draft))
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from_write)?;
            outcome.products_created += 1;
            id
        }
        Some(row) => {
            let current = product_from_row(&row)?;
            let tags = current_tags(tx, &current.id).await?;
            let same = current.title == draft.title
                && current.body_html == draft.body_html
                && current.vendor == draft.vendor
                && current.product_type == draft.product_type
                && current.published == draft.published
                && current.option_names == draft.option_names
                && tags == draft.tags;
            if same {
                outcome.products_unchanged += 1;
            } else {
                sqlx::query(
                    "UPDATE products SET title = $1, body_html = $2, vendor = $3, \
                     product_type = $4, published = $5, option_names = $6, search_text = $7, \
                     updated_at = $8 WHERE id = $9",
                )
                .bind(&draft.title)
                .bind(&draft.body_html)
                .bind(draft.vendor.clone())
                .bind(draft.product_type.clone())
                .bind(i64::from(draft.published))
                .bind(&option_names)
                .bind(search_text(draft))
                .bind(now)
                .bind(&current.id)
                .execute(&mut **tx)
                .await
                .map_err(StoreError::from_write)?;
                outcome.products_updated += 1;
            }
            current.id
        }
    };
    replace_tags(tx, &id, &draft.tags).await?;
    replace_images(tx, &id, draft).await?;
    for (position, variant) in draft.variants.iter().enumerate() {
        let result = upsert_variant(tx, &id, position as i64, variant, now).await?;
        match result {
            "created" => outcome.variants_created += 1,
            "updated" => outcome.variants_updated += 1,
            _ => outcome.variants_unchanged += 1,
        }
        outcome.rows.push(RowOutcome {
            line: variant.source_line,
            handle: draft.handle.clone(),
            sku: variant.sku.clone(),
            outcome: result,
        });
    }
    Ok(id)
}

async fn current_tags(tx: &mut Tx, product_id: &str) -> StoreResult<Vec<String>> {
    sqlx::query("SELECT tag FROM product_tags WHERE product_id = $1 ORDER BY position")
        .bind(product_id)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get("tag").map_err(StoreError::from))
        .collect()
}

async fn replace_tags(tx: &mut Tx, product_id: &str, tags: &[String]) -> StoreResult<()> {
    sqlx::query("DELETE FROM product_tags WHERE product_id = $1")
        .bind(product_id)
        .execute(&mut **tx)
        .await?;
    let mut seen = HashMap::new();
    for (position, tag) in tags.iter().enumerate() {
        if seen.insert(tag.clone(), ()).is_some() {
            continue;
        }
        sqlx::query("INSERT INTO product_tags (product_id, tag, position) VALUES ($1, $2, $3)")
            .bind(product_id)
            .bind(tag)
            .bind(position as i64)
            .execute(&mut **tx)
            .await
            .map_err(StoreError::from_write)?;
    }
    Ok(())
}

async fn replace_images(tx: &mut Tx, product_id: &str, draft: &ProductDraft) -> StoreResult<()> {
    sqlx::query("DELETE FROM product_images WHERE product_id = $1")
        .bind(product_id)
        .execute(&mut **tx)
        .await?;
    for (index, image) in draft.images.iter().enumerate() {
        sqlx::query(
            "INSERT INTO product_images (product_id, position, src, alt) VALUES ($1, $2, $3, $4)",
        )
        .bind(product_id)
        .bind(index as i64)
        .bind(&image.src)
        .bind(image.alt.clone())
        .execute(&mut **tx)
        .await
        .map_err(StoreError::from_write)?;
    }
    Ok(())
}

fn option_columns(values: &[String]) -> [String; 3] {
    let value = |i: usize| values.get(i).cloned().unwrap_or_default();
    [value(0), value(1), value(2)]
}

/// Inserts or updates one variant, matched by SKU when it has one, else by its
/// option values within the product. Returns "created", "updated" or "unchanged".
async fn upsert_variant(
    tx: &mut Tx,
    product_id: &str,
    position: i64,
    draft: &VariantDraft,
    now: i64,
) -> StoreResult<&'static str> {
    let [o1, o2, o3] = option_columns(&draft.option_values);
    let existing = match &draft.sku {
        Some(sku) => {
            sqlx::query("SELECT * FROM variants WHERE sku = $1")
                .bind(sku)
                .fetch_optional(&mut **tx)
                .await?
        }
        None => {
            sqlx::query(
                "SELECT * FROM variants WHERE product_id = $1 AND option1 = $2 \
                 AND option2 = $3 AND option3 = $4",
            )
            .bind(product_id)
            .bind(&o1)
            .bind(&o2)
            .bind(&o3)
            .fetch_optional(&mut **tx)
            .await?
        }
    };
    let Some(row) = existing else {
        insert_variant(tx, product_id, position, draft, &[o1, o2, o3], now).await?;
        return Ok("created");
    };
    let current = variant_from_row(&row)?;
    if current.product_id != product_id {
        // A SKU belongs to one product; moving it silently would corrupt carts and orders.
        return Err(StoreError::Conflict);
    }
    let grams: Option<i64> = row.try_get("grams")?;
    let requires_shipping = row.try_get::<i64, _>("requires_shipping")? == 1;
    let taxable = row.try_get::<i64, _>("taxable")? == 1;
    let barcode: Option<String> = row.try_get("barcode")?;
    let same = current.options == draft.option_values
        && current.sku == draft.sku
        && current.price == draft.price
        && current.compare_at_price == draft.compare_at_price
        && current.inventory_quantity == draft.inventory_quantity
        && current.inventory_policy == draft.inventory_policy
        && grams == draft.grams
        && requires_shipping == draft.requires_shipping
        && taxable == draft.taxable
        && barcode == draft.barcode;
    if same {
        return Ok("unchanged");
    }
    sqlx::query(
        "UPDATE variants SET sku = $1, option1 = $2, option2 = $3, option3 = $4, price = $5, \
         compare_at_price = $6, inventory_quantity = $7, inventory_policy = $8, grams = $9, \
         requires_shipping = $10, taxable = $11, barcode = $12, position = $13, updated_at = $14 \
         WHERE id = $15",
    )
    .bind(draft.sku.clone())
    .bind(&o1)
    .bind(&o2)
    .bind(&o3)
    .bind(draft.price)
    .bind(draft.compare_at_price)
    .bind(draft.inventory_quantity)
    .bind(draft.inventory_policy.as_str())
    .bind(draft.grams)
    .bind(i64::from(draft.requires_shipping))
    .bind(i64::from(draft.taxable))
    .bind(draft.barcode.clone())
    .bind(position)
    .bind(now)
    .bind(&current.id)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from_write)?;
    Ok("updated")
}

async fn insert_variant(
    tx: &mut Tx,
    product_id: &str,
    position: i64,
    draft: &VariantDraft,
    options: &[String; 3],
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO variants (id, product_id, position, sku, option1, option2, option3, price, \
         compare_at_price, inventory_quantity, inventory_policy, grams, requires_shipping, \
         taxable, barcode, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(new_id())
    .bind(product_id)
    .bind(position)
    .bind(draft.sku.clone())
    .bind(&options[0])
    .bind(&options[1])
    .bind(&options[2])
    .bind(draft.price)
    .bind(draft.compare_at_price)
    .bind(draft.inventory_quantity)
    .bind(draft.inventory_policy.as_str())
    .bind(draft.grams)
    .bind(i64::from(draft.requires_shipping))
    .bind(i64::from(draft.taxable))
    .bind(draft.barcode.clone())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from_write)?;
    Ok(())
}
