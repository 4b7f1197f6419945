//! The session page's rows: the per-student summary of `db::summary` (roster, matching, final attempt,
//! status: decided there, never here), shaped for the table.

use chrono::{DateTime, Utc};

use crate::db::summary::StudentSummary;
pub use crate::domain::summary::Status;

/// What a status badge says.
pub fn label(status: Status) -> &'static str {
    match status {
        Status::OnTime => "On time",
        Status::LateOnly => "Late only",
        Status::Missing => "Missing",
    }
}

/// A status from its name (`?status=late_only`).
pub fn parse(s: &str) -> Option<Status> {
    ALL.into_iter().find(|st| st.as_str() == s)
}

/// Every status, in the order of the filter and of sorting by status.
pub const ALL: [Status; 3] = [Status::OnTime, Status::LateOnly, Status::Missing];

/// A status's place in [`ALL`].
pub fn rank(status: Status) -> usize {
    ALL.iter().position(|s| *s == status).unwrap_or(ALL.len())
}

/// The attempt a student is graded on.
#[derive(Debug, Clone)]
pub struct FinalAttempt {
    pub id: i64,
    pub number: i32,
    pub after: String,
    pub pushed_at: DateTime<Utc>,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct StudentRow {
    /// `owner/name`; empty for a missing student.
    pub repository: String,
    pub roster_identifier: Option<String>,
    pub github_username: Option<String>,
    pub final_attempt: Option<FinalAttempt>,
    pub last_pushed_at: Option<DateTime<Utc>>,
    pub late_attempts: u64,
    pub forced: bool,
    pub status: Status,
}

impl From<&StudentSummary> for StudentRow {
    fn from(s: &StudentSummary) -> Self {
        let f = &s.fold;
        Self {
            repository: s.repository.clone().unwrap_or_default(),
            roster_identifier: s.student.as_ref().map(|r| r.identifier.clone()),
            github_username: Some(s.github_username()).filter(|u| !u.is_empty()),
            final_attempt: f.final_attempt.as_ref().map(|a| FinalAttempt {
                id: a.id,
                number: a.number,
                after: a.after.clone(),
                pushed_at: a.pushed_at,
            }),
            last_pushed_at: f.last_pushed_at,
            late_attempts: f.late_attempts,
            forced: f.forced,
            status: s.status,
        }
    }
}
