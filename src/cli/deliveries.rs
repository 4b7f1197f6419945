//! `labtrail deliveries list|show`: the delivery queue as operators see it.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::{open, print_rows};
use crate::config::{GlobalArgs, OutputFormat};
use crate::db;
use crate::report::{self, DeliveryRow};

const STATUSES: &[&str] = &[
    "queued",
    "processing",
    "processed",
    "ignored",
    "retrying",
    "dead",
    "rejected",
];

pub(super) async fn list(
    g: &GlobalArgs,
    status: Option<&str>,
    limit: u64,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    if let Some(s) = status.filter(|s| !STATUSES.contains(s)) {
        bail!("Unknown --status {s:?}: use one of {}", STATUSES.join(", "));
    }
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
