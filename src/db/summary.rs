//! The per-student summary of a session (issue 9), read from its kept state (issue 24), and the
//! reference fold it is kept equal to: the attempts read in pages of [`PAGE`] by id and folded per
//! repository, so memory grows with the number of repositories, never with attempts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use entity::{lab_attempt, lab_attempt_score, lab_session, roster_student, session_extension};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
};

use crate::db::{roster, sessions};
use crate::domain::summary::{
    deadline_for, match_student, AttemptFacts, Pusher, RepoFold, Status, StudentKey,
};

/// Attempts read per query.
pub const PAGE: u64 = 1000;

/// One row of the summary: a student repository (with its roster student when matched), or a roster
/// student without one (`missing`).
#[derive(Debug, Clone)]
pub struct StudentSummary {
    /// `owner/name`; `None` for a missing student.
    pub repository: Option<String>,
    /// GitHub's repository id; `None` for a missing student.
    pub repository_id: Option<i64>,
    pub student: Option<roster_student::Model>,
    /// Distinct pusher logins, sorted (the GitHub username when no roster student matched).
    pub pusher_logins: Vec<String>,
    /// Distinct sender ids, sorted.
    pub pusher_ids: Vec<i64>,
    pub fold: RepoFold,
    pub status: Status,
    /// This student's deadline (the session's, or their extension).
    pub deadline: DateTime<Utc>,
    /// The session's time zone (local times).
    pub timezone: String,
    /// The final attempt's score (the newest), when it has one (issue 22).
    pub score: Option<lab_attempt_score::Model>,
}

impl StudentSummary {
    /// The GitHub username: the roster's, else the pushers' logins separated by spaces.
    pub fn github_username(&self) -> String {
        self.student
            .as_ref()
            .map(|s| s.github_username.clone())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| self.pusher_logins.join(" "))
    }
}

#[derive(Default)]
struct Repo {
    full_name: String,
    pushers: Vec<Pusher>,
    student: Option<usize>,
    deadline: Option<DateTime<Utc>>,
    fold: RepoFold,
}

fn key(s: &roster_student::Model) -> StudentKey {
    StudentKey {
        identifier: s.identifier.clone(),
        github_username: s.github_username.clone(),
        github_id: s.github_id,
    }
}

/// Who pushed to which repository of the session: one row per distinct (repository, pusher).
async fn repositories(
    db: &impl ConnectionTrait,
    session_id: i64,
    only: Option<&[i64]>,
) -> Result<BTreeMap<i64, Repo>, DbErr> {
    use lab_attempt::Column as C;
    let rows: Vec<(i64, String, Option<String>, Option<i64>)> = lab_attempt::Entity::find()
        .select_only()
        .columns([
            C::RepositoryId,
            C::RepositoryFullName,
            C::PusherLogin,
            C::SenderId,
        ])
        .filter(C::SessionId.eq(session_id))
        .apply_if(only, |q, ids| {
            q.filter(C::RepositoryId.is_in(ids.iter().copied()))
        })
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    let mut repos: BTreeMap<i64, Repo> = BTreeMap::new();
    for (id, full_name, login, sender) in rows {
        let repo = repos.entry(id).or_default();
        if repo.full_name.is_empty() {
            repo.full_name = full_name;
        }
        repo.pushers.push(Pusher { login, id: sender });
    }
    Ok(repos)
}

type FactRow = (i64, i64, String, i32, String, String, DateTime<Utc>, bool);

/// Fold every attempt of the session into its repository, [`PAGE`] at a time (keyset on id).
async fn fold_attempts(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
    repos: &mut BTreeMap<i64, Repo>,
    default_deadline: DateTime<Utc>,
    only: Option<&[i64]>,
) -> Result<(), DbErr> {
    let session_id = session.id;
    use lab_attempt::Column as C;
    let mut after = 0i64;
    loop {
        let page: Vec<FactRow> = lab_attempt::Entity::find()
            .select_only()
            .columns([
                C::Id,
                C::RepositoryId,
                C::RepositoryFullName,
                C::AttemptNumber,
                C::AfterSha,
                C::GitRef,
                C::PushedAt,
                C::Forced,
            ])
            .filter(C::SessionId.eq(session_id))
            .apply_if(only, |q, ids| {
                q.filter(C::RepositoryId.is_in(ids.iter().copied()))
            })
            .filter(C::Id.gt(after))
            .order_by_asc(C::Id)
            .limit(PAGE)
            .into_tuple()
            .all(db)
            .await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.0;
        for (id, repo_id, full_name, number, after_sha, git_ref, pushed_at, forced) in page {
            let repo = repos.entry(repo_id).or_default();
            // The newest attempt's name: a renamed repository shows under its current name.
            repo.full_name = full_name;
            // A repository first pushed to after `repositories` ran: no student matched yet.
            let deadline = repo.deadline.unwrap_or(default_deadline);
            repo.fold.add(
                AttemptFacts {
                    id,
                    number,
                    after: after_sha,
                    git_ref,
                    pushed_at,
                    forced,
                },
                session.opens_at,
                deadline,
            );
        }
    }
}

/// What matching and deadlines need of a session: its organisation's roster and its extensions.
pub(crate) struct Context {
    pub students: Vec<roster_student::Model>,
    keys: Vec<StudentKey>,
    extensions: Vec<session_extension::Model>,
}

impl Context {
    /// Read the roster of `session`'s organisation and the session's extensions.
    pub async fn load(
        db: &impl ConnectionTrait,
        session: &lab_session::Model,
    ) -> Result<Self, DbErr> {
        let students = roster::list(db, &session.org).await?;
        let keys = students.iter().map(key).collect();
        let extensions = sessions::extensions(db, session.id).await?;
        Ok(Self {
            students,
            keys,
            extensions,
        })
    }

    /// The `missing` row of roster student `i`.
    pub fn missing_row(&self, session: &lab_session::Model, i: usize) -> StudentSummary {
        StudentSummary {
            repository: None,
            repository_id: None,
            student: Some(self.students[i].clone()),
            pusher_logins: Vec::new(),
            pusher_ids: Vec::new(),
            fold: RepoFold::default(),
            status: Status::Missing,
            deadline: deadline_for(session, &self.extensions, Some(&self.keys[i]), &[]),
            timezone: session.timezone.clone(),
            score: None,
        }
    }
}

/// The rows of the repositories of `session` (only those of `only` when given) that have attempts,
/// folded from every one of their attempts (no scores yet).
pub(crate) async fn repository_rows(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
    ctx: &Context,
    only: Option<&[i64]>,
) -> Result<Vec<StudentSummary>, DbErr> {
    let mut repos = repositories(db, session.id, only).await?;
    for repo in repos.values_mut() {
        let name = repo
            .full_name
            .rsplit_once('/')
            .map_or(repo.full_name.as_str(), |(_, n)| n);
        repo.student = match_student(&ctx.keys, name, &repo.pushers);
        repo.deadline = Some(deadline_for(
            session,
            &ctx.extensions,
            repo.student.map(|i| &ctx.keys[i]),
            &repo.pushers,
        ));
    }
    fold_attempts(db, session, &mut repos, session.closes_at, only).await?;
    Ok(repos
        .into_iter()
        .map(|(id, repo)| {
            let logins: BTreeSet<String> = repo
                .pushers
                .iter()
                .filter_map(|p| p.login.clone())
                .collect();
            let ids: BTreeSet<i64> = repo.pushers.iter().filter_map(|p| p.id).collect();
            StudentSummary {
                repository: Some(repo.full_name),
                repository_id: Some(id),
                student: repo.student.map(|i| ctx.students[i].clone()),
                pusher_logins: logins.into_iter().collect(),
                pusher_ids: ids.into_iter().collect(),
                status: repo.fold.status(),
                fold: repo.fold,
                deadline: repo.deadline.unwrap_or(session.closes_at),
                timezone: session.timezone.clone(),
                score: None,
            }
        })
        .collect())
}

/// Give each row with a final attempt that attempt's score ([`crate::db::scores::latest_of`]).
pub(crate) async fn attach_scores(
    db: &impl ConnectionTrait,
    rows: &mut [StudentSummary],
) -> Result<(), DbErr> {
    let finals: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.fold.final_attempt.as_ref().map(|f| f.id))
        .collect();
    let mut scores = crate::db::scores::latest_of(db, &finals).await?;
    for row in rows {
        row.score = row
            .fold
            .final_attempt
            .as_ref()
            .and_then(|f| scores.remove(&f.id));
    }
    Ok(())
}

/// Summary rows in the summary's order: by roster identifier (repositories no roster student matched
/// last), then repository.
pub(crate) fn sort(rows: &mut [StudentSummary]) {
    rows.sort_by(|a, b| {
        let id = |r: &StudentSummary| r.student.as_ref().map(|s| s.identifier.clone());
        (id(a).is_none(), id(a), &a.repository).cmp(&(id(b).is_none(), id(b), &b.repository))
    });
}

/// The summary of `session` folded from every attempt (the reference the kept state,
/// [`crate::db::student_state`], must equal): one row per student repository and one per roster
/// student of the session's organisation without a repository, in [`sort`]'s order.
pub async fn recompute(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
) -> Result<Vec<StudentSummary>, DbErr> {
    let ctx = Context::load(db, session).await?;
    let mut rows = repository_rows(db, session, &ctx, None).await?;
    let matched: BTreeSet<i64> = rows
        .iter()
        .filter_map(|r| r.student.as_ref().map(|s| s.id))
        .collect();
    for i in 0..ctx.students.len() {
        if !matched.contains(&ctx.students[i].id) {
            rows.push(ctx.missing_row(session, i));
        }
    }
    attach_scores(db, &mut rows).await?;
    sort(&mut rows);
    Ok(rows)
}

/// The summary of `session`, read from its kept state (one row per student repository and one per
/// roster student without one), in [`sort`]'s order.
pub async fn summarize(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
) -> Result<Vec<StudentSummary>, DbErr> {
    crate::db::student_state::summary(db, session).await
}

/// The repositories of `session` that the summary gives to one of the roster entries `mine` (ids), matched
/// as the kept state matches them (a pusher's id, a pusher's login, the repository's name).
pub async fn linked_repositories(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
    mine: &[i64],
) -> Result<BTreeSet<i64>, DbErr> {
    if mine.is_empty() {
        return Ok(BTreeSet::new());
    }
    crate::db::student_state::repositories_of(db, session.id, mine).await
}

/// A student's own deadline in `session`: their roster entry's (by identifier or username) or their
/// login's extension, else the session's ([`deadline_for`]).
pub async fn own_deadline(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
    entry: Option<&roster_student::Model>,
    login: Option<&str>,
    github_id: i64,
) -> Result<DateTime<Utc>, DbErr> {
    let extensions = sessions::extensions(db, session.id).await?;
    let pushers = [Pusher {
        login: login.map(str::to_owned),
        id: Some(github_id),
    }];
    Ok(deadline_for(
        session,
        &extensions,
        entry.map(key).as_ref(),
        &pushers,
    ))
}
