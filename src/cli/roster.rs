//! `labtrail roster import|remove|list`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::{cli_actor, open, print_rows};
use crate::cli::config::{GlobalArgs, OutputFormat};
use crate::db::{self, roster::ImportMode};
use crate::domain::roster::Diff;
use crate::report::RosterRow;

/// `identifier (login, "name")` of a roster line.
fn who(identifier: &str, login: &str, name: &str) -> String {
    let login = if login.is_empty() {
        "not linked"
    } else {
        login
    };
    if name.is_empty() {
        format!("{identifier} ({login})")
    } else {
        format!("{identifier} ({login}, {name:?})")
    }
}

/// One line per change: `+ added`, `~ updated: what changes`, `- removed`.
fn print_diff(d: &Diff) {
    for e in &d.added {
        println!("+ {}", who(&e.identifier, &e.github_username, &e.name));
    }
    for (old, new) in &d.updated {
        let mut changes = Vec::new();
        if old.github_username != new.github_username {
            changes.push(format!(
                "github_username {:?} → {:?}",
                old.github_username, new.github_username
            ));
        }
        if old.github_id != new.github_id {
            let id = |i: Option<i64>| i.map_or_else(|| "none".to_owned(), |i| i.to_string());
            changes.push(format!(
                "github_id {} → {}",
                id(old.github_id),
                id(new.github_id)
            ));
        }
        if old.name != new.name {
            changes.push(format!("name {:?} → {:?}", old.name, new.name));
        }
        println!("~ {}: {}", old.identifier, changes.join(", "));
    }
    for s in &d.removed {
        println!("- {}", who(&s.identifier, &s.github_username, &s.name));
    }
}

pub(super) async fn import(
    g: &GlobalArgs,
    org: &str,
    file: &Path,
    mode: ImportMode,
) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file)
        .with_context(|| format!("Cannot read the roster {}", file.display()))?;
    let db = open(g).await?;
    let d = db::roster::import(&db, &g.origin(), &cli_actor(), org, &bytes, mode)
        .await
        .with_context(|| {
            format!(
                "Cannot import the roster {} (nothing was changed)",
                file.display()
            )
        })?;
    if mode.replace || mode.dry_run {
        print_diff(&d);
    }
    let removed = if mode.replace {
        format!(", {} removed", d.removed.len())
    } else {
        String::new()
    };
    println!(
        "roster of {}: {} added, {} updated{removed}, {} unchanged{}",
        org.to_ascii_lowercase(),
        d.added.len(),
        d.updated.len(),
        d.unchanged,
        if mode.dry_run {
            " (dry run: nothing was changed)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn remove(
    g: &GlobalArgs,
    org: &str,
    identifiers: &[String],
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let rows = db::roster::remove(&db, &g.origin(), &cli_actor(), org, identifiers)
        .await
        .context("Cannot remove from the roster (nothing was changed)")?;
    for s in &rows {
        println!("- {}", who(&s.identifier, &s.github_username, &s.name));
    }
    println!(
        "roster of {}: {} removed",
        org.to_ascii_lowercase(),
        rows.len()
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

/// `roster link --org ORG IDENTIFIER LOGIN` (by login: the GitHub id is recorded when the student signs
/// in and accepts an invitation).
pub(super) async fn link(
    g: &GlobalArgs,
    org: &str,
    identifier: &str,
    login: &str,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let account = db::roster::RosterAccount {
        login: login.to_owned(),
        github_id: None,
    };
    let s = db::roster::link(&db, &g.origin(), &cli_actor(), org, identifier, &account)
        .await
        .context("Cannot link the roster entry (nothing was changed)")?;
    println!("linked {}", who(&s.identifier, &s.github_username, &s.name));
    Ok(ExitCode::SUCCESS)
}

/// `roster unlink --org ORG IDENTIFIER`.
pub(super) async fn unlink(
    g: &GlobalArgs,
    org: &str,
    identifier: &str,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let s = db::roster::unlink(&db, &g.origin(), &cli_actor(), org, identifier)
        .await
        .context("Cannot unlink the roster entry (nothing was changed)")?;
    println!(
        "unlinked {}",
        who(&s.identifier, &s.github_username, &s.name)
    );
    Ok(ExitCode::SUCCESS)
}
