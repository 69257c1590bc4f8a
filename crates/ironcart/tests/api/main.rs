//! Ironcart's integration suite: one binary, a fresh server and a fresh database per
//! test, all through real HTTPS. `IRONCART_TEST_DATABASE=postgres://…` runs every
//! test on PostgreSQL (a new database each); the default is SQLite in a temp dir.

// Tests fail by panicking: unwrap/expect/panic are the assertions here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod dlp;
mod e2e;
mod encryption;
mod limits;
mod smoke;
mod tls;
