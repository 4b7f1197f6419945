//! `labtrail reindex`: rebuild the kept per-student state, with progress.

use std::process::ExitCode;

use anyhow::Context;

use super::open;
use crate::cli::config::GlobalArgs;
use crate::db;

pub(super) async fn reindex(
    g: &GlobalArgs,
    slug: Option<&str>,
    org: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let sessions = match slug {
        Some(slug) => vec![db::sessions::find_by_slug(&db, slug, org)
            .await
            .context("Cannot find the session")?],
        None => db::sessions::list(&db, org)
            .await
            .context("Cannot list the sessions")?,
    };
    let of = sessions.len();
    for (i, session) in sessions.iter().enumerate() {
        let rows = db::student_state::reindex(&db, &g.origin(), session)
            .await
            .with_context(|| format!("Cannot rebuild session {}/{}", session.org, session.slug))?;
        eprintln!(
            "reindexed {}/{}: {rows} rows ({} of {of})",
            session.org,
            session.slug,
            i + 1
        );
    }
    println!("reindexed {of} sessions");
    Ok(ExitCode::SUCCESS)
}
