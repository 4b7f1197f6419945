//! The checkpoint writer: every interval, a signed checkpoint when the log grew (`audit::checkpoint::
//! write_if_due`); at shutdown a last one, whatever its age, covering everything this instance appended.

use std::time::Duration;

use sea_orm::DatabaseConnection;

use super::periodic::Tick;
use crate::audit::checkpoint::{write_if_due, CheckpointConfig, CheckpointError};

/// One run: a checkpoint if due. Scheduled runs need the newest checkpoint to be an interval old; the
/// final run at shutdown signs what this instance appended since the last one, whatever its age.
pub async fn once(
    db: DatabaseConnection,
    cfg: CheckpointConfig,
    tick: Tick,
) -> Result<(), CheckpointError> {
    let min_age = match tick {
        Tick::Scheduled => cfg.interval,
        Tick::Final => Duration::ZERO,
    };
    if let Some(c) = write_if_due(&db, &cfg, min_age).await? {
        tracing::info!(size = c.size, head = %c.head_hash, "audit checkpoint written");
    }
    Ok(())
}
