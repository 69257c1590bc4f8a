//! The embedded default rule set (`rules/ironcart-default.conf`), written
//! for Ironcart's JSON API. It is plain SecLang so that operators can read
//! it, and it is compiled by the same engine as CRS.

/// The default rules' SecLang text.
pub(crate) const TEXT: &str = include_str!("../rules/ironcart-default.conf");
