//! `labtrail scores sync`: score the final attempts without a score from GitHub's check runs.

use std::process::ExitCode;

use anyhow::Context;

use super::{cli_actor, github_config, open};
use crate::cli::config::{GithubArgs, GlobalArgs};
use crate::db;
use crate::github::GithubApp;
use crate::jobs::scores;

/// Exit 1 when GitHub could not be asked about some attempt (they are tried again next time).
pub(super) async fn sync(
    g: &GlobalArgs,
    session: Option<&str>,
    org: Option<&str>,
    limit: u64,
    github: &GithubArgs,
) -> anyhow::Result<ExitCode> {
    let app = match github_config(github)? {
        Some(config) => Some(GithubApp::new(config).context(
            "Cannot set up the GitHub App (check GITHUB_APP_ID, the private key and GITHUB_API_URL)",
        )?),
        None => {
            eprintln!(
                "no GitHub App configured (GITHUB_APP_ID, GITHUB_PRIVATE_KEY[_PATH]): only pending \
                 scores are applied"
            );
            None
        }
    };
    let db = open(g).await?;
    let sessions = match session {
        Some(slug) => vec![db::sessions::find_by_slug(&db, slug, org)
            .await
            .context("Cannot find the session")?],
        None => db::sessions::list(&db, org)
            .await
            .context("Cannot list sessions")?
            .into_iter()
            .filter(|s| s.archived_at.is_none())
            .collect(),
    };
    let report = scores::sync(
        &db,
        app.as_ref(),
        &g.origin(),
        &cli_actor(),
        &sessions,
        limit,
        &mut |line| println!("{line}"),
    )
    .await
    .context("Cannot sync scores")?;
    println!(
        "{} final attempts without a score: {} scored, {} without a completed run, {} failed, {} left",
        report.checked, report.scored, report.without_run, report.failed, report.left
    );
    if let Some(why) = &report.stopped {
        println!("stopped early: {why}; run it again later");
    }
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
