//! Check runs: create, update, and list a commit's runs — honouring `check_name`, `status`, `app_id`
//! and `filter` (`latest`, the default: the newest run of each name and App; `all`) and paginating with
//! `per_page` (default 30, at most 100) and a `Link` header, as GitHub does.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::git_data::{rev, REPO};
use super::shapes;
use super::state::{CheckRun, State};
use super::{
    link, message, not_found, page_params, reply, serve, with_link, Answer, Call, Route, Served,
    APP_ID,
};

/// The check-run endpoints (an installation token).
pub(super) fn endpoints() -> Vec<Served> {
    vec![
        serve(
            Route::ListCheckRuns,
            "GET",
            format!("{REPO}/commits/[^/]+/check-runs"),
            list,
        ),
        serve(
            Route::CreateCheckRun,
            "POST",
            format!("{REPO}/check-runs"),
            create,
        ),
        serve(
            Route::UpdateCheckRun,
            "PATCH",
            format!(r"{REPO}/check-runs/\d+"),
            update,
        ),
    ]
}

pub(super) fn next_id(st: &State) -> i64 {
    7_000_000_000 + st.check_runs.len() as i64 + 1
}

fn list(st: &mut State, call: &Call<'_>) -> Answer {
    let q = &call.query;
    let repo = &call.repo().full_name;
    let sha = call.segment_after("/commits/");
    let app_id: Option<u64> = match q.get("app_id").map(|v| v.parse()) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => return message(422, "Invalid request: app_id"),
    };
    let latest = match q.get("filter").map(String::as_str) {
        None | Some("latest") => true,
        Some("all") => false,
        Some(_) => return message(422, "Invalid request: filter"),
    };
    let base = call.repo_base(st);
    // Newest first, as GitHub lists them.
    let mut runs: Vec<&CheckRun> = st
        .check_runs
        .iter()
        .rev()
        .filter(|r| r.repo.eq_ignore_ascii_case(repo) && r.head_sha == sha)
        .filter(|r| q.get("check_name").is_none_or(|n| *n == r.name))
        .filter(|_| q.get("status").is_none_or(|s| s == "completed"))
        .filter(|r| app_id.is_none_or(|a| a == r.app_id))
        .collect();
    if latest {
        let mut seen = HashSet::new();
        runs.retain(|r| seen.insert((r.app_id, r.name.clone())));
    }
    let (per, page) = page_params(q, 30, 100);
    let last = runs.len().div_ceil(per).max(1);
    let slice: Vec<Value> = runs
        .iter()
        .skip((page - 1) * per)
        .take(per)
        .map(|r| shapes::check_run(st, &base, r))
        .collect();
    let body = json!({ "total_count": runs.len(), "check_runs": slice });
    let mut extra: String = q
        .iter()
        .filter(|(k, _)| *k != "page")
        .map(|(k, v)| format!("{k}={v}&"))
        .collect();
    if !q.contains_key("per_page") {
        extra.push_str(&format!("per_page={per}&"));
    }
    let url = format!("{base}/commits/{sha}/check-runs");
    (
        200,
        with_link(reply(st, 200, body), link(&url, &extra, page, last)),
    )
}

/// `PATCH …/check-runs/{id}`: a new conclusion and output for a run of this App on this repository.
fn update(st: &mut State, call: &Call<'_>) -> Answer {
    let repo = call.repo().full_name.clone();
    let base = call.repo_base(st);
    let id = call.last_id();
    let Ok(body) = call.req.body_json::<Value>() else {
        return message(400, "Problems parsing JSON");
    };
    let Some(run) = st
        .check_runs
        .iter_mut()
        .find(|r| Some(r.id) == id && r.repo == repo)
    else {
        return not_found();
    };
    if run.app_id != APP_ID {
        return message(
            403,
            "Invalid app_id `4242` - check run can only be modified by its creator",
        );
    }
    if let Some(c) = body["conclusion"].as_str() {
        run.conclusion = Some(c.to_owned());
    }
    if let Some(t) = body["output"]["title"].as_str() {
        run.title = t.to_owned();
    }
    if let Some(summary) = body["output"]["summary"].as_str() {
        if summary.chars().count() > 65_535 {
            return message(422, "Invalid request: output.summary is too long");
        }
        run.summary = summary.to_owned();
    }
    let run = run.clone();
    let answer = shapes::check_run(st, &base, &run);
    (200, reply(st, 200, answer))
}

fn create(st: &mut State, call: &Call<'_>) -> Answer {
    let repo = call.repo().clone();
    let Ok(body) = call.req.body_json::<Value>() else {
        return message(400, "Problems parsing JSON");
    };
    let s = |k: &str| body[k].as_str().map(str::to_owned);
    let (Some(name), Some(head_sha)) = (s("name"), s("head_sha")) else {
        return message(422, "Invalid request: name and head_sha are required");
    };
    let has_git = repo.dir.join("HEAD").exists() || repo.dir.join(".git").exists();
    if has_git && rev(&repo.dir, &head_sha).is_none() {
        return message(422, "No commit found for SHA");
    }
    let summary = body["output"]["summary"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if summary.chars().count() > 65_535 {
        return message(
            422,
            "Invalid request: output.summary is too long (maximum is 65535 characters)",
        );
    }
    let conclusion = s("conclusion");
    let allowed = [
        "action_required",
        "cancelled",
        "failure",
        "neutral",
        "success",
        "skipped",
        "timed_out",
    ];
    if conclusion.as_deref().is_some_and(|c| !allowed.contains(&c)) {
        return message(422, "Invalid request: conclusion");
    }
    // "Required if you provide `completed_at` or a `status` of `completed`."
    let completed = s("status").as_deref() == Some("completed") || body["completed_at"].is_string();
    if completed && conclusion.is_none() {
        return message(
            422,
            "Invalid request: conclusion is required when status is completed",
        );
    }
    let run = CheckRun {
        id: next_id(st),
        repo: repo.full_name,
        head_sha,
        name,
        external_id: s("external_id"),
        conclusion,
        title: body["output"]["title"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        summary,
        app_id: APP_ID,
        details_url: s("details_url"),
    };
    let json = shapes::check_run(st, &call.repo_base(st), &run);
    st.check_runs.push(run);
    (201, reply(st, 201, json))
}
