//! `labtrail session create|list|archive`.

use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::{cli_actor, open, print_rows};
use crate::config::{GlobalArgs, OutputFormat, SessionCreateArgs};
use crate::db::{self, sessions::NewSession};
use crate::report::{utc, SessionRow};

fn parse_time(flag: &str, s: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("Cannot read --{flag} {s:?}: use RFC 3339 with an offset, e.g. 2026-12-01T23:59:00+01:00"))
}

pub(super) async fn create(g: &GlobalArgs, a: SessionCreateArgs) -> anyhow::Result<ExitCode> {
    let new = NewSession {
        org: a.org,
        slug: a.slug,
        title: a.title,
        repo_pattern: a.repos,
        branch_policy: a.branches,
        opens_at: parse_time("opens", &a.opens)?,
        closes_at: parse_time("closes", &a.closes)?,
    };
    let db = open(g).await?;
    let s = db::sessions::create(&db, &g.origin(), &cli_actor(), new)
        .await
        .context("Cannot create the session")?;
    println!(
        "created session {} for {}: repositories {:?}, branches {}, {} – {}",
        s.slug,
        s.org,
        s.repo_pattern,
        s.branch_policy,
        utc(s.opens_at),
        utc(s.closes_at)
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn list(
    g: &GlobalArgs,
    org: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let sessions = db::sessions::list(&db, org)
        .await
        .context("Cannot list sessions")?;
    let rows: Vec<SessionRow> = sessions.iter().map(SessionRow::from).collect();
    print_rows(&rows, format)?;
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn archive(g: &GlobalArgs, org: &str, slug: &str) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let s = db::sessions::archive(&db, &g.origin(), &cli_actor(), org, slug)
        .await
        .context("Cannot archive the session")?;
    println!(
        "archived session {} of {} at {}",
        s.slug,
        s.org,
        s.archived_at.map(utc).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
