//! The OpenAPI document: the served one is the generated `ApiDoc`, it documents every route and method the
//! API router answers, and real responses validate against the schemas it gives for them.

use labtrail::http::api::routes;
use labtrail::http::api::ApiDoc;
use reqwest::Method;
use serde_json::{json, Value};
use utoipa::OpenApi;

use crate::audit_support::checkpoint;
use crate::backend_tests;
use crate::helpers::{spawn_app, TestApp, TestDb};
use crate::tokens::{create_token, two_orgs};

backend_tests!(
    served_document_is_generated_and_documents_every_route,
    responses_validate_against_the_documented_schemas,
);

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// `path` with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{slug}", "lab1").replace("{id}", "1")
}

async fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, format!("{}/api/v1{path}", app.base_url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request")
}

async fn served_document_is_generated_and_documents_every_route(db: TestDb) {
    let app = spawn_app(&db).await;
    let resp = request(&app, Method::GET, "/openapi.json", None).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let served: Value = resp.json().await.expect("json");
    let generated = serde_json::to_value(ApiDoc::openapi()).expect("document");
    assert_eq!(served, generated);
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served["servers"], json!([{ "url": "/api/v1" }]));
    assert_eq!(
        served["components"]["securitySchemes"]["bearer"],
        json!({ "type": "http", "scheme": "bearer" })
    );

    let documented = served["paths"].as_object().expect("paths");
    let routed: Vec<&str> = routes().iter().map(|(path, _)| *path).collect();
    let mut listed: Vec<&str> = documented.keys().map(String::as_str).collect();
    listed.sort_unstable();
    let mut sorted = routed.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted, listed,
        "the API router's paths and the documented ones"
    );
    // The read API's query parameters are all optional, but the two sizes of a consistency proof.
    for (path, item) in documented {
        for param in item["get"]["parameters"].as_array().into_iter().flatten() {
            if param["in"] == "query" {
                let required = path == "/audit/consistency";
                assert_eq!(param["required"], required, "{path}: {param}");
            }
        }
    }
    // Every method the router answers (anything but 405) is documented, and only those.
    for path in routed {
        for method in METHODS {
            let status = request(&app, method.clone(), &concrete(path), None)
                .await
                .status()
                .as_u16();
            let key = method.as_str().to_ascii_lowercase();
            assert_eq!(
                documented[path].get(&key).is_some(),
                status != 405,
                "{method} {path} answered {status}"
            );
        }
    }
}

/// The schema the document gives for `status` of `GET path` in `content_type`, made strict (no property
/// left undocumented) and self-contained (the document's components beside it for its `$ref`s).
fn response_validator(
    doc: &Value,
    path: &str,
    status: u16,
    content_type: &str,
) -> jsonschema::Validator {
    let mut schema = doc["paths"][path]["get"]["responses"][status.to_string()]["content"]
        [content_type]["schema"]
        .clone();
    assert!(
        schema.is_object(),
        "no {content_type} schema for {status} of GET {path}"
    );
    let mut components = doc["components"].clone();
    forbid_undocumented_properties(&mut components);
    schema["components"] = components;
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("a valid schema")
}

fn forbid_undocumented_properties(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(forbid_undocumented_properties);
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_undocumented_properties),
        _ => {}
    }
}

/// GET `path` and check the answer against the documented schema of `documented_path`.
async fn check(
    app: &TestApp,
    doc: &Value,
    documented_path: &str,
    path: &str,
    token: Option<&str>,
    want: u16,
) -> Value {
    let resp = request(app, Method::GET, path, token).await;
    assert_eq!(resp.status().as_u16(), want, "GET {path}");
    let content_type = content_type(&resp);
    assert!(
        content_type.starts_with("application/json"),
        "GET {path}: {content_type}"
    );
    let body: Value = resp.json().await.expect("json");
    let validator = response_validator(doc, documented_path, want, "application/json");
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "GET {path}: {errors:?}\n{body:#}");
    body
}

async fn responses_validate_against_the_documented_schemas(db: TestDb) {
    let app = spawn_app(&db).await;
    let (attempt, _) = two_orgs(&app).await;
    checkpoint(&app);
    let admin = create_token(&app, "admin", "admin", None);
    let t = Some(admin.as_str());
    let doc = serde_json::to_value(ApiDoc::openapi()).expect("document");

    let sessions = check(&app, &doc, "/sessions", "/sessions", t, 200).await;
    assert_eq!(sessions.as_array().map(Vec::len), Some(2));
    let page = check(
        &app,
        &doc,
        "/sessions/{slug}/attempts",
        "/sessions/lab1/attempts?org=course",
        t,
        200,
    )
    .await;
    assert_eq!(page["attempts"].as_array().map(Vec::len), Some(1));
    let one = check(
        &app,
        &doc,
        "/attempts/{id}",
        &format!("/attempts/{attempt}"),
        t,
        200,
    )
    .await;
    assert!(!one["files"].as_array().expect("files").is_empty(), "{one}");
    let audit = check(&app, &doc, "/audit", "/audit?limit=50", t, 200).await;
    assert!(!audit["entries"].as_array().expect("entries").is_empty());
    // Error answers carry the documented error body.
    check(&app, &doc, "/sessions", "/sessions", None, 401).await;
    check(
        &app,
        &doc,
        "/sessions/{slug}/attempts",
        "/sessions/lab1/attempts",
        t,
        400,
    )
    .await;
    check(&app, &doc, "/attempts/{id}", "/attempts/999999", t, 404).await;
    let proof = check(
        &app,
        &doc,
        "/attempts/{id}/proof",
        &format!("/attempts/{attempt}/proof"),
        t,
        200,
    )
    .await;
    assert_eq!(proof["attempt_id"], attempt);
    let consistency = check(
        &app,
        &doc,
        "/audit/consistency",
        "/audit/consistency?from=1&to=3",
        t,
        200,
    )
    .await;
    assert!(!consistency["proof"].as_array().expect("proof").is_empty());
    check(
        &app,
        &doc,
        "/audit/consistency",
        "/audit/consistency?from=3&to=1",
        t,
        400,
    )
    .await;

    // The checkpoint is the documented text/plain note.
    let resp = request(&app, Method::GET, "/audit/checkpoint", t).await;
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = content_type(&resp);
    let documented = doc["paths"]["/audit/checkpoint"]["get"]["responses"]["200"]["content"]
        .as_object()
        .expect("content");
    assert!(
        documented
            .keys()
            .any(|k| content_type.starts_with(k.as_str())),
        "{content_type} not in {documented:?}"
    );

    // The check is strict: an undocumented field, or a missing one, fails it.
    let validator = response_validator(&doc, "/attempts/{id}", 200, "application/json");
    let mut extra = one.clone();
    extra["undocumented"] = json!(1);
    assert!(!validator.is_valid(&extra));
    let mut missing = one;
    if let Some(fields) = missing.as_object_mut() {
        fields.remove("pusher");
    }
    assert!(!validator.is_valid(&missing));
}

/// The response's `content-type` (empty when none).
fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
