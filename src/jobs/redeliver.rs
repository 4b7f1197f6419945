//! Catch-up of deliveries that never reached us (docs/design.md §1, step 5): ask GitHub which of the App's deliveries
//! failed, and request the redelivery of those that are not in `webhook_delivery`.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::DatabaseConnection;

use crate::db;
use crate::github::deliveries::{self, HookDelivery};
use crate::github::{GithubApp, GithubError};

/// GitHub keeps deliveries 3 days: looking further back finds nothing.
pub const MAX_WINDOW: Duration = Duration::from_secs(72 * 3600);

/// How a catch-up run is bounded.
#[derive(Debug, Clone)]
pub struct RedeliverPolicy {
    /// How far back to look (at most [`MAX_WINDOW`]).
    pub window: Duration,
    /// Most redelivery requests per run; the rest wait for the next run.
    pub max_requests: usize,
    /// Most pages of deliveries (100 each) read per run.
    pub max_pages: usize,
    /// Time between runs of the periodic task.
    pub interval: Duration,
    /// A GUID GitHub already tried this often is left alone (a delivery labtrail keeps refusing, e.g.
    /// with a wrong secret, is not redelivered every run for 3 days); `None`: no cap (`labtrail
    /// redeliver` by hand).
    pub max_tries_per_guid: Option<usize>,
}

impl Default for RedeliverPolicy {
    fn default() -> Self {
        Self {
            window: MAX_WINDOW,
            max_requests: 100,
            max_pages: 500,
            interval: Duration::from_secs(600),
            max_tries_per_guid: Some(5),
        }
    }
}

/// Why a catch-up run failed.
#[derive(Debug, thiserror::Error)]
pub enum RedeliverError {
    #[error("cannot list the App's webhook deliveries")]
    Github(#[from] GithubError),
    #[error("cannot look the deliveries up in the database")]
    Db(#[from] sea_orm::DbErr),
}

/// Why a `--since` window was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("cannot read {0:?}: use a whole number with the unit m, h or d (e.g. 90m, 72h, 3d)")]
    Unreadable(String),
    #[error("{0:?} is empty: use a window longer than zero")]
    Zero(String),
    #[error("{0:?} reaches back further than GitHub keeps deliveries: at most 72h")]
    TooLong(String),
}

/// Read a window like `90m`, `72h` or `3d` (at most [`MAX_WINDOW`]).
pub fn parse_window(text: &str) -> Result<Duration, WindowError> {
    let unreadable = || WindowError::Unreadable(text.to_owned());
    let t = text.trim();
    let split = t.len().checked_sub(1).ok_or_else(unreadable)?;
    let (digits, unit) = t.split_at(split);
    let unit_secs: u64 = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(unreadable()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unreadable());
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| WindowError::TooLong(text.into()))?;
    let secs = n
        .checked_mul(unit_secs)
        .ok_or_else(|| WindowError::TooLong(text.into()))?;
    match Duration::from_secs(secs) {
        d if d.is_zero() => Err(WindowError::Zero(text.into())),
        d if d > MAX_WINDOW => Err(WindowError::TooLong(text.into())),
        d => Ok(d),
    }
}

/// One GUID's attempts in the window, newest first.
#[derive(Debug, Clone)]
pub struct Group {
    pub guid: String,
    pub attempts: Vec<HookDelivery>,
}

impl Group {
    /// No attempt reached us with a 2xx.
    pub fn failed_at_github(&self) -> bool {
        !self.attempts.iter().any(HookDelivery::succeeded)
    }

    /// The attempt a redelivery names: the newest one.
    pub fn newest(&self) -> Option<&HookDelivery> {
        self.attempts.first()
    }
}

/// Group attempts by GUID: attempts newest first, groups ordered by their newest attempt, newest first.
pub fn group(deliveries: Vec<HookDelivery>) -> Vec<Group> {
    let mut by_guid: HashMap<String, Vec<HookDelivery>> = HashMap::new();
    for d in deliveries {
        by_guid.entry(d.guid.clone()).or_default().push(d);
    }
    let mut groups: Vec<Group> = by_guid
        .into_iter()
        .map(|(guid, mut attempts)| {
            attempts.sort_by_key(|d| Reverse((d.delivered_at, d.id)));
            Group { guid, attempts }
        })
        .collect();
    groups.sort_by_key(|g| Reverse(newest_key(g)));
    groups
}

fn newest_key(g: &Group) -> Option<(DateTime<Utc>, i64)> {
    g.newest().map(|d| (d.delivered_at, d.id))
}

/// What a GUID needs, as decided before any request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeliveryPlan {
    /// An attempt reached us.
    Succeeded,
    /// Every attempt failed at GitHub, yet we have it (we stored it but answered late or with an error).
    Stored,
    /// Ask for a redelivery of this attempt.
    Redeliver(i64),
    /// Would be redelivered, but the run's request limit is reached: left for the next run.
    OverLimit,
    /// Failed as often as the policy allows: not requested again automatically.
    GaveUp,
}

/// The plans of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// One plan per group, in the groups' order.
    pub plans: Vec<RedeliveryPlan>,
    /// The indices of the [`RedeliveryPlan::Redeliver`] plans, most urgent first: the order requests are sent in.
    pub order: Vec<usize>,
}

/// Decide every group: a GUID is redelivered when no attempt succeeded and it is not in `stored` (our
/// `webhook_delivery` GUIDs), naming its newest attempt; at most `max_requests` of them. GUIDs with fewer
/// attempts go first (a delivery that keeps failing does not starve new ones), then those first attempted
/// earliest (nearest to GitHub forgetting them).
pub fn decide(
    groups: &[Group],
    stored: &HashSet<String>,
    max_requests: usize,
    max_tries: Option<usize>,
) -> Decision {
    let mut plans: Vec<RedeliveryPlan> = groups
        .iter()
        .map(|g| match g.newest() {
            Some(_)
                if g.failed_at_github()
                    && !stored.contains(&g.guid)
                    && max_tries.is_some_and(|max| g.attempts.len() >= max) =>
            {
                RedeliveryPlan::GaveUp
            }
            Some(newest) if g.failed_at_github() && !stored.contains(&g.guid) => {
                RedeliveryPlan::Redeliver(newest.id)
            }
            _ if g.failed_at_github() => RedeliveryPlan::Stored,
            // Delivered (or an empty group, which `group` never makes).
            _ => RedeliveryPlan::Succeeded,
        })
        .collect();
    let mut order: Vec<usize> = (0..groups.len())
        .filter(|&i| matches!(plans[i], RedeliveryPlan::Redeliver(_)))
        .collect();
    order.sort_by_key(|&i| {
        let first = groups[i].attempts.last().map(|d| (d.delivered_at, d.id));
        (groups[i].attempts.len(), first)
    });
    for &i in order.iter().skip(max_requests) {
        plans[i] = RedeliveryPlan::OverLimit;
    }
    order.truncate(max_requests);
    Decision { plans, order }
}

/// What became of one GUID in a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    Succeeded,
    Stored,
    /// Redelivery requested (or, in a dry run, would have been).
    Requested,
    /// The request failed.
    RequestFailed(String),
    /// Not requested: over the run's limit, or GitHub stopped answering earlier in the run.
    Deferred,
    /// Not requested: GitHub tried it as often as the periodic task allows.
    GaveUp,
}

/// One GUID in a run's report.
#[derive(Debug, Clone)]
pub struct GuidReport {
    pub guid: String,
    /// Its newest attempt in the window.
    pub newest: HookDelivery,
    pub attempts: usize,
    pub outcome: RequestOutcome,
}

/// What a run found and did.
#[derive(Debug, Clone)]
pub struct RedeliveryReport {
    pub since: DateTime<Utc>,
    /// Attempts listed in the window.
    pub deliveries: usize,
    /// `false`: the page limit stopped the listing before it reached `since`.
    pub complete: bool,
    pub pages: usize,
    pub dry_run: bool,
    pub max_requests: usize,
    /// Newest first.
    pub guids: Vec<GuidReport>,
}

impl RedeliveryReport {
    fn count(&self, f: impl Fn(&RequestOutcome) -> bool) -> usize {
        self.guids.iter().filter(|g| f(&g.outcome)).count()
    }

    pub fn succeeded(&self) -> usize {
        self.count(|o| *o == RequestOutcome::Succeeded)
    }

    pub fn stored(&self) -> usize {
        self.count(|o| *o == RequestOutcome::Stored)
    }

    pub fn requested(&self) -> usize {
        self.count(|o| *o == RequestOutcome::Requested)
    }

    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, RequestOutcome::RequestFailed(_)))
    }

    pub fn deferred(&self) -> usize {
        self.count(|o| *o == RequestOutcome::Deferred)
    }

    /// One line per GUID, for people.
    pub fn line(&self, g: &GuidReport) -> String {
        let d = &g.newest;
        let event = match &d.action {
            Some(a) => format!("{}.{a}", d.event),
            None => d.event.clone(),
        };
        let seen = format!("GitHub saw {} {:?}", d.status_code, d.status);
        let what = match &g.outcome {
            RequestOutcome::Succeeded => "delivered".to_owned(),
            RequestOutcome::Stored => format!("already stored here ({seen})"),
            RequestOutcome::Requested if self.dry_run => {
                format!("would request a redelivery of attempt {} ({seen})", d.id)
            }
            RequestOutcome::Requested => {
                format!("redelivery requested of attempt {} ({seen})", d.id)
            }
            RequestOutcome::RequestFailed(e) => {
                format!("redelivery request FAILED for attempt {}: {e}", d.id)
            }
            RequestOutcome::Deferred => format!("not requested in this run ({seen})"),
            RequestOutcome::GaveUp => format!(
                "not requested: {} attempts failed ({seen}); `labtrail redeliver` tries again",
                g.attempts
            ),
        };
        format!("{}  {event:<24}  {what}", g.guid)
    }

    /// The closing summary, for people.
    pub fn summary(&self) -> String {
        let since = self.since.to_rfc3339_opts(SecondsFormat::Secs, true);
        let requested = if self.dry_run {
            "would request (dry run: nothing requested)"
        } else {
            "redelivery requested"
        };
        let mut s = format!(
            "{} GUIDs in {} deliveries since {since}: delivered {}, already stored {}, {requested} {}, request failed {}",
            self.guids.len(),
            self.deliveries,
            self.succeeded(),
            self.stored(),
            self.requested(),
            self.failed(),
        );
        let gave_up = self.count(|o| *o == RequestOutcome::GaveUp);
        if gave_up > 0 {
            s.push_str(&format!(
                "\nleft alone after repeated failures: {gave_up} (check the webhook secret and URL)"
            ));
        }
        if self.deferred() > 0 {
            s.push_str(&format!(
                "\nleft for the next run: {} (limit: {} requests per run; none after GitHub stops answering)",
                self.deferred(),
                self.max_requests
            ));
        }
        if !self.complete {
            s.push_str(&format!(
                "\nincomplete: the listing stopped after {} pages, before reaching back to {since}",
                self.pages
            ));
        }
        s
    }
}

/// One catch-up run: list the deliveries since `now - window`, decide, and request redeliveries (none
/// when `dry_run`). A failed request is reported, not returned as an error.
#[tracing::instrument(skip(app, db, policy))]
pub async fn run(
    app: &GithubApp,
    db: &DatabaseConnection,
    policy: &RedeliverPolicy,
    now: DateTime<Utc>,
    dry_run: bool,
) -> Result<RedeliveryReport, RedeliverError> {
    let window = chrono::Duration::from_std(policy.window.min(MAX_WINDOW))
        .unwrap_or(chrono::Duration::hours(72));
    let since = now - window;
    let listing = deliveries::list_since(app, since, policy.max_pages).await?;
    let count = listing.deliveries.len();
    let groups = group(listing.deliveries);
    let failed: Vec<String> = groups
        .iter()
        .filter(|g| g.failed_at_github())
        .map(|g| g.guid.clone())
        .collect();
    let stored = db::deliveries::known_guids(db, &failed).await?;
    let decision = decide(
        &groups,
        &stored,
        policy.max_requests,
        policy.max_tries_per_guid,
    );
    let outcomes = send_requests(app, &decision, dry_run).await;
    let guids = groups
        .into_iter()
        .zip(outcomes)
        .filter_map(|(g, outcome)| {
            let attempts = g.attempts.len();
            let newest = g.attempts.into_iter().next()?;
            Some(GuidReport {
                guid: g.guid,
                newest,
                attempts,
                outcome,
            })
        })
        .collect();
    Ok(RedeliveryReport {
        since,
        deliveries: count,
        complete: listing.complete,
        pages: listing.pages,
        dry_run,
        max_requests: policy.max_requests,
        guids,
    })
}

/// Carry the decision out, most urgent request first; one outcome per group. After GitHub stops answering
/// (unreachable, rate limit) the remaining requests are left for the next run.
async fn send_requests(app: &GithubApp, decision: &Decision, dry_run: bool) -> Vec<RequestOutcome> {
    let mut outcomes: Vec<RequestOutcome> = decision
        .plans
        .iter()
        .map(|p| match p {
            RedeliveryPlan::Succeeded => RequestOutcome::Succeeded,
            RedeliveryPlan::Stored => RequestOutcome::Stored,
            RedeliveryPlan::OverLimit | RedeliveryPlan::Redeliver(_) => RequestOutcome::Deferred,
            RedeliveryPlan::GaveUp => RequestOutcome::GaveUp,
        })
        .collect();
    let mut github_down = false;
    for &i in &decision.order {
        let RedeliveryPlan::Redeliver(id) = decision.plans[i] else {
            continue;
        };
        if dry_run {
            outcomes[i] = RequestOutcome::Requested;
            continue;
        }
        if github_down {
            break;
        }
        outcomes[i] = match deliveries::request_redelivery(app, id).await {
            Ok(()) => RequestOutcome::Requested,
            Err(e) => {
                github_down = matches!(
                    e,
                    GithubError::RateLimited { .. } | GithubError::Transport { .. }
                );
                tracing::warn!(delivery = id, error = %e, "cannot request a redelivery");
                RequestOutcome::RequestFailed(e.to_string())
            }
        };
    }
    outcomes
}

/// The periodic catch-up of `serve`: one run, logged. `serve` runs it at start and every `policy.interval` until shutdown, which abandons a
/// run in progress (it wrote nothing). Every instance runs it; two instances asking for the same
/// redelivery are harmless, because intake stores a GUID once (`202` then `200`).
pub async fn once(
    app: GithubApp,
    db: DatabaseConnection,
    policy: RedeliverPolicy,
) -> Result<(), RedeliverError> {
    let r = run(&app, &db, &policy, Utc::now(), false).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(id: i64, guid: &str, minute: i64, status_code: i64) -> HookDelivery {
        HookDelivery {
            id,
            guid: guid.into(),
            delivered_at: DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).expect("time"),
            redelivery: id % 10 != 1,
            status: match status_code {
                200..=299 => "OK".into(),
                0 => "failed to connect".into(),
                _ => "Invalid HTTP Response: 502".into(),
            },
            status_code,
            event: "push".into(),
            action: None,
            installation_id: Some(7),
            repository_id: Some(500),
        }
    }

    /// The plans by GUID, and the GUIDs in the order their requests are sent.
    fn decided(
        deliveries: Vec<HookDelivery>,
        stored: &[&str],
        max: usize,
    ) -> (Vec<(String, RedeliveryPlan)>, Vec<String>) {
        let groups = group(deliveries);
        let stored: HashSet<String> = stored.iter().map(|s| s.to_string()).collect();
        let decision = decide(&groups, &stored, max, None);
        let order = decision
            .order
            .iter()
            .map(|&i| groups[i].guid.clone())
            .collect();
        let plans = groups
            .into_iter()
            .map(|g| g.guid)
            .zip(decision.plans)
            .collect();
        (plans, order)
    }

    #[test]
    fn a_guid_is_redelivered_only_when_no_attempt_succeeded_and_we_lack_it() {
        let listed = vec![
            // Newest first, as GitHub lists them; ids ending in 1 are first attempts.
            attempt(32, "b", 9, 0),   // b's redelivery also failed
            attempt(42, "c", 8, 202), // c's redelivery reached us
            attempt(52, "d", 7, 502), // d: a redelivery failed after the original succeeded
            attempt(11, "a", 5, 502), // a: failed once
            attempt(21, "e", 4, 503), // e: failed, but we stored it (answered late)
            attempt(31, "b", 3, 502), // b's original
            attempt(41, "c", 2, 0),   // c's original
            attempt(51, "d", 1, 200), // d's original
        ];
        let (plans, order) = decided(listed, &["e"], 100);
        assert_eq!(
            plans,
            vec![
                ("b".into(), RedeliveryPlan::Redeliver(32)),
                ("c".into(), RedeliveryPlan::Succeeded),
                ("d".into(), RedeliveryPlan::Succeeded),
                ("a".into(), RedeliveryPlan::Redeliver(11)),
                ("e".into(), RedeliveryPlan::Stored),
            ]
        );
        assert_eq!(order, ["a", "b"], "fewer attempts first");
    }

    #[test]
    fn the_periodic_task_gives_up_on_a_guid_tried_too_often() {
        let listed = vec![
            attempt(13, "x", 9, 401),
            attempt(12, "x", 8, 401),
            attempt(11, "x", 7, 401),
            attempt(21, "y", 6, 502),
        ];
        let groups = group(listed);
        let decision = decide(&groups, &HashSet::new(), 100, Some(3));
        assert_eq!(
            decision.plans,
            vec![RedeliveryPlan::GaveUp, RedeliveryPlan::Redeliver(21)]
        );
        assert_eq!(decision.order, vec![1]);
        // By hand (no cap) the same GUID is requested.
        let decision = decide(&groups, &HashSet::new(), 100, None);
        assert_eq!(
            decision.plans,
            vec![RedeliveryPlan::Redeliver(13), RedeliveryPlan::Redeliver(21)]
        );
    }

    #[test]
    fn over_the_limit_fewer_attempts_then_older_go_first() {
        let listed = vec![
            attempt(12, "x", 9, 0),
            attempt(21, "y", 8, 502),
            attempt(31, "z", 7, 502),
            attempt(11, "x", 1, 502),
        ];
        let (plans, order) = decided(listed, &[], 1);
        assert_eq!(
            plans,
            vec![
                ("x".into(), RedeliveryPlan::OverLimit),
                ("y".into(), RedeliveryPlan::OverLimit),
                ("z".into(), RedeliveryPlan::Redeliver(31)),
            ]
        );
        assert_eq!(order, ["z"]);
    }

    #[test]
    fn windows_are_read_with_a_unit_and_capped_at_three_days() {
        assert_eq!(parse_window("90m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(parse_window("72h"), Ok(MAX_WINDOW));
        assert_eq!(parse_window("3d"), Ok(MAX_WINDOW));
        assert_eq!(parse_window(" 1h "), Ok(Duration::from_secs(3600)));
        for bad in ["", "h", "72", "1.5h", "-1h", "1 h", "1w", "abc", "72H"] {
            assert!(
                matches!(parse_window(bad), Err(WindowError::Unreadable(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(parse_window("0h"), Err(WindowError::Zero(_))));
        for long in ["73h", "4d", "4321m", "99999999999999999999d"] {
            assert!(
                matches!(parse_window(long), Err(WindowError::TooLong(_))),
                "{long:?}"
            );
        }
    }

    #[test]
    fn the_report_reads_one_line_per_guid_and_a_summary() {
        let since = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        let g = |guid: &str, d: HookDelivery, outcome| GuidReport {
            guid: guid.into(),
            newest: d,
            attempts: 1,
            outcome,
        };
        let mut pushed = attempt(21, "b", 2, 502);
        pushed.event = "installation".into();
        pushed.action = Some("created".into());
        let report = RedeliveryReport {
            since,
            deliveries: 6,
            complete: false,
            pages: 2,
            dry_run: false,
            max_requests: 1,
            guids: vec![
                g("a", attempt(11, "a", 3, 200), RequestOutcome::Succeeded),
                g("b", pushed, RequestOutcome::Requested),
                g("c", attempt(31, "c", 1, 0), RequestOutcome::Stored),
                g("d", attempt(41, "d", 1, 0), RequestOutcome::Deferred),
                g(
                    "e",
                    attempt(51, "e", 1, 0),
                    RequestOutcome::RequestFailed("GitHub answered 404".into()),
                ),
            ],
        };
        let text: Vec<String> = report.guids.iter().map(|g| report.line(g)).collect();
        insta::assert_snapshot!(format!("{}\n{}", text.join("\n"), report.summary()), @r#"
        a  push                      delivered
        b  installation.created      redelivery requested of attempt 21 (GitHub saw 502 "Invalid HTTP Response: 502")
        c  push                      already stored here (GitHub saw 0 "failed to connect")
        d  push                      not requested in this run (GitHub saw 0 "failed to connect")
        e  push                      redelivery request FAILED for attempt 51: GitHub answered 404
        5 GUIDs in 6 deliveries since 2027-01-15T08:00:00Z: delivered 1, already stored 1, redelivery requested 1, request failed 1
        left for the next run: 1 (limit: 1 requests per run; none after GitHub stops answering)
        incomplete: the listing stopped after 2 pages, before reaching back to 2027-01-15T08:00:00Z
        "#);
    }
}
