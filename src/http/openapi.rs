//! The schema types of the read API's OpenAPI document (`api::ApiDoc`, generated from the handlers'
//! `#[utoipa::path]` annotations and served at `GET /api/v1/openapi.json`).
//!
//! Sessions and attempts are documented by the rows the handlers send (`crate::report`); the types below
//! describe the JSON the other handlers assemble. The API tests validate real responses against the served
//! document, so a field added to or dropped from a response without its schema fails there.

use serde_json::Value;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::{IntoResponses, ToSchema};

use crate::report::AttemptRow;

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
