//! One door for reads. Every read the read API and the web view make — sessions, a session, its summary,
//! grades and attempts, an attempt, its proof, the audit log — is a function here that takes a
//! [`Viewer`], scopes what it returns to what that viewer may see (another organisation's session or
//! attempt is "not found", exactly like a missing one) and appends the read's audit entry, with a typed
//! [`ReadDetail`], before any data leaves. `http` and `web` call these and word the [`ReadError`]s their
//! own way; neither queries the database itself.

mod detail;
mod gradebook;
mod log;
mod sessions;
mod student;
mod tiles;
mod viewer;

pub use self::detail::{ExportFormat, Read, ReadDetail};
pub use self::gradebook::gradebook;
pub use self::log::{audit_entries, audit_overview, checkpoint, consistency, AuditEntries};
pub use self::sessions::{
    attempt, attempt_page, attempts_export, attempts_page, export_pages, grades, index, proof,
    session, session_page, sessions, student_page, summary, AttemptDetail, AttemptsPage, IndexLine,
    Seen, SessionList, SessionSummary, SessionView, StatusCounts, StudentPage,
};
pub use self::student::{me, FinalReason, MyAttempt, MySession};
pub use self::tiles::{log_checkpoint, log_tile, TileReadError};
pub use self::viewer::{Channel, Viewer, Who};

use sea_orm::{DatabaseConnection, DbErr};

use crate::audit::{self, AuditError};

/// The database and the log a read is answered from and recorded in.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub db: &'a DatabaseConnection,
    /// The audit log's origin.
    pub origin: &'a str,
}

/// Why a read gave nothing. Each edge words these its own way (`http::error`, `web::auth`).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No session of that slug the viewer may see.
    #[error("no session {0:?}")]
    NoSession(String),
    /// Several organisations the viewer may see have a session of that slug.
    #[error("several organisations have a session {0:?}")]
    AmbiguousSlug(String),
    /// A token limited to one organisation asked for another.
    #[error("this token is limited to another organisation")]
    OtherOrg,
    /// No student of that name (login or roster identifier) in the session.
    #[error("no student {0:?} in this session")]
    NoStudent(String),
    /// No attempt of that id the viewer may see.
    #[error("no attempt {0}")]
    NoAttempt(i64),
    /// No such page of an attempt's files.
    #[error("no page {0} of files")]
    NoPage(u64),
    /// No such page of a session's students.
    #[error("no page {0} of students")]
    NoRowsPage(u64),
    /// The audit log's reads need an auditor or admin.
    #[error("reading the audit log needs an auditor or admin")]
    NeedsAuditRole,
    /// No checkpoint has been written yet.
    #[error("no checkpoint has been written yet")]
    NoCheckpoint,
    /// No signed checkpoint covers the attempt's entry yet; one is due within `retry_after_secs`.
    #[error("{message}")]
    NotCovered {
        message: String,
        retry_after_secs: u64,
    },
    /// The attempt's entry went to an archive segment.
    #[error("{0}")]
    Archived(String),
    /// A parameter out of range (a consistency proof's sizes).
    #[error("{0}")]
    BadRange(String),
    #[error(transparent)]
    Db(#[from] DbErr),
    /// The read's audit entry could not be appended: nothing is given out.
    #[error(transparent)]
    Audit(AuditError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<AuditError> for ReadError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Db(e) => Self::Db(e),
            other => Self::Audit(other),
        }
    }
}

impl ReadError {
    fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }
}

/// Append the audit entry of `viewer`'s read; the answer waits for it.
async fn record(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    read: Read,
    subject: String,
    detail: ReadDetail,
) -> Result<(), ReadError> {
    let entry = detail::entry(viewer, read, subject, &detail)?;
    audit::record(ctx.db, ctx.origin, entry).await?;
    Ok(())
}
