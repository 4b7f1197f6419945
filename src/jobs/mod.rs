//! Background work of a running server: the delivery workers ([`worker`]: claim, record, settle), and
//! the check-run and file-list sweep, the redelivery catch-up and the checkpoint writer, all three on one
//! [`periodic`] loop, started by [`spawn_all`] and stopped in order, after the workers, by [`Jobs::stop`]. The GitHub calls they make live in `github`,
//! their queries in `db`; here are the loops and the orchestration.

pub mod check_runs;
pub mod checkpoint;
pub mod files;
pub mod periodic;
pub mod redeliver;
pub mod refusals;
pub mod scores;
pub mod witness;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub use self::check_runs::CheckRunPolicy;
pub use self::periodic::{periodic, Schedule, Start, Stop, Tick};
use crate::audit::checkpoint::CheckpointConfig;
pub use crate::domain::backoff::Backoff;
use crate::github::GithubApp;
use crate::jobs::redeliver::RedeliverPolicy;
use crate::metrics::Metrics;
use worker::WorkerConfig;

/// The running background jobs.
pub struct Jobs {
    /// Stopped by the shared shutdown signal.
    tasks: JoinSet<()>,
    /// Stopped last, by its own signal, so its final checkpoint covers every append of this instance.
    checkpoint: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

/// Start every background job; all but the checkpoint writer stop when `shutdown` turns true. With the
/// workers' GitHub App: the sweep, which finishes their follow-up work (check runs, file lists) with
/// their settings, and the redelivery catch-up when `redeliver` is set. With `checkpoints`: the writer;
/// with `witnesses`: the witness client, which sends each new checkpoint to be cosigned. Always: the
/// summary of refused webhooks and failed sign-ins counted in `metrics`.
pub fn spawn_all(
    db: &DatabaseConnection,
    worker: &WorkerConfig,
    redeliver: Option<RedeliverPolicy>,
    checkpoints: Option<CheckpointConfig>,
    metrics: &Arc<Metrics>,
    witnesses: Option<witness::WitnessConfig>,
    shutdown: watch::Receiver<bool>,
) -> Jobs {
    let mut tasks = JoinSet::new();
    let every = Schedule::new(
        "refusal summary",
        refusals::INTERVAL,
        Start::AfterInterval,
        Stop::FinalRun,
    );
    let counted = Arc::clone(metrics);
    tasks.spawn(periodic(every, shutdown.clone(), move |_| {
        refusals::once(Arc::clone(&counted))
    }));
    if let Some(w) = witnesses {
        let db = db.clone();
        let every = Schedule::new(
            "witness cosignatures",
            w.interval,
            Start::Now,
            Stop::FinishRun,
        );
        tasks.spawn(periodic(every, shutdown.clone(), move |_| {
            witness::once(db.clone(), w.clone())
        }));
    }
    if let Some(app) = worker.github.clone() {
        if let Some(policy) = redeliver {
            let (app, db) = (app.clone(), db.clone());
            let every = Schedule::new(
                "redelivery catch-up",
                policy.interval,
                Start::Now,
                Stop::AbandonRun,
            );
            tasks.spawn(periodic(every, shutdown.clone(), move |_| {
                redeliver::once(app.clone(), db.clone(), policy.clone())
            }));
        }
        {
            let (app, db, origin) = (app.clone(), db.clone(), worker.origin.clone());
            let every = Schedule::new(
                "score catch-up",
                scores::CATCH_UP_INTERVAL,
                Start::AfterInterval,
                Stop::AbandonRun,
            );
            tasks.spawn(periodic(every, shutdown.clone(), move |_| {
                scores::catch_up(app.clone(), db.clone(), origin.clone())
            }));
        }
        let sweep = Arc::new(Sweep {
            app,
            db: db.clone(),
            origin: worker.origin.clone(),
            check_runs: worker.check_runs.clone(),
            files_retry: worker.files_retry,
        });
        let every = sweep.check_runs.sweep_interval;
        let every = Schedule::new(
            "check-run and file-list sweep",
            every,
            Start::Now,
            Stop::FinishRun,
        );
        tasks.spawn(periodic(every, shutdown, move |_| {
            let sweep = Arc::clone(&sweep);
            async move { sweep.once().await }
        }));
    }
    // Stopped by its own signal, after the workers: its final run covers all they appended.
    let checkpoint = checkpoints.map(|c| {
        let (stop, stopped) = watch::channel(false);
        let db = db.clone();
        let every = Schedule::new(
            "audit checkpoint",
            c.interval,
            Start::AfterInterval,
            Stop::FinalRun,
        );
        let writer = periodic(every, stopped, move |tick| {
            checkpoint::once(db.clone(), c.clone(), tick)
        });
        (stop, tokio::spawn(writer))
    });
    Jobs { tasks, checkpoint }
}

impl Jobs {
    /// After the shutdown signal: give `workers` and the jobs `timeout` to finish their current run
    /// (stragglers are aborted: leases expire, deliveries are retried), then stop the checkpoint
    /// writer, whose final checkpoint covers every append of this instance.
    pub async fn stop(mut self, mut workers: JoinSet<()>, timeout: Duration) {
        let drained = tokio::time::timeout(timeout, async {
            while workers.join_next().await.is_some() {}
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "workers did not finish in time; their leases expire and deliveries are retried"
            );
            workers.abort_all();
            self.tasks.abort_all();
            while workers.join_next().await.is_some() {}
            while self.tasks.join_next().await.is_some() {}
        }
        if let Some((stop, writer)) = self.checkpoint {
            let _ = stop.send(true);
            let _ = writer.await;
        }
    }
}

/// The sweep: check runs that could not be created (GitHub down, a crash) get another try, and file
/// lists GitHub could not give at recording time are completed.
struct Sweep {
    app: GithubApp,
    db: DatabaseConnection,
    origin: String,
    check_runs: CheckRunPolicy,
    files_retry: Duration,
}

/// Why a sweep run did not finish its work.
#[derive(Debug, thiserror::Error)]
enum SweepError {
    #[error("cannot look for missing check runs: {0}")]
    CheckRuns(DbErr),
    #[error("cannot look for incomplete file lists: {0}")]
    Files(DbErr),
    #[error("cannot look for missing check runs ({0}) nor for incomplete file lists ({1})")]
    Both(DbErr, DbErr),
}

impl Sweep {
    /// One pass of both halves; one failing does not hold the other back.
    async fn once(&self) -> Result<(), SweepError> {
        let created = check_runs::sweep(&self.app, &self.db, &self.check_runs).await;
        if let Ok(n @ 1..) = created {
            tracing::info!(check_runs = n, "check runs created by the sweep");
        }
        let rewritten =
            check_runs::refresh_changed(&self.app, &self.db, &self.origin, &self.check_runs).await;
        if let Ok(n @ 1..) = rewritten {
            tracing::info!(
                check_runs = n,
                "check runs rewritten after a deadline change"
            );
        }
        let created = match (created, rewritten) {
            (Ok(a), Ok(b)) => Ok(a + b),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        let completed =
            files::complete_later(&self.app, &self.db, &self.origin, self.files_retry).await;
        if let Ok(n @ 1..) = completed {
            tracing::info!(attempts = n, "file lists completed by the sweep");
        }
        match (created, completed) {
            (Ok(_), Ok(_)) => Ok(()),
            (Err(a), Ok(_)) => Err(SweepError::CheckRuns(a)),
            (Ok(_), Err(b)) => Err(SweepError::Files(b)),
            (Err(a), Err(b)) => Err(SweepError::Both(a, b)),
        }
    }
}
