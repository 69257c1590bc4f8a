//! Request bodies and response documents of the public API. Requests reject
//! unknown fields and validate themselves; responses are built from store records.

use serde::{Deserialize, Serialize};

use ironcart_security::secret::SecretString;

use super::error::FieldError;
use super::extract::{Validate, check};
use crate::domain::catalog::{InventoryPolicy, ProductDraft, VariantDraft};
use crate::domain::checkout::ShippingAddress;
use crate::domain::money::Money;
use crate::store::{OrderRecord, ProductRecord, UserRecord, VariantRecord};

pub const MAX_PER_PAGE: i64 = 100;
/// The largest price accepted anywhere, the same bound as catalog imports.
const MAX_MONEY: i64 = ironcart_shopify::MAX_AMOUNT_MINOR;
const MAX_STOCK: i64 = 1_000_000_000;

// ---------------------------------------------------------------- accounts

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub password: SecretString,
    pub name: String,
}

impl Validate for RegisterRequest {
    fn validate(mut self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        self.name = check::text(&mut errors, "name", &self.name, 1, 100);
        if let Err(message) = crate::domain::customers::Email::parse(&self.email) {
            errors.push(FieldError::new("email", "invalid_email", message));
        }
        check::finish(errors, self)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: SecretString,
}

impl Validate for LoginRequest {
    /// Bounds only: anything else would tell which accounts exist.
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.email.len() > 320 {
            errors.push(FieldError::new(
                "email",
                "too_long",
                "must be at most 320 bytes",
            ));
        }
        if self.password.expose_secret().len() > 1024 {
            errors.push(FieldError::new(
                "password",
                "too_long",
                "must be at most 1024 bytes",
            ));
        }
        check::finish(errors, self)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: SecretString,
}

impl Validate for RefreshRequest {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let length = self.refresh_token.expose_secret().len();
        if length == 0 || length > 256 {
            return Err(vec![FieldError::new(
                "refresh_token",
                "invalid",
                "is not a refresh token",
            )]);
        }
        Ok(self)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    pub name: Option<String>,
}

impl Validate for ProfileUpdate {
    fn validate(mut self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(name) = &self.name {
            self.name = Some(check::text(&mut errors, "name", name, 1, 100));
        }
        check::finish(errors, self)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: SecretString,
    pub new_password: SecretString,
}

impl Validate for PasswordChange {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        if self.current_password.expose_secret().len() > 1024 {
            return Err(vec![FieldError::new(
                "current_password",
                "too_long",
                "must be at most 1024 bytes",
            )]);
        }
        Ok(self)
    }
}

#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
    pub status: String,
    pub created_at: String,
}

impl From<&UserRecord> for UserView {
    fn from(user: &UserRecord) -> Self {
        Self {
            id: user.id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            roles: user.roles.clone(),
            status: user.status.clone(),
            created_at: rfc3339(user.created_at),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesUpdate {
    pub roles: Vec<String>,
}

impl Validate for RolesUpdate {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        if self.roles.len() > 10 || self.roles.iter().any(|r| r.is_empty() || r.len() > 64) {
            return Err(vec![FieldError::new(
                "roles",
                "invalid",
                "must be up to 10 role names",
            )]);
        }
        Ok(self)
    }
}

// ---------------------------------------------------------------- paging

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

impl PageQuery {
    pub fn limit_offset(&self) -> (i64, i64, i64, i64) {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(20);
        (page, per_page, per_page, (page - 1) * per_page)
    }
}

fn check_page(errors: &mut Vec<FieldError>, page: Option<i64>, per_page: Option<i64>) {
    if let Some(page) = page {
        check::range(errors, "page", page, 1, 10_000);
    }
    if let Some(per_page) = per_page {
        check::range(errors, "per_page", per_page, 1, MAX_PER_PAGE);
    }
}

impl Validate for PageQuery {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        check_page(&mut errors, self.page, self.per_page);
        check::finish(errors, self)
    }
}

#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

// ---------------------------------------------------------------- catalog

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductQuery {
    pub q: Option<String>,
    pub vendor: Option<String>,
    #[serde(rename = "type")]
    pub product_type: Option<String>,
    pub tag: Option<String>,
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

impl Validate for ProductQuery {
    fn validate(mut self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        check_page(&mut errors, self.page, self.per_page);
        let mut filter = |field: &str, value: &Option<String>| {
            value
                .as_ref()
                .map(|v| check::text(&mut errors, field, v, 0, 100).to_lowercase())
                .filter(|v| !v.is_empty())
        };
        self.q = filter("q", &self.q);
        self.vendor = filter("vendor", &self.vendor);
        self.product_type = filter("type", &self.product_type);
        self.tag = filter("tag", &self.tag);
        check::finish(errors, self)
    }
}

#[derive(Debug, Serialize)]
pub struct ProductView {
    pub id: String,
    pub handle: String,
    pub title: String,
    pub body_html: String,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub tags: Vec<String>,
    pub published: bool,
    pub options: Vec<String>,
    pub images: Vec<ImageView>,
    pub variants: Vec<VariantView>,
}

#[derive(Debug, Serialize)]
pub struct ImageView {
    pub src: String,
    pub alt: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct VariantView {
    pub id: String,
    pub sku: Option<String>,
    pub title: String,
    pub options: Vec<String>,
    pub price: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_at_price: Option<Money>,
    /// Units that can be bought now (0 when sold out).
    pub available: i64,
    pub in_stock: bool,
    pub inventory_policy: InventoryPolicy,
}

impl From<&VariantRecord> for VariantView {
    fn from(v: &VariantRecord) -> Self {
        Self {
            id: v.id.clone(),
            sku: v.sku.clone(),
            title: v.title.clone(),
            options: v.options.clone(),
            price: Money::minor(v.price),
            compare_at_price: v.compare_at_price.map(Money::minor),
            available: v.inventory_quantity.max(0),
            in_stock: v.inventory_quantity > 0 || v.inventory_policy == InventoryPolicy::Continue,
            inventory_policy: v.inventory_policy,
        }
    }
}

impl From<&ProductRecord> for ProductView {
    fn from(p: &ProductRecord) -> Self {
        Self {
            id: p.id.clone(),
            handle: p.handle.clone(),
            title: p.title.clone(),
            body_html: p.body_html.clone(),
            vendor: p.vendor.clone(),
            product_type: p.product_type.clone(),
            tags: p.tags.clone(),
            published: p.published,
            options: p.option_names.clone(),
            images: p
                .images
                .iter()
                .map(|(src, alt)| ImageView {
                    src: src.clone(),
                    alt: alt.clone(),
                })
                .collect(),
            variants: p.variants.iter().map(VariantView::from).collect(),
        }
    }
}

/// A product as the admin API creates it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    pub handle: String,
    pub title: String,
    #[serde(default)]
    pub body_html: String,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub published: bool,
    #[serde(default)]
    pub option_names: Vec<String>,
    pub variants: Vec<VariantInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    pub sku: Option<String>,
    #[serde(default)]
    pub options: Vec<String>,
    pub price: i64,
    pub compare_at_price: Option<i64>,
    #[serde(default)]
    pub inventory_quantity: i64,
    pub inventory_policy: Option<InventoryPolicy>,
}

fn check_handle(errors: &mut Vec<FieldError>, handle: &str) {
    let valid = !handle.is_empty()
        && handle.len() <= 255
        && handle
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        errors.push(FieldError::new(
            "handle",
            "invalid_handle",
            "must be 1-255 characters of a-z, 0-9 and -",
        ));
    }
}

fn check_optional(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: &Option<String>,
) -> Option<String> {
    value
        .as_ref()
        .map(|v| check::text(errors, field, v, 0, 255))
        .filter(|v| !v.is_empty())
}

fn check_tags(errors: &mut Vec<FieldError>, tags: &[String]) -> Vec<String> {
    if tags.len() > 50 {
        errors.push(FieldError::new("tags", "too_many", "at most 50 tags"));
    }
    tags.iter()
        .enumerate()
        .map(|(i, t)| check::text(errors, &format!("tags[{i}]"), t, 1, 255))
        .collect()
}

impl VariantInput {
    fn into_draft(
        self,
        errors: &mut Vec<FieldError>,
        index: usize,
        options: usize,
    ) -> VariantDraft {
        let field = |name: &str| format!("variants[{index}].{name}");
        check::range(errors, &field("price"), self.price, 0, MAX_MONEY);
        if let Some(compare) = self.compare_at_price {
            check::range(errors, &field("compare_at_price"), compare, 0, MAX_MONEY);
        }
        check::range(
            errors,
            &field("inventory_quantity"),
            self.inventory_quantity,
            0,
            MAX_STOCK,
        );
        if self.options.len() != options {
            errors.push(FieldError::new(
                field("options"),
                "wrong_length",
                "needs one value per product option",
            ));
        }
        let option_values = self
            .options
            .iter()
            .enumerate()
            .map(|(i, v)| check::text(errors, &field(&format!("options[{i}]")), v, 1, 255))
            .collect();
        let sku = self
            .sku
            .as_ref()
            .map(|s| check::text(errors, &field("sku"), s, 1, 64));
        VariantDraft {
            sku,
            option_values,
            price: self.price,
            compare_at_price: self.compare_at_price,
            inventory_quantity: self.inventory_quantity,
            inventory_policy: self.inventory_policy.unwrap_or(InventoryPolicy::Deny),
            grams: None,
            requires_shipping: true,
            taxable: true,
            barcode: None,
            source_line: None,
        }
    }
}

impl ProductInput {
    /// Validates and converts to a draft; the description is sanitised to the
    /// allowlisted HTML subset.
    pub fn into_draft(self) -> Result<ProductDraft, Vec<FieldError>> {
        let mut errors = Vec::new();
        check_handle(&mut errors, &self.handle);
        let title = check::text(&mut errors, "title", &self.title, 1, 255);
        if self.body_html.len() > 64 * 1024 {
            errors.push(FieldError::new(
                "body_html",
                "too_long",
                "must be at most 64 KiB",
            ));
        }
        if self.option_names.len() > 3 {
            errors.push(FieldError::new(
                "option_names",
                "too_many",
                "at most 3 options",
            ));
        }
        if self.variants.is_empty() || self.variants.len() > 100 {
            errors.push(FieldError::new(
                "variants",
                "wrong_length",
                "between 1 and 100 variants",
            ));
        }
        let option_names: Vec<String> = self
            .option_names
            .iter()
            .enumerate()
            .map(|(i, n)| check::text(&mut errors, &format!("option_names[{i}]"), n, 1, 255))
            .collect();
        let vendor = check_optional(&mut errors, "vendor", &self.vendor);
        let product_type = check_optional(&mut errors, "product_type", &self.product_type);
        let tags = check_tags(&mut errors, &self.tags);
        let variants = self
            .variants
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.into_draft(&mut errors, i, option_names.len()))
            .collect();
        let draft = ProductDraft {
            handle: self.handle,
            title,
            body_html: ironcart_shopify::sanitize_html(&self.body_html),
            vendor,
            product_type,
            tags,
            published: self.published,
            option_names,
            variants,
            images: Vec::new(),
            source_line: None,
        };
        check::finish(errors, draft)
    }
}

impl Validate for ProductInput {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        Ok(self)
    }
}

/// Product fields an admin may change; absent fields stay as they are.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub handle: Option<String>,
    pub title: Option<String>,
    pub body_html: Option<String>,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    pub tags: Option<Vec<String>>,
    pub published: Option<bool>,
}

impl Validate for ProductPatch {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        Ok(self)
    }
}

impl ProductPatch {
    /// Applies the patch to the current product, validating what changes.
    pub fn apply(self, current: &ProductRecord) -> Result<ProductDraft, Vec<FieldError>> {
        let mut errors = Vec::new();
        let handle = self.handle.unwrap_or_else(|| current.handle.clone());
        check_handle(&mut errors, &handle);
        let title = check::text(
            &mut errors,
            "title",
            self.title.as_deref().unwrap_or(&current.title),
            1,
            255,
        );
        let body_html = match self.body_html {
            Some(body) if body.len() > 64 * 1024 => {
                errors.push(FieldError::new(
                    "body_html",
                    "too_long",
                    "must be at most 64 KiB",
                ));
                String::new()
            }
            Some(body) => ironcart_shopify::sanitize_html(&body),
            None => current.body_html.clone(),
        };
        let vendor = match self.vendor {
            Some(v) => check_optional(&mut errors, "vendor", &Some(v)),
            None => current.vendor.clone(),
        };
        let product_type = match self.product_type {
            Some(v) => check_optional(&mut errors, "product_type", &Some(v)),
            None => current.product_type.clone(),
        };
        let tags = match self.tags {
            Some(tags) => check_tags(&mut errors, &tags),
            None => current.tags.clone(),
        };
        let draft = ProductDraft {
            handle,
            title,
            body_html,
            vendor,
            product_type,
            tags,
            published: self.published.unwrap_or(current.published),
            option_names: current.option_names.clone(),
            variants: Vec::new(),
            images: Vec::new(),
            source_line: None,
        };
        check::finish(errors, draft)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantPatch {
    pub sku: Option<String>,
    pub price: Option<i64>,
    pub compare_at_price: Option<i64>,
    pub inventory_quantity: Option<i64>,
    pub inventory_policy: Option<InventoryPolicy>,
}

impl Validate for VariantPatch {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Some(price) = self.price {
            check::range(&mut errors, "price", price, 0, MAX_MONEY);
        }
        if let Some(price) = self.compare_at_price {
            check::range(&mut errors, "compare_at_price", price, 0, MAX_MONEY);
        }
        if let Some(quantity) = self.inventory_quantity {
            check::range(&mut errors, "inventory_quantity", quantity, 0, MAX_STOCK);
        }
        if let Some(sku) = &self.sku {
            check::text(&mut errors, "sku", sku, 1, 64);
        }
        check::finish(errors, self)
    }
}

impl VariantPatch {
    pub fn apply(self, current: &VariantRecord) -> VariantDraft {
        VariantDraft {
            sku: self.sku.or_else(|| current.sku.clone()),
            option_values: current.options.clone(),
            price: self.price.unwrap_or(current.price),
            compare_at_price: self.compare_at_price.or(current.compare_at_price),
            inventory_quantity: self
                .inventory_quantity
                .unwrap_or(current.inventory_quantity),
            inventory_policy: self.inventory_policy.unwrap_or(current.inventory_policy),
            grams: None,
            requires_shipping: true,
            taxable: true,
            barcode: None,
            source_line: None,
        }
    }
}

// ---------------------------------------------------------------- cart and checkout

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartAdd {
    pub variant_id: String,
    pub quantity: i64,
}

impl Validate for CartAdd {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        check::range(&mut errors, "quantity", self.quantity, 1, 10_000);
        if self.variant_id.is_empty()
            || self.variant_id.len() > 64
            || self.variant_id.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                "variant_id",
                "invalid",
                "is not a variant id",
            ));
        }
        check::finish(errors, self)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartSet {
    pub quantity: i64,
}

impl Validate for CartSet {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        check::range(&mut errors, "quantity", self.quantity, 1, 10_000);
        check::finish(errors, self)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    pub shipping_address: AddressInput,
    pub payment_token: String,
}

/// The validated form of a checkout body.
#[derive(Debug)]
pub struct CheckoutInput {
    pub shipping_address: ShippingAddress,
    pub payment_token: String,
}

impl CheckoutBody {
    pub fn into_input(self) -> Result<CheckoutInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        let a = &self.shipping_address;
        let field = |name: &str| format!("shipping_address.{name}");
        let line2 = a
            .line2
            .as_ref()
            .map(|l| check::text(&mut errors, &field("line2"), l, 0, 200))
            .filter(|l| !l.is_empty());
        let country = a.country.trim().to_ascii_uppercase();
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
            errors.push(FieldError::new(
                field("country"),
                "invalid_country",
                "must be an ISO 3166-1 alpha-2 code",
            ));
        }
        let address = ShippingAddress {
            name: check::text(&mut errors, &field("name"), &a.name, 1, 100),
            line1: check::text(&mut errors, &field("line1"), &a.line1, 1, 200),
            line2,
            city: check::text(&mut errors, &field("city"), &a.city, 1, 100),
            postal_code: check::text(&mut errors, &field("postal_code"), &a.postal_code, 1, 20),
            country,
        };
        let token_ok = self.payment_token.len() <= 64
            && self.payment_token.strip_prefix("tok_").is_some_and(|rest| {
                !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if !token_ok {
            errors.push(FieldError::new(
                "payment_token",
                "invalid_payment_token",
                "must be a payment provider token (tok_...); card data is never accepted",
            ));
        }
        check::finish(
            errors,
            CheckoutInput {
                shipping_address: address,
                payment_token: self.payment_token,
            },
        )
    }
}

impl Validate for CheckoutBody {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        Ok(self)
    }
}

#[derive(Debug, Serialize)]
pub struct OrderLineView {
    pub variant_id: String,
    pub sku: Option<String>,
    pub title: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub line_total: Money,
}

#[derive(Debug, Serialize)]
pub struct PaymentView {
    pub kind: String,
    pub provider: String,
    pub reference: String,
    pub amount: Money,
}

#[derive(Debug, Serialize)]
pub struct OrderView {
    pub id: String,
    pub status: String,
    pub lines: Vec<OrderLineView>,
    pub subtotal: Money,
    pub total: Money,
    pub shipping_address: serde_json::Value,
    pub payments: Vec<PaymentView>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&OrderRecord> for OrderView {
    fn from(o: &OrderRecord) -> Self {
        Self {
            id: o.id.clone(),
            status: o.status.clone(),
            lines: o
                .lines
                .iter()
                .map(|l| OrderLineView {
                    variant_id: l.variant_id.clone(),
                    sku: l.sku.clone(),
                    title: l.title.clone(),
                    quantity: l.quantity,
                    unit_price: Money::minor(l.unit_price),
                    line_total: Money::minor(l.line_total),
                })
                .collect(),
            subtotal: Money::minor(o.subtotal),
            total: Money::minor(o.total),
            shipping_address: serde_json::from_str(&o.shipping_address).unwrap_or_default(),
            payments: o
                .payments
                .iter()
                .map(|p| PaymentView {
                    kind: p.kind.clone(),
                    provider: p.provider.clone(),
                    reference: p.provider_ref.clone(),
                    amount: Money::minor(p.amount),
                })
                .collect(),
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderStatusChange {
    pub status: String,
}

impl Validate for OrderStatusChange {
    fn validate(self) -> Result<Self, Vec<FieldError>> {
        if crate::domain::orders::STATUSES.contains(&self.status.as_str()) {
            Ok(self)
        } else {
            Err(vec![FieldError::new(
                "status",
                "invalid_status",
                "must be one of paid, fulfilled, cancelled, refunded",
            )])
        }
    }
}

pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------- customer export

/// The fields an export may name; all of them when it names none.
pub const EXPORT_FIELDS: [&str; 5] = ["id", "email", "name", "status", "created_at"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerExportRequest {
    /// Why the data leaves; kept in the audit trail with who, when and what.
    pub reason: String,
    pub fields: Option<Vec<String>>,
    /// Only accounts holding this role; `customer` when absent.
    pub role: Option<String>,
}

impl Validate for CustomerExportRequest {
    fn validate(mut self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        self.reason = check::text(&mut errors, "reason", &self.reason, 10, 500);
        if let Some(fields) = &self.fields {
            let known = fields.iter().all(|f| EXPORT_FIELDS.contains(&f.as_str()));
            let distinct = fields
                .iter()
                .enumerate()
                .all(|(i, f)| !fields[..i].contains(f));
            if fields.is_empty() || !known || !distinct {
                errors.push(FieldError::new(
                    "fields",
                    "invalid",
                    format!(
                        "must name distinct fields among {}",
                        EXPORT_FIELDS.join(", ")
                    ),
                ));
            }
        }
        self.role = self
            .role
            .take()
            .map(|role| check::text(&mut errors, "role", &role, 1, 64));
        check::finish(errors, self)
    }
}

/// An export: what was asked for, then the records with the named fields only.
#[derive(Debug, Serialize)]
pub struct CustomerExport {
    pub exported_at: String,
    pub role: String,
    pub fields: Vec<String>,
    pub count: usize,
    /// Accounts matching the filter; more than `count` when the export was capped.
    pub total: i64,
    pub records: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// One account as an export record: the [`UserView`] cut down to `fields`.
pub fn export_record(
    user: &UserRecord,
    fields: &[String],
) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(UserView::from(user)) {
        Ok(serde_json::Value::Object(mut view)) => {
            view.retain(|name, _| fields.contains(name));
            view
        }
        _ => serde_json::Map::new(),
    }
}

// ---------------------------------------------------------------- intrusion prevention

/// The longest ban staff may set by hand: 90 days.
pub const MAX_BAN_SECS: i64 = 90 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    pub address: String,
    pub reason: String,
    pub duration_secs: i64,
}

/// A validated [`BanRequest`].
#[derive(Debug)]
pub struct BanOrder {
    pub address: std::net::IpAddr,
    pub reason: String,
    pub duration_secs: i64,
}

impl Validate for BanRequest {
    fn validate(mut self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        self.reason = check::text(&mut errors, "reason", &self.reason, 1, 200);
        check::range(
            &mut errors,
            "duration_secs",
            self.duration_secs,
            60,
            MAX_BAN_SECS,
        );
        if let Err(error) = ban_address(&self.address) {
            errors.push(error);
        }
        check::finish(errors, self)
    }
}

fn ban_address(text: &str) -> Result<std::net::IpAddr, FieldError> {
    text.trim().parse().map_err(|_| {
        FieldError::new(
            "address",
            "invalid_address",
            "must be an IPv4 or IPv6 address",
        )
    })
}

impl BanRequest {
    pub fn into_order(self) -> Result<BanOrder, Vec<FieldError>> {
        let address = ban_address(&self.address).map_err(|error| vec![error])?;
        Ok(BanOrder {
            address,
            reason: self.reason,
            duration_secs: self.duration_secs,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct BanView {
    /// The banned address (an IPv6 client's /64).
    pub address: String,
    pub reason: String,
    /// `manual`, or the detector's signal.
    pub source: String,
    pub since: String,
    pub until: String,
    pub actor_id: Option<String>,
}

impl From<&crate::security::bans::Ban> for BanView {
    fn from(ban: &crate::security::bans::Ban) -> Self {
        Self {
            address: ban.address.clone(),
            reason: ban.reason.clone(),
            source: ban.source.clone(),
            since: rfc3339(ban.since),
            until: rfc3339(ban.until),
            actor_id: ban.actor_id.clone(),
        }
    }
}
