//! The only way routes enter the router: each with the [`Access`] it requires,
//! declared where the route is defined. The list of declarations is kept, so the
//! OpenAPI document and the route-by-role test are derived from the same source.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::routing::{MethodFilter, on};

use super::router::JSON_BODY_LIMIT;
use crate::app::AppState;
use crate::security::ratelimit::LimitClass;
use crate::security::rbac::Access;

/// Per-route limits beyond the defaults.
#[derive(Debug, Clone, Copy)]
pub struct RouteOptions {
    pub body_limit: usize,
    /// Counted before the body is read, so malformed requests count too.
    pub limit: Option<LimitClass>,
}

impl Default for RouteOptions {
    fn default() -> Self {
        Self {
            body_limit: JSON_BODY_LIMIT,
            limit: None,
        }
    }
}

impl RouteOptions {
    pub fn limited(limit: LimitClass) -> Self {
        Self {
            limit: Some(limit),
            ..Self::default()
        }
    }
}

/// One declared route.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: String,
    pub access: Access,
    pub summary: &'static str,
    pub tag: &'static str,
}

/// A router that cannot hold a route without an access declaration.
pub struct SecuredRouter {
    state: AppState,
    prefix: &'static str,
    tag: &'static str,
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
}

impl SecuredRouter {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            prefix: "",
            tag: "meta",
            router: Router::new(),
            specs: Vec::new(),
        }
    }

    /// Sets the path prefix and documentation tag for the routes that follow.
    pub fn section(mut self, prefix: &'static str, tag: &'static str) -> Self {
        self.prefix = prefix;
        self.tag = tag;
        self
    }

    pub fn route<H, T>(
        self,
        method: Method,
        path: &str,
        access: Access,
        summary: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.route_with(
            method,
            path,
            access,
            summary,
            handler,
            RouteOptions::default(),
        )
    }

    /// As [`Self::route`], with a larger body limit or a rate-limit class of its own.
    pub fn route_with<H, T>(
        mut self,
        method: Method,
        path: &str,
        access: Access,
        summary: &'static str,
        handler: H,
        options: RouteOptions,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let full_path = format!("{}{}", self.prefix, path);
        let filter = method_filter(&method);
        let state = self.state.clone();
        let guarded = on(filter, handler)
            .layer(DefaultBodyLimit::max(options.body_limit))
            .route_layer(middleware::from_fn(move |request: Request, next: Next| {
                let state = state.clone();
                async move {
                    match super::waf::inspect(&state, request, options.body_limit).await {
                        Ok(request) => {
                            super::auth::authorize(&state, access, options.limit, request, next)
                                .await
                        }
                        Err(refusal) => refusal,
                    }
                }
            }));
        self.router = self.router.route(&full_path, guarded);
        self.specs.push(RouteSpec {
            method,
            path: full_path,
            access,
            summary,
            tag: self.tag,
        });
        self
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<RouteSpec>) {
        (self.router, self.specs)
    }
}

fn method_filter(method: &Method) -> MethodFilter {
    match *method {
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        _ => MethodFilter::GET,
    }
}
