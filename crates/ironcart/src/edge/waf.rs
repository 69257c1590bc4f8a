//! The web application firewall in the request pipeline. Every request that reaches
//! a declared route and method is inspected, after authentication (so exclusions can
//! depend on the caller's role) and before authorization and the handler, by the
//! `ironcart-waf` rule engine: the embedded API rule set by default, OWASP CRS 4 with
//! `--waf-rules DIR`. Requests to unknown paths are inspected too (then answered
//! 404), so probes and scanners become security events; undeclared methods on
//! declared paths (405) are answered before inspection.
//!
//! A blocked request gets a 403 problem that carries the request id and nothing
//! about the rules. Every verdict with matches, blocking or not, becomes a security
//! event with rule ids, redacted match data, anomaly score, client and principal.

use std::path::PathBuf;

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::Version;
use axum::response::{IntoResponse, Response};
use ironcart_waf::{Context, Exclusion, Mode, Paranoia, RuleSelector, Verdict, Waf};

use super::auth::Principal;
use super::error::ApiError;
use crate::app::AppState;
use crate::security::audit::{AuditEvent, Outcome};

/// How the firewall is set up.
#[derive(Debug, Clone)]
pub struct WafSettings {
    pub mode: Mode,
    pub paranoia: u8,
    /// A downloaded OWASP CRS 4 directory, loaded in addition to the embedded rules.
    pub crs_dir: Option<PathBuf>,
}

impl Default for WafSettings {
    fn default() -> Self {
        Self {
            mode: Mode::Blocking,
            paranoia: 1,
            crs_dir: None,
        }
    }
}

/// Exclusions are data: the few places where legitimate input looks like an attack.
pub fn default_exclusions() -> Vec<Exclusion> {
    let staff = vec!["catalog_manager".to_owned(), "admin".to_owned()];
    let product_html = |path: &str| Exclusion {
        name: format!("catalog staff write product HTML ({path})"),
        methods: vec!["POST".into(), "PATCH".into()],
        path: Some(path.to_owned()),
        route: None,
        roles: staff.clone(),
        fields: vec!["json.body_html".into()],
        rules: vec![RuleSelector::Tag("attack-xss".into())],
    };
    vec![
        Exclusion {
            name: "the API validates its own bodies and parameters precisely (400/415/422)".into(),
            methods: Vec::new(),
            path: None,
            route: None,
            roles: Vec::new(),
            fields: Vec::new(),
            rules: vec![
                RuleSelector::Ids {
                    from: 10104,
                    to: 10105,
                },
                RuleSelector::Ids {
                    from: 10107,
                    to: 10107,
                },
            ],
        },
        product_html("/api/v1/admin/products"),
        product_html("/api/v1/admin/products/**"),
        Exclusion {
            name: "catalog staff import Shopify CSV, whose descriptions are HTML".into(),
            methods: vec!["POST".into()],
            path: Some("/api/v1/admin/imports/shopify".into()),
            route: None,
            roles: staff,
            fields: Vec::new(),
            rules: vec![
                RuleSelector::Tag("attack-xss".into()),
                RuleSelector::Tag("attack-sqli".into()),
            ],
        },
    ]
}

/// CRS settings for this API: the content types it accepts (JSON, and CSV on the
/// catalog import route), as crs-setup.conf's rule 900220 would set them.
const CRS_SETUP: &str = r#"SecAction "id:900220,phase:1,pass,t:none,nolog,setvar:'tx.allowed_request_content_type=|application/json| |text/csv|'""#;

/// Builds the firewall from its settings.
pub fn build(settings: &WafSettings) -> anyhow::Result<Waf> {
    let paranoia = Paranoia::new(settings.paranoia)
        .ok_or_else(|| anyhow::anyhow!("WAF paranoia must be 1 to 4"))?;
    let mut builder = Waf::builder()
        .mode(settings.mode)
        .paranoia(paranoia)
        .exclusions(default_exclusions());
    if let Some(dir) = &settings.crs_dir {
        builder = builder
            .crs(dir.clone())
            .setup_rules("ironcart-crs-setup", CRS_SETUP);
    }
    let waf = builder.build()?;
    for warning in waf.warnings() {
        tracing::warn!(warning = warning.as_str(), "WAF rule loaded inert");
    }
    tracing::info!(rules = waf.rule_count(), paranoia = settings.paranoia, mode = ?settings.mode, "WAF ready");
    Ok(waf)
}

fn version_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Inspects the request, reading at most `body_limit` bytes of body: the request
/// with its body restored, or the refusal.
pub async fn inspect(
    app: &AppState,
    request: Request,
    body_limit: usize,
) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, body_limit).await else {
        return Err(ApiError::PayloadTooLarge.into_response());
    };
    let verdict = {
        let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let authority = parts.uri.authority().map(|a| a.as_str().to_owned());
        let mut inspected = ironcart_waf::Request::new(parts.method.as_str(), target)
            .version(version_text(parts.version))
            .body(&bytes);
        for (name, value) in &parts.headers {
            inspected.push_header(name.as_str(), value.as_bytes());
        }
        if !parts.headers.contains_key("host")
            && let Some(authority) = &authority
        {
            inspected.push_header("host", authority.as_bytes());
        }
        let roles = parts
            .extensions
            .get::<Principal>()
            .map(|p| p.roles.as_slice());
        let context = Context {
            route: parts
                .extensions
                .get::<MatchedPath>()
                .map(MatchedPath::as_str),
            roles: roles
                .unwrap_or_default()
                .iter()
                .map(String::as_str)
                .collect(),
        };
        app.waf.inspect(&inspected, &context)
    };
    if !verdict.matched.is_empty() {
        let actor = parts
            .extensions
            .get::<Principal>()
            .map(|p| p.user_id.clone());
        record(app, &verdict, actor, parts.uri.path()).await;
    }
    if verdict.is_blocked() {
        return Err(ApiError::Forbidden.into_response());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

async fn record(app: &AppState, verdict: &Verdict, actor: Option<String>, path: &str) {
    let blocked = verdict.is_blocked();
    let action = if blocked {
        "waf.blocked"
    } else {
        "waf.detected"
    };
    let outcome = if blocked {
        Outcome::Denied
    } else {
        Outcome::Success
    };
    let mut event = AuditEvent::new(app.now(), action, outcome)
        .target(path.chars().take(200).collect::<String>())
        .details(serde_json::json!({
            "anomaly_score": verdict.anomaly_score,
            "would_block": verdict.would_block,
            "rule_ids": verdict.rule_ids(),
            "matches": verdict.matched,
        }));
    if let Some(actor) = actor {
        event = event.actor(actor);
    }
    app.events.record(event).await;
}
