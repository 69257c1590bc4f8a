//! Staff endpoints: catalog maintenance, imports, orders, users and the audit trail.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;

use crate::app::AppState;
use crate::domain::orders;
use crate::edge::auth::Principal;
use crate::edge::dto::{
    OrderStatusChange, OrderView, Page, PageQuery, ProductInput, ProductPatch, ProductView,
    RolesUpdate, UserView, VariantPatch,
};
use crate::edge::error::{ApiError, ApiResult, FieldError};
use crate::edge::exfil::charge_personal_reads;
use crate::edge::extract::{ValidJson, ValidPath, ValidQuery};
use crate::security::audit::{AuditEvent, Outcome};

pub async fn create_product(
    State(app): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<ProductInput>,
) -> ApiResult<impl IntoResponse> {
    let draft = body.into_draft().map_err(ApiError::Validation)?;
    let id = app.store.create_product(&draft, app.now()).await?;
    audit(&app, &principal, "catalog.product_created", &id).await;
    let product = app
        .store
        .product_by_id(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((StatusCode::CREATED, Json(ProductView::from(&product))))
}

pub async fn update_product(
    State(app): State<AppState>,
    principal: Principal,
    ValidPath(id): ValidPath<String>,
    ValidJson(body): ValidJson<ProductPatch>,
) -> ApiResult<Json<ProductView>> {
    let current = app
        .store
        .product_by_id(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let draft = body.apply(&current).map_err(ApiError::Validation)?;
    app.store.update_product(&id, &draft, app.now()).await?;
    audit(&app, &principal, "catalog.product_updated", &id).await;
    let product = app
        .store
        .product_by_id(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(ProductView::from(&product)))
}

pub async fn update_variant(
    State(app): State<AppState>,
    principal: Principal,
    ValidPath((product_id, variant_id)): ValidPath<(String, String)>,
    ValidJson(body): ValidJson<VariantPatch>,
) -> ApiResult<Json<ProductView>> {
    let current = app
        .store
        .variant_by_id(&variant_id)
        .await?
        .filter(|v| v.product_id == product_id)
        .ok_or(ApiError::NotFound)?;
    let draft = body.apply(&current);
    app.store
        .update_variant(&product_id, &variant_id, &draft, app.now())
        .await?;
    audit(&app, &principal, "catalog.variant_updated", &variant_id).await;
    let product = app
        .store
        .product_by_id(&product_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(ProductView::from(&product)))
}

pub async fn delete_product(
    State(app): State<AppState>,
    principal: Principal,
    ValidPath(id): ValidPath<String>,
) -> ApiResult<StatusCode> {
    app.store.delete_product(&id).await?;
    audit(&app, &principal, "catalog.product_deleted", &id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Imports a Shopify product CSV sent as the body (`text/csv`).
pub async fn import_shopify(
    State(app): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("text/csv") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let report = crate::domain::import::import_shopify(&app.store, &body, app.now()).await;
    let report = report.map_err(|problems| {
        ApiError::Validation(
            problems
                .into_iter()
                .map(|p| FieldError::new(p.location(), "import_error", p.reason))
                .collect(),
        )
    })?;
    let event = AuditEvent::new(app.now(), "catalog.import", Outcome::Success)
        .actor(principal.user_id.clone())
        .details(serde_json::json!({
            "products_created": report.outcome.products_created,
            "products_updated": report.outcome.products_updated,
            "variants_created": report.outcome.variants_created,
            "variants_updated": report.outcome.variants_updated,
        }));
    app.events.record(event).await;
    Ok(Json(report))
}

pub async fn list_orders(
    State(app): State<AppState>,
    principal: Principal,
    route: MatchedPath,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> ApiResult<Json<Page<OrderView>>> {
    let (page, per_page, limit, offset) = query.limit_offset();
    let (orders, total) = app.store.list_orders(None, limit, offset).await?;
    let owners = orders.iter().map(|o| o.user_id.as_str());
    charge_personal_reads(&app, &principal, &route, owners).await?;
    Ok(Json(Page {
        items: orders.iter().map(OrderView::from).collect(),
        page,
        per_page,
        total,
    }))
}

pub async fn change_order_status(
    State(app): State<AppState>,
    principal: Principal,
    route: MatchedPath,
    ValidPath(id): ValidPath<String>,
    ValidJson(body): ValidJson<OrderStatusChange>,
) -> ApiResult<Json<OrderView>> {
    // The answer carries the shipping address: paid for before anything changes.
    let owner = app
        .store
        .order_by_id(&id)
        .await?
        .ok_or(ApiError::NotFound)?;
    charge_personal_reads(&app, &principal, &route, [owner.user_id.as_str()]).await?;
    let order = orders::change_status(
        &app.store,
        app.payments.as_ref(),
        &id,
        &body.status,
        &principal.user_id,
        app.now(),
    )
    .await?;
    let event = AuditEvent::new(app.now(), "order.status_changed", Outcome::Success)
        .actor(principal.user_id.clone())
        .target(id)
        .details(serde_json::json!({ "to": body.status }));
    app.events.record(event).await;
    Ok(Json(OrderView::from(&order)))
}

pub async fn list_users(
    State(app): State<AppState>,
    principal: Principal,
    route: MatchedPath,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> ApiResult<Json<Page<UserView>>> {
    let (page, per_page, limit, offset) = query.limit_offset();
    let (users, total) = app.store.list_users(limit, offset).await?;
    let owners = users.iter().map(|u| u.id.as_str());
    charge_personal_reads(&app, &principal, &route, owners).await?;
    let event = AuditEvent::new(app.now(), "pii.users_listed", Outcome::Success)
        .actor(principal.user_id.clone())
        .details(serde_json::json!({ "count": users.len(), "page": page }));
    app.events.record(event).await;
    Ok(Json(Page {
        items: users.iter().map(UserView::from).collect(),
        page,
        per_page,
        total,
    }))
}

/// Replaces a user's roles. Only holders of `user:manage_roles` get here; every
/// session of the user ends so the new roles apply to fresh tokens only.
pub async fn set_user_roles(
    State(app): State<AppState>,
    principal: Principal,
    route: MatchedPath,
    ValidPath(user_id): ValidPath<String>,
    ValidJson(body): ValidJson<RolesUpdate>,
) -> ApiResult<Json<UserView>> {
    let unknown: Vec<FieldError> = body
        .roles
        .iter()
        .filter(|r| !app.policy.role_exists(r))
        .map(|_| FieldError::new("roles", "unknown_role", "names a role that does not exist"))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::Validation(unknown));
    }
    charge_personal_reads(&app, &principal, &route, [user_id.as_str()]).await?;
    app.store.set_roles(&user_id, &body.roles).await?;
    app.store
        .revoke_user_sessions(&user_id, "roles_changed", app.now())
        .await?;
    let event = AuditEvent::new(app.now(), "authz.roles_changed", Outcome::Success)
        .actor(principal.user_id.clone())
        .target(user_id.clone())
        .details(serde_json::json!({ "roles": body.roles }));
    app.events.record(event).await;
    let user = app
        .store
        .user_by_id(&user_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(UserView::from(&user)))
}

// Not charged to the pii-read quota: entries carry ids and client addresses, and
// security officers must not be throttled mid-incident.
pub async fn list_audit(
    State(app): State<AppState>,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let (page, per_page, limit, offset) = query.limit_offset();
    let items = app.store.recent_audit(limit, offset).await?;
    Ok(Json(
        serde_json::json!({ "items": items, "page": page, "per_page": per_page }),
    ))
}

async fn audit(app: &AppState, principal: &Principal, action: &'static str, target: &str) {
    let event = AuditEvent::new(app.now(), action, Outcome::Success)
        .actor(principal.user_id.clone())
        .target(target.to_owned());
    app.events.record(event).await;
}
