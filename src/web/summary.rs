//! The session page's rows: one per student repository, from the session's attempts.
//!
//! Interim: built from the attempts the read API already lists, until the per-student summary of
//! issue 9 (`db::summary`) lands; then the page shows that summary's rows instead (roster, missing
//! students) and this fold goes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::lab_attempt;

/// A student's standing in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    OnTime,
    LateOnly,
    Missing,
}

impl Status {
    /// The stored/URL name (`?status=late_only`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnTime => "on_time",
            Self::LateOnly => "late_only",
            Self::Missing => "missing",
        }
    }

    /// What the badge says.
    pub fn label(self) -> &'static str {
        match self {
            Self::OnTime => "On time",
            Self::LateOnly => "Late only",
            Self::Missing => "Missing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::OnTime, Self::LateOnly, Self::Missing]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

/// The attempt a student is graded on.
#[derive(Debug, Clone)]
pub struct FinalAttempt {
    pub id: i64,
    pub number: i32,
    pub after: String,
    pub pushed_at: DateTime<Utc>,
}

/// One student repository's row.
#[derive(Debug, Clone)]
pub struct StudentRow {
    pub repository: String,
    pub roster_identifier: Option<String>,
    pub github_username: Option<String>,
    pub attempts: usize,
    pub final_attempt: Option<FinalAttempt>,
    pub last_pushed_at: Option<DateTime<Utc>>,
    pub late_attempts: usize,
    pub forced: bool,
    pub status: Status,
}

/// One row per repository: the final attempt is the latest one pushed on time.
pub fn rows(attempts: &[lab_attempt::Model]) -> Vec<StudentRow> {
    let mut by_repo: BTreeMap<i64, Vec<&lab_attempt::Model>> = BTreeMap::new();
    for a in attempts {
        by_repo.entry(a.repository_id).or_default().push(a);
    }
    by_repo
        .into_values()
        .map(|list| {
            let latest = list.iter().max_by_key(|a| (a.pushed_at, a.id));
            let final_attempt = list
                .iter()
                .filter(|a| !a.late)
                .max_by_key(|a| (a.pushed_at, a.id))
                .map(|a| FinalAttempt {
                    id: a.id,
                    number: a.attempt_number,
                    after: a.after_sha.clone(),
                    pushed_at: a.pushed_at,
                });
            StudentRow {
                repository: latest
                    .map(|a| a.repository_full_name.clone())
                    .unwrap_or_default(),
                roster_identifier: None,
                github_username: latest.and_then(|a| a.pusher_login.clone()),
                attempts: list.len(),
                status: if final_attempt.is_some() {
                    Status::OnTime
                } else {
                    Status::LateOnly
                },
                final_attempt,
                last_pushed_at: latest.map(|a| a.pushed_at),
                late_attempts: list.iter().filter(|a| a.late).count(),
                forced: list.iter().any(|a| a.forced),
            }
        })
        .collect()
}
