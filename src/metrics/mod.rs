//! Process metrics at `GET /metrics`, kept in a `prometheus-client` registry and exposed in the OpenMetrics
//! text format.
//!
//! Counter families are registered without their `_total` suffix, which the encoder adds to every sample:
//! the samples keep their names (`labtrail_webhook_requests_total{result="queued"} 1`), while the `# HELP`
//! and `# TYPE` lines name the family (`labtrail_webhook_requests`), as OpenMetrics requires.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use prometheus_client::encoding::{text, EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use sea_orm::Iterable as _;

use crate::db::deliveries::Status;

/// The `Content-Type` of [`Metrics::render`]'s text.
/// The HTTP edge's gauges (`http::edge::Edge::gauges`), rendered at `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EdgeGauges {
    pub connections: usize,
    pub webhooks_in_flight: usize,
    pub webhooks_receiving: usize,
    pub body_bytes_reserved: usize,
    pub max_body_memory: usize,
}

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of the webhook request counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Labels of the delivery counter and gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

/// Labels of the witness submission counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WitnessLabels {
    witness: String,
    result: &'static str,
}

/// Labels of the GitHub API call counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiCallLabels {
    /// The installation id, or `app` for [`APP_CALLS`].
    installation: String,
    result: CallResult,
}

/// Labels of the refusal counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Why a webhook request was refused before anything was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookRefusal {
    /// `X-Hub-Signature-256` missing, malformed, or not the HMAC of the body (`401`).
    BadSignature,
    /// A missing or malformed header, an unreadable body (`400`).
    BadRequest,
    /// Over GitHub's 25 MB (`413`).
    TooLarge,
    /// No webhook secret yet (setup mode), or the edge's caps are full (`503`).
    Unavailable,
}

impl WebhookRefusal {
    const ALL: [Self; 4] = [
        Self::BadSignature,
        Self::BadRequest,
        Self::TooLarge,
        Self::Unavailable,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Self::BadSignature => "bad_signature",
            Self::BadRequest => "bad_request",
            Self::TooLarge => "too_large",
            Self::Unavailable => "unavailable",
        }
    }
}

/// Why a sign-in (the read API's bearer token, the web view's forms and GitHub sign-in) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInFailure {
    /// The read API: an unknown or revoked bearer token.
    ApiToken,
    /// The web sign-in form: an unknown or revoked token.
    WebToken,
    /// The web sign-in form without a valid CSRF token.
    LoginForm,
    /// A GitHub sign-in callback whose state is not this browser's, expired or forged.
    OauthState,
    /// A GitHub user with no organisation here.
    NoAccess,
}

impl SignInFailure {
    const ALL: [Self; 5] = [
        Self::ApiToken,
        Self::WebToken,
        Self::LoginForm,
        Self::OauthState,
        Self::NoAccess,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Self::ApiToken => "api_token",
            Self::WebToken => "web_token",
            Self::LoginForm => "login_form",
            Self::OauthState => "oauth_state",
            Self::NoAccess => "no_access",
        }
    }
}

/// Refused webhooks and failed sign-ins: counters for `/metrics`, and the counts since the last summary
/// line ([`Metrics::refusal_summary`]), so that the log holds one line an interval, not one a refusal.
#[derive(Debug)]
struct Refusals {
    webhooks: Family<ReasonLabel, Counter>,
    sign_ins: Family<ReasonLabel, Counter>,
    /// Since the last summary, by [`WebhookRefusal::ALL`] / [`SignInFailure::ALL`] index.
    webhooks_window: [AtomicU64; 4],
    sign_ins_window: [AtomicU64; 5],
    window_start: Mutex<Instant>,
}

impl Refusals {
    fn new(registry: &mut Registry) -> Self {
        Self {
            webhooks: by_reason(
                registry,
                "labtrail_webhook_refusals",
                "Webhook requests refused before storing, by reason",
                WebhookRefusal::ALL.map(WebhookRefusal::label),
            ),
            sign_ins: by_reason(
                registry,
                "labtrail_sign_in_failures",
                "Failed sign-ins (read API tokens, web sign-in forms, GitHub sign-in), by reason",
                SignInFailure::ALL.map(SignInFailure::label),
            ),
            webhooks_window: Default::default(),
            sign_ins_window: Default::default(),
            window_start: Mutex::new(Instant::now()),
        }
    }
}

/// A counter registered as `name`, with a zero for every reason of `reasons` from the start.
fn by_reason<const N: usize>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    reasons: [&'static str; N],
) -> Family<ReasonLabel, Counter> {
    let family = Family::<ReasonLabel, Counter>::default();
    for reason in reasons {
        let _ = family.get_or_create(&ReasonLabel { reason });
    }
    registry.register(name, help, family.clone());
    family
}

/// Count `reason` (labelled `label`) in `family`, and in `window` at its index in `all`.
fn count_reason<R: PartialEq>(
    family: &Family<ReasonLabel, Counter>,
    window: &[AtomicU64],
    all: &[R],
    reason: R,
    label: &'static str,
) {
    family.get_or_create(&ReasonLabel { reason: label }).inc();
    if let Some(i) = all.iter().position(|r| *r == reason) {
        window[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// `"1200 bad signature, 34 bad request"`: the non-zero counts, largest first.
fn breakdown(counts: &mut [(u64, &'static str)]) -> String {
    counts.sort_by_key(|c| std::cmp::Reverse(c.0));
    counts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, label)| format!("{n} {}", label.replace('_', " ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The metrics of this process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    webhook_requests: Family<ResultLabel, Counter>,
    settled: Family<StatusLabel, Counter>,
    record_batches: Family<ResultLabel, Counter>,
    /// Set from the database at each scrape.
    deliveries: Family<StatusLabel, Gauge>,
    /// `add-checkpoint` submissions to witnesses, by witness and result (`cosigned`, `failed`).
    witness_submissions: Family<WitnessLabels, Counter>,
    /// The HTTP edge's gauges, set from [`EdgeGauges`] at each scrape.
    edge: EdgeMetrics,
    refusals: Refusals,
    /// One scrape at a time sets [`Self::deliveries`] and encodes.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::with_github(None)
    }
}

/// The HTTP edge's gauges.
#[derive(Debug, Default)]
struct EdgeMetrics {
    connections: Gauge,
    webhooks_in_flight: Gauge,
    webhooks_receiving: Gauge,
    body_bytes_reserved: Gauge,
    body_bytes_limit: Gauge,
}

impl EdgeMetrics {
    fn register(&self, registry: &mut Registry) {
        for (name, help, gauge) in [
            (
                "labtrail_http_connections",
                "Open HTTP connections",
                &self.connections,
            ),
            (
                "labtrail_webhook_requests_in_flight",
                "Webhook requests whose body has arrived, being handled",
                &self.webhooks_in_flight,
            ),
            (
                "labtrail_webhook_requests_receiving",
                "Webhook requests whose body is being received",
                &self.webhooks_receiving,
            ),
            (
                "labtrail_webhook_body_bytes_reserved",
                "Bytes of webhook bodies held (received, and their copies until stored)",
                &self.body_bytes_reserved,
            ),
            (
                "labtrail_webhook_body_bytes_limit",
                "The budget of webhook body bytes held at once (LABTRAIL_MAX_BODY_MEMORY)",
                &self.body_bytes_limit,
            ),
        ] {
            registry.register(name, help, gauge.clone());
        }
    }

    fn set(&self, edge: &EdgeGauges) {
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        self.connections.set(n(edge.connections));
        self.webhooks_in_flight.set(n(edge.webhooks_in_flight));
        self.webhooks_receiving.set(n(edge.webhooks_receiving));
        self.body_bytes_reserved.set(n(edge.body_bytes_reserved));
        self.body_bytes_limit.set(n(edge.max_body_memory));
    }
}

/// How one GitHub API call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

impl EncodeLabelValue for CallResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// GitHub API calls per installation and result, shared by the App client and `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ApiCallCounters {
    calls: Family<ApiCallLabels, Counter>,
}

impl ApiCallCounters {
    /// Count one call made for `installation_id`.
    pub fn record(&self, installation_id: i64, result: CallResult) {
        let installation = match installation_id {
            APP_CALLS => "app".to_owned(),
            id => id.to_string(),
        };
        self.calls
            .get_or_create(&ApiCallLabels {
                installation,
                result,
            })
            .inc();
    }
}

/// How the edge answered a delivery.
#[derive(Debug, Clone, Copy)]
pub enum IntakeResult {
    Accepted,
    Duplicate,
    /// Signed but unparseable: stored as rejected.
    Rejected,
    /// Refused before storing (signature, headers, size).
    Refused,
}

impl IntakeResult {
    const ALL: [Self; 4] = [
        Self::Accepted,
        Self::Duplicate,
        Self::Rejected,
        Self::Refused,
    ];

    /// The `result` label of `labtrail_webhook_requests_total`.
    fn label(self) -> &'static str {
        match self {
            Self::Accepted => "queued",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
            Self::Refused => "refused",
        }
    }
}

impl Metrics {
    /// Metrics that also expose the App's API call counters.
    pub fn with_github(counters: Option<Arc<ApiCallCounters>>) -> Self {
        let mut registry = Registry::default();
        let webhook_requests = Family::<ResultLabel, Counter>::default();
        for what in IntakeResult::ALL {
            let _ = webhook_requests.get_or_create(&ResultLabel {
                result: what.label(),
            });
        }
        registry.register(
            "labtrail_webhook_requests",
            "Webhook requests by answer",
            webhook_requests.clone(),
        );
        let settled = Family::<StatusLabel, Counter>::default();
        for status in Status::iter().filter(|s| settles(*s)) {
            let _ = settled.get_or_create(&StatusLabel {
                status: status.to_string(),
            });
        }
        registry.register(
            "labtrail_deliveries_settled",
            "Deliveries settled by this process",
            settled.clone(),
        );
        let record_batches = Family::<ResultLabel, Counter>::default();
        for result in ["committed", "split"] {
            let _ = record_batches.get_or_create(&ResultLabel { result });
        }
        registry.register(
            "labtrail_record_batches",
            "Workers' recording transactions (group commit) by result; split: the batch failed and its \
             attempts were recorded one by one",
            record_batches.clone(),
        );
        let deliveries = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "labtrail_deliveries",
            "Stored deliveries by status",
            deliveries.clone(),
        );
        let witness_submissions = Family::<WitnessLabels, Counter>::default();
        registry.register(
            "labtrail_witness_submissions",
            "Checkpoints submitted to witnesses (LABTRAIL_WITNESSES) by witness and result: cosigned, or \
             failed (refused, unreachable, or an invalid cosignature; retried with backoff)",
            witness_submissions.clone(),
        );
        let edge = EdgeMetrics::default();
        edge.register(&mut registry);
        let refusals = Refusals::new(&mut registry);
        if let Some(github) = counters {
            registry.register(
                "labtrail_github_api_calls",
                "GitHub API calls by installation and result",
                github.calls.clone(),
            );
        }
        Self {
            registry,
            webhook_requests,
            settled,
            record_batches,
            deliveries,
            witness_submissions,
            edge,
            refusals,
            scrape: Mutex::new(()),
        }
    }

    pub fn intake(&self, what: IntakeResult) {
        let result = what.label();
        self.webhook_requests
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// A webhook request was refused before storing (also counted as `result="refused"`). Not logged: the
    /// summary line ([`Self::refusal_summary`]) tells the log.
    pub fn webhook_refused(&self, reason: WebhookRefusal) {
        self.intake(IntakeResult::Refused);
        let r = &self.refusals;
        count_reason(
            &r.webhooks,
            &r.webhooks_window,
            &WebhookRefusal::ALL,
            reason,
            reason.label(),
        );
    }

    /// A sign-in failed. Not logged: the summary line tells the log.
    pub fn sign_in_failed(&self, reason: SignInFailure) {
        let r = &self.refusals;
        count_reason(
            &r.sign_ins,
            &r.sign_ins_window,
            &SignInFailure::ALL,
            reason,
            reason.label(),
        );
    }

    /// The summary lines of the refusals since the previous call (none when there were none), and a new
    /// window starts: `refused 1234 webhook requests in the last 60 s: 1200 bad signature, 34 bad
    /// request`, `12 failed sign-ins in the last 60 s: 12 api token`.
    pub fn refusal_summary(&self) -> Vec<String> {
        let secs = {
            let mut start = self
                .refusals
                .window_start
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let secs = start.elapsed().as_secs_f64().round();
            *start = Instant::now();
            secs
        };
        let take = |a: &AtomicU64| a.swap(0, Ordering::Relaxed);
        let mut webhooks: Vec<(u64, &'static str)> = WebhookRefusal::ALL
            .iter()
            .zip(&self.refusals.webhooks_window)
            .map(|(r, n)| (take(n), r.label()))
            .collect();
        let mut sign_ins: Vec<(u64, &'static str)> = SignInFailure::ALL
            .iter()
            .zip(&self.refusals.sign_ins_window)
            .map(|(r, n)| (take(n), r.label()))
            .collect();
        let mut lines = Vec::new();
        let total: u64 = webhooks.iter().map(|(n, _)| n).sum();
        if total > 0 {
            lines.push(format!(
                "refused {total} webhook requests in the last {secs} s: {}",
                breakdown(&mut webhooks)
            ));
        }
        let total: u64 = sign_ins.iter().map(|(n, _)| n).sum();
        if total > 0 {
            lines.push(format!(
                "{total} failed sign-ins in the last {secs} s: {}",
                breakdown(&mut sign_ins)
            ));
        }
        lines
    }

    /// A checkpoint was submitted to `witness`: cosigned, or failed.
    pub fn witness_submission(&self, witness: &str, cosigned: bool) {
        let result = if cosigned { "cosigned" } else { "failed" };
        self.witness_submissions
            .get_or_create(&WitnessLabels {
                witness: witness.to_owned(),
                result,
            })
            .inc();
    }

    /// A batch of attempts was recorded: in one transaction, or `split` one by one after it failed.
    pub fn record_batch(&self, split: bool) {
        let result = if split { "split" } else { "committed" };
        self.record_batches
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    pub fn processed(&self, status: Status) {
        if settles(status) {
            self.settled
                .get_or_create(&StatusLabel {
                    status: status.to_string(),
                })
                .inc();
        }
    }

    /// The OpenMetrics exposition, with the queue's row counts per status and the edge's gauges.
    pub fn render(
        &self,
        queue: &[(String, i64)],
        edge: &EdgeGauges,
    ) -> Result<String, std::fmt::Error> {
        let _scrape = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        self.edge.set(edge);
        // Statuses without rows are not listed, as before: a gauge of a status that emptied goes away.
        self.deliveries.clear();
        for (status, n) in queue {
            self.deliveries
                .get_or_create(&StatusLabel {
                    status: status.clone(),
                })
                .set(*n);
        }
        let mut out = String::new();
        text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// A state a worker leaves a delivery in (counted in `labtrail_deliveries_settled_total`).
fn settles(status: Status) -> bool {
    !matches!(status, Status::Queued | Status::Processing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_keeps_the_sample_names_and_types() {
        let github = Arc::new(ApiCallCounters::default());
        let metrics = Metrics::with_github(Some(Arc::clone(&github)));
        metrics.intake(IntakeResult::Accepted);
        metrics.intake(IntakeResult::Accepted);
        metrics.processed(Status::Dead);
        metrics.processed(Status::Queued);
        github.record(APP_CALLS, CallResult::Ok);
        github.record(42, CallResult::RateLimited);
        let text = metrics
            .render(
                &[("queued".into(), 3), ("dead".into(), 1)],
                &EdgeGauges {
                    connections: 2,
                    webhooks_in_flight: 1,
                    webhooks_receiving: 0,
                    body_bytes_reserved: 1024,
                    max_body_memory: 4096,
                },
            )
            .expect("render");
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.pop(), Some("# EOF"));
        for line in [
            "# HELP labtrail_webhook_requests Webhook requests by answer.",
            "# TYPE labtrail_webhook_requests counter",
            "labtrail_webhook_requests_total{result=\"queued\"} 2",
            "labtrail_webhook_requests_total{result=\"refused\"} 0",
            "# TYPE labtrail_deliveries_settled counter",
            "labtrail_deliveries_settled_total{status=\"dead\"} 1",
            "labtrail_deliveries_settled_total{status=\"processed\"} 0",
            "# TYPE labtrail_record_batches counter",
            "labtrail_record_batches_total{result=\"committed\"} 0",
            "labtrail_record_batches_total{result=\"split\"} 0",
            "# HELP labtrail_deliveries Stored deliveries by status.",
            "# TYPE labtrail_deliveries gauge",
            "labtrail_deliveries{status=\"queued\"} 3",
            "labtrail_deliveries{status=\"dead\"} 1",
            "# TYPE labtrail_github_api_calls counter",
            "labtrail_github_api_calls_total{installation=\"app\",result=\"ok\"} 1",
            "labtrail_github_api_calls_total{installation=\"42\",result=\"rate_limited\"} 1",
            "# TYPE labtrail_webhook_body_bytes_reserved gauge",
            "labtrail_webhook_body_bytes_reserved 1024",
            "labtrail_webhook_body_bytes_limit 4096",
            "labtrail_http_connections 2",
            "labtrail_webhook_requests_in_flight 1",
            "labtrail_webhook_requests_receiving 0",
        ] {
            assert!(lines.contains(&line), "{line} in\n{text}");
        }
        // 4 + 5 + 2 counters, 2 gauges, 2 API counters, 5 edge gauges, 4 + 5 refusal counters, and
        // HELP/TYPE for 12 families.
        assert_eq!(lines.len(), 4 + 5 + 2 + 2 + 2 + 5 + 4 + 5 + 24, "{text}");
    }

    #[test]
    fn refusals_are_counted_and_summarised_once_a_window() {
        let metrics = Metrics::default();
        assert!(metrics.refusal_summary().is_empty(), "nothing refused");
        for _ in 0..3 {
            metrics.webhook_refused(WebhookRefusal::BadSignature);
        }
        metrics.webhook_refused(WebhookRefusal::BadRequest);
        metrics.sign_in_failed(SignInFailure::ApiToken);
        let lines = metrics.refusal_summary();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("refused 4 webhook requests in the last ")
                && lines[0].ends_with(" s: 3 bad signature, 1 bad request"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("1 failed sign-ins in the last ")
                && lines[1].ends_with(" s: 1 api token"),
            "{lines:?}"
        );
        assert!(metrics.refusal_summary().is_empty(), "a new window");
        let text = metrics.render(&[], &EdgeGauges::default()).expect("render");
        for line in [
            "labtrail_webhook_refusals_total{reason=\"bad_signature\"} 3",
            "labtrail_webhook_refusals_total{reason=\"bad_request\"} 1",
            "labtrail_webhook_refusals_total{reason=\"too_large\"} 0",
            "labtrail_webhook_requests_total{result=\"refused\"} 4",
            "labtrail_sign_in_failures_total{reason=\"api_token\"} 1",
            "labtrail_sign_in_failures_total{reason=\"oauth_state\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn an_emptied_status_leaves_the_gauge() {
        let metrics = Metrics::default();
        let first = metrics
            .render(&[("queued".into(), 1)], &EdgeGauges::default())
            .expect("render");
        assert!(first.contains("labtrail_deliveries{status=\"queued\"} 1"));
        let second = metrics.render(&[], &EdgeGauges::default()).expect("render");
        assert!(!second.contains("labtrail_deliveries{"), "{second}");
        assert!(!second.contains("labtrail_github_api_calls"), "{second}");
    }
}
