//! Checkout and the caller's own orders. Another customer's order is answered with
//! 404, exactly like one that does not exist.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;

use crate::app::AppState;
use crate::domain::checkout::{self, CheckoutRequest};
use crate::edge::auth::Principal;
use crate::edge::dto::{CheckoutBody, OrderView, Page, PageQuery};
use crate::edge::error::{ApiError, ApiResult};
use crate::edge::extract::{ValidJson, ValidPath, ValidQuery};
use crate::security::audit::{AuditEvent, Outcome};

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    let missing = || {
        ApiError::field(
            "Idempotency-Key",
            "required",
            "header of 1-255 printable ASCII characters is required",
        )
    };
    let value = headers.get(IDEMPOTENCY_KEY).ok_or_else(missing)?;
    let key = value.to_str().map_err(|_| missing())?.trim();
    if key.is_empty() || key.len() > 255 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(missing());
    }
    Ok(key.to_owned())
}

pub async fn checkout(
    State(app): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ValidJson(body): ValidJson<CheckoutBody>,
) -> ApiResult<impl IntoResponse> {
    let key = idempotency_key(&headers)?;
    let input = body.into_input().map_err(ApiError::Validation)?;
    let result = checkout::place_order(
        &app.store,
        app.payments.as_ref(),
        CheckoutRequest {
            user_id: principal.user_id.clone(),
            idempotency_key: key,
            shipping_address: input.shipping_address,
            payment_token: input.payment_token,
            max_line_quantity: app.settings.max_line_quantity,
            now: app.now(),
        },
    )
    .await;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(err) => {
            let event = AuditEvent::new(app.now(), "order.checkout", Outcome::Failure)
                .actor(principal.user_id.clone())
                .details(serde_json::json!({ "reason": err.to_string() }));
            app.events.record(event).await;
            return Err(err.into());
        }
    };
    if !outcome.replayed {
        let event = AuditEvent::new(app.now(), "order.placed", Outcome::Success)
            .actor(principal.user_id.clone())
            .target(outcome.order.id.clone())
            .details(serde_json::json!({ "total": outcome.order.total }));
        app.events.record(event).await;
    }
    let mut response = (StatusCode::CREATED, Json(OrderView::from(&outcome.order))).into_response();
    if outcome.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

pub async fn list_mine(
    State(app): State<AppState>,
    principal: Principal,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> ApiResult<Json<Page<OrderView>>> {
    let (page, per_page, limit, offset) = query.limit_offset();
    let (orders, total) = app
        .store
        .list_orders(Some(&principal.user_id), limit, offset)
        .await?;
    Ok(Json(Page {
        items: orders.iter().map(OrderView::from).collect(),
        page,
        per_page,
        total,
    }))
}

pub async fn show_mine(
    State(app): State<AppState>,
    principal: Principal,
    ValidPath(order_id): ValidPath<String>,
) -> ApiResult<Json<OrderView>> {
    let order = app
        .store
        .order_by_id(&order_id)
        .await?
        .filter(|o| o.user_id == principal.user_id)
        .ok_or(ApiError::NotFound)?;
    Ok(Json(OrderView::from(&order)))
}
