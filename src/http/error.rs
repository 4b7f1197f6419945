//! The one error type at the HTTP edge: maps library errors to status codes and hides internals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::db::DbErr;
use crate::reads::ReadError;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Malformed request: missing headers, unparseable body.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials or signature.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed to read this.
    #[error("{0}")]
    Forbidden(String),
    /// The body is over the limit.
    #[error("payload too large")]
    PayloadTooLarge,
    /// Nothing found.
    #[error("{0}")]
    NotFound(String),
    /// The server cannot take this request now (no secret configured, database unreachable).
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after_secs: Option<u32>,
    },
    /// Not yet: the resource exists but cannot be given until later (a proof before its checkpoint).
    #[error("{message}")]
    NotYet {
        message: String,
        retry_after_secs: u32,
    },
    /// A bug or an unexpected failure; logged, never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    /// Wrap an unexpected failure.
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }

    /// The database could not be reached or failed: ask the client to come back.
    pub fn database(e: DbErr) -> Self {
        tracing::error!(error = %e, "database unavailable");
        Self::Unavailable {
            message: "database unavailable, retry later".into(),
            retry_after_secs: Some(30),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotYet { .. } => StatusCode::CONFLICT,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A database failure answers 503 with Retry-After ([`AppError::database`]).
impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        Self::database(e)
    }
}

/// The read API's wording of a read that gave nothing.
impl From<ReadError> for AppError {
    fn from(e: ReadError) -> Self {
        match e {
            e @ (ReadError::NoSession(_)
            | ReadError::NoStudent(_)
            | ReadError::NoAttempt(_)
            | ReadError::NoPage(_)
            | ReadError::NoRowsPage(_)) => Self::NotFound(e.to_string()),
            e @ (ReadError::NoCheckpoint | ReadError::Archived(_)) => Self::NotFound(e.to_string()),
            ReadError::AmbiguousSlug(slug) => Self::BadRequest(format!(
                "several organisations have a session {slug:?}: pass org="
            )),
            ReadError::BadRange(message) => Self::BadRequest(message),
            e @ ReadError::OtherOrg => Self::Forbidden(e.to_string()),
            ReadError::NeedsAuditRole => {
                Self::Forbidden("reading the audit log needs an auditor or admin token".into())
            }
            ReadError::NotCovered {
                message,
                retry_after_secs,
            } => Self::NotYet {
                message,
                retry_after_secs: u32::try_from(retry_after_secs).unwrap_or(u32::MAX),
            },
            ReadError::Db(e) => Self::database(e),
            ReadError::Audit(e) => Self::internal(e),
            ReadError::Internal(e) => Self::Internal(e),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = %cause, "internal error");
        }
        let status = self.status();
        let body = Json(serde_json::json!({ "error": self.to_string() }));
        let mut response = (status, body).into_response();
        if let Self::Unavailable {
            retry_after_secs: Some(secs),
            ..
        }
        | Self::NotYet {
            retry_after_secs: secs,
            ..
        } = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
