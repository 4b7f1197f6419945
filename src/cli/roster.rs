//! `labtrail roster import|list`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::{cli_actor, open, print_rows};
use crate::cli::config::{GlobalArgs, OutputFormat};
use crate::db;
use crate::report::RosterRow;

pub(super) async fn import(g: &GlobalArgs, org: &str, file: &Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file)
        .with_context(|| format!("Cannot read the roster {}", file.display()))?;
    let db = open(g).await?;
    let counts = db::roster::import(&db, &g.origin(), &cli_actor(), org, &bytes)
        .await
        .with_context(|| {
            format!(
                "Cannot import the roster {} (nothing was changed)",
                file.display()
            )
        })?;
    println!(
        "roster of {}: {} added, {} updated, {} unchanged",
        org.to_ascii_lowercase(),
        counts.added,
        counts.updated,
        counts.unchanged
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn list(
    g: &GlobalArgs,
    org: &str,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let students = db::roster::list(&db, org)
        .await
        .context("Cannot list the roster")?;
    let rows: Vec<RosterRow> = students.iter().map(RosterRow::from).collect();
    print_rows(&rows, format)?;
    Ok(ExitCode::SUCCESS)
}
