//! The read API's OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations, their
//! query types and the schema types below, served at `GET /api/v1/openapi.json`.
//!
//! Sessions and attempts are documented by the rows the handlers send (`crate::report`); the types below
//! describe the JSON the other handlers assemble. The API tests validate real responses against the served
//! document, so a field added to or dropped from a response without its schema fails there.

use serde_json::Value;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

use super::api;
use crate::audit::proof::{ConsistencyProof, Proof};
use crate::report::{AttemptRow, ExtensionRow, FileRow, FinalAttempt, SessionRow, SummaryRow};

/// The read API's document (`ApiDoc::openapi()`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "labtrail read API",
        version = "1",
        description = "Read access for instructors and auditors. Every call needs `Authorization: Bearer <token>` (created with `labtrail token create`). Attempt exports, attempt reads and audit reads are recorded in the audit log as `token:<name>`."
    ),
    servers((url = "/api/v1")),
    paths(
        api::openapi,
        api::sessions,
        api::session_attempts,
        api::session_summary,
        api::session_grades,
        api::attempt,
        api::attempt_proof,
        api::audit_entries,
        api::checkpoint,
        api::consistency,
    ),
    components(schemas(ErrorBody, SessionRow, ExtensionRow, FileRow, AttemptRow, SummaryRow, FinalAttempt, AttemptPage, AuditEntry, AuditPage, Proof, ConsistencyProof)),
    security(("bearer" = [])),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// The `bearer` scheme, and the public operations that need none.
struct Security;

/// Operations that answer without a token (`security: []` overrides the document's requirement).
const PUBLIC_PATHS: [&str; 1] = ["/openapi.json"];

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for path in PUBLIC_PATHS {
            if let Some(item) = openapi.paths.paths.get_mut(path) {
                if let Some(get) = item.get.as_mut() {
                    get.security = Some(Vec::new());
                }
            }
        }
    }
}

/// The `format` query parameter of attempt exports: `json` (default) or `csv`.
pub(super) fn export_format() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["json", "csv"]))
        .default(Some(Value::from("json")))
        .build()
}

/// The body of every error answer.
#[derive(ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: String,
}

/// The refusals of every route behind a token.
#[derive(IntoResponses)]
pub enum TokenRefusals {
    #[response(status = 401, description = "Missing, unknown or revoked token")]
    Unauthorized(ErrorBody),
    #[response(
        status = 403,
        description = "The token's role or organisation does not allow this"
    )]
    Forbidden(ErrorBody),
}

/// A page of attempts.
#[derive(ToSchema)]
pub struct AttemptPage {
    pub attempts: Vec<AttemptRow>,
    /// Pass as cursor= for the next page; null on the last page
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// One audit log entry.
#[derive(ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub entry_id: String,
    pub occurred_at_us: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    #[schema(value_type = Object)]
    pub details: Value,
    /// The exact RFC 8785 bytes that were hashed
    pub canonical: String,
    pub prev_hash: String,
    pub entry_hash: String,
}

/// A page of audit entries.
#[derive(ToSchema)]
pub struct AuditPage {
    pub origin: String,
    pub entries: Vec<AuditEntry>,
    #[schema(required = true)]
    pub next_after_seq: Option<i64>,
}
