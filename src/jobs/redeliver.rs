//! The periodic redelivery catch-up of `serve` (the run itself is `redeliver::run`).

use chrono::Utc;
use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use super::periodic::{periodic, Schedule, Start, Stop};
use crate::github::GithubApp;
use crate::redeliver::{self, RedeliverError, RedeliverPolicy};

/// A run at start and every `policy.interval`, until `shutdown` turns true (a run in progress is
/// abandoned; it wrote nothing). Every instance runs it; two instances asking for the same redelivery
/// are harmless, because intake stores a GUID once (`202` then `200`).
pub async fn catch_up(
    app: GithubApp,
    db: DatabaseConnection,
    policy: RedeliverPolicy,
    shutdown: watch::Receiver<bool>,
) {
    let schedule = Schedule {
        name: "redelivery catch-up",
        interval: policy.interval,
        start: Start::Now,
        stop: Stop::AbandonRun,
    };
    periodic(schedule, shutdown, |_| {
        let (app, db, policy) = (app.clone(), db.clone(), policy.clone());
        async move { once(&app, &db, &policy).await }
    })
    .await;
}

async fn once(
    app: &GithubApp,
    db: &DatabaseConnection,
    policy: &RedeliverPolicy,
) -> Result<(), RedeliverError> {
    let r = redeliver::run(app, db, policy, Utc::now(), false).await?;
    tracing::info!(
        guids = r.guids.len(),
        deliveries = r.deliveries,
        delivered = r.succeeded(),
        stored = r.stored(),
        requested = r.requested(),
        failed = r.failed(),
        deferred = r.deferred(),
        complete = r.complete,
        "redelivery catch-up done"
    );
    Ok(())
}
