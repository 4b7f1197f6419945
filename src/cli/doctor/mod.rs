//! `labtrail doctor`: the self-check of [`crate::cli::doctor::checks`], printed one line per check.

use std::process::ExitCode;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::github_config;
use crate::cli::config::{DoctorArgs, GlobalArgs};
pub mod checks;

use self::checks::{DoctorConfig, GithubSetting};
use crate::github::CallPolicy;

pub(super) async fn doctor(g: &GlobalArgs, args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let github = match github_config(&args.github) {
        Ok(None) => GithubSetting::NotSet,
        Ok(Some(mut c)) => {
            // One try per call, a short timeout: a self-check reports, it does not wait GitHub out.
            c.policy = CallPolicy {
                max_tries: 1,
                request_timeout: Duration::from_secs(15),
                ..CallPolicy::default()
            };
            GithubSetting::Ready(c)
        }
        Err(e) => GithubSetting::Unusable(format!("{e:#}")),
    };
    let cfg = DoctorConfig {
        database_url: g.database_url.clone(),
        origin: g.origin(),
        public_url: g.public_url.clone(),
        audit_key_path: g.audit_key_path.clone(),
        webhook_secret_set: args
            .webhook_secret
            .as_ref()
            .is_some_and(|s| !s.expose_secret().is_empty()),
        github,
        checkpoint_interval: Duration::from_secs(args.checkpoint_interval),
        witnesses: match &g.witnesses {
            Some(path) => {
                crate::audit::witness::read_list(path, crate::audit::witness::parse_witnesses)
                    .map_err(|e| e.to_string())
            }
            None => Ok(Vec::new()),
        },
    };
    let checks = checks::run(&cfg).await;
    // Findings quote what GitHub and the database hold (App and account names): escaped like a table.
    for check in &checks {
        println!("{}", crate::report::escape_controls(&check.to_string()));
    }
    Ok(if checks.iter().all(checks::Check::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
