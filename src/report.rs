//! Presentation of records: typed rows (sessions, attempts, tokens) and the one writer that renders
//! them as JSON, CSV or a terminal table, for the CLI and the read API alike.
//!
//! Row fields are declared in alphabetical order: that is the order the JSON has always had (it was
//! built as a sorted `serde_json` map), so serialising a row directly gives the same bytes.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use entity::states::{FileStatus, FilesSource};
use entity::{api_token, lab_session};
use sea_orm::{ActiveEnum, Iterable};
use serde::Serialize;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::ToSchema;

use crate::db::attempts::AttemptView;

/// The OpenAPI schema of a string that is one of `values`.
fn one_of(values: &[String]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().map(String::as_str)))
        .build()
}

/// The stored names of a state enum's values.
fn stored_names<E: ActiveEnum<Value = String> + Iterable>() -> Vec<String> {
    E::iter().map(|e| e.to_value()).collect()
}

fn file_status_schema() -> Object {
    one_of(&stored_names::<FileStatus>())
}

fn files_source_schema() -> Object {
    one_of(&stored_names::<FilesSource>())
}

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns with an upper-case header (a subset of the columns for wide rows).
    Table,
    /// A pretty-printed JSON array.
    Json,
    /// RFC 4180 CSV with a header row.
    Csv,
}

/// Why rows could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Csv(#[from] csv::Error),
}

/// A record that can be written as a row.
pub trait Row: Serialize {
    /// The CSV columns, in order.
    const COLUMNS: &'static [&'static str];
    /// The table's columns, in order.
    const TABLE_COLUMNS: &'static [&'static str] = Self::COLUMNS;
    /// The CSV cells, one per [`Row::COLUMNS`] entry (an absent value is empty).
    fn cells(&self) -> Vec<String>;
    /// The table cells, one per [`Row::TABLE_COLUMNS`] entry.
    fn table_cells(&self) -> Vec<String> {
        self.cells()
    }
}

/// A UTC time as RFC 3339 with whole seconds and `Z`.
pub fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn opt<T: ToString>(v: Option<&T>) -> String {
    v.map(ToString::to_string).unwrap_or_default()
}

/// A lab session (`labtrail session list`, `GET /api/v1/sessions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionRow {
    #[schema(required = true, format = DateTime)]
    pub archived_at: Option<String>,
    /// The branch policy.
    pub branches: String,
    #[schema(format = DateTime)]
    pub closes_at: String,
    #[schema(format = DateTime)]
    pub opens_at: String,
    pub org: String,
    /// The repository name pattern (glob).
    pub repos: String,
    pub slug: String,
    pub title: String,
}

impl From<&lab_session::Model> for SessionRow {
    fn from(s: &lab_session::Model) -> Self {
        Self {
            archived_at: s.archived_at.map(utc),
            branches: s.branch_policy.clone(),
            closes_at: utc(s.closes_at),
            opens_at: utc(s.opens_at),
            org: s.org.clone(),
            repos: s.repo_pattern.clone(),
            slug: s.slug.clone(),
            title: s.title.clone(),
        }
    }
}

impl Row for SessionRow {
    const COLUMNS: &'static [&'static str] = &[
        "org",
        "slug",
        "title",
        "repos",
        "branches",
        "opens_at",
        "closes_at",
        "archived_at",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.org.clone(),
            self.slug.clone(),
            self.title.clone(),
            self.repos.clone(),
            self.branches.clone(),
            self.opens_at.clone(),
            self.closes_at.clone(),
            opt(self.archived_at.as_ref()),
        ]
    }
}

/// One changed file of an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = File)]
pub struct FileRow {
    pub path: String,
    #[schema(schema_with = file_status_schema)]
    pub status: String,
}

/// A recorded attempt with its files (docs/design.md §7): `labtrail attempts …`, the read API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Attempt)]
pub struct AttemptRow {
    pub after: String,
    pub attempt_number: i32,
    pub audit_seq: i64,
    pub before: String,
    #[schema(required = true)]
    pub check_run_id: Option<i64>,
    pub delivery_id: String,
    pub files: Vec<FileRow>,
    pub files_complete: bool,
    #[schema(schema_with = files_source_schema)]
    pub files_source: String,
    pub forced: bool,
    pub id: i64,
    pub late: bool,
    #[schema(format = DateTime)]
    pub pushed_at: String,
    #[schema(required = true)]
    pub pusher: Option<String>,
    /// With microseconds: two deliveries within a second stay ordered.
    #[schema(format = DateTime)]
    pub received_at: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// `owner/name`.
    pub repository: String,
    pub repository_id: i64,
    /// The session's slug.
    pub session: String,
}

impl From<&AttemptView> for AttemptRow {
    fn from(v: &AttemptView) -> Self {
        let a = &v.attempt;
        Self {
            after: a.after_sha.clone(),
            attempt_number: a.attempt_number,
            audit_seq: a.audit_seq,
            before: a.before_sha.clone(),
            check_run_id: a.check_run_id,
            delivery_id: a.delivery_id.clone(),
            files: v
                .files
                .iter()
                .map(|f| FileRow {
                    path: f.path.clone(),
                    status: f.status.to_string(),
                })
                .collect(),
            files_complete: a.files_complete,
            files_source: a.files_source.to_string(),
            forced: a.forced,
            id: a.id,
            late: a.late,
            pushed_at: utc(a.pushed_at),
            pusher: a.pusher_login.clone(),
            received_at: a.received_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            git_ref: a.git_ref.clone(),
            repository: a.repository_full_name.clone(),
            repository_id: a.repository_id,
            session: v.session_slug.clone(),
        }
    }
}

impl Row for AttemptRow {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "session",
        "repository",
        "repository_id",
        "ref",
        "before",
        "after",
        "pushed_at",
        "received_at",
        "delivery_id",
        "pusher",
        "forced",
        "attempt_number",
        "late",
        "files_source",
        "files_complete",
        "files",
        "check_run_id",
        "audit_seq",
    ];
    const TABLE_COLUMNS: &'static [&'static str] = &[
        "id",
        "session",
        "repository",
        "ref",
        "after",
        "pushed_at",
        "attempt_number",
        "late",
        "files",
    ];

    /// Files as `status path` lines in one cell.
    fn cells(&self) -> Vec<String> {
        let files: Vec<String> = self
            .files
            .iter()
            .map(|f| format!("{} {}", f.status, f.path))
            .collect();
        vec![
            self.id.to_string(),
            self.session.clone(),
            self.repository.clone(),
            self.repository_id.to_string(),
            self.git_ref.clone(),
            self.before.clone(),
            self.after.clone(),
            self.pushed_at.clone(),
            self.received_at.clone(),
            self.delivery_id.clone(),
            opt(self.pusher.as_ref()),
            self.forced.to_string(),
            self.attempt_number.to_string(),
            self.late.to_string(),
            self.files_source.clone(),
            self.files_complete.to_string(),
            files.join("\n"),
            opt(self.check_run_id.as_ref()),
            self.audit_seq.to_string(),
        ]
    }

    /// The head commit shortened to 12 characters, files as a count.
    fn table_cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.session.clone(),
            self.repository.clone(),
            self.git_ref.clone(),
            self.after.chars().take(12).collect(),
            self.pushed_at.clone(),
            self.attempt_number.to_string(),
            self.late.to_string(),
            self.files.len().to_string(),
        ]
    }
}

/// A read-API token, never the token itself (`labtrail token list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRow {
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub name: String,
    pub org: Option<String>,
    pub revoked_at: Option<String>,
    pub role: String,
}

impl From<&api_token::Model> for TokenRow {
    fn from(t: &api_token::Model) -> Self {
        Self {
            created_at: utc(t.created_at),
            last_used_at: t.last_used_at.map(utc),
            name: t.name.clone(),
            org: t.org.clone(),
            revoked_at: t.revoked_at.map(utc),
            role: t.role.to_string(),
        }
    }
}

impl Row for TokenRow {
    const COLUMNS: &'static [&'static str] = &[
        "name",
        "role",
        "org",
        "created_at",
        "last_used_at",
        "revoked_at",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.role.clone(),
            opt(self.org.as_ref()),
            self.created_at.clone(),
            opt(self.last_used_at.as_ref()),
            opt(self.revoked_at.as_ref()),
        ]
    }
}

/// Write `rows` in `format`.
pub fn write<R: Row>(w: impl Write, rows: &[R], format: Format) -> Result<(), ReportError> {
    match format {
        Format::Json => write_json(w, rows)?,
        Format::Csv => write_csv(w, rows)?,
        Format::Table => write_table(w, rows)?,
    }
    Ok(())
}

/// A value as pretty-printed JSON and a newline.
pub fn write_json<T: Serialize + ?Sized>(mut w: impl Write, value: &T) -> Result<(), ReportError> {
    serde_json::to_writer_pretty(&mut w, value)?;
    writeln!(w)?;
    Ok(())
}

/// CSV: a header of [`Row::COLUMNS`], then one record per row.
pub fn write_csv<R: Row>(w: impl Write, rows: &[R]) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(w);
    w.write_record(R::COLUMNS)?;
    for r in rows {
        w.write_record(r.cells())?;
    }
    w.flush()?;
    Ok(())
}

/// A table: [`Row::TABLE_COLUMNS`] upper-cased as the header, columns two spaces apart, no trailing
/// blanks.
pub fn write_table<R: Row>(mut w: impl Write, rows: &[R]) -> std::io::Result<()> {
    let columns = R::TABLE_COLUMNS;
    let cells: Vec<Vec<String>> = rows.iter().map(Row::table_cells).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |vals: &[String]| {
        vals.iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let header: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
    writeln!(w, "{}", line(&header))?;
    for r in &cells {
        writeln!(w, "{}", line(r))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(org: Option<&str>) -> TokenRow {
        TokenRow {
            created_at: "2026-01-01T00:00:00Z".into(),
            last_used_at: None,
            name: "grader".into(),
            org: org.map(Into::into),
            revoked_at: None,
            role: "instructor".into(),
        }
    }

    fn render<R: Row>(rows: &[R], format: Format) -> String {
        let mut out = Vec::new();
        write(&mut out, rows, format).expect("write");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn json_keys_stay_in_alphabetical_order() {
        let out = render(&[token(Some("course"))], Format::Json);
        let keys: Vec<&str> = out
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        assert!(out.contains("\"last_used_at\": null"), "{out}");
        assert!(out.ends_with("}\n]\n"), "{out}");
    }

    #[test]
    fn csv_and_table_leave_absent_values_empty() {
        let rows = [token(None), token(Some("a-much-longer-org"))];
        assert_eq!(
            render(&rows, Format::Csv),
            "name,role,org,created_at,last_used_at,revoked_at\n\
             grader,instructor,,2026-01-01T00:00:00Z,,\n\
             grader,instructor,a-much-longer-org,2026-01-01T00:00:00Z,,\n"
        );
        assert_eq!(
            render(&rows, Format::Table),
            "NAME    ROLE        ORG                CREATED_AT            LAST_USED_AT  REVOKED_AT\n\
             grader  instructor                     2026-01-01T00:00:00Z\n\
             grader  instructor  a-much-longer-org  2026-01-01T00:00:00Z\n"
        );
    }
}
