//! One student of a session: the summary rows (repositories) a GitHub login or a roster identifier names,
//! each with every attempt, for `attempts list --student` and the student page.

use entity::lab_session;
use sea_orm::{ConnectionTrait, DbErr};

use crate::db::attempts::{self, AttemptFilter, AttemptView};
use crate::db::summary::{self, StudentSummary};

/// One repository of the student (or the student without one), with its attempts oldest first.
#[derive(Debug, Clone)]
pub struct StudentRepo {
    pub summary: StudentSummary,
    pub attempts: Vec<AttemptView>,
}

/// Does summary row `row` belong to `name` (roster identifier, roster login or a pusher's login; any case)?
pub fn names(row: &StudentSummary, name: &str) -> bool {
    let name = name.trim();
    let roster = row.student.as_ref().is_some_and(|s| {
        s.identifier.eq_ignore_ascii_case(name)
            || (!s.github_username.is_empty() && s.github_username.eq_ignore_ascii_case(name))
    });
    roster
        || row
            .pusher_logins
            .iter()
            .any(|l| l.eq_ignore_ascii_case(name))
}

/// The summary rows of `session` that `name` names, each with its attempts (empty when none matches).
pub async fn student(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
    name: &str,
) -> Result<Vec<StudentRepo>, DbErr> {
    let rows: Vec<StudentSummary> = summary::summarize(db, session)
        .await?
        .into_iter()
        .filter(|r| names(r, name))
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let attempts = match &row.repository {
            Some(repo) => {
                let filter = AttemptFilter {
                    session_id: Some(session.id),
                    repo: Some(repo.clone()),
                    ..AttemptFilter::default()
                };
                attempts::list(db, &filter).await?
            }
            None => Vec::new(),
        };
        out.push(StudentRepo {
            summary: row,
            attempts,
        });
    }
    Ok(out)
}
