//! The fake holds itself to GitHub's published REST description at run time: every `2xx` answer it
//! gives is validated against the response schema of its operation (`tests/github-openapi/responses.json`)
//! and the bodies labtrail sends to `checks/create` and `checks/update` against their request schemas
//! (`tests/github-openapi/requests.json`). A breach is answered as a failure (a `500` for the fake's own
//! answer, GitHub's `422` for a request) and noted, and [`super::FakeGithub`] fails the test when dropped.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use super::state::Route;

/// The operation (`operationId`) a route answers; `None`: not an API endpoint of GitHub's.
pub(super) fn operation(route: Route) -> Option<&'static str> {
    Some(match route {
        Route::Token => "apps/create-installation-access-token",
        Route::Compare => "repos/compare-commits-with-basehead",
        Route::Commit => "repos/get-commit",
        Route::Tree => "git/get-tree",
        Route::ListCheckRuns => "checks/list-for-ref",
        Route::CreateCheckRun => "checks/create",
        Route::UpdateCheckRun => "checks/update",
        Route::ListDeliveries => "apps/list-webhook-deliveries",
        Route::Redeliver => "apps/redeliver-webhook-delivery",
        Route::GetInstallation => "apps/get-installation",
        Route::ListInstallations => "apps/list-installations",
        Route::GetApp => "apps/get-authenticated",
        Route::HookConfig => "apps/get-webhook-config-for-app",
        Route::ConvertManifest => "apps/create-from-manifest",
        Route::GetRepo => "repos/get",
        Route::GenerateRepo => "repos/create-using-template",
        Route::AddCollaborator => "repos/add-collaborator",
        Route::Other => return None,
    })
}

/// One vendored schema file: each operation's validator and (for responses) its success status.
struct Schemas(HashMap<String, (jsonschema::Validator, Option<u16>)>);

fn load(file: &str) -> Schemas {
    let path = format!("{}/tests/github-openapi/{file}", env!("CARGO_MANIFEST_DIR"));
    let doc: Value = serde_json::from_slice(&std::fs::read(&path).expect("vendored schemas"))
        .expect("schemas are JSON");
    let endpoints = doc["endpoints"].as_object().expect("endpoints");
    Schemas(
        endpoints
            .iter()
            .map(|(op, e)| {
                let mut schema = e["schema"].clone();
                schema["definitions"] = doc["definitions"].clone();
                let validator = jsonschema::draft7::new(&schema)
                    .unwrap_or_else(|err| panic!("{file}: {op}: not a valid schema: {err}"));
                let status = e["status"].as_u64().map(|s| s as u16);
                (op.clone(), (validator, status))
            })
            .collect(),
    )
}

fn responses() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| load("responses.json"))
}

fn requests() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| load("requests.json"))
}

fn errors(v: &jsonschema::Validator, body: &Value) -> Result<(), String> {
    let errors: Vec<String> = v
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .take(10)
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// `body`, answered with `status` by `op`, is what GitHub documents for its success answer.
pub(super) fn check_response(op: &str, status: u16, body: Option<&Value>) -> Result<(), String> {
    let Some((v, want)) = responses().0.get(op) else {
        return Err(format!("no vendored response schema for {op}"));
    };
    if *want != Some(status) {
        return Err(format!("{op} answers {want:?} on success, not {status}"));
    }
    let Some(body) = body else {
        return Err(format!("{op}: a {status} answer without a JSON body"));
    };
    errors(v, body).map_err(|e| format!("{op}: the answer breaks GitHub's schema: {e}"))
}

/// `body`, sent to `op`, is a request GitHub accepts (`Ok` too for an operation without a body schema).
pub(super) fn check_request(op: &str, body: &Value) -> Result<(), String> {
    match requests().0.get(op) {
        Some((v, _)) => {
            errors(v, body).map_err(|e| format!("{op}: the request breaks GitHub's schema: {e}"))
        }
        None => Ok(()),
    }
}

/// Whether `op` has a vendored request schema.
pub(super) fn has_request_schema(op: &str) -> bool {
    requests().0.contains_key(op)
}
