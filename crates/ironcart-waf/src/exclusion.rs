//! Exclusions as data: which rules do not look at which fields, on which
//! routes, for which roles. They are how an operator tells the WAF that a
//! `catalog_manager` may put HTML in `json.body_html` on the product routes
//! while everyone else, and every other field, stays fully inspected.
//!
//! An exclusion applies when all of its conditions hold (an empty condition
//! holds always). It then removes the selected rules, either entirely (no
//! `fields`) or only for the listed fields.

use serde::{Deserialize, Serialize};

use crate::collect::Source;
use crate::compile::{Key, RuleSelector, TargetExclusion};
use crate::engine::Removals;

/// Who is asking and which route answered: the app fills this in after
/// routing and authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context<'a> {
    /// The router's route template (`/admin/products/{id}`), if known.
    pub route: Option<&'a str>,
    /// The roles of the authenticated principal; empty when anonymous.
    pub roles: Vec<&'a str>,
}

impl<'a> Context<'a> {
    /// An anonymous request on an unknown route.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// Sets the route template.
    pub fn route(mut self, route: &'a str) -> Self {
        self.route = Some(route);
        self
    }

    /// Adds a role of the principal.
    pub fn role(mut self, role: &'a str) -> Self {
        self.roles.push(role);
        self
    }
}

/// One exclusion, as read from configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Exclusion {
    /// A name for audit logs and reviews.
    pub name: String,
    /// HTTP methods it applies to (any when empty), compared without case.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Path glob on the request path: `*` is one segment, a final `**` any rest.
    #[serde(default)]
    pub path: Option<String>,
    /// Route template that must equal [`Context::route`].
    #[serde(default)]
    pub route: Option<String>,
    /// Roles of which the principal must hold one (any principal when empty).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Fields the rules skip: `json.body_html` or `arg:name` (an argument),
    /// `header:name`, `cookie:name`; `*` matches any characters. Empty means
    /// the whole request.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Which rules are excluded.
    pub rules: Vec<RuleSelector>,
}

/// An exclusion whose field patterns could not be understood.
#[derive(Debug, thiserror::Error)]
#[error("exclusion {name:?}: bad field {field:?}")]
pub struct ExclusionError {
    pub name: String,
    pub field: String,
}

/// An exclusion with its fields compiled.
#[derive(Debug, Clone)]
pub(crate) struct CompiledExclusion {
    spec: Exclusion,
    fields: Vec<TargetExclusion>,
}

impl CompiledExclusion {
    pub(crate) fn new(spec: Exclusion) -> Result<Self, ExclusionError> {
        let fields = spec
            .fields
            .iter()
            .map(|field| {
                field_exclusion(field).ok_or_else(|| ExclusionError {
                    name: spec.name.clone(),
                    field: field.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { spec, fields })
    }

    fn applies(&self, method: &str, path: &str, context: &Context<'_>) -> bool {
        let spec = &self.spec;
        let method_ok =
            spec.methods.is_empty() || spec.methods.iter().any(|m| m.eq_ignore_ascii_case(method));
        let path_ok = spec
            .path
            .as_deref()
            .is_none_or(|glob| path_matches(glob, path));
        let route_ok = spec
            .route
            .as_deref()
            .is_none_or(|route| context.route == Some(route));
        let role_ok = spec.roles.is_empty()
            || spec
                .roles
                .iter()
                .any(|r| context.roles.contains(&r.as_str()));
        method_ok && path_ok && route_ok && role_ok
    }

    fn add_to(&self, removals: &mut Removals) {
        for selector in &self.spec.rules {
            if self.fields.is_empty() {
                removals.rules.push(selector.clone());
            } else {
                for field in &self.fields {
                    removals.targets.push((selector.clone(), field.clone()));
                }
            }
        }
    }
}

/// The removals that `exclusions` make for one request.
pub(crate) fn removals_for(
    exclusions: &[CompiledExclusion],
    method: &str,
    path: &str,
    context: &Context<'_>,
) -> Removals {
    let mut removals = Removals::default();
    for exclusion in exclusions
        .iter()
        .filter(|e| e.applies(method, path, context))
    {
        exclusion.add_to(&mut removals);
    }
    removals
}

fn field_exclusion(field: &str) -> Option<TargetExclusion> {
    let (kind, name) = field.split_once(':').unwrap_or(("arg", field));
    let sources = match kind.to_ascii_lowercase().as_str() {
        "arg" | "args" => vec![Source::ArgsGet, Source::ArgsPost, Source::Files],
        "header" => vec![Source::Headers],
        "cookie" => vec![Source::Cookies],
        _ => return None,
    };
    if name.is_empty() {
        return None;
    }
    let key = if name.contains('*') {
        let pattern = format!("^{}$", regex::escape(name).replace(r"\*", ".*"));
        Key::Pattern(
            regex::RegexBuilder::new(&pattern)
                .case_insensitive(true)
                .build()
                .ok()?,
        )
    } else {
        Key::Name(name.to_owned())
    };
    Some(TargetExclusion {
        sources,
        tx: false,
        key: Some(key),
    })
}

fn path_matches(glob: &str, path: &str) -> bool {
    let mut wanted = glob.trim_end_matches('/').split('/');
    let mut actual = path.trim_end_matches('/').split('/');
    loop {
        match (wanted.next(), actual.next()) {
            (Some("**"), _) => return true,
            (Some("*"), Some(segment)) => {
                if segment.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(a)) if w == a => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_globs() {
        assert!(path_matches("/admin/products/*", "/admin/products/42"));
        assert!(!path_matches(
            "/admin/products/*",
            "/admin/products/42/images"
        ));
        assert!(path_matches("/admin/**", "/admin/products/42/images"));
        assert!(!path_matches("/admin/**", "/shop/admin"));
        assert!(path_matches("/cart", "/cart/"));
    }

    #[test]
    fn applies_only_when_every_condition_holds() {
        let exclusion = CompiledExclusion::new(Exclusion {
            name: "html descriptions".into(),
            methods: vec!["put".into()],
            path: Some("/admin/products/*".into()),
            route: None,
            roles: vec!["catalog_manager".into()],
            fields: vec!["json.body_html".into()],
            rules: vec![RuleSelector::Tag("attack-xss".into())],
        })
        .unwrap();
        let manager = Context::anonymous().role("catalog_manager");
        assert!(exclusion.applies("PUT", "/admin/products/7", &manager));
        assert!(!exclusion.applies(
            "PUT",
            "/admin/products/7",
            &Context::anonymous().role("customer")
        ));
        assert!(!exclusion.applies("GET", "/admin/products/7", &manager));
        let removals = removals_for(&[exclusion], "PUT", "/admin/products/7", &manager);
        assert!(removals.rules.is_empty());
        assert_eq!(removals.targets.len(), 1);
        assert!(
            removals.targets[0]
                .1
                .covers(Some(Source::ArgsPost), "json.body_html")
        );
        assert!(
            !removals.targets[0]
                .1
                .covers(Some(Source::ArgsPost), "json.title")
        );
    }

    #[test]
    fn rejects_unknown_field_kinds() {
        let result = CompiledExclusion::new(Exclusion {
            name: "x".into(),
            methods: vec![],
            path: None,
            route: None,
            roles: vec![],
            fields: vec!["body:x".into()],
            rules: vec![RuleSelector::All],
        });
        assert!(result.is_err());
    }
}
