//! The check-run outbox: give each recorded attempt its `labtrail` check run at most once (claimed,
//! looked up by `external_id` before it is created), note failures for a later try, sweep what is due,
//! and bring a run up to date when its attempt's file list was completed later.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr};

use crate::db::check_runs;
use crate::domain::backoff::Backoff;
use crate::github::checks;
use crate::github::{GithubApp, GithubError};
use crate::report::check_run::{render, CheckOutput, CheckRunSummary, FILES_SHOWN, RECENT_SHOWN};

/// How check runs are retried.
#[derive(Debug, Clone)]
pub struct CheckRunPolicy {
    /// How long one publisher holds an attempt.
    pub lease: Duration,
    /// First delay after a failure; doubles per failure.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Failures after which the sweep stops trying.
    pub max_tries: i32,
    /// How often the sweep looks for attempts without a check run.
    pub sweep_interval: Duration,
    /// The public URL: a check run's `details_url` is `{base}/attempts/{id}` (`None`: no link).
    pub details_url_base: Option<String>,
}

impl Default for CheckRunPolicy {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(120),
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3600),
            max_tries: 12,
            sweep_interval: Duration::from_secs(30),
            details_url_base: None,
        }
    }
}

impl CheckRunPolicy {
    /// Delay after the failure that follows `tries` earlier ones: `base_delay`, doubling, at most
    /// `max_delay`.
    fn delay(&self, tries: i32) -> Duration {
        Backoff::new(self.base_delay, self.max_delay).full(u32::try_from(tries).unwrap_or(0))
    }
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error(transparent)]
    Db(#[from] sea_orm::DbErr),
}

/// What [`publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Created, or found from an earlier try, and stored.
    Stored { check_run_id: i64, created: bool },
    /// Another publisher holds the attempt, it has a check run already, or it is gone.
    Skipped,
}

/// Give one attempt its check run: claim it, look the run up by `external_id`, create it only if
/// missing, store its id. A failure is noted on the attempt for a later sweep.
#[tracing::instrument(skip(app, db, policy))]
pub async fn publish(
    app: &GithubApp,
    db: &DatabaseConnection,
    policy: &CheckRunPolicy,
    attempt_id: i64,
) -> Result<Published, PublishError> {
    let lease = chrono::Duration::from_std(policy.lease).unwrap_or(chrono::Duration::minutes(2));
    if !check_runs::claim(db, attempt_id, Utc::now(), lease).await? {
        return Ok(Published::Skipped);
    }
    match publish_claimed(app, db, policy, attempt_id).await {
        Ok(p) => Ok(p),
        Err(e) => {
            let tries = check_runs::tries(db, attempt_id).await.unwrap_or(0);
            let next = Utc::now()
                + chrono::Duration::from_std(policy.delay(tries))
                    .unwrap_or(chrono::Duration::hours(1));
            let next = match &e {
                PublishError::Github(g) => g.not_before().map_or(next, |t| t.max(next)),
                PublishError::Db(_) => next,
            };
            check_runs::failed(db, attempt_id, &e.to_string(), next).await?;
            Err(e)
        }
    }
}

/// An attempt's check run as it should read now, and where it goes.
struct Rendered {
    installation_id: i64,
    repo: String,
    sha: String,
    check_run_id: Option<i64>,
    output: CheckOutput,
    late: bool,
    early: bool,
}

/// Render the attempt's current facts; `None` when the attempt is gone.
async fn rendered(db: &DatabaseConnection, attempt_id: i64) -> Result<Option<Rendered>, DbErr> {
    let Some(facts) = check_runs::summary_facts(db, attempt_id, FILES_SHOWN, RECENT_SHOWN).await?
    else {
        return Ok(None);
    };
    let a = &facts.attempt;
    let (installation_id, repo, sha, check_run_id) = (
        a.installation_id,
        a.repository_full_name.clone(),
        a.after_sha.clone(),
        a.check_run_id,
    );
    let summary = CheckRunSummary::from(facts);
    Ok(Some(Rendered {
        installation_id,
        repo,
        sha,
        check_run_id,
        late: summary.late,
        early: summary.early,
        output: render(&summary),
    }))
}

async fn publish_claimed(
    app: &GithubApp,
    db: &DatabaseConnection,
    policy: &CheckRunPolicy,
    attempt_id: i64,
) -> Result<Published, PublishError> {
    let Some(r) = rendered(db, attempt_id).await? else {
        return Ok(Published::Skipped);
    };
    let external_id = attempt_id.to_string();
    // A crash after an earlier create left the run without its id here: find it, never duplicate it.
    let found = checks::find(app, r.installation_id, &r.repo, &r.sha, &external_id).await?;
    let (check_run_id, created) = match found {
        Some(id) => (id, false),
        None => {
            let (inst, repo, sha) = (r.installation_id, &r.repo, &r.sha);
            let details_url = policy
                .details_url_base
                .as_deref()
                .map(|base| format!("{base}/attempts/{attempt_id}"));
            let target = checks::Target {
                installation_id: inst,
                repo,
                sha,
                external_id: &external_id,
                details_url: details_url.as_deref(),
            };
            let id = checks::create(app, &target, &r.output).await?;
            (id, true)
        }
    };
    check_runs::store(db, attempt_id, check_run_id).await?;
    Ok(Published::Stored {
        check_run_id,
        created,
    })
}

/// Bring an attempt's existing check run up to date (its file list was completed later); nothing when it
/// has none yet (the sweep creates it with the current facts).
#[tracing::instrument(skip(app, db))]
pub async fn refresh(
    app: &GithubApp,
    db: &DatabaseConnection,
    attempt_id: i64,
) -> Result<bool, PublishError> {
    let Some(r) = rendered(db, attempt_id).await? else {
        return Ok(false);
    };
    let Some(check_run_id) = r.check_run_id else {
        return Ok(false);
    };
    checks::update(app, r.installation_id, &r.repo, check_run_id, &r.output).await?;
    Ok(true)
}

/// Rewrite the check runs a session edit or extension queued (their verdict changed), a batch at a time:
/// each rewritten run is audited as `check_run.updated`; a failure is tried again after `base_delay`.
/// An attempt without a check run yet only leaves the queue (the creation sweep posts current facts).
pub async fn refresh_changed(
    app: &GithubApp,
    db: &DatabaseConnection,
    origin: &str,
    policy: &CheckRunPolicy,
) -> Result<usize, DbErr> {
    let due = check_runs::refresh_due(db, Utc::now(), 20).await?;
    let mut rewritten = 0;
    for (attempt_id, queued_at) in due {
        let r = rendered(db, attempt_id).await?;
        let Some((r, check_run_id)) = r.and_then(|r| r.check_run_id.map(|id| (r, id))) else {
            refreshed(db, origin, attempt_id, queued_at, None).await?;
            continue;
        };
        match checks::update(app, r.installation_id, &r.repo, check_run_id, &r.output).await {
            Ok(()) => {
                let entry = crate::audit::entries::check_run_updated(
                    attempt_id,
                    check_run_id,
                    r.output.conclusion,
                    r.late,
                    r.early,
                )
                .map_err(|e| DbErr::Custom(e.to_string()))?;
                refreshed(db, origin, attempt_id, queued_at, Some(entry)).await?;
                rewritten += 1;
            }
            Err(e) => {
                tracing::warn!(attempt_id, error = %e, "check run not rewritten; will retry");
                let delay = chrono::Duration::from_std(policy.base_delay)
                    .unwrap_or(chrono::Duration::seconds(30));
                let next = e
                    .not_before()
                    .map_or(Utc::now() + delay, |t| t.max(Utc::now() + delay));
                check_runs::refresh_later(db, attempt_id, queued_at, next).await?;
            }
        }
    }
    Ok(rewritten)
}

async fn refreshed(
    db: &DatabaseConnection,
    origin: &str,
    attempt_id: i64,
    queued_at: chrono::DateTime<Utc>,
    entry: Option<crate::audit::NewEntry>,
) -> Result<(), DbErr> {
    check_runs::refreshed(db, origin, attempt_id, queued_at, entry)
        .await
        .map_err(|e| match e {
            crate::audit::AuditError::Db(e) => e,
            other => DbErr::Custom(other.to_string()),
        })
}

/// Publish every attempt that is due (no check run, not held, installation active), a batch at a time.
pub async fn sweep(
    app: &GithubApp,
    db: &DatabaseConnection,
    policy: &CheckRunPolicy,
) -> Result<usize, sea_orm::DbErr> {
    let due = check_runs::due(db, Utc::now(), policy.max_tries, 20).await?;
    let mut stored = 0;
    for attempt_id in due {
        match publish(app, db, policy, attempt_id).await {
            Ok(Published::Stored { .. }) => stored += 1,
            Ok(Published::Skipped) => {}
            Err(e) => tracing::warn!(attempt_id, error = %e, "check run not created; will retry"),
        }
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_publications_back_off_from_the_base_to_the_cap() {
        let p = CheckRunPolicy::default();
        let secs: Vec<u64> = [0, 1, 2, 6, 7, 11, 40, -3]
            .into_iter()
            .map(|t| p.delay(t).as_secs())
            .collect();
        assert_eq!(secs, [30, 60, 120, 1920, 3600, 3600, 3600, 30]);
    }
}
