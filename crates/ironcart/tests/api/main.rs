//! Ironcart's integration suite: one binary, a fresh server and a fresh database per
//! test, all through real HTTPS. `IRONCART_TEST_DATABASE=postgres://…` runs every
//! test on PostgreSQL (a new database each); the default is SQLite in a temp dir.

// Tests state their expectations by panicking: that is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod openapi;
mod rbac;
mod smoke;
mod validation;
