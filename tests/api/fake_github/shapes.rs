//! GitHub's objects as the REST API returns them, with every field its OpenAPI description requires
//! (checked by `schema.rs` against the vendored schemas in `tests/github-openapi/`).

use serde_json::{json, Value};

use super::state::{CheckRun, State};
use super::API_PREFIX;

const CREATED: &str = "2026-01-01T00:00:00Z";

/// The API base of the fake (`http://127.0.0.1:port/api/v3`).
pub(super) fn api(st: &State) -> String {
    format!("{}{API_PREFIX}", st.origin)
}

/// A `simple-user` (a user or an organization).
pub(super) fn simple_user(st: &State, login: &str, id: i64, kind: &str) -> Value {
    let u = format!("{}/users/{login}", api(st));
    json!({
        "login": login, "id": id, "node_id": format!("U_{id}"),
        "avatar_url": format!("{}/avatars/{login}", st.origin), "gravatar_id": "",
        "url": u, "html_url": format!("{}/{login}", st.origin),
        "followers_url": format!("{u}/followers"), "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"), "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"), "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"), "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"), "type": kind, "site_admin": false,
    })
}

/// The App (`integration`).
pub(super) fn app(st: &State, app_id: u64) -> Value {
    json!({
        "id": app_id, "slug": "labtrail", "node_id": format!("A_{app_id}"),
        "owner": simple_user(st, "course", 9000, "Organization"),
        "name": if app_id == super::APP_ID { "labtrail" } else { "another-ci" },
        "description": null, "external_url": st.origin, "html_url": format!("{}/apps/labtrail", st.origin),
        "created_at": CREATED, "updated_at": CREATED,
        "permissions": { "checks": "write", "contents": "read", "metadata": "read" },
        "events": ["push", "installation"],
    })
}

/// An installation of the App.
pub(super) fn installation(
    st: &State,
    id: i64,
    suspended_at: Option<chrono::DateTime<chrono::Utc>>,
) -> Value {
    let a = api(st);
    json!({
        "id": id, "app_id": super::APP_ID, "app_slug": "labtrail", "target_id": 9000,
        "target_type": "Organization", "single_file_name": null, "repository_selection": "all",
        "access_tokens_url": format!("{a}/app/installations/{id}/access_tokens"),
        "repositories_url": format!("{a}/installation/repositories"),
        "html_url": format!("{}/organizations/course/settings/installations/{id}", st.origin),
        "events": ["push", "installation"], "account": simple_user(st, "course", 9000, "Organization"),
        "permissions": st.permissions_of(id),
        "created_at": CREATED, "updated_at": CREATED,
        "suspended_by": suspended_at.map(|_| simple_user(st, "teacher", 31, "User")),
        "suspended_at": suspended_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    })
}

/// A `commit` of the repository at `base` (`…/repositories/{id}`), with `files` when given.
pub(super) fn commit(st: &State, base: &str, sha: &str, tree: &str, parents: &[String]) -> Value {
    let web = format!("{}/course/repo", st.origin);
    json!({
        "url": format!("{base}/commits/{sha}"), "sha": sha, "node_id": format!("C_{sha}"),
        "html_url": format!("{web}/commit/{sha}"), "comments_url": format!("{base}/commits/{sha}/comments"),
        "commit": {
            "url": format!("{base}/git/commits/{sha}"),
            "author": { "name": "Test", "email": "test@example.com", "date": CREATED },
            "committer": { "name": "Test", "email": "test@example.com", "date": CREATED },
            "message": "…", "comment_count": 0,
            "tree": { "sha": tree, "url": format!("{base}/git/trees/{tree}") },
        },
        "author": null, "committer": null,
        "parents": parents.iter().map(|p| json!({
            "sha": p, "url": format!("{base}/commits/{p}"), "html_url": format!("{web}/commit/{p}"),
        })).collect::<Vec<_>>(),
    })
}

/// A `diff-entry` for a file (`filename`, `status`, `previous_filename` already set in `file`).
pub(super) fn diff_entry(base: &str, sha: &str, mut file: Value) -> Value {
    let name = file["filename"].as_str().unwrap_or_default().to_owned();
    for (k, v) in [
        ("sha", json!(sha)),
        ("additions", json!(1)),
        ("deletions", json!(0)),
        ("changes", json!(1)),
        ("blob_url", json!(format!("{base}/blob/{sha}/{name}"))),
        ("raw_url", json!(format!("{base}/raw/{sha}/{name}"))),
        (
            "contents_url",
            json!(format!("{base}/contents/{name}?ref={sha}")),
        ),
    ] {
        file[k] = v;
    }
    file
}

/// A `check-run`.
pub(super) fn check_run(st: &State, base: &str, r: &CheckRun) -> Value {
    let url = format!("{base}/check-runs/{}", r.id);
    json!({
        "id": r.id, "node_id": format!("CR_{}", r.id), "head_sha": r.head_sha, "name": r.name,
        "external_id": r.external_id, "url": url,
        "html_url": format!("{}/{}/runs/{}", st.origin, r.repo, r.id), "details_url": r.details_url.clone().unwrap_or_else(|| st.origin.clone()),
        "status": "completed", "conclusion": r.conclusion,
        "started_at": CREATED, "completed_at": CREATED,
        "output": {
            "title": r.title, "summary": r.summary, "text": null, "annotations_count": 0,
            "annotations_url": format!("{url}/annotations"),
        },
        "check_suite": { "id": 5_000_000 + r.id % 1000 },
        "app": app(st, r.app_id),
        "pull_requests": [],
    })
}
