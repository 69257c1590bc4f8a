//! Ironcart's integration suite: one binary, a fresh server and a fresh database per
//! test, all through real HTTPS. `IRONCART_TEST_DATABASE=postgres://…` runs every
//! test on PostgreSQL (a new database each); the default is SQLite in a temp dir.

// A test reports failure by panicking: `expect`, `unwrap` and `panic!` are how the
// suite says what went wrong, so the workspace's production lints do not apply here.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod auth;
mod backup;
mod bans;
mod catalog;
mod checkout;
mod cli;
mod common;
#[allow(dead_code)] // the side-by-side with ModSecurity is the example's
#[path = "../support/crs_over_http.rs"]
mod crs_over_http;
mod dlp;
mod drain;
mod e2e;
mod encryption;
mod exfil;
#[allow(dead_code)] // the in-process runner is ironcart-waf's
#[path = "../../../ironcart-waf/tests/support/ftw.rs"]
mod ftw;
mod limits;
mod logs;
mod openapi;
mod orders;
mod rbac;
mod shared;
mod smoke;
mod tls;
mod tokens;
mod validation;
mod waf;
