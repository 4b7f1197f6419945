//! The App webhook: its configuration (`GET /app/hook/config`), its deliveries (`GET /app/hook/deliveries`,
//! newest first, cursor pages) and `POST /app/hook/deliveries/{id}/attempts` (202, then GitHub delivers
//! again, from elsewhere).

use chrono::Utc;
use serde_json::{json, Value};

use super::state::{HookAttempt, Shared, State};
use super::{message, not_found, reply, serve, with_link, Answer, Call, Route, Served, API_PREFIX};

/// The App webhook's endpoints (the App's JWT).
pub(super) fn endpoints() -> Vec<Served> {
    vec![
        serve(Route::ListDeliveries, "GET", "/app/hook/deliveries", list),
        serve(
            Route::Redeliver,
            "POST",
            r"/app/hook/deliveries/\d+/attempts",
            redeliver,
        ),
        serve(Route::HookConfig, "GET", "/app/hook/config", config),
    ]
}

/// `GET /app/hook/config`: where GitHub delivers and how (the secret is never shown, only masked).
fn config(st: &mut State, _call: &Call<'_>) -> Answer {
    let (url, content_type) = st.hook_config.clone();
    let body = json!({
        "url": url, "content_type": content_type, "secret": "********", "insecure_ssl": "0",
    });
    (200, reply(st, 200, body))
}

/// GitHub's `status` text for an answer.
fn delivery_status(code: u16) -> String {
    match code {
        200..=299 => "OK".into(),
        0 => "failed to connect".into(),
        c => format!("Invalid HTTP Response: {c}"),
    }
}

/// A page of the App webhook's deliveries, newest first; `cursor` names the first delivery of the page
/// and the `Link` header the next one, as GitHub does.
fn list(st: &mut State, call: &Call<'_>) -> Answer {
    let q = &call.query;
    let per = q
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30usize)
        .clamp(1, 100)
        .min(st.delivery_page_cap);
    let start = match q.get("cursor") {
        Some(c) => {
            let id: Option<i64> = c.strip_prefix("v1_").and_then(|id| id.parse().ok());
            match st.hook_attempts.iter().position(|(i, _)| Some(*i) == id) {
                Some(p) => p,
                None => return message(422, "Validation Failed: cursor"),
            }
        }
        None => 0,
    };
    let page: Vec<Value> = st
        .hook_attempts
        .iter()
        .skip(start)
        .take(per)
        .map(|(id, a)| delivery_json(*id, a))
        .collect();
    let link = st.hook_attempts.get(start + per).map(|(next, _)| {
        format!(
            "<{}{API_PREFIX}/app/hook/deliveries?per_page={per}&cursor=v1_{next}>; rel=\"next\"",
            st.origin
        )
    });
    (200, with_link(reply(st, 200, json!(page)), link))
}

pub(super) fn delivery_json(id: i64, a: &HookAttempt) -> Value {
    json!({
        "id": id, "guid": a.guid,
        "delivered_at": a.delivered_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "redelivery": a.redelivery, "duration": 0.27, "status": delivery_status(a.status_code),
        "status_code": a.status_code, "event": a.event, "action": a.action,
        "installation_id": a.installation_id, "repository_id": a.repository_id,
        "throttled_at": null,
    })
}

/// Accept a redelivery request for a known attempt (202); the redelivery itself happens afterwards.
fn redeliver(st: &mut State, call: &Call<'_>) -> Answer {
    let id = call
        .path
        .strip_suffix("/attempts")
        .and_then(|p| p.rsplit('/').next())
        .and_then(|s| s.parse::<i64>().ok());
    if !id.is_some_and(|id| st.hook_attempts.iter().any(|(i, _)| *i == id)) {
        return not_found();
    }
    (202, reply(st, 202, json!({})))
}

/// A redelivery to send: where, signed how, what.
pub(super) struct RedeliveryJob {
    url: String,
    secret: String,
    attempt: HookAttempt,
}

pub(super) fn delivery_id_of(path: &str) -> Option<i64> {
    path.strip_prefix(API_PREFIX)?
        .strip_prefix("/app/hook/deliveries/")?
        .strip_suffix("/attempts")?
        .parse()
        .ok()
}

pub(super) fn redelivery_job(st: &State, path: &str) -> Option<RedeliveryJob> {
    let id = delivery_id_of(path)?;
    let (url, secret) = st.hook_target.clone()?;
    let (_, attempt) = st.hook_attempts.iter().find(|(i, _)| *i == id)?;
    attempt.payload.as_ref()?;
    Some(RedeliveryJob {
        url,
        secret,
        attempt: attempt.clone(),
    })
}

/// POST the payload again, signed, with the same GUID, and record the attempt as GitHub would.
pub(super) async fn redeliver_to_target(state: Shared, job: RedeliveryJob) {
    let body = job.attempt.payload.clone().unwrap_or_default();
    let sent = reqwest::Client::new()
        .post(&job.url)
        .header("content-type", "application/json")
        .header("user-agent", "GitHub-Hookshot/fake")
        .header("x-github-event", &job.attempt.event)
        .header("x-github-delivery", &job.attempt.guid)
        .header(
            "x-hub-signature-256",
            crate::helpers::sign(&job.secret, &body),
        )
        .body(body)
        .send()
        .await;
    let status_code = sent.map_or(0, |r| r.status().as_u16());
    state.lock().expect("fake state").add_attempt(HookAttempt {
        status_code,
        delivered_at: Utc::now(),
        redelivery: true,
        ..job.attempt
    });
}
