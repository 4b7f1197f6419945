//! Delivery workers: claim queued deliveries with a lease, process them, retry with backoff, never drop.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::webhook_delivery;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::{watch, Notify};
use tracing::{field, Instrument};

use crate::audit::{self, entries, AuditError};
use crate::db::attempts::{self, FilesSource, NewAttempt, RecordError, Recorded, NO_INSTALLATION};
use crate::db::deliveries::{self, Status};
use crate::db::scores as db_scores;
use crate::db::{installations, sessions};
use crate::domain::backoff::Backoff;
use crate::domain::files::ChangedFile;
use crate::domain::session::{is_early, is_late, Candidates};
use crate::github::{files, GithubApp};
use crate::jobs::check_runs::{self, CheckRunPolicy};
use crate::jobs::scores;
use crate::metrics::Metrics;
use crate::webhook::check_run::CheckRunEvent;
use crate::webhook::event::{InstallationEvent, Push};

/// How failed deliveries are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries before a delivery is marked `dead`.
    pub max_attempts: i32,
    /// First delay; doubles each try.
    pub base_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            base_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// Delay before try `attempts + 1`: `base_delay` after the first, doubling, at most `max_delay`.
    pub fn delay(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0);
        Backoff::new(self.base_delay, self.max_delay).full(doublings)
    }
}

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub origin: String,
    pub retry: RetryPolicy,
    /// How long a claim holds before another worker may take the delivery over.
    pub lease: Duration,
    /// How often an idle worker looks for due deliveries (other instances, retries).
    pub poll_interval: Duration,
    /// The GitHub App, when configured: file lists of truncated pushes, check runs.
    pub github: Option<GithubApp>,
    /// How check runs are retried.
    pub check_runs: CheckRunPolicy,
    /// First wait before completing a file list GitHub could not give; doubles per try.
    pub files_retry: Duration,
    /// Deliveries a worker claims at once; their attempts are recorded in one transaction (group
    /// commit).
    pub batch: u32,
    /// Payload bytes a worker claims at once at most (beyond one payload): a batch of huge pushes is
    /// claimed a few at a time.
    pub batch_bytes: usize,
}

impl WorkerConfig {
    /// Defaults for a server.
    pub fn new(origin: String) -> Self {
        Self {
            origin,
            retry: RetryPolicy::default(),
            // Renewed every third of its length while a delivery is handled, so only a dead process's
            // claims run out: after a crash they are taken over within this time (plus a poll).
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(2),
            github: None,
            check_runs: CheckRunPolicy::default(),
            files_retry: Duration::from_secs(600),
            batch: 64,
            batch_bytes: 32 * 1024 * 1024,
        }
    }
}

/// A push's changed files and where they came from.
struct FileList {
    files: Vec<ChangedFile>,
    source: FilesSource,
    complete: bool,
    /// GitHub could not be asked now (down, installation suspended): ask again later.
    retry_later: bool,
}

/// What became of a delivery.
#[derive(Debug)]
enum Handled {
    Recorded {
        attempt_id: i64,
        seq: i64,
    },
    /// An installation change, applied with the delivery marked processed.
    Installation {
        installation_id: i64,
        action: audit::Action,
        seq: i64,
    },
    Duplicate {
        attempt_id: i64,
    },
    /// A score check run, recorded with the delivery marked processed.
    Scored {
        note: String,
    },
    Ignored(String),
    /// Another worker claimed the delivery after this one's lease ran out: it settles it.
    ClaimLost,
}

/// What the pushes of one batch read once: each organisation's active sessions, each session's
/// extensions (a batch is handled within moments, so one reading serves all its pushes).
#[derive(Default)]
struct Seen {
    sessions: std::collections::HashMap<String, Candidates>,
    deadlines: std::collections::HashMap<i64, sessions::Deadlines>,
}

/// A delivery handled up to its recording: pushes wait to be recorded with the rest of their batch.
enum Prepared {
    Handled(Handled),
    Record(Box<NewAttempt>),
}

/// Why processing failed.
#[derive(Debug, thiserror::Error)]
enum ProcessError {
    /// The payload cannot be processed, now or ever.
    #[error("{0}")]
    Permanent(String),
    /// Worth another try later (database, GitHub).
    #[error("{0}")]
    Transient(String),
    /// Worth another try, but not before `until` (a GitHub rate limit).
    #[error("{error}")]
    Deferred { error: String, until: DateTime<Utc> },
}

impl From<RecordError> for ProcessError {
    fn from(e: RecordError) -> Self {
        match e {
            AuditError::Float(_) | AuditError::NotAnObject => Self::Permanent(e.to_string()),
            _ => Self::Transient(e.to_string()),
        }
    }
}

impl From<sea_orm::DbErr> for ProcessError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Transient(format!("database error: {e}"))
    }
}

/// The span a delivery's work is logged in.
fn delivery_span(d: &webhook_delivery::Model) -> tracing::Span {
    tracing::info_span!("delivery", delivery_id = %d.guid, event = %d.event, repo = field::Empty)
}

/// What one [`Pipeline::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A due delivery was claimed and settled (or left to retry).
    Processed,
    /// No delivery is due now.
    Empty,
}

/// The processing side of the app, shared by its worker tasks.
pub struct Pipeline {
    db: DatabaseConnection,
    cfg: WorkerConfig,
    metrics: Arc<Metrics>,
    /// SQLite only: the workers' turn at their write transactions (claim, record), taken one worker at a
    /// time. SQLite has one pooled connection, handed out in the order asked for; without the turn every
    /// worker could be queued for it ahead of the edge, and a delivery would wait for one batch
    /// transaction per worker before its own insert. With it, at most one.
    write_turn: Option<tokio::sync::Mutex<()>>,
}

impl Pipeline {
    pub fn new(db: DatabaseConnection, cfg: WorkerConfig, metrics: Arc<Metrics>) -> Self {
        let sqlite = db.get_database_backend() == sea_orm::DbBackend::Sqlite;
        Self {
            db,
            cfg,
            metrics,
            write_turn: sqlite.then(|| tokio::sync::Mutex::new(())),
        }
    }

    /// Wait for this worker's turn at a write transaction (SQLite; at once on PostgreSQL).
    async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.write_turn {
            Some(turn) => Some(turn.lock().await),
            None => None,
        }
    }

    /// Start `n` worker tasks; they stop when `shutdown` turns true, after their current delivery.
    pub fn spawn(
        self: Arc<Self>,
        n: usize,
        wake: Arc<Notify>,
        shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinSet<()> {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            set.spawn(Arc::clone(&self).run(Arc::clone(&wake), shutdown.clone()));
        }
        set
    }

    async fn run(self: Arc<Self>, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            // More may be waiting: let another idle worker look too.
            match self.step_with(|| wake.notify_one()).await {
                Ok(Step::Processed) => continue,
                Ok(Step::Empty) => {}
                Err(e) => tracing::warn!(error = %e, "cannot claim deliveries"),
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.cfg.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Claim the next due deliveries (a batch) and process them: the step every worker task repeats,
    /// also run inline by the tests (`TestApp::drain`).
    pub async fn step(&self) -> Result<Step, sea_orm::DbErr> {
        self.step_with(|| {}).await
    }

    /// [`Self::step`], calling `claimed` between the claim and the processing.
    async fn step_with(&self, claimed: impl FnOnce()) -> Result<Step, sea_orm::DbErr> {
        let lease = self.lease();
        let turn = self.write_turn().await;
        let batch = deliveries::claim_batch(
            &self.db,
            Utc::now(),
            lease,
            self.cfg.batch,
            self.cfg.batch_bytes,
        )
        .await?;
        drop(turn);
        if batch.is_empty() {
            return Ok(Step::Empty);
        }
        claimed();
        self.process_batch(batch).await;
        Ok(Step::Processed)
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.cfg.lease).unwrap_or(chrono::Duration::minutes(5))
    }

    /// Process one claimed delivery and settle it; every outcome leaves the delivery in a known state.
    pub async fn process(&self, d: webhook_delivery::Model) {
        self.process_batch(vec![d]).await;
    }

    /// Process claimed deliveries and settle each: pushes are prepared one by one (outside any lock:
    /// session lookup, GitHub enrichment), recorded together (`attempts::record_many`: one transaction,
    /// one acquisition of the audit lock), then their check runs are posted; every outcome leaves its
    /// delivery in a known state.
    pub async fn process_batch(&self, batch: Vec<webhook_delivery::Model>) {
        let outcomes = tokio::select! {
            outcomes = self.handle_batch(&batch) => outcomes,
            never = self.keep_leases(&batch) => match never {},
        };
        for (d, outcome) in batch.iter().zip(outcomes) {
            let span = delivery_span(d);
            async {
                if let Err(e) = self.settle(d, outcome).await {
                    // The lease runs out and another worker takes the delivery again.
                    tracing::error!(error = %e, "cannot settle delivery; it will be retried after its lease");
                }
            }
            .instrument(span)
            .await;
        }
    }

    async fn handle_batch(
        &self,
        batch: &[webhook_delivery::Model],
    ) -> Vec<Result<Handled, ProcessError>> {
        let mut outcomes: Vec<Option<Result<Handled, ProcessError>>> =
            Vec::with_capacity(batch.len());
        let mut pushes: Vec<(usize, NewAttempt)> = Vec::new();
        let mut seen = Seen::default();
        for (i, d) in batch.iter().enumerate() {
            match self
                .prepare(d, &mut seen)
                .instrument(delivery_span(d))
                .await
            {
                Ok(Prepared::Record(new)) => {
                    pushes.push((i, *new));
                    outcomes.push(None);
                }
                Ok(Prepared::Handled(h)) => outcomes.push(Some(Ok(h))),
                Err(e) => outcomes.push(Some(Err(e))),
            }
        }
        let (slots, news): (Vec<usize>, Vec<NewAttempt>) = pushes.into_iter().unzip();
        let turn = self.write_turn().await;
        let batch = attempts::record_many(&self.db, &self.cfg.origin, news).await;
        drop(turn);
        if !slots.is_empty() {
            self.metrics.record_batch(batch.split);
        }
        let mut published = Vec::new();
        for (i, result) in slots.into_iter().zip(batch.outcomes) {
            let outcome = match result {
                Ok(Recorded::New { attempt, receipt }) => {
                    published.push((attempt.id, attempt.installation_id));
                    Ok(Handled::Recorded {
                        attempt_id: attempt.id,
                        seq: receipt.seq,
                    })
                }
                Ok(Recorded::Duplicate { attempt_id }) => Ok(Handled::Duplicate { attempt_id }),
                Err(e) => Err(ProcessError::from(e)),
            };
            if let Some(slot) = outcomes.get_mut(i) {
                *slot = Some(outcome);
            }
        }
        futures_util::future::join_all(published.into_iter().map(
            |(attempt_id, installation_id)| self.publish_check_run(attempt_id, installation_id),
        ))
        .await;
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(ProcessError::Transient("not recorded".into()))))
            .collect()
    }

    /// Renew the claims' leases every third of their length while the batch is being handled, so a slow
    /// GitHub does not let another worker take them over; never returns.
    async fn keep_leases(&self, batch: &[webhook_delivery::Model]) -> std::convert::Infallible {
        loop {
            tokio::time::sleep(self.cfg.lease / 3).await;
            let until = Utc::now() + self.lease();
            for d in batch {
                // `false`: settled already (recorded, its check run being posted) or claimed by
                // another worker: nothing left to hold.
                if let Err(e) = deliveries::extend_lease(&self.db, d, until).await {
                    tracing::warn!(delivery_id = %d.guid, error = %e, "cannot renew the lease");
                }
            }
        }
    }

    async fn prepare(
        &self,
        d: &webhook_delivery::Model,
        seen: &mut Seen,
    ) -> Result<Prepared, ProcessError> {
        match d.event.as_str() {
            "push" => self.prepare_push(d, seen).await,
            "installation" | "installation_repositories" => {
                self.handle_installation(d).await.map(Prepared::Handled)
            }
            "check_run" => self.handle_check_run(d).await.map(Prepared::Handled),
            other => Ok(Prepared::Handled(Handled::Ignored(format!(
                "{other} events are not recorded"
            )))),
        }
    }

    async fn prepare_push(
        &self,
        d: &webhook_delivery::Model,
        seen: &mut Seen,
    ) -> Result<Prepared, ProcessError> {
        let payload = d
            .payload
            .as_deref()
            .ok_or_else(|| ProcessError::Permanent("payload bytes are no longer stored".into()))?;
        let push = Push::parse(payload).map_err(|e| ProcessError::Permanent(e.to_string()))?;
        tracing::Span::current().record("repo", push.repository_full_name.as_str());
        if let Some(reason) = push.ignore_reason() {
            return Ok(Prepared::Handled(Handled::Ignored(reason.into())));
        }
        let org = push.owner_login.to_ascii_lowercase();
        if !seen.sessions.contains_key(&org) {
            let found = sessions::active_for_org(&self.db, &org).await?;
            seen.sessions.insert(org.clone(), Candidates::new(found));
        }
        let branch = push.branch().unwrap_or_default();
        let candidates = seen.sessions.get(&org);
        let Some(session) = candidates.and_then(|candidates| {
            candidates.select(
                &push.repository_name,
                branch,
                push.default_branch.as_deref(),
            )
        }) else {
            // The repository is a session's, only the branch is not counted: say so.
            let reason = match candidates.and_then(|c| c.by_repository(&push.repository_name)) {
                Some(s) => format!(
                    "branch {branch} is not counted by lab session {} of {} (branches: {}{}): only pushes \
                     to counted branches of {} are attempts",
                    s.slug,
                    push.owner_login,
                    s.branch_policy,
                    match (s.branch_policy.as_str(), push.default_branch.as_deref()) {
                        ("default", Some(d)) => format!(", here {d}"),
                        _ => String::new(),
                    },
                    push.repository_name
                ),
                None => format!(
                    "no active lab session of {} matches {} on {branch}",
                    push.owner_login, push.repository_name
                ),
            };
            return Ok(Prepared::Handled(Handled::Ignored(reason)));
        };
        // On the last try a GitHub failure no longer holds the attempt back: it is recorded from the
        // payload, marked incomplete, rather than lost with a dead delivery.
        let last_try = d.attempts >= self.cfg.retry.max_attempts;
        let list = self.changed_files(&push, last_try).await?;
        let pushed_at = push.pushed_at.unwrap_or_else(|| {
            tracing::warn!("repository.pushed_at missing; using the receive time");
            d.received_at
        });
        if let std::collections::hash_map::Entry::Vacant(e) = seen.deadlines.entry(session.id) {
            e.insert(sessions::Deadlines::load(&self.db, session).await?);
        }
        let deadline = seen
            .deadlines
            .get(&session.id)
            .map_or(session.closes_at, |d| {
                d.of_push(
                    &push.repository_name,
                    push.pusher_login.as_deref(),
                    push.sender_id,
                )
            });
        Ok(Prepared::Record(Box::new(NewAttempt {
            session_id: session.id,
            installation_id: push.installation_id.unwrap_or(NO_INSTALLATION),
            repository_id: push.repository_id,
            repository_full_name: push.repository_full_name.clone(),
            git_ref: push.git_ref.clone(),
            before_sha: push.before.as_str().to_owned(),
            after_sha: push.after.as_str().to_owned(),
            forced: push.forced,
            created_branch: push.created,
            pusher_login: push.pusher_login.clone(),
            sender_id: push.sender_id,
            pushed_at,
            received_at: d.received_at,
            delivery_id: d.guid.clone(),
            late: is_late(pushed_at, deadline),
            early: is_early(pushed_at, session.opens_at),
            files_complete: list.complete,
            files: list.files,
            files_source: list.source,
            files_retry_at: list.retry_later.then(|| {
                Utc::now()
                    + chrono::Duration::from_std(self.cfg.files_retry)
                        .unwrap_or(chrono::Duration::minutes(10))
            }),
        })))
    }

    /// The push's file list: from the payload, or completed through the API when GitHub truncated it,
    /// the App is configured and the push came through an active installation. Without an installation
    /// there is no token to ask with, now or later: the payload's list stays as it is, never retried.
    async fn changed_files(&self, push: &Push, last_try: bool) -> Result<FileList, ProcessError> {
        let payload = push.payload_files();
        let from_payload = |retry_later| FileList {
            files: payload.files.clone(),
            source: FilesSource::Payload,
            complete: !payload.truncated,
            retry_later,
        };
        let (app, installation_id) = match (&self.cfg.github, push.installation_id) {
            (Some(app), Some(id)) if payload.truncated => (app, id),
            _ => return Ok(from_payload(false)),
        };
        if !installations::is_active(&self.db, installation_id).await? {
            tracing::info!(
                installation_id,
                "installation suspended or deleted: no API calls"
            );
            return Ok(from_payload(true));
        }
        match files::enrich(app, push).await {
            Ok(e) => Ok(FileList {
                files: e.files,
                source: FilesSource::Api,
                complete: e.complete,
                retry_later: false,
            }),
            Err(e) if last_try && (e.is_transient() || e.not_before().is_some()) => {
                tracing::warn!(error = %e, "file list left incomplete for now; completed later");
                Ok(from_payload(true))
            }
            Err(e) => match e.not_before() {
                Some(until) => Err(ProcessError::Deferred {
                    error: format!("cannot complete the file list: {e}"),
                    until,
                }),
                None if e.is_transient() => Err(ProcessError::Transient(format!(
                    "cannot complete the file list: {e}"
                ))),
                None => {
                    // GitHub will not say more (an unknown commit, a diff it refuses): keep the
                    // payload's list and say it is incomplete.
                    tracing::warn!(error = %e, "file list left incomplete");
                    Ok(from_payload(false))
                }
            },
        }
    }

    /// Create the attempt's check run now (none without the App or an installation); a failure is retried
    /// by the sweep.
    async fn publish_check_run(&self, attempt_id: i64, installation_id: i64) {
        let Some(app) = self
            .cfg
            .github
            .as_ref()
            .filter(|_| installation_id != NO_INSTALLATION)
        else {
            return;
        };
        match installations::is_active(&self.db, installation_id).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the installation; the sweep will retry");
                return;
            }
        }
        match check_runs::publish(app, &self.db, &self.cfg.check_runs, attempt_id).await {
            Ok(check_runs::Published::Stored { check_run_id, .. }) => {
                tracing::info!(attempt_id, check_run_id, "check run created");
            }
            Ok(check_runs::Published::Skipped) => {}
            Err(e) => tracing::warn!(attempt_id, error = %e, "check run not created; will retry"),
        }
    }

    async fn handle_installation(
        &self,
        d: &webhook_delivery::Model,
    ) -> Result<Handled, ProcessError> {
        let payload = d
            .payload
            .as_deref()
            .ok_or_else(|| ProcessError::Permanent("payload bytes are no longer stored".into()))?;
        let Some(ev) = InstallationEvent::parse(&d.event, payload)
            .map_err(|e| ProcessError::Permanent(e.to_string()))?
        else {
            return Ok(Handled::Ignored(format!(
                "{} {} changes nothing kept",
                d.event,
                d.action.as_deref().unwrap_or("(no action)")
            )));
        };
        // Asked before the change is applied, so the state GitHub reports is stored with it.
        let github_now = if ev.change.changes_state() {
            self.installation_state_now(ev.installation_id).await
        } else {
            None
        };
        let how = installations::ApplyContext {
            delivery_guid: &d.guid,
            event_at: d.received_at,
            github_now,
            claim: Some(d.claims),
        };
        let Some(receipt) = installations::apply(&self.db, &self.cfg.origin, &ev, how).await?
        else {
            return Ok(Handled::ClaimLost);
        };
        Ok(Handled::Installation {
            installation_id: ev.installation_id,
            action: entries::installation_action(ev.change),
            seq: receipt.seq,
        })
    }

    /// A `check_run` delivery: a completed run of a session's score check becomes the score of the
    /// attempts whose head commit it ran on (docs/design.md §11).
    async fn handle_check_run(&self, d: &webhook_delivery::Model) -> Result<Handled, ProcessError> {
        let payload = d
            .payload
            .as_deref()
            .ok_or_else(|| ProcessError::Permanent("payload bytes are no longer stored".into()))?;
        let Some(mut ev) =
            CheckRunEvent::parse(payload).map_err(|e| ProcessError::Permanent(e.to_string()))?
        else {
            return Ok(Handled::Ignored(format!(
                "check_run {} records nothing (only completed runs are scores)",
                d.action.as_deref().unwrap_or("(no action)")
            )));
        };
        tracing::Span::current().record("repo", ev.repository_full_name.as_str());
        // The reporter's `Points X/Y` notice may be only in the annotations, which the payload counts.
        if ev.run.points.is_none() && ev.run.annotations_count > 0 {
            if let (Some(app), Some(installation_id)) = (&self.cfg.github, ev.installation_id) {
                match scores::annotation_points(
                    app,
                    installation_id,
                    &ev.repository_full_name,
                    ev.run.check_run_id,
                )
                .await
                {
                    Ok(points) => ev.run.points = points,
                    Err(e) => match e.not_before() {
                        Some(until) => {
                            return Err(ProcessError::Deferred {
                                error: format!("cannot read the run's annotations: {e}"),
                                until,
                            })
                        }
                        None if e.is_transient() => {
                            return Err(ProcessError::Transient(format!(
                                "cannot read the run's annotations: {e}"
                            )))
                        }
                        None => {
                            tracing::warn!(error = %e, "annotations unreadable; conclusion only")
                        }
                    },
                }
            }
        }
        let applied = db_scores::apply_run(&self.db, &self.cfg.origin, &ev, d)
            .await
            .map_err(ProcessError::from)?;
        Ok(match applied {
            db_scores::ScoreApplied::Scored { note, .. } => Handled::Scored { note },
            db_scores::ScoreApplied::Ignored(reason) => Handled::Ignored(reason),
            db_scores::ScoreApplied::ClaimLost => Handled::ClaimLost,
        })
    }

    /// Events can arrive late (a redelivery days after the fact) or be applied out of order, so for a
    /// suspend/unsuspend/create the App asks GitHub whether the installation is suspended now; `None`
    /// when it cannot tell (no App, GitHub unreachable, the installation is gone: its `deleted` event
    /// says so).
    async fn installation_state_now(&self, installation_id: i64) -> Option<Option<DateTime<Utc>>> {
        #[derive(serde::Deserialize)]
        struct Now {
            suspended_at: Option<DateTime<Utc>>,
        }
        let app = self.cfg.github.as_ref()?;
        let path = format!("/app/installations/{installation_id}");
        match app.app_get(&path).await.and_then(|r| r.json::<Now>(&path)) {
            Ok(now) => Some(now.suspended_at),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the installation's state from GitHub");
                None
            }
        }
    }

    async fn settle(
        &self,
        d: &webhook_delivery::Model,
        outcome: Result<Handled, ProcessError>,
    ) -> Result<(), AuditError> {
        match outcome {
            Ok(Handled::Recorded { attempt_id, seq }) => {
                tracing::info!(attempt_id, audit_seq = seq, "attempt recorded");
                self.metrics.processed(Status::Processed);
            }
            Ok(Handled::Installation {
                installation_id,
                action,
                seq,
            }) => {
                tracing::info!(
                    installation_id,
                    %action,
                    audit_seq = seq,
                    "installation updated"
                );
                self.metrics.processed(Status::Processed);
            }
            Ok(Handled::Scored { note }) => {
                tracing::info!(%note, "score recorded");
                self.metrics.processed(Status::Processed);
            }
            Ok(Handled::Duplicate { attempt_id }) => {
                tracing::info!(attempt_id, "push already recorded");
                self.metrics.processed(Status::Processed);
            }
            Ok(Handled::ClaimLost) => {
                tracing::warn!("lease lost; the delivery's new claim settles it");
            }
            Ok(Handled::Ignored(reason)) => {
                tracing::info!(%reason, "delivery ignored");
                deliveries::settle_claimed(&self.db, d, Status::Ignored, Some(reason), None)
                    .await?;
                self.metrics.processed(Status::Ignored);
            }
            Err(ProcessError::Permanent(error)) => {
                tracing::warn!(%error, "delivery rejected");
                self.give_up(d, Status::Rejected, error).await?;
            }
            Err(ProcessError::Transient(error) | ProcessError::Deferred { error, .. })
                if d.attempts >= self.cfg.retry.max_attempts =>
            {
                tracing::error!(%error, attempts = d.attempts, "delivery failed for good");
                self.give_up(d, Status::Dead, error).await?;
            }
            Err(e @ (ProcessError::Transient(_) | ProcessError::Deferred { .. })) => {
                let not_before = match &e {
                    ProcessError::Deferred { until, .. } => Some(*until),
                    _ => None,
                };
                let error = e.to_string();
                let next = Utc::now()
                    + chrono::Duration::from_std(self.cfg.retry.delay(d.attempts))
                        .unwrap_or(chrono::Duration::minutes(5));
                let next = not_before.map_or(next, |t| t.max(next));
                tracing::warn!(%error, attempts = d.attempts, next_attempt_at = %next, "delivery will be retried");
                deliveries::settle_claimed(&self.db, d, Status::Retrying, Some(error), Some(next))
                    .await?;
                self.metrics.processed(Status::Retrying);
            }
        }
        Ok(())
    }

    /// Mark a delivery `dead` or `rejected` (it stays stored) and audit that, in one transaction.
    async fn give_up(
        &self,
        d: &webhook_delivery::Model,
        status: Status,
        error: String,
    ) -> Result<(), AuditError> {
        let settled = audit::write(&self.db, &self.cfg.origin, async |txn, log| {
            if !deliveries::settle_claimed(txn, d, status, Some(error), None).await? {
                // Another worker took the delivery over after this one's lease ran out: it decides.
                tracing::warn!("lease lost; leaving the delivery to its new claim");
                log.roll_back();
                return Ok(false);
            }
            if let Some(entry) = entries::delivery_given_up(d, status)? {
                log.append(entry).await?;
            }
            Ok::<_, AuditError>(true)
        })
        .await?;
        if settled {
            self.metrics.processed(status);
        }
        Ok(())
    }
}
