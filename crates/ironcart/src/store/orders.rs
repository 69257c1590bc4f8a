//! Carts, orders, their lines, payments and lifecycle events.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, StoreResult};

/// A cart line joined with the catalog's current price and stock.
#[derive(Debug, Clone)]
pub struct CartLine {
    pub variant_id: String,
    pub sku: Option<String>,
    pub title: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub inventory_quantity: i64,
    pub inventory_policy: String,
    pub published: bool,
}

#[derive(Debug, Clone)]
pub struct OrderLineRecord {
    pub variant_id: String,
    pub sku: Option<String>,
    pub title: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub line_total: i64,
}

#[derive(Debug, Clone)]
pub struct PaymentRecord {
    pub id: String,
    pub provider: String,
    pub provider_ref: String,
    pub kind: String,
    pub amount: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct OrderRecord {
    pub id: String,
    pub user_id: String,
    pub status: String,
    pub currency: String,
    pub subtotal: i64,
    pub total: i64,
    pub shipping_address: String,
    pub idempotency_key: String,
    pub request_hash: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub lines: Vec<OrderLineRecord>,
    pub payments: Vec<PaymentRecord>,
}

/// Why an order could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    #[error("not enough stock for variant {0}")]
    OutOfStock(String),
    #[error("an order with this idempotency key exists")]
    DuplicateKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for PlaceOrderError {
    fn from(err: sqlx::Error) -> Self {
        PlaceOrderError::Store(StoreError::Database(err))
    }
}

/// A lifecycle move: status `from` → `to`, with its side effects.
#[derive(Debug, Clone)]
pub struct OrderTransition<'a> {
    pub order_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub actor_id: &'a str,
    pub restock: bool,
    pub refund: Option<PaymentRecord>,
    pub now: i64,
}

/// An order row with its shipping address decrypted (or a recorded failure).
async fn order_from_row(store: &Store, row: &AnyRow) -> StoreResult<OrderRecord> {
    let id: String = row.try_get("id")?;
    let sealed_address: String = row.try_get("shipping_address")?;
    let shipping_address = store
        .open("orders", "shipping_address", &id, &sealed_address)
        .await?;
    Ok(OrderRecord {
        id,
        user_id: row.try_get("user_id")?,
        status: row.try_get("status")?,
        currency: row.try_get("currency")?,
        subtotal: row.try_get("subtotal")?,
        total: row.try_get("total")?,
        shipping_address,
        idempotency_key: row.try_get("idempotency_key")?,
        request_hash: row.try_get("request_hash")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        lines: Vec::new(),
        payments: Vec::new(),
    })
}

impl Store {
    pub async fn cart_lines(&self, user_id: &str) -> StoreResult<Vec<CartLine>> {
        let rows = sqlx::query(
            "SELECT c.variant_id AS variant_id, c.quantity AS quantity, v.sku AS sku, \
             v.price AS price, v.inventory_quantity AS inventory_quantity, \
             v.inventory_policy AS inventory_policy, v.option1 AS option1, \
             v.option2 AS option2, v.option3 AS option3, p.title AS product_title, \
             p.published AS published \
             FROM cart_items c JOIN variants v ON v.id = c.variant_id \
             JOIN products p ON p.id = v.product_id \
             WHERE c.user_id = $1 ORDER BY c.added_at, c.variant_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cart_line_from_row).collect()
    }

    /// Sets the quantity of one cart line, creating it if needed.
    pub async fn set_cart_quantity(
        &self,
        user_id: &str,
        variant_id: &str,
        quantity: i64,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO cart_items (user_id, variant_id, quantity, added_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, variant_id) DO UPDATE SET quantity = excluded.quantity",
        )
        .bind(user_id)
        .bind(variant_id)
        .bind(quantity)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    /// Removes a cart line; `NotFound` when the variant was not in the cart.
    pub async fn remove_cart_item(&self, user_id: &str, variant_id: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM cart_items WHERE user_id = $1 AND variant_id = $2")
            .bind(user_id)
            .bind(variant_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Writes a paid order atomically: stock is taken with a conditional UPDATE per
    /// line (never below zero for `deny` variants), the lines, payment and first
    /// event are recorded and the cart is emptied; any failure rolls all of it back.
    pub async fn place_order(&self, order: &OrderRecord) -> Result<(), PlaceOrderError> {
        let sealed_address = self.seal(
            "orders",
            "shipping_address",
            &order.id,
            &order.shipping_address,
        )?;
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO orders (id, user_id, status, currency, subtotal, total, \
             shipping_address, idempotency_key, request_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&order.id)
        .bind(&order.user_id)
        .bind(&order.status)
        .bind(&order.currency)
        .bind(order.subtotal)
        .bind(order.total)
        .bind(sealed_address)
        .bind(&order.idempotency_key)
        .bind(&order.request_hash)
        .bind(order.created_at)
        .bind(order.updated_at)
        .execute(&mut *tx)
        .await;
        if let Err(err) = inserted {
            return Err(match StoreError::from_write(err) {
                StoreError::Conflict => PlaceOrderError::DuplicateKey,
                other => PlaceOrderError::Store(other),
            });
        }
        for (line_no, line) in order.lines.iter().enumerate() {
            let taken = sqlx::query(
                "UPDATE variants SET inventory_quantity = inventory_quantity - $1 \
                 WHERE id = $2 AND (inventory_policy = 'continue' OR inventory_quantity >= $1)",
            )
            .bind(line.quantity)
            .bind(&line.variant_id)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() != 1 {
                return Err(PlaceOrderError::OutOfStock(line.variant_id.clone()));
            }
            sqlx::query(
                "INSERT INTO order_lines (order_id, line_no, variant_id, sku, title, quantity, \
                 unit_price, line_total) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&order.id)
            .bind(line_no as i64)
            .bind(&line.variant_id)
            .bind(line.sku.clone())
            .bind(&line.title)
            .bind(line.quantity)
            .bind(line.unit_price)
            .bind(line.line_total)
            .execute(&mut *tx)
            .await?;
        }
        for payment in &order.payments {
            insert_payment(self, &mut tx, &order.id, payment).await?;
        }
        insert_event(
            &mut tx,
            &order.id,
            None,
            &order.status,
            &order.user_id,
            order.created_at,
        )
        .await?;
        sqlx::query("DELETE FROM cart_items WHERE user_id = $1")
            .bind(&order.user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn order_by_idempotency_key(
        &self,
        user_id: &str,
        key: &str,
    ) -> StoreResult<Option<OrderRecord>> {
        let row = sqlx::query("SELECT * FROM orders WHERE user_id = $1 AND idempotency_key = $2")
            .bind(user_id)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        self.complete_order(row).await
    }

    pub async fn order_by_id(&self, id: &str) -> StoreResult<Option<OrderRecord>> {
        let row = sqlx::query("SELECT * FROM orders WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        self.complete_order(row).await
    }

    async fn complete_order(&self, row: Option<AnyRow>) -> StoreResult<Option<OrderRecord>> {
        let Some(row) = row else { return Ok(None) };
        let mut order = order_from_row(self, &row).await?;
        order.lines = sqlx::query(
            "SELECT variant_id, sku, title, quantity, unit_price, line_total FROM order_lines \
             WHERE order_id = $1 ORDER BY line_no",
        )
        .bind(&order.id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(OrderLineRecord {
                variant_id: r.try_get("variant_id")?,
                sku: r.try_get("sku")?,
                title: r.try_get("title")?,
                quantity: r.try_get("quantity")?,
                unit_price: r.try_get("unit_price")?,
                line_total: r.try_get("line_total")?,
            })
        })
        .collect::<StoreResult<_>>()?;
        let payments = sqlx::query(
            "SELECT id, provider, provider_ref, kind, amount, created_at FROM payments \
             WHERE order_id = $1 ORDER BY created_at, id",
        )
        .bind(&order.id)
        .fetch_all(&self.pool)
        .await?;
        for r in &payments {
            let id: String = r.try_get("id")?;
            let sealed_ref: String = r.try_get("provider_ref")?;
            order.payments.push(PaymentRecord {
                provider_ref: self
                    .open("payments", "provider_ref", &id, &sealed_ref)
                    .await?,
                id,
                provider: r.try_get("provider")?,
                kind: r.try_get("kind")?,
                amount: r.try_get("amount")?,
                created_at: r.try_get("created_at")?,
            });
        }
        Ok(Some(order))
    }

    /// Orders newest first; only `user_id`'s when given, everyone's otherwise.
    pub async fn list_orders(
        &self,
        user_id: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<OrderRecord>, i64)> {
        let rows = sqlx::query(
            "SELECT * FROM orders WHERE ($1 IS NULL OR user_id = $1) \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        )
        .bind(user_id.map(str::to_owned))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let mut orders = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(order) = self.complete_order(Some(row)).await? {
                orders.push(order);
            }
        }
        let total: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE ($1 IS NULL OR user_id = $1)")
                .bind(user_id.map(str::to_owned))
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
        Ok((orders, total))
    }

    /// Records a payment movement (a refund) against an order.
    pub async fn record_payment(&self, order_id: &str, payment: &PaymentRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_payment(self, &mut tx, order_id, payment).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves an order from one status to another, atomically with its stock and
    /// refund side effects. `Conflict` if the order is no longer in `from`.
    pub async fn transition_order(&self, move_: &OrderTransition<'_>) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
        )
        .bind(move_.to)
        .bind(move_.now)
        .bind(move_.order_id)
        .bind(move_.from)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }
        if move_.restock {
            sqlx::query(
                "UPDATE variants SET inventory_quantity = inventory_quantity + \
                 (SELECT CAST(SUM(l.quantity) AS BIGINT) FROM order_lines l \
                  WHERE l.order_id = $1 AND l.variant_id = variants.id) \
                 WHERE id IN (SELECT variant_id FROM order_lines WHERE order_id = $1)",
            )
            .bind(move_.order_id)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(refund) = &move_.refund {
            insert_payment(self, &mut tx, move_.order_id, refund).await?;
        }
        insert_event(
            &mut tx,
            move_.order_id,
            Some(move_.from),
            move_.to,
            move_.actor_id,
            move_.now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn cart_line_from_row(row: &AnyRow) -> StoreResult<CartLine> {
    let options: Vec<String> = ["option1", "option2", "option3"]
        .iter()
        .map(|c| row.try_get::<String, _>(*c))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect();
    let product_title: String = row.try_get("product_title")?;
    Ok(CartLine {
        variant_id: row.try_get("variant_id")?,
        sku: row.try_get("sku")?,
        title: if options.is_empty() {
            product_title
        } else {
            format!("{product_title} - {}", options.join(" / "))
        },
        quantity: row.try_get("quantity")?,
        unit_price: row.try_get("price")?,
        inventory_quantity: row.try_get("inventory_quantity")?,
        inventory_policy: row.try_get("inventory_policy")?,
        published: row.try_get::<i64, _>("published")? == 1,
    })
}

/// The provider's reference is stored encrypted, like the rest of the personal data.
async fn insert_payment(
    store: &Store,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    order_id: &str,
    payment: &PaymentRecord,
) -> StoreResult<()> {
    let sealed_ref = store.seal(
        "payments",
        "provider_ref",
        &payment.id,
        &payment.provider_ref,
    )?;
    sqlx::query(
        "INSERT INTO payments (id, order_id, provider, provider_ref, kind, amount, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&payment.id)
    .bind(order_id)
    .bind(&payment.provider)
    .bind(sealed_ref)
    .bind(&payment.kind)
    .bind(payment.amount)
    .bind(payment.created_at)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from_write)?;
    Ok(())
}

async fn insert_event(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    order_id: &str,
    from: Option<&str>,
    to: &str,
    actor_id: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO order_events (order_id, at, from_status, to_status, actor_id) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(order_id)
    .bind(now)
    .bind(from.map(str::to_owned))
    .bind(to)
    .bind(actor_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
