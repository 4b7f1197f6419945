//! `labtrail grades export`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use super::summarize_session;
use crate::cli::config::GlobalArgs;
use crate::private_file;
use crate::report::{CsvWriter, GradeRow};

pub(super) async fn export(
    g: &GlobalArgs,
    slug: &str,
    org: Option<&str>,
    out: Option<&Path>,
    github_web_url: &url::Url,
) -> anyhow::Result<ExitCode> {
    let (session, summary) = summarize_session(g, slug, org).await?;
    let sink: Box<dyn Write> = match out {
        Some(path) => {
            let file = private_file::options()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .with_context(|| format!("Cannot create {}", path.display()))?;
            private_file::tighten(path)
                .with_context(|| format!("Cannot restrict {} to its owner", path.display()))?;
            Box::new(file)
        }
        None => Box::new(std::io::stdout().lock()),
    };
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
