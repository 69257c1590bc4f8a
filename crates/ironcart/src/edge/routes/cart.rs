//! The caller's own cart. There is no cart id in any path: a cart is reachable
//! only through its owner's token.

use axum::Json;
use axum::extract::State;

use crate::app::AppState;
use crate::domain::cart::{self, CartView};
use crate::edge::auth::Principal;
use crate::edge::dto::{CartAdd, CartSet};
use crate::edge::error::ApiResult;
use crate::edge::extract::{ValidJson, ValidPath};

pub async fn show(State(app): State<AppState>, principal: Principal) -> ApiResult<Json<CartView>> {
    Ok(Json(cart::view(&app.store, &principal.user_id).await?))
}

pub async fn add_item(
    State(app): State<AppState>,
    principal: Principal,
    ValidJson(body): ValidJson<CartAdd>,
) -> ApiResult<Json<CartView>> {
    let view = cart::add(
        &app.store,
        &principal.user_id,
        &body.variant_id,
        body.quantity,
        app.settings.max_line_quantity,
        app.now(),
    )
    .await?;
    Ok(Json(view))
}

pub async fn set_item(
    State(app): State<AppState>,
    principal: Principal,
    ValidPath(variant_id): ValidPath<String>,
    ValidJson(body): ValidJson<CartSet>,
) -> ApiResult<Json<CartView>> {
    let view = cart::set(
        &app.store,
        &principal.user_id,
        &variant_id,
        body.quantity,
        app.settings.max_line_quantity,
        app.now(),
    )
    .await?;
    Ok(Json(view))
}

pub async fn remove_item(
    State(app): State<AppState>,
    principal: Principal,
    ValidPath(variant_id): ValidPath<String>,
) -> ApiResult<Json<CartView>> {
    app.store
        .remove_cart_item(&principal.user_id, &variant_id)
        .await?;
    Ok(Json(cart::view(&app.store, &principal.user_id).await?))
}
