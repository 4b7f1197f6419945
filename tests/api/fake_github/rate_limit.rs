//! GitHub's rate limits: every answer carries `x-ratelimit-limit/remaining/reset/used/resource`; past an
//! installation's (or the App's) primary limit GitHub answers 403 with `x-ratelimit-remaining: 0` until
//! `x-ratelimit-reset`; its secondary limits answer 403 or 429 with `retry-after` and a message saying so.

use chrono::Utc;
use serde_json::json;
use wiremock::ResponseTemplate;

use super::state::{Bucket, Quota, State};
use super::Answer;

/// GitHub's default primary limit for an installation (and an App): 5000 requests an hour.
const DEFAULT_LIMIT: u32 = 5000;

const PRIMARY_DOCS: &str = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";
const SECONDARY_DOCS: &str =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";
const SECONDARY_MESSAGE: &str = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID DEAD:BEEF:0000000:0000000:00000000.";

fn quota(st: &mut State, bucket: Bucket) -> &mut Quota {
    let q = st
        .quotas
        .entry(bucket)
        .or_insert_with(|| Quota::new(DEFAULT_LIMIT, chrono::Duration::hours(1)));
    if Utc::now() >= q.reset_at {
        q.used = 0;
        q.reset_at = Utc::now() + q.window;
    }
    q
}

/// Spend one request of `bucket`'s quota; GitHub's primary-limit 403 when none is left.
pub(super) fn spend(st: &mut State, bucket: Bucket) -> Option<Answer> {
    let q = quota(st, bucket);
    if q.used >= q.limit {
        let message = match bucket {
            Bucket::Installation(id) => {
                format!("API rate limit exceeded for installation ID {id}.")
            }
            Bucket::App => "API rate limit exceeded for the GitHub App.".to_owned(),
        };
        let response = ResponseTemplate::new(403).set_body_json(json!({
            "message": message,
            "documentation_url": PRIMARY_DOCS,
        }));
        return Some((403, headers(st, bucket, response)));
    }
    q.used += 1;
    None
}

/// The `x-ratelimit-*` headers of `bucket` now.
pub(super) fn headers(st: &mut State, bucket: Bucket, t: ResponseTemplate) -> ResponseTemplate {
    let q = quota(st, bucket);
    t.insert_header("x-ratelimit-limit", q.limit.to_string().as_str())
        .insert_header(
            "x-ratelimit-remaining",
            q.limit.saturating_sub(q.used).to_string().as_str(),
        )
        .insert_header(
            "x-ratelimit-reset",
            q.reset_at.timestamp().to_string().as_str(),
        )
        .insert_header("x-ratelimit-used", q.used.to_string().as_str())
        .insert_header("x-ratelimit-resource", "core")
}

/// GitHub's secondary-limit answer with status `status` (403 or 429), asking to wait `retry_after_secs`.
fn secondary(status: u16, retry_after_secs: u64) -> ResponseTemplate {
    let reset = Utc::now().timestamp() + 3600;
    ResponseTemplate::new(status)
        .insert_header("retry-after", retry_after_secs.to_string().as_str())
        .insert_header("x-ratelimit-limit", DEFAULT_LIMIT.to_string().as_str())
        .insert_header("x-ratelimit-remaining", "4990")
        .insert_header("x-ratelimit-reset", reset.to_string().as_str())
        .insert_header("x-ratelimit-used", "10")
        .insert_header("x-ratelimit-resource", "core")
        .set_body_json(json!({ "message": SECONDARY_MESSAGE, "documentation_url": SECONDARY_DOCS }))
}

/// GitHub's secondary-limit "slow down" as a 429 (as it answers bursts of content creation).
pub fn rate_limited(retry_after_secs: u64) -> ResponseTemplate {
    secondary(429, retry_after_secs)
}

/// GitHub's secondary-limit "slow down" as a 403 (its usual status for it).
pub fn secondary_rate_limited(retry_after_secs: u64) -> ResponseTemplate {
    secondary(403, retry_after_secs)
}
