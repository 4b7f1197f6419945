//! The per-student summary of a session (issue 9): the attempts read in pages of [`PAGE`] by id and
//! folded per repository, so memory grows with the number of repositories, never with attempts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use entity::{lab_attempt, lab_attempt_score, lab_session, roster_student};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
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
    pub student: Option<roster_student::Model>,
    /// Distinct pusher logins, sorted (the GitHub username when no roster student matched).
    pub pusher_logins: Vec<String>,
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

/// The summary of `session`: one row per student repository and one per roster student of the
/// session's organisation without a repository, sorted by roster identifier (repositories no roster
/// student matched last), then repository.
pub async fn summarize(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
) -> Result<Vec<StudentSummary>, DbErr> {
    let students = roster::list(db, &session.org).await?;
    let keys: Vec<StudentKey> = students.iter().map(key).collect();
    let extensions = sessions::extensions(db, session.id).await?;
    let mut repos = repositories(db, session.id).await?;
    for repo in repos.values_mut() {
        let name = repo
            .full_name
            .rsplit_once('/')
            .map_or(repo.full_name.as_str(), |(_, n)| n);
        repo.student = match_student(&keys, name, &repo.pushers);
        repo.deadline = Some(deadline_for(
            session,
            &extensions,
            repo.student.map(|i| &keys[i]),
            &repo.pushers,
        ));
    }
    fold_attempts(db, session, &mut repos, session.closes_at).await?;
    let mut matched = BTreeSet::new();
    let mut rows: Vec<StudentSummary> = repos
        .into_values()
        .map(|repo| {
            matched.extend(repo.student);
            let logins: BTreeSet<String> =
                repo.pushers.into_iter().filter_map(|p| p.login).collect();
            StudentSummary {
                repository: Some(repo.full_name),
                student: repo.student.map(|i| students[i].clone()),
                pusher_logins: logins.into_iter().collect(),
                status: repo.fold.status(),
                fold: repo.fold,
                deadline: repo.deadline.unwrap_or(session.closes_at),
                timezone: session.timezone.clone(),
                score: None,
            }
        })
        .collect();
    rows.extend(
        students
            .iter()
            .enumerate()
            .filter(|(i, _)| !matched.contains(i))
            .map(|(i, s)| StudentSummary {
                repository: None,
                student: Some(s.clone()),
                pusher_logins: Vec::new(),
                fold: RepoFold::default(),
                status: Status::Missing,
                deadline: deadline_for(session, &extensions, Some(&keys[i]), &[]),
                timezone: session.timezone.clone(),
                score: None,
            }),
    );
    let finals: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.fold.final_attempt.as_ref().map(|f| f.id))
        .collect();
    let mut scores = crate::db::scores::latest_of(db, &finals).await?;
    for row in &mut rows {
        if let Some(f) = &row.fold.final_attempt {
            row.score = scores.remove(&f.id);
        }
    }
    rows.sort_by(|a, b| {
        let id = |r: &StudentSummary| r.student.as_ref().map(|s| s.identifier.clone());
        (id(a).is_none(), id(a), &a.repository).cmp(&(id(b).is_none(), id(b), &b.repository))
    });
    Ok(rows)
}

/// The repositories of `session` that the summary gives to one of the roster entries `mine` (ids), matched
/// exactly as [`summarize`] matches them (a pusher's id, a pusher's login, the repository's name).
pub async fn linked_repositories(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
    mine: &[i64],
) -> Result<BTreeSet<i64>, DbErr> {
    if mine.is_empty() {
        return Ok(BTreeSet::new());
    }
    let students = roster::list(db, &session.org).await?;
    if !students.iter().any(|s| mine.contains(&s.id)) {
        return Ok(BTreeSet::new());
    }
    let keys: Vec<StudentKey> = students.iter().map(key).collect();
    let repos = repositories(db, session.id).await?;
    Ok(repos
        .into_iter()
        .filter(|(_, repo)| {
            let name = repo
                .full_name
                .rsplit_once('/')
                .map_or(repo.full_name.as_str(), |(_, n)| n);
            match_student(&keys, name, &repo.pushers)
                .is_some_and(|i| mine.contains(&students[i].id))
        })
        .map(|(id, _)| id)
        .collect())
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
