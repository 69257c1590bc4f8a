//! The OpenAPI 3.1 document, generated from the route declarations (paths, methods,
//! required permission) so it cannot drift from what the router serves.

use serde_json::{Value, json};

use super::policy::RouteSpec;
use crate::security::rbac::Access;

pub fn document(specs: &[RouteSpec]) -> Value {
    let mut paths = serde_json::Map::new();
    for spec in specs {
        let path = paths.entry(spec.path.clone()).or_insert_with(|| json!({}));
        let mut operation = json!({
            "summary": spec.summary,
            "tags": [spec.tag],
            "responses": {
                "default": {
                    "description": "An RFC 9457 problem document",
                    "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } }
                }
            },
        });
        let params: Vec<Value> = spec
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        if let Some(op) = operation.as_object_mut() {
            if !params.is_empty() {
                op.insert("parameters".into(), Value::Array(params));
            }
            match spec.access {
                Access::Public => {
                    op.insert("security".into(), json!([]));
                    op.insert("x-required-permission".into(), Value::Null);
                }
                Access::Requires(permission) => {
                    op.insert("security".into(), json!([{ "bearer": [] }]));
                    op.insert("x-required-permission".into(), json!(permission.as_str()));
                }
            }
        }
        if let Some(path) = path.as_object_mut() {
            path.insert(spec.method.as_str().to_lowercase(), operation);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Ironcart storefront API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Money is {amount: integer minor units, currency}. Errors are application/problem+json."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" }
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status"],
                    "properties": {
                        "type": { "type": "string" },
                        "title": { "type": "string" },
                        "status": { "type": "integer" },
                        "detail": { "type": "string" },
                        "request_id": { "type": "string" },
                        "errors": { "type": "array", "items": { "type": "object" } }
                    }
                },
                "Money": {
                    "type": "object",
                    "required": ["amount", "currency"],
                    "properties": { "amount": { "type": "integer" }, "currency": { "type": "string" } }
                }
            }
        }
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Static HTML listing every operation and the permission it needs.
pub fn render_docs(document: &Value) -> String {
    let mut rows = String::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, operations) in paths {
            let Some(operations) = operations.as_object() else {
                continue;
            };
            for (method, op) in operations {
                let permission = op["x-required-permission"].as_str().unwrap_or("public");
                rows.push_str(&format!(
                    "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>\n",
                    escape(&method.to_uppercase()),
                    escape(path),
                    escape(op["summary"].as_str().unwrap_or("")),
                    escape(permission)
                ));
            }
        }
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ironcart API</title></head>\
         <body><h1>Ironcart storefront API</h1><p>Machine-readable: <a href=\"/api/openapi.json\">/api/openapi.json</a> (OpenAPI 3.1).</p>\
         <table border=\"1\" cellpadding=\"4\"><thead><tr><th>Method</th><th>Path</th><th>Summary</th><th>Permission</th></tr></thead>\
         <tbody>\n{rows}</tbody></table></body></html>"
    )
}
