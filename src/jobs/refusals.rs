//! The refusal summary: refused webhooks and failed sign-ins are counted (`/metrics`) rather than logged
//! one line each (a flood of forged deliveries once wrote gigabytes of log an hour); once a minute, and at
//! shutdown, one line a kind tells the log how many there were and why.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;

/// Time between two summaries.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// Log the summary of the refusals since the previous run (nothing when there were none).
pub async fn once(metrics: Arc<Metrics>) -> Result<(), Infallible> {
    for line in metrics.refusal_summary() {
        tracing::info!("{line}");
    }
    Ok(())
}
