//! `labtrail deliveries list|show`: the delivery queue as operators see it.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use sea_orm::Iterable;

use super::{open, print_rows};
use crate::cli::config::{GlobalArgs, OutputFormat};
use crate::db;
use crate::db::deliveries::Status;
use crate::report::{self, DeliveryRow};

pub(super) async fn list(
    g: &GlobalArgs,
    status: Option<&str>,
    limit: u64,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let status = status.map(parse_status).transpose()?;
    let db = open(g).await?;
    let list = db::deliveries::list(&db, status, limit)
        .await
        .context("Cannot list deliveries")?;
    let guids: Vec<String> = list.iter().map(|d| d.guid.clone()).collect();
    let attempts: HashMap<String, i64> = db::attempts::by_deliveries(&db, &guids)
        .await
        .context("Cannot read the attempts")?
        .into_iter()
        .collect();
    let rows: Vec<DeliveryRow> = list
        .iter()
        .map(|d| DeliveryRow::new(d, attempts.get(&d.guid).copied()))
        .collect();
    print_rows(&rows, format)?;
    Ok(ExitCode::SUCCESS)
}

/// A `--status` value: one of the stored names of [`Status`].
fn parse_status(name: &str) -> anyhow::Result<Status> {
    Status::iter().find(|s| *s == name).ok_or_else(|| {
        let names: Vec<String> = Status::iter().map(|s| s.to_string()).collect();
        anyhow!("Unknown --status {name:?}: use one of {}", names.join(", "))
    })
}

pub(super) async fn show(g: &GlobalArgs, guid: &str) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let Some(d) = db::deliveries::get(&db, guid)
        .await
        .context("Cannot read the delivery")?
    else {
        bail!("No delivery {guid:?}");
    };
    let attempt = db::attempts::by_deliveries(&db, std::slice::from_ref(&d.guid))
        .await
        .context("Cannot read the attempts")?
        .first()
        .map(|(_, id)| *id);
    report::write_json(std::io::stdout().lock(), &DeliveryRow::new(&d, attempt))?;
    Ok(ExitCode::SUCCESS)
}
