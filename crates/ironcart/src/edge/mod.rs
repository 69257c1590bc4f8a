//! The HTTP surface: the router and its guards, extractors, and the mapping of every
//! error to an RFC 9457 problem document.

pub mod auth;
pub mod context;
pub mod dlp;
pub mod dto;
pub mod error;
pub mod exfil;
pub mod extract;
pub mod middleware;
pub mod openapi;
pub mod policy;
pub mod router;
pub mod routes;
pub mod waf;

pub use error::ApiError;
