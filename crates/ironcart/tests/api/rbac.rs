//! Access control, attacked from outside: every declared route against every role,
//! undeclared methods and routes, object ownership between customers, and attempts
//! to grant oneself more than one was given.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use ironcart::edge::policy::RouteSpec;
use ironcart::edge::router::routes;
use ironcart::security::rbac::Access;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{PASSWORD, ROLES, TestApp, assert_problem, fill_path_params, header_text};

const IMPORT_PATH: &str = "/api/v1/admin/imports/shopify";

/// Who calls: `None` is anonymous, otherwise a role name.
type Caller = Option<&'static str>;

fn callers() -> Vec<Caller> {
    std::iter::once(None).chain(ROLES.map(Some)).collect()
}

fn caller_name(caller: Caller) -> &'static str {
    caller.unwrap_or("anonymous")
}

/// The role → permissions table as stored in the database, read independently of
/// the policy the app built from it.
async fn stored_grants(app: &TestApp) -> HashMap<String, HashSet<String>> {
    let pairs = app
        .state
        .store
        .role_permissions()
        .await
        .expect("role permissions");
    let mut grants: HashMap<String, HashSet<String>> = HashMap::new();
    for (role, permission) in pairs {
        grants.entry(role).or_default().insert(permission);
    }
    grants
}

/// Whether the stored table lets `caller` use a route declared with `access`.
fn stored_policy_allows(
    grants: &HashMap<String, HashSet<String>>,
    caller: Caller,
    access: Access,
) -> bool {
    match (access, caller) {
        (Access::Public, _) => true,
        (Access::Requires(_), None) => false,
        (Access::Requires(permission), Some(role)) => grants
            .get(role)
            .is_some_and(|granted| granted.contains(permission.as_str())),
    }
}

/// One logged-in account per role.
async fn tokens_by_role(app: &TestApp) -> HashMap<&'static str, String> {
    let mut tokens = HashMap::new();
    for role in ROLES {
        tokens.insert(role, app.token_for_role(role).await);
    }
    tokens
}

/// Sends the declared method to the route with junk parameters and an empty-ish body.
async fn probe(app: &TestApp, spec: &RouteSpec, token: Option<&str>) -> reqwest::Response {
    let path = fill_path_params(&spec.path, &uuid::Uuid::new_v4().to_string());
    let has_body = matches!(spec.method, Method::POST | Method::PUT | Method::PATCH);
    let (content_type, body) = match (has_body, spec.path.as_str()) {
        (false, _) => (None, Vec::new()),
        (true, IMPORT_PATH) => (Some("text/csv"), b"Handle,Title\n".to_vec()),
        (true, _) => (Some("application/json"), b"{}".to_vec()),
    };
    app.call_raw(spec.method.clone(), &path, token, content_type, body)
        .await
}

/// Why an observed status contradicts the policy, if it does.
async fn verdict_problem(
    allowed: bool,
    caller: Caller,
    response: reqwest::Response,
) -> Option<String> {
    let status = response.status();
    let challenge = header_text(&response, "www-authenticate");
    let content_type = header_text(&response, "content-type");
    if allowed {
        return match status.as_u16() {
            401 | 403 => Some(format!("allowed but refused with {status}")),
            s if s >= 500 => Some(format!("allowed but failed with {status}")),
            _ => None,
        };
    }
    let expected = if caller.is_none() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::FORBIDDEN
    };
    if status != expected {
        return Some(format!("denied: expected {expected}, got {status}"));
    }
    if content_type != "application/problem+json" {
        return Some(format!("denial has content-type {content_type:?}"));
    }
    if caller.is_none() && challenge != "Bearer" {
        return Some(format!(
            "401 without WWW-Authenticate: Bearer ({challenge:?})"
        ));
    }
    None
}

fn render_matrix(rows: &[(String, Vec<String>)]) -> String {
    let mut out = format!("{:<58}", "route");
    for caller in callers() {
        let _ = write!(out, " {:>17}", caller_name(caller));
    }
    out.push('\n');
    for (route, cells) in rows {
        let _ = write!(out, "{route:<58}");
        for cell in cells {
            let _ = write!(out, " {cell:>17}");
        }
        out.push('\n');
    }
    out
}

#[tokio::test]
async fn every_declared_route_answers_every_role_as_the_stored_policy_says() {
    let app = TestApp::spawn().await;
    let (_, specs) = routes(app.state.clone());
    let grants = stored_grants(&app).await;
    let tokens = tokens_by_role(&app).await;
    assert!(specs.len() >= 25, "only {} routes declared", specs.len());

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for spec in &specs {
        let route = format!("{} {}", spec.method, spec.path);
        let mut cells = Vec::new();
        for caller in callers() {
            let token = caller.map(|role| tokens[role].as_str());
            let allowed = stored_policy_allows(&grants, caller, spec.access);
            let response = probe(&app, spec, token).await;
            let status = response.status().as_u16();
            let mark = if allowed { "allow" } else { "deny" };
            match verdict_problem(allowed, caller, response).await {
                None => cells.push(format!("{mark} {status}")),
                Some(problem) => {
                    cells.push(format!("{mark} {status} !!"));
                    failures.push(format!("{route} as {}: {problem}", caller_name(caller)));
                }
            }
            if spec.method == Method::GET {
                // HEAD is served by the GET handler, so it must be guarded alike.
                let path = fill_path_params(&spec.path, &uuid::Uuid::new_v4().to_string());
                let head = app
                    .call_raw(Method::HEAD, &path, token, None, Vec::new())
                    .await;
                let head = head.status().as_u16();
                let refused = matches!(head, 401 | 403);
                let denial = if caller.is_none() { 401 } else { 403 };
                if (allowed && refused) || (!allowed && head != denial) {
                    let who = caller_name(caller);
                    failures.push(format!("HEAD {} as {who}: {head}", spec.path));
                }
            }
        }
        rows.push((route, cells));
    }

    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        render_matrix(&rows)
    );
}

const EVERYONE: &str =
    "anonymous customer support catalog_manager order_manager security_officer admin";
const SIGNED_IN: &str = "customer support catalog_manager order_manager security_officer admin";

/// A written expectation for the routes whose exposure would hurt most, so a wrong
/// seed of the role table is caught too: method, path, and who may call it.
const SENSITIVE: &[(&str, &str, &str)] = &[
    ("PUT", "/api/v1/admin/users/{id}/roles", "admin"),
    (
        "GET",
        "/api/v1/admin/users",
        "support security_officer admin",
    ),
    ("GET", "/api/v1/admin/orders", "support order_manager admin"),
    ("PATCH", "/api/v1/admin/orders/{id}", "order_manager admin"),
    ("GET", "/api/v1/admin/audit", "security_officer admin"),
    ("POST", "/api/v1/admin/customers/export", "admin"),
    ("GET", "/api/v1/admin/bans", "security_officer admin"),
    ("POST", "/api/v1/admin/bans", "security_officer admin"),
    (
        "DELETE",
        "/api/v1/admin/bans/{address}",
        "security_officer admin",
    ),
    (
        "POST",
        "/api/v1/admin/imports/shopify",
        "catalog_manager admin",
    ),
    (
        "DELETE",
        "/api/v1/admin/products/{id}",
        "catalog_manager admin",
    ),
    ("POST", "/api/v1/checkout", "customer admin"),
    ("GET", "/api/v1/orders/{id}", "customer admin"),
    ("GET", "/api/v1/cart", "customer admin"),
    ("GET", "/api/v1/me", SIGNED_IN),
    ("GET", "/api/v1/products", EVERYONE),
    ("GET", "/api/v1/products/{key}", EVERYONE),
    ("POST", "/api/v1/auth/login", EVERYONE),
];

#[tokio::test]
async fn sensitive_routes_match_the_written_expectation() {
    let app = TestApp::spawn().await;
    let (_, specs) = routes(app.state.clone());
    let grants = stored_grants(&app).await;
    let tokens = tokens_by_role(&app).await;

    let mut failures = Vec::new();
    for (method, path, who_may) in SENSITIVE {
        let spec = specs
            .iter()
            .find(|s| s.method.as_str() == *method && s.path == *path)
            .unwrap_or_else(|| panic!("{method} {path} is not declared"));
        let may: HashSet<&str> = who_may.split(' ').collect();
        let known: HashSet<&str> = callers().into_iter().map(caller_name).collect();
        assert!(may.is_subset(&known), "unknown caller in {who_may:?}");
        for caller in callers() {
            let who = caller_name(caller);
            let allowed = may.contains(who);
            if stored_policy_allows(&grants, caller, spec.access) != allowed {
                failures.push(format!(
                    "{method} {path}: stored policy disagrees for {who}"
                ));
            }
            let token = caller.map(|role| tokens[role].as_str());
            let response = probe(&app, spec, token).await;
            let status = response.status().as_u16();
            if let Some(problem) = verdict_problem(allowed, caller, response).await {
                failures.push(format!("{method} {path} as {who} ({status}): {problem}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_refusal_is_recorded_in_the_audit_trail() {
    let app = TestApp::spawn().await;
    let customer = app.token_for_role("customer").await;
    let officer = app.token_for_role("security_officer").await;
    let response = app.get("/api/v1/admin/users", Some(&customer)).await;
    assert_problem(response, StatusCode::FORBIDDEN).await;

    let customer_id = app.me(&customer).await["id"].clone();
    let response = app
        .get("/api/v1/admin/audit?per_page=100", Some(&officer))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let trail: Value = response.json().await.expect("audit json");
    let denials: Vec<&Value> = trail["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "authz.denied")
        .collect();
    assert_eq!(denials.len(), 1, "{trail:#}");
    assert_eq!(denials[0]["actor_id"], customer_id);
    assert_eq!(denials[0]["outcome"], "denied");
    assert_eq!(denials[0]["target"], "/api/v1/admin/users");
    assert_eq!(denials[0]["details"]["permission"], "user:read");
}

// ---------------------------------------------------------------- undeclared routes

const PROBED_METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
];

#[tokio::test]
async fn undeclared_methods_on_declared_paths_answer_405_problem() {
    let app = TestApp::spawn().await;
    let (_, specs) = routes(app.state.clone());
    let admin = app.token_for_role("admin").await;
    let mut declared: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for spec in &specs {
        declared
            .entry(spec.path.as_str())
            .or_default()
            .insert(spec.method.as_str());
    }

    let mut failures = Vec::new();
    let mut probes = 0;
    for (path, methods) in &declared {
        let concrete = fill_path_params(path, &uuid::Uuid::new_v4().to_string());
        for method in PROBED_METHODS {
            if methods.contains(method.as_str()) {
                continue;
            }
            for token in [None, Some(admin.as_str())] {
                probes += 1;
                let response = app
                    .call_raw(
                        method.clone(),
                        &concrete,
                        token,
                        Some("application/json"),
                        b"{}".to_vec(),
                    )
                    .await;
                let status = response.status();
                let content_type = header_text(&response, "content-type");
                let allow = header_text(&response, "allow");
                let who = if token.is_some() {
                    "admin"
                } else {
                    "anonymous"
                };
                if status != StatusCode::METHOD_NOT_ALLOWED
                    || content_type != "application/problem+json"
                {
                    failures.push(format!("{method} {path} as {who}: {status} {content_type}"));
                    continue;
                }
                let allowed: BTreeSet<&str> = allow
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty() && *m != "HEAD")
                    .collect();
                if &allowed != methods {
                    failures.push(format!(
                        "{method} {path}: Allow is {allow:?}, declared {methods:?}"
                    ));
                }
            }
        }
    }
    assert!(probes > 100, "only {probes} probes");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Router-building calls that could serve a path without a declared permission.
const ROUTER_CALLS: [&str; 7] = [
    "route",
    "route_service",
    "nest",
    "nest_service",
    "merge",
    "fallback",
    "fallback_service",
];
/// `SecuredRouter::route` takes (method, path, access, summary, handler).
const SECURED_ROUTE_ARGS: usize = 5;

fn blank(c: char) -> char {
    if c == '\n' { '\n' } else { ' ' }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The source with comments and string and char literals blanked out (line breaks
/// kept), so only code is scanned.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
        let c = chars[i];
        let before = if i == 0 { ' ' } else { chars[i - 1] };
        let before2 = if i < 2 { ' ' } else { chars[i - 2] };
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (at(i + 1) == '"' || at(i + 1) == '#')
            && (!is_ident(before) || (before == 'b' && !is_ident(before2)))
        {
            let mut hashes = 0;
            let mut j = i + 1;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                out.push(c);
                i += 1;
                continue;
            }
            out.push(' ');
            i += 1;
            while i <= j {
                out.push(' ');
                i += 1;
            }
            while i < chars.len() {
                if chars[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() {
                if chars[i] == '\\' {
                    out.push(' ');
                    out.push(blank(at(i + 1)));
                    i += 2;
                } else if chars[i] == '"' {
                    out.push(' ');
                    i += 1;
                    break;
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A char literal; a lifetime has no closing quote two places on.
            out.push(' ');
            i += 1;
            while i < chars.len() {
                if chars[i] == '\\' {
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '\'' {
                    out.push(' ');
                    i += 1;
                    break;
                } else {
                    out.push(' ');
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// A method or path call found in code.
#[derive(Debug, PartialEq)]
struct Call {
    line: usize,
    name: String,
    args: usize,
}

/// Counts the top-level arguments of the call whose `(` is at `open`.
fn count_args(chars: &[char], open: usize) -> usize {
    let mut depth = 0;
    let mut commas = 0;
    let mut last_significant = '(';
    for &c in &chars[open..] {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => commas += 1,
            _ => {}
        }
        if !c.is_whitespace() {
            last_significant = c;
        }
    }
    match last_significant {
        '(' => 0,
        ',' => commas,
        _ => commas + 1,
    }
}

/// Every `.name(` or `::name(` call (turbofish allowed) of the router-building names.
fn router_calls(code: &str) -> Vec<Call> {
    let chars: Vec<char> = code.chars().collect();
    let mut calls = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !is_ident(chars[i]) || (i > 0 && is_ident(chars[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        if !ROUTER_CALLS.contains(&name.as_str()) {
            continue;
        }
        let mut back = start;
        while back > 0 && chars[back - 1].is_whitespace() {
            back -= 1;
        }
        let called_on_something = back > 0 && chars[back - 1] == '.'
            || back > 1 && chars[back - 1] == ':' && chars[back - 2] == ':';
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        if chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':') {
            let mut angle = 0;
            j += 2;
            while j < chars.len() {
                match chars[j] {
                    '<' => angle += 1,
                    '>' => angle -= 1,
                    _ => {}
                }
                j += 1;
                if angle == 0 && chars[j - 1] == '>' {
                    break;
                }
            }
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
        }
        if called_on_something && chars.get(j) == Some(&'(') {
            let line = chars[..start].iter().filter(|c| **c == '\n').count() + 1;
            calls.push(Call {
                line,
                name,
                args: count_args(&chars, j),
            });
        }
    }
    calls
}

/// Calls that add routes outside the [`SecuredRouter`]: everything in `file` but a
/// `SecuredRouter::route` declaration, apart from policy.rs itself and the not-found
/// fallback in router.rs.
fn undeclared_route_calls(file: &str, source: &str) -> Vec<String> {
    if file == "edge/policy.rs" {
        return Vec::new();
    }
    router_calls(&code_only(source))
        .into_iter()
        .filter(|call| {
            let secured = call.name == "route" && call.args == SECURED_ROUTE_ARGS;
            let not_found = call.name == "fallback" && file == "edge/router.rs";
            !(secured || not_found)
        })
        .map(|call| format!("{file}:{} .{}({} args)", call.line, call.name, call.args))
        .collect()
}

fn rust_files(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn the_route_scanner_catches_routes_added_outside_the_secured_router() {
    let sample = r##"
fn build(secured: SecuredRouter) -> Router {
    // .route("/commented-out", get(h)) and /* .nest("/block", x) */
    let text = ".route(\"/inside-a-string\", get(h))";
    let raw = r#".merge(other) "quoted" "#;
    let lifetime: &'static str = "x";
    let paren = '(';
    let secured = secured.route(M::GET, "/fine", Public, "declared", handler);
    Router::new()
        .route("/a", get(h))
        .route_layer(layer)
        .nest("/b", other)
        .merge(more)
        .route_service("/c", service)
        .route::<()>(
            "/d",
            get(|a, b| async { a + b }),
        );
    Router::route(app, "/e", get(h));
    secured.route_with_body_limit(M::POST, "/big", Public, "x", h, 1);
    app.fallback_service(files)
}
"##;
    let found = undeclared_route_calls("edge/elsewhere.rs", sample);
    assert_eq!(
        found,
        vec![
            "edge/elsewhere.rs:10 .route(2 args)",
            "edge/elsewhere.rs:12 .nest(2 args)",
            "edge/elsewhere.rs:13 .merge(1 args)",
            "edge/elsewhere.rs:14 .route_service(2 args)",
            "edge/elsewhere.rs:15 .route(2 args)",
            "edge/elsewhere.rs:19 .route(3 args)",
            "edge/elsewhere.rs:21 .fallback_service(1 args)",
        ]
    );
    assert!(undeclared_route_calls("edge/policy.rs", sample).is_empty());
    assert_eq!(
        undeclared_route_calls("lib.rs", "app.fallback(not_found)"),
        vec!["lib.rs:1 .fallback(1 args)"]
    );
    assert!(undeclared_route_calls("edge/router.rs", "app.fallback(not_found)").is_empty());
}

#[tokio::test]
async fn routes_enter_the_router_only_through_the_secured_router() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 20, "found only {} source files", files.len());

    let mut violations = Vec::new();
    let mut declarations = 0;
    for path in &files {
        let source = std::fs::read_to_string(path).expect("read source");
        let file = path
            .strip_prefix(&root)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        violations.extend(undeclared_route_calls(&file, &source));
        if file != "edge/policy.rs" {
            let code = code_only(&source);
            declarations += router_calls(&code)
                .iter()
                .filter(|c| c.name == "route" && c.args == SECURED_ROUTE_ARGS)
                .count();
            declarations += code.matches(".route_with(").count();
        }
    }
    assert!(
        violations.is_empty(),
        "routes outside SecuredRouter:\n{}",
        violations.join("\n")
    );

    // The scanner sees every declaration the router actually holds.
    let app = TestApp::spawn().await;
    let (_, specs) = routes(app.state.clone());
    assert_eq!(declarations, specs.len());
}

// ---------------------------------------------------------------- ownership

/// The first variant of a catalog product, checking its price in minor units.
async fn variant_of(app: &TestApp, handle: &str, price: i64) -> String {
    let product = app.product(handle).await;
    assert_eq!(product["variants"][0]["price"]["amount"], price);
    product["variants"][0]["id"]
        .as_str()
        .expect("variant id")
        .to_owned()
}

async fn cart_of(app: &TestApp, token: &str) -> Value {
    let response = app.get("/api/v1/cart", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("cart json")
}

fn without_request_id(mut problem: Value) -> Value {
    if let Some(object) = problem.as_object_mut() {
        object.remove("request_id");
    }
    problem
}

#[tokio::test]
async fn one_customer_cannot_see_or_touch_another_customers_order_cart_or_profile() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    app.import_catalog("shopify-apparel.csv", &admin).await;
    let shirt = variant_of(&app, "ocean-blue-shirt", 5000).await;
    let jumper = variant_of(&app, "yellow-wool-jumper", 8000).await;
    let (email_a, token_a) = app.customer().await;
    let (email_b, token_b) = app.customer().await;

    app.add_to_cart_ok(&token_a, &shirt, 1).await;
    let order = app.checkout_ok(&token_a).await;
    let order_id = order["id"].as_str().expect("order id").to_owned();
    assert_eq!(order["total"]["amount"], 5000);
    app.add_to_cart_ok(&token_a, &jumper, 1).await;

    // The order: B gets the same answer as for an order that does not exist.
    let theirs = app
        .get(&format!("/api/v1/orders/{order_id}"), Some(&token_b))
        .await;
    let theirs = assert_problem(theirs, StatusCode::NOT_FOUND).await;
    let missing = format!("/api/v1/orders/{}", uuid::Uuid::new_v4());
    let missing = assert_problem(
        app.get(&missing, Some(&token_b)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(without_request_id(theirs), without_request_id(missing));
    let mine = app
        .get(&format!("/api/v1/orders/{order_id}"), Some(&token_a))
        .await;
    assert_eq!(mine.status(), StatusCode::OK);

    let list_b: Value = app
        .get("/api/v1/orders", Some(&token_b))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list_b["total"], 0);
    assert_eq!(list_b["items"], json!([]));
    let list_a: Value = app
        .get("/api/v1/orders", Some(&token_a))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list_a["total"], 1);
    assert_eq!(list_a["items"][0]["id"], order_id.as_str());

    // The cart: B's is empty, and B's cart operations never reach A's.
    let cart_b = cart_of(&app, &token_b).await;
    assert_eq!(cart_b["items"], json!([]));
    assert_eq!(cart_b["subtotal"]["amount"], 0);
    let item = format!("/api/v1/cart/items/{jumper}");
    let removed = app.call(Method::DELETE, &item, Some(&token_b), None).await;
    assert!(removed.status().is_success() || removed.status() == StatusCode::NOT_FOUND);
    let set = app
        .call(
            Method::PATCH,
            &item,
            Some(&token_b),
            Some(json!({ "quantity": 1 })),
        )
        .await;
    assert!(set.status().as_u16() < 500, "{}", set.status());
    let cart_a = cart_of(&app, &token_a).await;
    assert_eq!(cart_a["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(cart_a["items"][0]["variant_id"], jumper.as_str());
    assert_eq!(cart_a["items"][0]["quantity"], 1);
    assert_eq!(cart_a["subtotal"]["amount"], 8000);

    // The profile: each sees only their own.
    let me_b = app.me(&token_b).await;
    assert_eq!(me_b["email"], email_b.as_str());
    assert_ne!(me_b["email"], email_a.as_str());
    assert_eq!(app.me(&token_a).await["email"], email_a.as_str());

    // The order exists for staff who may read all orders.
    let all: Value = app
        .get("/api/v1/admin/orders", Some(&admin))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(all["total"], 1);
    assert_eq!(all["items"][0]["id"], order_id.as_str());
}

// ---------------------------------------------------------------- escalation

async fn roles_of(app: &TestApp, token: &str) -> Value {
    app.me(token).await["roles"].clone()
}

async fn assert_login_refused(app: &TestApp, email: &str) {
    let response = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn registration_cannot_choose_a_role() {
    let app = TestApp::spawn().await;
    let users_before = app.state.store.count_users().await.expect("count");
    for extra in [
        json!({ "role": "admin" }),
        json!({ "roles": ["admin"] }),
        json!({ "roles": "admin" }),
    ] {
        let email = format!("climber-{}@example.com", uuid::Uuid::new_v4().simple());
        let mut body = json!({ "email": email, "password": PASSWORD, "name": "Climber" });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let response = app.post("/api/v1/auth/register", None, body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let field = extra.as_object().and_then(|o| o.keys().next().cloned());
        assert_eq!(problem["errors"][0]["field"], json!(field), "{problem}");
        assert_eq!(problem["errors"][0]["code"], "unknown_field");
        assert_login_refused(&app, &email).await;
    }
    assert_eq!(
        app.state.store.count_users().await.expect("count"),
        users_before
    );

    // The same registration without the extra field makes a plain customer.
    let (_, token) = app.customer().await;
    assert_eq!(roles_of(&app, &token).await, json!(["customer"]));
}

#[tokio::test]
async fn a_profile_update_cannot_carry_roles() {
    let app = TestApp::spawn().await;
    let (_, token) = app.customer().await;
    for body in [
        json!({ "roles": ["admin"] }),
        json!({ "name": "Sneaky", "roles": ["admin"] }),
        json!({ "name": "Sneaky", "role": "admin" }),
    ] {
        let response = app
            .call(Method::PATCH, "/api/v1/me", Some(&token), Some(body))
            .await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["code"], "unknown_field");
    }
    let me = app.me(&token).await;
    assert_eq!(me["roles"], json!(["customer"]));
    assert_eq!(me["name"], "Shopper");
    let response = app.get("/api/v1/admin/users", Some(&token)).await;
    assert_problem(response, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn only_a_role_manager_can_change_roles() {
    let app = TestApp::spawn().await;
    let (_, target) = app.customer().await;
    let target_id = app.me(&target).await["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/admin/users/{target_id}/roles");
    let grant = json!({ "roles": ["admin"] });

    for role in [
        "catalog_manager",
        "support",
        "order_manager",
        "security_officer",
        "customer",
    ] {
        let token = app.token_for_role(role).await;
        let response = app
            .call(Method::PUT, &path, Some(&token), Some(grant.clone()))
            .await;
        assert_problem(response, StatusCode::FORBIDDEN).await;
        let own_id = app.me(&token).await["id"].as_str().expect("id").to_owned();
        let own = format!("/api/v1/admin/users/{own_id}/roles");
        let response = app
            .call(Method::PUT, &own, Some(&token), Some(grant.clone()))
            .await;
        assert_problem(response, StatusCode::FORBIDDEN).await;
        assert_eq!(
            roles_of(&app, &token).await,
            json!([role]),
            "{role} changed itself"
        );
    }
    let response = app.call(Method::PUT, &path, None, Some(grant)).await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;

    // Refusals changed nothing, and the target's session is untouched.
    assert_eq!(roles_of(&app, &target).await, json!(["customer"]));
}

#[tokio::test]
async fn an_admin_cannot_assign_a_role_that_does_not_exist() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    let (_, target) = app.customer().await;
    let target_id = app.me(&target).await["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/admin/users/{target_id}/roles");

    for roles in [
        json!(["superuser"]),
        json!(["Admin"]),
        json!([" admin"]),
        json!(["customer", "root"]),
    ] {
        let response = app
            .call(
                Method::PUT,
                &path,
                Some(&admin),
                Some(json!({ "roles": roles })),
            )
            .await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], "roles");
        assert_eq!(problem["errors"][0]["code"], "unknown_role");
    }
    // Nothing changed and the target's token still works: no half-applied update.
    assert_eq!(roles_of(&app, &target).await, json!(["customer"]));

    let nobody = format!("/api/v1/admin/users/{}/roles", uuid::Uuid::new_v4());
    let response = app
        .call(
            Method::PUT,
            &nobody,
            Some(&admin),
            Some(json!({ "roles": ["customer"] })),
        )
        .await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_role_change_ends_the_users_sessions_and_applies_on_next_login() {
    let app = TestApp::spawn().await;
    let admin = app.token_for_role("admin").await;
    let (email, _) = app.customer().await;
    let tokens = app.login(&email, PASSWORD).await;
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let user_id = app.me(&access).await["id"].as_str().expect("id").to_owned();
    assert_eq!(
        app.get("/api/v1/cart", Some(&access)).await.status(),
        StatusCode::OK
    );

    let path = format!("/api/v1/admin/users/{user_id}/roles");
    let response = app
        .call(
            Method::PUT,
            &path,
            Some(&admin),
            Some(json!({ "roles": ["catalog_manager"] })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.expect("user json");
    assert_eq!(updated["roles"], json!(["catalog_manager"]));

    // The old session is gone: its access token and its refresh token.
    let response = app.get("/api/v1/me", Some(&access)).await;
    assert_eq!(header_text(&response, "www-authenticate"), "Bearer");
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
    let response = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_problem(response, StatusCode::UNAUTHORIZED).await;

    // A new login carries the new roles, and permissions follow them.
    let fresh = app.login(&email, PASSWORD).await["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_eq!(roles_of(&app, &fresh).await, json!(["catalog_manager"]));
    let response = app.get("/api/v1/cart", Some(&fresh)).await;
    assert_problem(response, StatusCode::FORBIDDEN).await;
    let product = json!({
        "handle": "promoted-hat",
        "title": "Promoted Hat",
        "published": true,
        "variants": [{ "price": 1250, "inventory_quantity": 3 }]
    });
    let response = app
        .post("/api/v1/admin/products", Some(&fresh), product)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        app.product("promoted-hat").await["variants"][0]["price"]["amount"],
        1250
    );
}
