//! A signed-in student's own record (issue 21): the sessions in which they have a repository, a push or
//! a roster entry, each with their own deadline, status, final attempt and attempts. Each session listed
//! is one `web.student_read` entry (its id only, no login).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entity::lab_session;

use super::detail::{Read, ReadDetail};
use super::sessions::linked_repositories;
use super::viewer::{Viewer, Who};
use super::{record, Ctx, ReadError};
use crate::db;
use crate::domain::session::{is_early, is_late};
use crate::domain::summary::{AttemptFacts, RepoFold, Status};

/// One attempt as its student sees it.
#[derive(Debug, Clone)]
pub struct MyAttempt {
    pub id: i64,
    pub number: i32,
    pub pushed_at: DateTime<Utc>,
    /// Past the student's own deadline by this much.
    pub late_by: Option<chrono::Duration>,
    /// Pushed before the session opened.
    pub early: bool,
    pub forced: bool,
    pub file_count: i32,
    pub after_sha: String,
    /// The score (the newest) as shown: `7/10`, or the run's conclusion alone (issue 22).
    pub points: Option<String>,
    /// `owner/name` of a repository the roster links to the student; `None` for a push of theirs to
    /// another repository (whose name is not theirs to see).
    pub repository: Option<String>,
}

/// Why the final attempt is final, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalReason {
    /// The latest attempt pushed between the opening and the student's deadline.
    LatestOnTime,
    /// Pushed, but only after the deadline (or before the session opened): no attempt counts.
    NoneOnTime,
    /// No push yet.
    NoPush,
}

/// One session of the student's page.
#[derive(Debug, Clone)]
pub struct MySession {
    pub session: lab_session::Model,
    /// Their own deadline: the session's or their extension.
    pub deadline: DateTime<Utc>,
    pub status: Status,
    /// The final attempt's id.
    pub final_attempt: Option<i64>,
    pub final_reason: FinalReason,
    /// Oldest first.
    pub attempts: Vec<MyAttempt>,
    /// The roster lists them in this session's organisation.
    pub on_roster: bool,
}

/// The signed-in student's sessions, newest deadline first; staff have none (their page is `/`).
pub async fn me(ctx: Ctx<'_>, viewer: &Viewer) -> Result<Vec<MySession>, ReadError> {
    let Who::Student { github_id, login } = &viewer.who else {
        return Ok(Vec::new());
    };
    let (github_id, login) = (*github_id, login.as_deref());
    let entries = db::students::roster_entries(ctx.db, github_id, login).await?;
    let mut ids = db::students::sessions_pushed(ctx.db, github_id).await?;
    let orgs: BTreeSet<String> = entries.iter().map(|e| e.org.to_ascii_lowercase()).collect();
    for org in &orgs {
        ids.extend(
            db::sessions::list(ctx.db, Some(org))
                .await?
                .iter()
                .map(|s| s.id),
        );
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(session) = db::sessions::get(ctx.db, id).await? else {
            continue;
        };
        let entry = entries
            .iter()
            .find(|e| e.org.eq_ignore_ascii_case(&session.org));
        let linked = linked_repositories(ctx, viewer, &session).await?;
        let attempts = db::students::attempts(ctx.db, session.id, &linked, github_id).await?;
        let deadline = db::summary::own_deadline(ctx.db, &session, entry, login, github_id).await?;
        let ids: Vec<i64> = attempts.iter().map(|a| a.id).collect();
        let scores = db::scores::latest_of(ctx.db, &ids).await?;
        let mut fold = RepoFold::default();
        let mine = attempts
            .into_iter()
            .map(|a| {
                fold.add(AttemptFacts::of(&a), session.opens_at, deadline);
                let early = is_early(a.pushed_at, session.opens_at);
                MyAttempt {
                    id: a.id,
                    number: a.attempt_number,
                    pushed_at: a.pushed_at,
                    late_by: (!early && is_late(a.pushed_at, deadline))
                        .then(|| a.pushed_at - deadline),
                    early,
                    forced: a.forced,
                    file_count: a.file_count,
                    after_sha: a.after_sha,
                    points: scores.get(&a.id).map(db::scores::describe),
                    repository: linked
                        .contains(&a.repository_id)
                        .then_some(a.repository_full_name),
                }
            })
            .collect::<Vec<_>>();
        let final_reason = match (&fold.final_attempt, mine.is_empty()) {
            (Some(_), _) => FinalReason::LatestOnTime,
            (None, false) => FinalReason::NoneOnTime,
            (None, true) => FinalReason::NoPush,
        };
        let detail = ReadDetail::Student {
            session_id: Some(session.id),
            attempt_id: None,
        };
        let subject = format!("lab_session:{}", session.id);
        record(ctx, viewer, Read::Student, subject, detail).await?;
        out.push(MySession {
            deadline,
            status: fold.status(),
            final_attempt: fold.final_attempt.as_ref().map(|f| f.id),
            final_reason,
            attempts: mine,
            on_roster: entry.is_some(),
            session,
        });
    }
    out.sort_by(|a, b| {
        (b.session.closes_at, b.session.id).cmp(&(a.session.closes_at, a.session.id))
    });
    Ok(out)
}
