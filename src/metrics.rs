//! Process counters rendered in the Prometheus text format at `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
    github: Option<Arc<ApiCallCounters>>,
}

/// How one GitHub API call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallResult {
    /// 2xx or 3xx.
    Ok,
    /// 403/429 with rate-limit headers, or 429.
    RateLimited,
    /// 401: the token was refused.
    Unauthorized,
    /// Another 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// No answer: connection failure or timeout.
    Transport,
}

impl CallResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::RateLimited => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::ClientError => "client_error",
            Self::ServerError => "server_error",
            Self::Transport => "transport_error",
        }
    }
}

/// The counter key of calls made as the App itself and for no installation (e.g. `/app/hook/deliveries`);
/// rendered as `installation="app"`. GitHub's installation ids are positive.
pub const APP_CALLS: i64 = 0;

/// GitHub API calls per installation and result, shared by the App client and `/metrics`.
#[derive(Debug, Default)]
pub struct ApiCallCounters {
    calls: Mutex<BTreeMap<(i64, CallResult), u64>>,
}

impl ApiCallCounters {
    /// Count one call made for `installation_id`.
    pub fn record(&self, installation_id: i64, result: CallResult) {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry((installation_id, result)).or_default() += 1;
        }
    }

    /// All calls made for one installation, whatever their result.
    pub fn total(&self, installation_id: i64) -> u64 {
        self.snapshot()
            .into_iter()
            .filter(|((id, _), _)| *id == installation_id)
            .map(|(_, n)| n)
            .sum()
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> BTreeMap<(i64, CallResult), u64> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
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
    /// Metrics that also render the App's API call counters.
    pub fn with_github(counters: Option<Arc<ApiCallCounters>>) -> Self {
        Self {
            github: counters,
            ..Self::default()
        }
    }

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
        if let Some(github) = &self.github {
            out.push_str(
                "# HELP labtrail_github_api_calls_total GitHub API calls by installation and result.\n",
            );
            out.push_str("# TYPE labtrail_github_api_calls_total counter\n");
            for ((installation, result), n) in github.snapshot() {
                let installation = match installation {
                    APP_CALLS => "app".to_owned(),
                    id => id.to_string(),
                };
                let _ = writeln!(
                    out,
                    "labtrail_github_api_calls_total{{installation=\"{installation}\",result=\"{}\"}} {n}",
                    result.as_str()
                );
            }
        }
        out
    }
}
