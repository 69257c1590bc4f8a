//! The published API description matches what the router actually serves.

use std::collections::BTreeSet;

use ironcart::edge::router::routes;
use ironcart::security::rbac::Access;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, header_text};

const OPERATION_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_declared_routes_and_their_permissions() {
    let app = TestApp::spawn().await;
    let (_, specs) = routes(app.state.clone());
    let response = app.get("/api/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header_text(&response, "content-type").starts_with("application/json"));
    let document: Value = response.json().await.expect("openapi json");
    assert_eq!(document["openapi"], "3.1.0");

    let declared: BTreeSet<(String, String)> = specs
        .iter()
        .map(|s| (s.method.as_str().to_lowercase(), s.path.clone()))
        .collect();
    assert_eq!(declared.len(), specs.len(), "a route is declared twice");

    let mut documented = BTreeSet::new();
    let paths = document["paths"].as_object().expect("paths object");
    for (path, item) in paths {
        let item = item.as_object().expect("path item object");
        for (method, _) in item {
            assert!(
                OPERATION_METHODS.contains(&method.as_str()),
                "{method} {path}"
            );
            documented.insert((method.clone(), path.clone()));
        }
    }
    assert_eq!(documented, declared);

    for spec in &specs {
        let method = spec.method.as_str().to_lowercase();
        let operation = &document["paths"][&spec.path][&method];
        let (permission, security) = match spec.access {
            Access::Public => (Value::Null, json!([])),
            Access::Requires(p) => (json!(p.as_str()), json!([{ "bearer": [] }])),
        };
        let route = format!("{method} {}", spec.path);
        assert_eq!(operation["x-required-permission"], permission, "{route}");
        assert_eq!(operation["security"], security, "{route}");
        assert_eq!(operation["summary"], spec.summary, "{route}");
        let names: Vec<&str> = operation["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(names, path_params(&spec.path), "{route}");
    }
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn the_docs_page_lists_every_operation_under_the_strict_csp() {
    let app = TestApp::spawn().await;
    let (_, specs) = routes(app.state.clone());
    let response = app.get("/api/docs", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header_text(&response, "content-type").starts_with("text/html"));
    assert!(header_text(&response, "content-security-policy").contains("default-src 'none'"));
    let html = response.text().await.expect("html");
    assert!(!html.contains("<script"), "the docs page runs no script");

    for spec in &specs {
        let permission = match spec.access {
            Access::Public => "public",
            Access::Requires(p) => p.as_str(),
        };
        let row = format!(
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            spec.method, spec.path, spec.summary, permission
        );
        assert!(html.contains(&row), "missing row: {row}");
    }
    assert_eq!(html.matches("<tr><td>").count(), specs.len());
}
