//! Ironcart: a security-first eCommerce storefront API.
//!
//! The crate is laid out the way a request travels (see `docs/ARCHITECTURE.md`):
//! [`edge`] is the HTTP surface and its guards, [`domain`] the rules of commerce,
//! [`store`] the database behind bound parameters, and [`security`] the app-side
//! security services (permissions, the audit trail). Cryptographic primitives live in
//! the `ironcart-security` crate, the Shopify CSV parser in `ironcart-shopify`.
#![forbid(unsafe_code)]

pub mod app;
pub mod backup;
pub mod bootstrap;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod edge;
pub mod security;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
