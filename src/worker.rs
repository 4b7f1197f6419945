//! Delivery workers: claim queued deliveries with a lease, process them, retry with backoff, never drop.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use entity::webhook_delivery;
use sea_orm::DatabaseConnection;
use tokio::sync::{watch, Notify};
use tracing::{field, Instrument};

use crate::audit::{self, AuditError, NewEntry};
use crate::db::attempts::{self, FilesSource, NewAttempt, RecordError, Recorded};
use crate::db::deliveries::{self, Status};
use crate::db::sessions;
use crate::domain::session::{is_late, select_session};
use crate::metrics::Metrics;
use crate::webhook::event::Push;

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
    /// Delay before try `attempts + 1`.
    pub fn delay(&self, attempts: i32) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.base_delay
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.max_delay)
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
}

impl WorkerConfig {
    /// Defaults for a server.
    pub fn new(origin: String) -> Self {
        Self {
            origin,
            retry: RetryPolicy::default(),
            lease: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// What became of a delivery.
#[derive(Debug)]
enum Handled {
    Recorded { attempt_id: i64, seq: i64 },
    Duplicate { attempt_id: i64 },
    Ignored(String),
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
}

impl From<RecordError> for ProcessError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Audit(AuditError::Float(_) | AuditError::NotAnObject) => {
                Self::Permanent(e.to_string())
            }
            _ => Self::Transient(e.to_string()),
        }
    }
}

impl From<sea_orm::DbErr> for ProcessError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Transient(format!("database error: {e}"))
    }
}

/// The processing side of the app, shared by its worker tasks.
pub struct Pipeline {
    db: DatabaseConnection,
    cfg: WorkerConfig,
    metrics: Arc<Metrics>,
}

impl Pipeline {
    pub fn new(db: DatabaseConnection, cfg: WorkerConfig, metrics: Arc<Metrics>) -> Self {
        Self { db, cfg, metrics }
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
            let lease =
                chrono::Duration::from_std(self.cfg.lease).unwrap_or(chrono::Duration::minutes(5));
            match deliveries::claim_next(&self.db, Utc::now(), lease).await {
                Ok(Some(d)) => {
                    // More may be waiting: let another idle worker look too.
                    wake.notify_one();
                    self.process(d).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot claim deliveries"),
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(self.cfg.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Process one claimed delivery and settle it; every outcome leaves the delivery in a known state.
    pub async fn process(&self, d: webhook_delivery::Model) {
        let span = tracing::info_span!("delivery", delivery_id = %d.guid, event = %d.event, repo = field::Empty);
        async {
            let outcome = self.handle(&d).await;
            if let Err(e) = self.settle(&d, outcome).await {
                // The lease runs out and another worker takes the delivery again.
                tracing::error!(error = %e, "cannot settle delivery; it will be retried after its lease");
            }
        }
        .instrument(span)
        .await
    }

    async fn handle(&self, d: &webhook_delivery::Model) -> Result<Handled, ProcessError> {
        match d.event.as_str() {
            "push" => self.handle_push(d).await,
            other => Ok(Handled::Ignored(format!("{other} events are not recorded"))),
        }
    }

    async fn handle_push(&self, d: &webhook_delivery::Model) -> Result<Handled, ProcessError> {
        let payload = d
            .payload
            .as_deref()
            .ok_or_else(|| ProcessError::Permanent("payload bytes are no longer stored".into()))?;
        let push = Push::parse(payload).map_err(|e| ProcessError::Permanent(e.to_string()))?;
        tracing::Span::current().record("repo", push.repository_full_name.as_str());
        if let Some(reason) = push.ignore_reason() {
            return Ok(Handled::Ignored(reason.into()));
        }
        let candidates = sessions::active_for_org(&self.db, &push.owner_login).await?;
        let branch = push.branch().unwrap_or_default();
        let Some(session) = select_session(
            &candidates,
            &push.repository_name,
            branch,
            push.default_branch.as_deref(),
        ) else {
            return Ok(Handled::Ignored(format!(
                "no active lab session of {} matches {} on {branch}",
                push.owner_login, push.repository_name
            )));
        };
        let payload_files = push.payload_files();
        let pushed_at = push.pushed_at.unwrap_or_else(|| {
            tracing::warn!("repository.pushed_at missing; using the receive time");
            d.received_at
        });
        let new = NewAttempt {
            session_id: session.id,
            installation_id: push.installation_id.unwrap_or_default(),
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
            late: is_late(pushed_at, session.closes_at),
            files_complete: !payload_files.truncated,
            files: payload_files.files,
            files_source: FilesSource::Payload,
        };
        match attempts::record(&self.db, &self.cfg.origin, new).await? {
            Recorded::New { attempt, receipt } => Ok(Handled::Recorded {
                attempt_id: attempt.id,
                seq: receipt.seq,
            }),
            Recorded::Duplicate { attempt_id } => Ok(Handled::Duplicate { attempt_id }),
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
            Ok(Handled::Duplicate { attempt_id }) => {
                tracing::info!(attempt_id, "push already recorded");
                self.metrics.processed(Status::Processed);
            }
            Ok(Handled::Ignored(reason)) => {
                tracing::info!(%reason, "delivery ignored");
                deliveries::settle(&self.db, &d.guid, Status::Ignored, Some(reason), None).await?;
                self.metrics.processed(Status::Ignored);
            }
            Err(ProcessError::Permanent(error)) => {
                tracing::warn!(%error, "delivery rejected");
                self.give_up(d, Status::Rejected, error).await?;
            }
            Err(ProcessError::Transient(error)) if d.attempts >= self.cfg.retry.max_attempts => {
                tracing::error!(%error, attempts = d.attempts, "delivery failed for good");
                self.give_up(d, Status::Dead, error).await?;
            }
            Err(ProcessError::Transient(error)) => {
                let next = Utc::now()
                    + chrono::Duration::from_std(self.cfg.retry.delay(d.attempts))
                        .unwrap_or(chrono::Duration::minutes(5));
                tracing::warn!(%error, attempts = d.attempts, next_attempt_at = %next, "delivery will be retried");
                deliveries::settle(&self.db, &d.guid, Status::Retrying, Some(error), Some(next))
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
        let (txn, mut head) = audit::begin_write(&self.db, &self.cfg.origin).await?;
        deliveries::settle(&txn, &d.guid, status, Some(error), None).await?;
        audit::append(
            &txn,
            &mut head,
            NewEntry {
                actor: "system".into(),
                action: format!("delivery.{}", status.as_str()),
                subject: format!("delivery:{}", d.guid),
                details: serde_json::json!({
                    "delivery_id": d.guid,
                    "event": d.event,
                    "attempts": d.attempts,
                    "payload_sha256": d.payload_sha256,
                }),
            },
        )
        .await?;
        txn.commit().await?;
        self.metrics.processed(status);
        Ok(())
    }
}
