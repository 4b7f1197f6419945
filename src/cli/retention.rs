//! `labtrail retention run`.

use crate::report::plural;
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;

use super::{cli_actor, open};
use crate::cli::config::{GlobalArgs, RetentionArgs};

pub(super) async fn run(g: &GlobalArgs, args: RetentionArgs) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let policy = crate::db::retention::Policy {
        payload_days: args.payload_days,
        attempt_days: args.attempt_days,
    };
    let outcome = crate::db::retention::run(
        &db,
        &g.origin(),
        &cli_actor(),
        policy,
        Utc::now(),
        args.dry_run,
    )
    .await
    .context("Cannot apply retention")?;
    let verb = if args.dry_run {
        "would drop"
    } else {
        "dropped"
    };
    println!(
        "payloads: {verb} the raw bytes of {} settled more than {} days ago",
        plural(outcome.payloads_dropped, "delivery", "deliveries"),
        args.payload_days
    );
    let verb = if args.dry_run {
        "would erase"
    } else {
        "erased"
    };
    let total: u64 = outcome.attempts_erased.iter().map(|(_, n)| n).sum();
    println!(
        "attempts: {verb} {} of {} archived more than {} days ago",
        plural(total, "attempt", "attempts"),
        plural(outcome.attempts_erased.len() as u64, "session", "sessions"),
        args.attempt_days
    );
    for (session, n) in &outcome.attempts_erased {
        println!("  session {session}: {n}");
    }
    Ok(ExitCode::SUCCESS)
}
