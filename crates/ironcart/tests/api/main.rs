//! Ironcart's integration suite: one binary, a fresh server and a fresh database per
//! test, all through real HTTPS. `IRONCART_TEST_DATABASE=postgres://…` runs every
//! test on PostgreSQL (a new database each); the default is SQLite in a temp dir.
// A failed `expect` is how a test reports a broken precondition; the workspace lints
// against it are meant for product code.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod catalog;
mod checkout;
mod common;
mod orders;
mod smoke;
