//! The checkpoint writer: every interval, a signed checkpoint when the log grew (`audit::checkpoint::
//! write_if_due`); at shutdown a last one, whatever its age, covering everything this instance appended.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use super::periodic::{periodic, Schedule, Start, Stop, Tick};
use crate::audit::checkpoint::{write_if_due, CheckpointConfig, CheckpointError};

/// Write checkpoints until `shutdown` turns true, then the final one.
pub async fn writer(
    db: DatabaseConnection,
    cfg: CheckpointConfig,
    shutdown: watch::Receiver<bool>,
) {
    let schedule = Schedule {
        name: "audit checkpoint",
        interval: cfg.interval,
        start: Start::AfterInterval,
        stop: Stop::FinalRun,
    };
    periodic(schedule, shutdown, |tick| {
        let (db, cfg) = (db.clone(), cfg.clone());
        async move { once(&db, &cfg, tick).await }
    })
    .await;
}

async fn once(
    db: &DatabaseConnection,
    cfg: &CheckpointConfig,
    tick: Tick,
) -> Result<(), CheckpointError> {
    // At shutdown, sign what this instance appended since the last checkpoint, whatever its age.
    let min_age = match tick {
        Tick::Scheduled => cfg.interval,
        Tick::Final => Duration::ZERO,
    };
    if let Some(c) = write_if_due(db, cfg, min_age).await? {
        tracing::info!(size = c.size, head = %c.head_hash, "audit checkpoint written");
    }
    Ok(())
}
