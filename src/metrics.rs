//! Process counters rendered in the Prometheus text format at `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::db::deliveries::Status;

/// Counters of this process.
#[derive(Debug, Default)]
pub struct Metrics {
    accepted: AtomicU64,
    duplicate: AtomicU64,
    rejected: AtomicU64,
    refused: AtomicU64,
    processed: AtomicU64,
    ignored: AtomicU64,
    retrying: AtomicU64,
    dead: AtomicU64,
    processing_rejected: AtomicU64,
}

/// How the edge answered a delivery.
#[derive(Debug, Clone, Copy)]
pub enum Intake {
    Accepted,
    Duplicate,
    /// Signed but unparseable: stored as rejected.
    Rejected,
    /// Refused before storing (signature, headers, size).
    Refused,
}

impl Metrics {
    pub fn intake(&self, what: Intake) {
        let c = match what {
            Intake::Accepted => &self.accepted,
            Intake::Duplicate => &self.duplicate,
            Intake::Rejected => &self.rejected,
            Intake::Refused => &self.refused,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn processed(&self, status: Status) {
        let c = match status {
            Status::Processed => &self.processed,
            Status::Ignored => &self.ignored,
            Status::Retrying => &self.retrying,
            Status::Dead => &self.dead,
            Status::Rejected => &self.processing_rejected,
            Status::Queued | Status::Processing => return,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus exposition, with the queue's row counts per status.
    pub fn render(&self, queue: &[(String, i64)]) -> String {
        let mut out = String::new();
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.push_str("# HELP labtrail_webhook_requests_total Webhook requests by answer.\n");
        out.push_str("# TYPE labtrail_webhook_requests_total counter\n");
        for (label, c) in [
            ("queued", &self.accepted),
            ("duplicate", &self.duplicate),
            ("rejected", &self.rejected),
            ("refused", &self.refused),
        ] {
            let _ = writeln!(
                out,
                "labtrail_webhook_requests_total{{result=\"{label}\"}} {}",
                get(c)
            );
        }
        out.push_str(
            "# HELP labtrail_deliveries_settled_total Deliveries settled by this process.\n",
        );
        out.push_str("# TYPE labtrail_deliveries_settled_total counter\n");
        for (label, c) in [
            ("processed", &self.processed),
            ("ignored", &self.ignored),
            ("retrying", &self.retrying),
            ("dead", &self.dead),
            ("rejected", &self.processing_rejected),
        ] {
            let _ = writeln!(
                out,
                "labtrail_deliveries_settled_total{{status=\"{label}\"}} {}",
                get(c)
            );
        }
        out.push_str("# HELP labtrail_deliveries Stored deliveries by status.\n");
        out.push_str("# TYPE labtrail_deliveries gauge\n");
        for (status, n) in queue {
            let _ = writeln!(out, "labtrail_deliveries{{status=\"{status}\"}} {n}");
        }
        out
    }
}
