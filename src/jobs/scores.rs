//! Scores GitHub holds but labtrail missed (issue 22): `labtrail scores sync` and the periodic catch-up
//! read `GET /repos/{owner}/{repo}/commits/{sha}/check-runs?check_name=…` for final attempts without a
//! score (a bounded number of calls a run, through the App client's call policy, which waits out and
//! reports rate limits), and the annotations of a run whose output holds no `Points X/Y`.

use entity::{lab_attempt, lab_session};
use sea_orm::{DatabaseConnection, DbErr};
use serde::Deserialize;

use crate::audit::AuditError;
use crate::db::{installations, scores, sessions};
use crate::domain::score::Points;
use crate::github::{repo_path, GithubApp, GithubError};
use crate::webhook::check_run::{points_of_annotations, CompletedRun, RawAnnotation, RawCheckRun};

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Final attempts without a score, looked at.
    pub checked: u64,
    /// Of those, now scored.
    pub scored: u64,
    /// GitHub has no completed run of the score check for them (yet).
    pub without_run: u64,
    /// GitHub could not be asked about them (the error is logged); tried again next time.
    pub failed: u64,
    /// Left for a later run: the call budget ran out, or a rate limit stopped the run.
    pub left: u64,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
}

/// Why a sync could not run.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

#[derive(Deserialize)]
struct RunList {
    check_runs: Vec<RawCheckRun>,
}

/// The completed runs named `name` on `sha` (newest first, every run: `filter=all`), with the points of
/// their annotations when the output has none.
pub async fn completed_runs(
    app: &GithubApp,
    installation_id: i64,
    full_name: &str,
    sha: &str,
    name: &str,
) -> Result<Vec<CompletedRun>, GithubError> {
    let repo = repo_path(full_name)?;
    let check_name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    let path = format!(
        "/repos/{repo}/commits/{sha}/check-runs?check_name={check_name}&status=completed&filter=all&per_page=100"
    );
    let (list, _) = app.get_json::<RunList>(installation_id, &path).await?;
    let mut runs = Vec::new();
    for raw in list.check_runs {
        let Some(mut run) = raw.completed() else {
            continue;
        };
        if run.name != name {
            continue;
        }
        if run.points.is_none() && run.annotations_count > 0 {
            run.points = annotation_points(app, installation_id, repo, run.check_run_id).await?;
        }
        runs.push(run);
    }
    Ok(runs)
}

/// The `Points X/Y` of a run's annotations (`GET …/check-runs/{id}/annotations`): where the autograding
/// reporter's `notice` carries them.
pub async fn annotation_points(
    app: &GithubApp,
    installation_id: i64,
    full_name: &str,
    check_run_id: i64,
) -> Result<Option<Points>, GithubError> {
    let repo = repo_path(full_name)?;
    let path = format!("/repos/{repo}/check-runs/{check_run_id}/annotations?per_page=50");
    let (annotations, _) = app
        .get_json::<Vec<RawAnnotation>>(installation_id, &path)
        .await?;
    Ok(points_of_annotations(&annotations))
}

/// Score the final attempts without a score of `sessions`: from a pending score kept for their commit,
/// else from GitHub (when `app` is given), at most `budget` GitHub calls. `progress` is told about each
/// attempt.
pub async fn sync(
    db: &DatabaseConnection,
    app: Option<&GithubApp>,
    origin: &str,
    actor: &str,
    sessions: &[lab_session::Model],
    budget: u64,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let mut calls = 0u64;
    for session in sessions {
        let unscored = scores::unscored_finals(db, session).await?;
        for attempt in unscored {
            if report.stopped.is_some() {
                report.left += 1;
                continue;
            }
            report.checked += 1;
            let pending = scores::pending_for(
                db,
                attempt.repository_id,
                &attempt.after_sha,
                &session.score_check,
            )
            .await?;
            let runs = if !pending.is_empty() {
                pending
            } else if let Some(app) = app {
                if calls >= budget {
                    report.checked -= 1;
                    report.left += 1;
                    report.stopped = Some(format!("the budget of {budget} GitHub calls is spent"));
                    continue;
                }
                if !installations::is_active(db, attempt.installation_id).await? {
                    report.failed += 1;
                    progress(&line(session, &attempt, "installation suspended or gone"));
                    continue;
                }
                calls += 1;
                match completed_runs(
                    app,
                    attempt.installation_id,
                    &attempt.repository_full_name,
                    &attempt.after_sha,
                    &session.score_check,
                )
                .await
                {
                    Ok(runs) => runs,
                    Err(e) => {
                        if let Some(until) = e.not_before() {
                            report.stopped = Some(format!("GitHub's rate limit, until {until}"));
                        }
                        tracing::warn!(attempt_id = attempt.id, error = %e, "cannot read the score check");
                        report.failed += 1;
                        progress(&line(session, &attempt, &format!("cannot ask GitHub: {e}")));
                        continue;
                    }
                }
            } else {
                Vec::new()
            };
            if runs.is_empty() {
                report.without_run += 1;
                progress(&line(session, &attempt, "no completed score check run"));
                continue;
            }
            let new = scores::record_runs(db, origin, actor, attempt.id, &runs).await?;
            report.scored += 1;
            let shown = new
                .iter()
                .max_by_key(|s| (s.completed_at, s.check_run_id))
                .map_or_else(|| "already scored".to_owned(), scores::describe);
            progress(&line(session, &attempt, &format!("scored {shown}")));
        }
    }
    Ok(report)
}

fn line(session: &lab_session::Model, a: &lab_attempt::Model, what: &str) -> String {
    format!(
        "{} {} attempt {} ({}): {what}",
        session.slug,
        a.repository_full_name,
        a.id,
        a.after_sha.get(..12).unwrap_or(&a.after_sha)
    )
}

/// The periodic catch-up: the unarchived sessions open now or closed within [`CATCH_UP_AFTER_CLOSE`], at
/// most [`CATCH_UP_CALLS`] GitHub calls a run.
pub async fn catch_up(
    app: GithubApp,
    db: DatabaseConnection,
    origin: String,
) -> Result<(), SyncError> {
    let now = chrono::Utc::now();
    let active = sessions::list(&db, None)
        .await?
        .into_iter()
        .filter(|s| s.archived_at.is_none() && s.opens_at <= now)
        .filter(|s| s.closes_at + CATCH_UP_AFTER_CLOSE >= now)
        .collect::<Vec<_>>();
    let report = sync(
        &db,
        Some(&app),
        &origin,
        crate::audit::entries::SYSTEM_ACTOR,
        &active,
        CATCH_UP_CALLS,
        &mut |_| {},
    )
    .await?;
    if report.scored > 0 || report.stopped.is_some() {
        tracing::info!(
            scored = report.scored,
            left = report.left,
            stopped = report.stopped.as_deref().unwrap_or(""),
            "score catch-up"
        );
    }
    Ok(())
}

/// GitHub calls one catch-up run makes at most.
pub const CATCH_UP_CALLS: u64 = 100;
/// How often the catch-up runs.
pub const CATCH_UP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// How long after its deadline a session is still caught up (late re-runs, extensions).
pub const CATCH_UP_AFTER_CLOSE: chrono::TimeDelta = chrono::TimeDelta::days(14);
