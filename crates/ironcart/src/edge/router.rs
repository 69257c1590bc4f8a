//! Assembles the request pipeline. Read top to bottom, this is the order a request
//! meets the guards (see docs/ARCHITECTURE.md); each stage has one job.

use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::Method;
use axum::middleware;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

use super::policy::{RouteOptions, RouteSpec, SecuredRouter};
use super::routes::{accounts, admin, bans, cart, catalog, exports, meta, orders};
use super::{auth, context, middleware as guards};
use crate::app::AppState;
use crate::security::ratelimit::LimitClass as L;
use crate::security::rbac::Access::{Public, Requires};
use crate::security::rbac::Permission as P;

/// Largest JSON body; the CSV import route allows more.
pub const JSON_BODY_LIMIT: usize = 64 * 1024;
pub const IMPORT_BODY_LIMIT: usize = 16 * 1024 * 1024;
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Every route of the API with the access it requires.
pub fn routes(state: AppState) -> (Router<AppState>, Vec<RouteSpec>) {
    use Method as M;
    let router = SecuredRouter::new(state)
        .section("", "meta")
        .route(M::GET, "/healthz", Public, "Liveness", meta::healthz)
        .route(
            M::GET,
            "/readyz",
            Public,
            "Readiness (database)",
            meta::readyz,
        )
        .route(
            M::GET,
            "/.well-known/jwks.json",
            Public,
            "Token signing keys",
            meta::jwks,
        )
        .route(
            M::GET,
            "/api/openapi.json",
            Public,
            "This API, as OpenAPI 3.1",
            meta::openapi,
        )
        .route(
            M::GET,
            "/api/docs",
            Public,
            "API documentation page",
            meta::docs,
        )
        .section("/api/v1/auth", "accounts")
        .route_with(
            M::POST,
            "/register",
            Public,
            "Create a customer account",
            accounts::register,
            RouteOptions::limited(L::RegisterAddress),
        )
        .route_with(
            M::POST,
            "/login",
            Public,
            "Exchange credentials for tokens",
            accounts::login,
            RouteOptions::limited(L::LoginAddress),
        )
        .route_with(
            M::POST,
            "/refresh",
            Public,
            "Rotate a refresh token",
            accounts::refresh,
            RouteOptions::limited(L::RefreshAddress),
        )
        .route(
            M::POST,
            "/logout",
            Public,
            "Revoke a session",
            accounts::logout,
        )
        .section("/api/v1", "accounts")
        .route(
            M::GET,
            "/me",
            Requires(P::ProfileRead),
            "The caller's profile",
            accounts::me,
        )
        .route(
            M::PATCH,
            "/me",
            Requires(P::ProfileWrite),
            "Update the caller's profile",
            accounts::update_me,
        )
        .route_with(
            M::POST,
            "/me/password",
            Requires(P::ProfileWrite),
            "Change password; ends all sessions",
            accounts::change_password,
            RouteOptions::limited(L::PasswordChange),
        )
        .section("/api/v1", "catalog")
        .route(
            M::GET,
            "/products",
            Public,
            "Search the catalog",
            catalog::list_products,
        )
        .route(
            M::GET,
            "/products/{key}",
            Public,
            "A product by id or handle",
            catalog::show_product,
        )
        .section("/api/v1", "cart")
        .route(
            M::GET,
            "/cart",
            Requires(P::CartManage),
            "The caller's cart",
            cart::show,
        )
        .route(
            M::POST,
            "/cart/items",
            Requires(P::CartManage),
            "Add a variant to the cart",
            cart::add_item,
        )
        .route(
            M::PATCH,
            "/cart/items/{variant_id}",
            Requires(P::CartManage),
            "Set a line's quantity",
            cart::set_item,
        )
        .route(
            M::DELETE,
            "/cart/items/{variant_id}",
            Requires(P::CartManage),
            "Remove a line",
            cart::remove_item,
        )
        .section("/api/v1", "orders")
        .route_with(
            M::POST,
            "/checkout",
            Requires(P::OrderPlace),
            "Place an order from the cart",
            orders::checkout,
            RouteOptions::limited(L::Checkout),
        )
        .route(
            M::GET,
            "/orders",
            Requires(P::OrderReadOwn),
            "The caller's orders",
            orders::list_mine,
        )
        .route(
            M::GET,
            "/orders/{id}",
            Requires(P::OrderReadOwn),
            "One of the caller's orders",
            orders::show_mine,
        )
        .section("/api/v1/admin", "admin")
        .route(
            M::POST,
            "/products",
            Requires(P::ProductWrite),
            "Create a product",
            admin::create_product,
        )
        .route(
            M::PATCH,
            "/products/{id}",
            Requires(P::ProductWrite),
            "Update a product",
            admin::update_product,
        )
        .route(
            M::DELETE,
            "/products/{id}",
            Requires(P::ProductWrite),
            "Delete a product",
            admin::delete_product,
        )
        .route(
            M::PATCH,
            "/products/{id}/variants/{variant_id}",
            Requires(P::ProductWrite),
            "Update a variant's price or stock",
            admin::update_variant,
        )
        .route_with(
            M::POST,
            "/imports/shopify",
            Requires(P::ImportRun),
            "Import a Shopify product CSV",
            admin::import_shopify,
            RouteOptions {
                body_limit: IMPORT_BODY_LIMIT,
                limit: None,
            },
        )
        .route(
            M::GET,
            "/orders",
            Requires(P::OrderReadAll),
            "All orders",
            admin::list_orders,
        )
        .route(
            M::PATCH,
            "/orders/{id}",
            Requires(P::OrderManage),
            "Move an order through its lifecycle",
            admin::change_order_status,
        )
        .route(
            M::GET,
            "/users",
            Requires(P::UserRead),
            "All accounts",
            admin::list_users,
        )
        .route(
            M::PUT,
            "/users/{id}/roles",
            Requires(P::UserManageRoles),
            "Replace a user's roles",
            admin::set_user_roles,
        )
        .route(
            M::GET,
            "/audit",
            Requires(P::AuditRead),
            "The audit trail",
            admin::list_audit,
        )
        .route_with(
            M::POST,
            "/customers/export",
            Requires(P::CustomerExport),
            "Export customer data, with a stated reason (audited)",
            exports::export_customers,
            RouteOptions::limited(L::CustomerExport),
        )
        .section("/api/v1/admin", "security")
        .route(
            M::GET,
            "/bans",
            Requires(P::SecurityBan),
            "Addresses banned now",
            bans::list_bans,
        )
        .route(
            M::POST,
            "/bans",
            Requires(P::SecurityBan),
            "Ban an address",
            bans::ban_address,
        )
        .route(
            M::DELETE,
            "/bans/{address}",
            Requires(P::SecurityBan),
            "Lift a ban",
            bans::lift_ban,
        );
    router.into_parts()
}

/// The whole application: routes behind the guard pipeline.
pub fn build(state: AppState) -> Router {
    let (routes, specs) = routes(state.clone());
    let _ = state.openapi.set(super::openapi::document(&specs));
    routes
        .fallback(guards::not_found)
        .layer(
            ServiceBuilder::new()
                // Outermost, so that bans, limits, shedding and panics answer with
                // the same security headers as everything else.
                .layer(middleware::from_fn(guards::security_headers))
                .layer(CatchPanicLayer::custom(|_| {
                    axum::response::IntoResponse::into_response(super::ApiError::internal(
                        anyhow::anyhow!("handler panicked"),
                    ))
                }))
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    super::ApiError::Unavailable {
                        retry_after_secs: 1,
                    }
                }))
                .load_shed()
                .concurrency_limit(state.settings.max_in_flight)
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    context::request_context,
                ))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    context::refuse_banned,
                ))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    context::limit_by_address,
                ))
                .layer(middleware::from_fn(guards::problem_for_bare_errors))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    super::dlp::filter_responses,
                ))
                .layer(TimeoutLayer::with_status_code(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    REQUEST_TIMEOUT,
                ))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    auth::authenticate,
                )),
        )
        .with_state(state)
}
