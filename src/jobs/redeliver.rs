//! The periodic redelivery catch-up of `serve` (the decisions and requests are `redeliver::run`).

use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::github::GithubApp;
use crate::redeliver::{self, RedeliverError, RedeliverPolicy};

/// One run, logged. `serve` runs it at start and every `policy.interval` until shutdown, which abandons a
/// run in progress (it wrote nothing). Every instance runs it; two instances asking for the same
/// redelivery are harmless, because intake stores a GUID once (`202` then `200`).
pub async fn once(
    app: GithubApp,
    db: DatabaseConnection,
    policy: RedeliverPolicy,
) -> Result<(), RedeliverError> {
    let r = redeliver::run(&app, &db, &policy, Utc::now(), false).await?;
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
