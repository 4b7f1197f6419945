//! `labtrail redeliver`: one catch-up run by hand.

use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::Utc;

use super::{github_config, open};
use crate::cli::config::{GlobalArgs, RedeliverArgs};
use crate::github::GithubApp;
use crate::jobs::redeliver::{self, RedeliverPolicy};

/// Exit 1 when the listing or any request failed.
pub(super) async fn redeliver(g: &GlobalArgs, args: RedeliverArgs) -> anyhow::Result<ExitCode> {
    let window = redeliver::parse_window(&args.since).context("Cannot use --since")?;
    let Some(config) = github_config(&args.github)? else {
        bail!(
            "redeliver acts as the GitHub App: set GITHUB_APP_ID and GITHUB_PRIVATE_KEY or \
             GITHUB_PRIVATE_KEY_PATH (and GITHUB_API_URL for GitHub Enterprise Server)"
        );
    };
    let app = GithubApp::new(config).context(
        "Cannot set up the GitHub App (check GITHUB_APP_ID, the private key and GITHUB_API_URL)",
    )?;
    let db = open(g).await?;
    let policy = RedeliverPolicy {
        window,
        max_requests: usize::from(args.limit),
        // By hand, the operator decides: no cap on GitHub's earlier tries.
        max_tries_per_guid: None,
        ..RedeliverPolicy::default()
    };
    let report = redeliver::run(&app, &db, &policy, Utc::now(), args.dry_run)
        .await
        .context("Cannot complete the redelivery catch-up")?;
    for guid in &report.guids {
        println!("{}", report.line(guid));
    }
    println!("{}", report.summary());
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
