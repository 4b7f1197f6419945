//! `labtrail grades export`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::summarize_session;
use crate::cli::config::GlobalArgs;
use crate::report::{CsvWriter, GradeRow};
use crate::secrets;

pub(super) async fn export(
    g: &GlobalArgs,
    slug: &str,
    org: Option<&str>,
    out: Option<&Path>,
    github_web_url: &url::Url,
) -> anyhow::Result<ExitCode> {
    let (session, summary) = summarize_session(g, slug, org).await?;
    let sink = sink(out)?;
    let mut csv = CsvWriter::<_, GradeRow>::new(std::io::BufWriter::new(sink))?;
    for s in &summary {
        csv.row(&GradeRow::new(s, &session, github_web_url))?;
    }
    csv.into_inner()?.flush()?;
    if let Some(path) = out {
        eprintln!("wrote {} rows to {}", summary.len(), path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Where grades go: `out` created (or truncated) readable by its owner only, or standard output.
fn sink(out: Option<&Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match out {
        Some(path) => {
            let file = secrets::options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .with_context(|| format!("Cannot create {}", path.display()))?;
            secrets::tighten(path)
                .with_context(|| format!("Cannot restrict {} to its owner", path.display()))?;
            Box::new(file)
        }
        None => Box::new(std::io::stdout().lock()),
    })
}

/// `labtrail grades book`: the gradebook across the org's sessions (or `slugs`), as CSV.
pub(super) async fn book(
    g: &GlobalArgs,
    org: &str,
    slugs: &[String],
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let db = super::open(g).await?;
    let book = crate::db::gradebook::book(&db, org, slugs)
        .await
        .context("Cannot make the gradebook")?;
    let sink = sink(out)?;
    let mut w = std::io::BufWriter::new(sink);
    for record in crate::report::gradebook::records(&book) {
        w.write_all(&record?)?;
    }
    w.flush()?;
    if let Some(path) = out {
        eprintln!(
            "wrote {} students x {} sessions to {}",
            book.rows.len(),
            book.sessions.len(),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
