//! The GitHub calls that find, create and update the `labtrail` check run on a pushed commit (its text is
//! `report::check_run`; the outbox that publishes it at most once per attempt is `jobs::check_runs`).

use chrono::Utc;
use serde::Deserialize;

use super::{repo_path, GithubApp, GithubError};
use crate::report::check_run::CheckOutput;

/// The check run's name.
pub const CHECK_NAME: &str = "labtrail";

#[derive(Deserialize)]
struct CheckRunRef {
    id: i64,
    external_id: Option<String>,
    app: Option<AppRef>,
}

#[derive(Deserialize)]
struct AppRef {
    id: u64,
}

#[derive(Deserialize)]
struct CheckRunList {
    #[serde(default)]
    check_runs: Vec<CheckRunRef>,
}

/// This App's `labtrail` check run on `sha` for `external_id`, if it exists.
#[tracing::instrument(skip(app))]
pub async fn find(
    app: &GithubApp,
    installation_id: i64,
    repo: &str,
    sha: &str,
    external_id: &str,
) -> Result<Option<i64>, GithubError> {
    let mut next = Some(format!(
        "/repos/{}/commits/{sha}/check-runs?check_name={CHECK_NAME}&filter=all&per_page=100",
        repo_path(repo)?
    ));
    while let Some(path) = next.take() {
        let (list, response): (CheckRunList, _) = app.get_json(installation_id, &path).await?;
        let mine = list.check_runs.into_iter().find(|r| {
            r.external_id.as_deref() == Some(external_id)
                && r.app.as_ref().is_none_or(|a| a.id == app.app_id())
        });
        if let Some(run) = mine {
            return Ok(Some(run.id));
        }
        next = app.next_page(&response)?;
    }
    Ok(None)
}

/// Where a new check run goes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub installation_id: i64,
    pub repo: &'a str,
    pub sha: &'a str,
    /// The attempt's id.
    pub external_id: &'a str,
    /// The attempt's page in the web view.
    pub details_url: Option<&'a str>,
}

/// Create the completed check run.
#[tracing::instrument(skip(app, output))]
pub async fn create(
    app: &GithubApp,
    target: &Target<'_>,
    output: &CheckOutput,
) -> Result<i64, GithubError> {
    let Target {
        installation_id,
        repo,
        sha,
        external_id,
        details_url,
    } = *target;
    let mut body = serde_json::json!({
        "name": CHECK_NAME,
        "head_sha": sha,
        "external_id": external_id,
        "status": "completed",
        "conclusion": output.conclusion,
        "completed_at": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "output": { "title": output.title, "summary": output.summary },
    });
    if let Some(url) = details_url {
        body["details_url"] = url.into();
    }
    let path = format!("/repos/{}/check-runs", repo_path(repo)?);
    let run: CheckRunRef = app.post_json(installation_id, &path, &body).await?;
    Ok(run.id)
}

/// Replace an existing check run's conclusion and output.
#[tracing::instrument(skip(app, output))]
pub async fn update(
    app: &GithubApp,
    installation_id: i64,
    repo: &str,
    check_run_id: i64,
    output: &CheckOutput,
) -> Result<(), GithubError> {
    let body = serde_json::json!({
        "conclusion": output.conclusion,
        "output": { "title": output.title, "summary": output.summary },
    });
    let path = format!("/repos/{}/check-runs/{check_run_id}", repo_path(repo)?);
    let _: CheckRunRef = app.patch_json(installation_id, &path, &body).await?;
    Ok(())
}
