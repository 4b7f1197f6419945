//! `labtrail attempts list|show`.

use std::process::ExitCode;

use anyhow::{bail, Context};

use super::{open, print_rows};
use crate::config::{GlobalArgs, OutputFormat};
use crate::db::{self, attempts::AttemptFilter};
use crate::report::{self, AttemptRow};

pub(super) async fn list(
    g: &GlobalArgs,
    filter: &AttemptFilter,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let views = db::attempts::list(&db, filter)
        .await
        .context("Cannot list attempts")?;
    let rows: Vec<AttemptRow> = views.iter().map(AttemptRow::from).collect();
    print_rows(&rows, format)?;
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn show(g: &GlobalArgs, id: i64) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let Some(v) = db::attempts::get(&db, id)
        .await
        .context("Cannot read the attempt")?
    else {
        bail!("No attempt with id {id}");
    };
    report::write_json(std::io::stdout().lock(), &AttemptRow::from(&v))?;
    Ok(ExitCode::SUCCESS)
}
