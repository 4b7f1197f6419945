//! `labtrail attempts list|show|summary`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context};

use super::{open, print_rows, summarize_session};
use crate::cli::config::{GlobalArgs, OutputFormat};
use crate::db::{self, attempts::AttemptFilter};
use crate::report::{self, AttemptRow, CsvWriter, JsonArrayWriter, SummaryRow};

/// Attempts read per query when streaming CSV or JSON.
const PAGE: u64 = 2000;

pub(super) async fn list(
    g: &GlobalArgs,
    filter: &AttemptFilter,
    student: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    if let Some(slug) = &filter.session_slug {
        // An unknown session is an error (exit 2), like every other command's, not an empty list.
        if db::sessions::with_slug(&db, slug, None)
            .await
            .context("Cannot find the session")?
            .is_empty()
        {
            return Err(
                anyhow::Error::new(db::sessions::SessionError::NoSlug(slug.clone()))
                    .context("Cannot find the session"),
            );
        }
    }
    if let (Some(name), Some(slug)) = (student, &filter.session_slug) {
        let session = db::sessions::find_by_slug(&db, slug, None)
            .await
            .context("Cannot find the session")?;
        let repos = db::student::student(&db, &session, name)
            .await
            .context("Cannot list the student's attempts")?;
        if repos.is_empty() {
            bail!("No student {name:?} in session {slug:?} (not on the roster, no push)");
        }
        let rows: Vec<AttemptRow> = repos
            .iter()
            .flat_map(|r| &r.attempts)
            .filter(|v| {
                filter.repo.as_deref().is_none_or(|repo| {
                    let full = v.attempt.repository_full_name.to_ascii_lowercase();
                    let repo = repo.to_ascii_lowercase();
                    full == repo || full.ends_with(&format!("/{repo}"))
                })
            })
            .map(AttemptRow::from)
            .collect();
        print_rows(&rows, format)?;
        return Ok(ExitCode::SUCCESS);
    }
    if format != OutputFormat::Table {
        stream(&db, filter, format).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let views = db::attempts::list(&db, filter)
        .await
        .context("Cannot list attempts")?;
    let rows: Vec<AttemptRow> = views.iter().map(AttemptRow::from).collect();
    print_rows(&rows, format)?;
    Ok(ExitCode::SUCCESS)
}

/// CSV or JSON in constant memory: pages of [`PAGE`] attempts (keyset on id), each written before the next is
/// read. (The table needs every row first, for its widths.)
async fn stream(
    db: &sea_orm::DatabaseConnection,
    filter: &AttemptFilter,
    format: OutputFormat,
) -> anyhow::Result<()> {
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut sink = if format == OutputFormat::Csv {
        Sink::Csv(Box::new(CsvWriter::new(out)?))
    } else {
        Sink::Json(JsonArrayWriter::new(out))
    };
    let mut page = AttemptFilter {
        limit: Some(PAGE),
        ..filter.clone()
    };
    loop {
        let views = db::attempts::list(db, &page)
            .await
            .context("Cannot list attempts")?;
        for v in &views {
            let row = AttemptRow::from(v);
            match &mut sink {
                Sink::Csv(w) => w.row(&row)?,
                Sink::Json(w) => w.item(&row)?,
            }
        }
        match views.last() {
            Some(last) if views.len() as u64 == PAGE => page.after_id = Some(last.attempt.id),
            _ => break,
        }
    }
    let mut out = match sink {
        Sink::Csv(w) => (*w).into_inner()?,
        Sink::Json(w) => w.finish()?,
    };
    out.flush()?;
    Ok(())
}

enum Sink<W: Write> {
    Csv(Box<CsvWriter<W, AttemptRow>>),
    Json(JsonArrayWriter<W>),
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

pub(super) async fn summary(
    g: &GlobalArgs,
    slug: &str,
    org: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let (_, summary) = summarize_session(g, slug, org).await?;
    let rows: Vec<SummaryRow> = summary.iter().map(SummaryRow::from).collect();
    print_rows(&rows, format)?;
    Ok(ExitCode::SUCCESS)
}
