//! Presentation of records: typed rows (sessions, attempts, tokens, the roster, the per-student summary,
//! Classroom-shaped grades) and the one writer that renders them as JSON, CSV or a terminal table, for the
//! CLI and the read API alike. Every CSV and table cell goes through [`escape_controls`] (no terminal
//! escape sequence from a student's text reaches a terminal), every CSV cell then through [`csv_safe`] (no
//! spreadsheet formulas), and [`CsvWriter`] writes row by row so that exports stream.
//!
//! Row fields are declared in alphabetical order: that is the order the JSON has always had (it was
//! built as a sorted `serde_json` map), so serialising a row directly gives the same bytes.

pub mod check_run;
pub mod export;
pub mod gradebook;
mod plural;

pub use self::plural::plural;

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use entity::states::{FileStatus, FilesSource};
use entity::{api_token, lab_session, roster_student, session_extension};
use sea_orm::{ActiveEnum, Iterable};
use serde::Serialize;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::ToSchema;

use crate::db::attempts::AttemptView;
use crate::db::summary::StudentSummary;
use crate::domain::session::local_time;

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
    /// The table cell of `column` where it differs from the CSV cell of that name (shorter, local, a
    /// count); `None`: the CSV cell.
    fn table_cell(&self, _column: &str) -> Option<String> {
        None
    }
    /// The table cells, one per [`Row::TABLE_COLUMNS`] entry.
    fn table_cells(&self) -> Vec<String> {
        let cells = self.cells();
        Self::TABLE_COLUMNS
            .iter()
            .map(|column| {
                self.table_cell(column).unwrap_or_else(|| {
                    let i = Self::COLUMNS.iter().position(|c| c == column);
                    debug_assert!(i.is_some(), "table column {column} has no cell");
                    i.map(|i| cells[i].clone()).unwrap_or_default()
                })
            })
            .collect()
    }
}

/// A UTC time as RFC 3339 with whole seconds and `Z`.
pub fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A cell a spreadsheet would run as a formula (OWASP "CSV injection": it starts with `=`, `+`, `-`, `@`,
/// a tab or a carriage return) with a leading `'`, which spreadsheets show as text; any other cell as is.
pub fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// A score as one cell: `7/10`, or the conclusion alone, or empty.
pub fn score_cell(
    points: Option<&str>,
    available: Option<&str>,
    conclusion: Option<&str>,
) -> String {
    match (points, available) {
        (Some(p), Some(a)) => format!("{p}/{a}"),
        _ => conclusion.unwrap_or_default().to_owned(),
    }
}

/// Control characters written out as text: C0 (U+0000–U+001F, so ESC, BEL, CR, LF and TAB too) and DEL
/// as `\x1b`, C1 (U+0080–U+009F, e.g. the one-byte CSI) as `\u{9b}`. Student-controlled strings (names,
/// repository names, logins) reach terminals through the tables, the CSVs and `doctor`: none of them can
/// colour, move the cursor, ring the bell, retitle the window or hide a line. Any other text as is.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write as _;
    let is_control = |c: char| c.is_ascii_control() || ('\u{80}'..='\u{9f}').contains(&c);
    if !text.chars().any(is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if is_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
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
    /// The session's deadline (students with an extension have their own).
    #[schema(format = DateTime)]
    pub closes_at: String,
    /// Per-student deadlines (`labtrail session extend`), by student.
    pub extensions: Vec<ExtensionRow>,
    #[schema(format = DateTime)]
    pub opens_at: String,
    pub org: String,
    /// The repository name pattern (glob).
    pub repos: String,
    pub slug: String,
    /// IANA time zone of local times (tables, CSV `*_local` columns, check runs).
    pub timezone: String,
    pub title: String,
}

/// A student's own deadline in a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Extension)]
pub struct ExtensionRow {
    #[schema(format = DateTime)]
    pub closes_at: String,
    /// GitHub login or roster identifier, lower-case.
    pub student: String,
}

impl SessionRow {
    /// The row of `s` with its extensions (those of other sessions are left out).
    pub fn new(s: &lab_session::Model, extensions: &[session_extension::Model]) -> Self {
        Self {
            archived_at: s.archived_at.map(utc),
            branches: s.branch_policy.clone(),
            closes_at: utc(s.closes_at),
            extensions: extensions
                .iter()
                .filter(|e| e.session_id == s.id)
                .map(|e| ExtensionRow {
                    closes_at: utc(e.closes_at),
                    student: e.student.clone(),
                })
                .collect(),
            opens_at: utc(s.opens_at),
            org: s.org.clone(),
            repos: s.repo_pattern.clone(),
            slug: s.slug.clone(),
            timezone: s.timezone.clone(),
            title: s.title.clone(),
        }
    }
}

/// An RFC 3339 UTC cell in `timezone` (`2026-11-30 23:59 +01:00`); empty stays empty.
fn local(cell: &str, timezone: &str) -> String {
    DateTime::parse_from_rfc3339(cell)
        .map(|t| local_time(t.with_timezone(&Utc), timezone))
        .unwrap_or_default()
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
        "timezone",
        "opens_at_local",
        "closes_at_local",
        "extensions",
    ];
    const TABLE_COLUMNS: &'static [&'static str] = &[
        "org",
        "slug",
        "title",
        "repos",
        "branches",
        "opens",
        "closes",
        "timezone",
        "extensions",
        "archived_at",
    ];

    /// Extensions as `student closes_at` lines in one cell.
    fn cells(&self) -> Vec<String> {
        let extensions: Vec<String> = self
            .extensions
            .iter()
            .map(|e| format!("{} {}", e.student, e.closes_at))
            .collect();
        vec![
            self.org.clone(),
            self.slug.clone(),
            self.title.clone(),
            self.repos.clone(),
            self.branches.clone(),
            self.opens_at.clone(),
            self.closes_at.clone(),
            opt(self.archived_at.as_ref()),
            self.timezone.clone(),
            local(&self.opens_at, &self.timezone),
            local(&self.closes_at, &self.timezone),
            extensions.join("\n"),
        ]
    }

    /// Local times; extensions as a count.
    fn table_cell(&self, column: &str) -> Option<String> {
        match column {
            "opens" => Some(local(&self.opens_at, &self.timezone)),
            "closes" => Some(local(&self.closes_at, &self.timezone)),
            "extensions" => Some(self.extensions.len().to_string()),
            _ => None,
        }
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
    /// The conclusion of the attempt's score check run (its newest), null when it has none.
    #[schema(required = true)]
    pub conclusion: Option<String>,
    pub delivery_id: String,
    /// Pushed before the session opened (as recorded).
    pub early: bool,
    /// Pushed before the session's opening as it is now.
    pub early_now: bool,
    pub files: Vec<FileRow>,
    pub files_complete: bool,
    #[schema(schema_with = files_source_schema)]
    pub files_source: String,
    pub forced: bool,
    pub id: i64,
    /// Pushed after the deadline, as recorded (the log's fact).
    pub late: bool,
    /// Pushed after the student's deadline as it is now (session edits and extensions included).
    pub late_now: bool,
    /// Points of the attempt's score (decimal text), null without a score or without `Points X/Y`.
    #[schema(required = true)]
    pub points: Option<String>,
    #[schema(required = true)]
    pub points_available: Option<String>,
    #[schema(format = DateTime)]
    pub pushed_at: String,
    /// `pushed_at` in the session's time zone: CSV and table only (JSON stays UTC).
    #[serde(skip)]
    pub pushed_at_local: String,
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
            conclusion: v.score.as_ref().and_then(|s| s.conclusion.clone()),
            delivery_id: a.delivery_id.clone(),
            early: a.early,
            early_now: v.window.is_some_and(|(opens, _)| a.pushed_at < opens),
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
            late_now: v.window.is_some_and(|(_, deadline)| a.pushed_at > deadline),
            points: v.score.as_ref().and_then(|s| s.points.clone()),
            points_available: v.score.as_ref().and_then(|s| s.points_available.clone()),
            pushed_at: utc(a.pushed_at),
            pushed_at_local: local_time(a.pushed_at, &v.session_timezone),
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
        "pushed_at_local",
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
        "early",
        "late_now",
        "early_now",
        "points",
        "points_available",
        "conclusion",
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
        "late_now",
        "early",
        "files",
        "score",
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
            self.pushed_at_local.clone(),
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
            self.early.to_string(),
            self.late_now.to_string(),
            self.early_now.to_string(),
            opt(self.points.as_ref()),
            opt(self.points_available.as_ref()),
            opt(self.conclusion.as_ref()),
        ]
    }

    /// The head commit shortened to 12 characters, push time local, files as a count, the score as
    /// `7/10` (or its conclusion alone).
    fn table_cell(&self, column: &str) -> Option<String> {
        match column {
            "score" => Some(score_cell(
                self.points.as_deref(),
                self.points_available.as_deref(),
                self.conclusion.as_deref(),
            )),
            "after" => Some(self.after.chars().take(12).collect()),
            "pushed_at" => Some(self.pushed_at_local.clone()),
            "files" => Some(self.files.len().to_string()),
            _ => None,
        }
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

/// A student of the class roster (`labtrail roster list`); the CSV has Classroom's roster columns, so it
/// can be imported again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RosterRow {
    pub github_id: Option<i64>,
    /// Empty: not linked to a GitHub account yet.
    pub github_username: String,
    pub identifier: String,
    pub name: String,
    pub org: String,
}

impl From<&roster_student::Model> for RosterRow {
    fn from(s: &roster_student::Model) -> Self {
        Self {
            github_id: s.github_id,
            github_username: s.github_username.clone(),
            identifier: s.identifier.clone(),
            name: s.name.clone(),
            org: s.org.clone(),
        }
    }
}

impl Row for RosterRow {
    const COLUMNS: &'static [&'static str] =
        &["identifier", "github_username", "github_id", "name"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.identifier.clone(),
            self.github_username.clone(),
            opt(self.github_id.as_ref()),
            self.name.clone(),
        ]
    }
}

fn summary_status_schema() -> Object {
    one_of(&["on_time".into(), "late_only".into(), "missing".into()])
}

/// A student's final attempt: the latest pushed by their deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FinalAttempt {
    pub after: String,
    pub attempt_number: i32,
    /// The attempt's id.
    pub id: i64,
    #[schema(format = DateTime)]
    pub pushed_at: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
}

/// One row of the per-student summary (`labtrail attempts summary`, `GET /api/v1/sessions/{slug}/summary`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Summary)]
pub struct SummaryRow {
    pub attempts: u64,
    /// This student's deadline: the session's, or their extension.
    #[schema(format = DateTime)]
    pub deadline: String,
    /// Attempts pushed before the session opened (never final).
    pub early_attempts: u64,
    /// null when no attempt was pushed by the deadline
    #[serde(rename = "final")]
    #[schema(required = true)]
    pub final_attempt: Option<FinalAttempt>,
    /// The conclusion of the final attempt's score check run, null without a score.
    #[schema(required = true)]
    pub final_conclusion: Option<String>,
    /// The final attempt's points (decimal text), null without a score or without `Points X/Y`.
    #[schema(required = true)]
    pub final_points: Option<String>,
    #[schema(required = true)]
    pub final_points_available: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub first_pushed_at: Option<String>,
    /// Any forced push.
    pub forced: bool,
    /// From the roster, else the pushers' logins (space-separated).
    pub github_username: String,
    #[schema(required = true, format = DateTime)]
    pub last_pushed_at: Option<String>,
    /// Attempts pushed after the deadline.
    pub late_attempts: u64,
    /// The roster student's name; null when no roster student matched the repository.
    #[schema(required = true)]
    pub name: Option<String>,
    /// `owner/name`; null for a roster student without a repository.
    #[schema(required = true)]
    pub repository: Option<String>,
    /// null when no roster student matched the repository.
    #[schema(required = true)]
    pub roster_identifier: Option<String>,
    #[schema(schema_with = summary_status_schema)]
    pub status: String,
    /// The session's time zone: CSV and table local columns only.
    #[serde(skip)]
    pub timezone: String,
}

impl From<&StudentSummary> for SummaryRow {
    fn from(s: &StudentSummary) -> Self {
        Self {
            attempts: s.fold.attempts,
            deadline: utc(s.deadline),
            early_attempts: s.fold.early_attempts,
            final_conclusion: s.score.as_ref().and_then(|x| x.conclusion.clone()),
            final_points: s.score.as_ref().and_then(|x| x.points.clone()),
            final_points_available: s.score.as_ref().and_then(|x| x.points_available.clone()),
            final_attempt: s.fold.final_attempt.as_ref().map(|f| FinalAttempt {
                after: f.after.clone(),
                attempt_number: f.number,
                id: f.id,
                pushed_at: utc(f.pushed_at),
                git_ref: f.git_ref.clone(),
            }),
            first_pushed_at: s.fold.first_pushed_at.map(utc),
            forced: s.fold.forced,
            github_username: s.github_username(),
            last_pushed_at: s.fold.last_pushed_at.map(utc),
            late_attempts: s.fold.late_attempts,
            name: s.student.as_ref().map(|r| r.name.clone()),
            repository: s.repository.clone(),
            roster_identifier: s.student.as_ref().map(|r| r.identifier.clone()),
            status: s.status.as_str().to_owned(),
            timezone: s.timezone.clone(),
        }
    }
}

impl Row for SummaryRow {
    const COLUMNS: &'static [&'static str] = &[
        "repository",
        "roster_identifier",
        "github_username",
        "attempts",
        "first_pushed_at",
        "last_pushed_at",
        "final_attempt_id",
        "final_attempt_number",
        "final_after",
        "final_ref",
        "final_pushed_at",
        "final_pushed_at_local",
        "late_attempts",
        "forced",
        "status",
        "deadline",
        "deadline_local",
        "early_attempts",
        "final_points",
        "final_points_available",
        "final_conclusion",
        "name",
    ];
    const TABLE_COLUMNS: &'static [&'static str] = &[
        "roster_identifier",
        "name",
        "github_username",
        "repository",
        "attempts",
        "final",
        "final_pushed_at",
        "deadline",
        "late_attempts",
        "early_attempts",
        "forced",
        "status",
        "score",
    ];

    fn cells(&self) -> Vec<String> {
        let f = self.final_attempt.as_ref();
        vec![
            opt(self.repository.as_ref()),
            opt(self.roster_identifier.as_ref()),
            self.github_username.clone(),
            self.attempts.to_string(),
            opt(self.first_pushed_at.as_ref()),
            opt(self.last_pushed_at.as_ref()),
            opt(f.map(|f| &f.id)),
            opt(f.map(|f| &f.attempt_number)),
            opt(f.map(|f| &f.after)),
            opt(f.map(|f| &f.git_ref)),
            opt(f.map(|f| &f.pushed_at)),
            local(&opt(f.map(|f| &f.pushed_at)), &self.timezone),
            self.late_attempts.to_string(),
            self.forced.to_string(),
            self.status.clone(),
            self.deadline.clone(),
            local(&self.deadline, &self.timezone),
            self.early_attempts.to_string(),
            opt(self.final_points.as_ref()),
            opt(self.final_points_available.as_ref()),
            opt(self.final_conclusion.as_ref()),
            opt(self.name.as_ref()),
        ]
    }

    /// The final attempt as `#N`, times local.
    fn table_cell(&self, column: &str) -> Option<String> {
        let f = self.final_attempt.as_ref();
        match column {
            "final" => Some(
                f.map(|f| format!("#{}", f.attempt_number))
                    .unwrap_or_default(),
            ),
            "final_pushed_at" => Some(local(&opt(f.map(|f| &f.pushed_at)), &self.timezone)),
            "score" => Some(score_cell(
                self.final_points.as_deref(),
                self.final_points_available.as_deref(),
                self.final_conclusion.as_deref(),
            )),
            "deadline" => Some(local(&self.deadline, &self.timezone)),
            _ => None,
        }
    }
}

/// One row of GitHub Classroom's "Download grades" CSV (`labtrail grades export`,
/// `GET /api/v1/sessions/{slug}/grades.csv`): points from the final attempt's score (issue 22), empty
/// when it has none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GradeRow {
    pub assignment_name: String,
    pub assignment_url: String,
    pub starter_code_url: String,
    pub github_username: String,
    pub roster_identifier: String,
    pub student_repository_name: String,
    pub student_repository_url: String,
    /// The final attempt's push time (UTC RFC 3339); empty without one.
    pub submission_timestamp: String,
    pub points_awarded: String,
    pub points_available: String,
}

impl GradeRow {
    /// The grades row of a summary row of `session`; repository URLs under `github_web_url`.
    pub fn new(
        s: &StudentSummary,
        session: &lab_session::Model,
        github_web_url: &url::Url,
    ) -> Self {
        let repository = s.repository.as_deref().unwrap_or_default();
        let name = repository.rsplit_once('/').map_or(repository, |(_, n)| n);
        let url = if repository.is_empty() {
            String::new()
        } else {
            format!(
                "{}/{repository}",
                github_web_url.as_str().trim_end_matches('/')
            )
        };
        Self {
            assignment_name: session.title.clone(),
            assignment_url: String::new(),
            starter_code_url: String::new(),
            github_username: s.github_username(),
            roster_identifier: s
                .student
                .as_ref()
                .map(|r| r.identifier.clone())
                .unwrap_or_default(),
            student_repository_name: name.to_owned(),
            student_repository_url: url,
            submission_timestamp: s
                .fold
                .final_attempt
                .as_ref()
                .map(|f| utc(f.pushed_at))
                .unwrap_or_default(),
            points_awarded: s
                .score
                .as_ref()
                .and_then(|x| x.points.clone())
                .unwrap_or_default(),
            points_available: s
                .score
                .as_ref()
                .and_then(|x| x.points_available.clone())
                .unwrap_or_default(),
        }
    }
}

impl Row for GradeRow {
    const COLUMNS: &'static [&'static str] = &[
        "assignment_name",
        "assignment_url",
        "starter_code_url",
        "github_username",
        "roster_identifier",
        "student_repository_name",
        "student_repository_url",
        "submission_timestamp",
        "points_awarded",
        "points_available",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.assignment_name.clone(),
            self.assignment_url.clone(),
            self.starter_code_url.clone(),
            self.github_username.clone(),
            self.roster_identifier.clone(),
            self.student_repository_name.clone(),
            self.student_repository_url.clone(),
            self.submission_timestamp.clone(),
            self.points_awarded.clone(),
            self.points_available.clone(),
        ]
    }
}

/// A received webhook delivery (`labtrail deliveries list|show`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRow {
    pub action: Option<String>,
    /// The attempt it recorded (or found recorded before), if any.
    pub attempt_id: Option<i64>,
    pub event: String,
    pub guid: String,
    /// When the next try may start: only while `queued` or `retrying`.
    pub next_try: Option<String>,
    pub processed_at: Option<String>,
    /// Why it was ignored, retried or given up (or a note such as `duplicate of attempt N`).
    pub reason: Option<String>,
    pub received_at: String,
    pub status: String,
    /// Processing tries since it was (re)queued.
    pub tries: i32,
}

impl DeliveryRow {
    /// The row of `d`, with the id of the attempt it recorded.
    pub fn new(d: &crate::db::deliveries::DeliveryInfo, attempt_id: Option<i64>) -> Self {
        use crate::db::deliveries::Status;
        let waiting = matches!(d.status, Status::Queued | Status::Retrying);
        Self {
            action: d.action.clone(),
            attempt_id,
            event: d.event.clone(),
            guid: d.guid.clone(),
            next_try: waiting.then(|| utc(d.next_attempt_at)),
            processed_at: d.processed_at.map(utc),
            reason: d.last_error.clone(),
            received_at: d.received_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            status: d.status.to_string(),
            tries: d.attempts,
        }
    }
}

impl Row for DeliveryRow {
    const COLUMNS: &'static [&'static str] = &[
        "guid",
        "event",
        "action",
        "status",
        "reason",
        "tries",
        "next_try",
        "received_at",
        "processed_at",
        "attempt_id",
    ];
    const TABLE_COLUMNS: &'static [&'static str] = &[
        "guid",
        "event",
        "status",
        "tries",
        "next_try",
        "attempt_id",
        "reason",
    ];

    fn cells(&self) -> Vec<String> {
        vec![
            self.guid.clone(),
            self.event.clone(),
            opt(self.action.as_ref()),
            self.status.clone(),
            opt(self.reason.as_ref()),
            self.tries.to_string(),
            opt(self.next_try.as_ref()),
            self.received_at.clone(),
            opt(self.processed_at.as_ref()),
            opt(self.attempt_id.as_ref()),
        ]
    }

    /// The reason on one line.
    fn table_cell(&self, column: &str) -> Option<String> {
        (column == "reason").then(|| {
            self.reason
                .as_deref()
                .unwrap_or_default()
                .replace(['\n', '\r'], " ")
        })
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
    let mut w = CsvWriter::<_, R>::new(w)?;
    for r in rows {
        w.row(r)?;
    }
    w.finish()
}

/// The one CSV writer (RFC 4180, LF line ends): the header of [`Row::COLUMNS`] first, then rows as they
/// come, each cell through [`csv_safe`]. Nothing is kept but the output buffer.
pub struct CsvWriter<W: Write, R: Row> {
    inner: csv::Writer<W>,
    rows: std::marker::PhantomData<fn(&R)>,
}

impl<W: Write, R: Row> CsvWriter<W, R> {
    /// Start with the header.
    pub fn new(w: W) -> Result<Self, csv::Error> {
        let mut inner = csv::Writer::from_writer(w);
        inner.write_record(R::COLUMNS)?;
        Ok(Self {
            inner,
            rows: std::marker::PhantomData,
        })
    }

    /// Continue a CSV whose header was written before (a later chunk of a stream).
    pub fn continuing(w: W) -> Self {
        Self {
            inner: csv::Writer::from_writer(w),
            rows: std::marker::PhantomData,
        }
    }

    /// Write one row: each cell with its control characters escaped, then formula-safe.
    pub fn row(&mut self, r: &R) -> Result<(), csv::Error> {
        self.inner.write_record(
            r.cells()
                .iter()
                .map(|c| csv_safe(&escape_controls(c)).into_owned()),
        )
    }

    /// Flush the buffer into the output.
    pub fn flush(&mut self) -> Result<(), csv::Error> {
        self.inner.flush()?;
        Ok(())
    }

    /// Flush and give the output back.
    pub fn into_inner(self) -> Result<W, csv::Error> {
        self.inner
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))
    }

    /// Flush, done.
    pub fn finish(mut self) -> Result<(), csv::Error> {
        self.flush()
    }
}

/// A pretty-printed JSON array written element by element: the same bytes as [`write_json`] of the whole
/// array, without holding it. Each element is pretty-printed alone and indented one level (JSON strings hold
/// no raw line breaks, so indenting every line is exact).
pub struct JsonArrayWriter<W: Write> {
    w: W,
    count: usize,
    buf: Vec<u8>,
}

impl<W: Write> JsonArrayWriter<W> {
    pub fn new(w: W) -> Self {
        Self {
            w,
            count: 0,
            buf: Vec::new(),
        }
    }

    /// Write one element.
    pub fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ReportError> {
        self.buf.clear();
        serde_json::to_writer_pretty(&mut self.buf, value)?;
        self.w
            .write_all(if self.count == 0 { b"[\n" } else { b",\n" })?;
        for (i, line) in self.buf.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                self.w.write_all(b"\n")?;
            }
            self.w.write_all(b"  ")?;
            self.w.write_all(line)?;
        }
        self.count += 1;
        Ok(())
    }

    /// Close the array (`[]` when empty) and give the output back.
    pub fn finish(mut self) -> Result<W, ReportError> {
        self.w
            .write_all(if self.count == 0 { b"[]\n" } else { b"\n]\n" })?;
        Ok(self.w)
    }
}

/// A table: [`Row::TABLE_COLUMNS`] upper-cased as the header, columns two spaces apart, no trailing
/// blanks; control characters in cells escaped ([`escape_controls`]).
pub fn write_table<R: Row>(mut w: impl Write, rows: &[R]) -> std::io::Result<()> {
    let columns = R::TABLE_COLUMNS;
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.table_cells()
                .into_iter()
                .map(|c| escape_controls(&c).into_owned())
                .collect()
        })
        .collect();
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
    #[test]
    fn formula_cells_are_neutralised_in_every_csv() {
        for (cell, want) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "'=HYPERLINK(\"http://x\",\"y\")",
            ),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(csv_safe(cell), want);
        }
        let mut row = token(Some("course"));
        row.name = "=cmd|' /C calc'!A0".into();
        assert!(render(&[row], Format::Csv).contains("\n'=cmd|' /C calc'!A0,"));
    }

    #[test]
    fn control_characters_are_escaped_in_tables_and_csvs() {
        assert_eq!(escape_controls("plain é"), "plain é");
        assert_eq!(
            escape_controls("\x1b[31mred\x07\r\n\x7f\u{9b}2J"),
            "\\x1b[31mred\\x07\\x0d\\x0a\\x7f\\u{9b}2J"
        );
        let mut row = token(Some("course"));
        row.name = "\x1b[31mevil\x07".into();
        for format in [Format::Csv, Format::Table] {
            let out = render(std::slice::from_ref(&row), format);
            assert!(out.contains("\\x1b[31mevil\\x07"), "{out}");
            assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
        }
        // JSON escapes them itself.
        assert!(!render(&[row], Format::Json).contains('\x1b'));
        // An escaped tab no longer starts a cell with a tab: no quote needed.
        let mut row = token(None);
        row.name = "\tx".into();
        assert!(render(&[row], Format::Csv).contains("\n\\x09x,"));
    }

    #[test]
    fn grades_header_is_classrooms() {
        let out = render::<GradeRow>(&[], Format::Csv);
        assert_eq!(
            out,
            "assignment_name,assignment_url,starter_code_url,github_username,roster_identifier,\
             student_repository_name,student_repository_url,submission_timestamp,points_awarded,\
             points_available\n"
        );
    }
    #[test]
    fn streamed_json_is_the_same_bytes_as_the_whole_array() {
        for n in 0..3 {
            let rows: Vec<TokenRow> = (0..n).map(|_| token(Some("course"))).collect();
            let mut streamed = JsonArrayWriter::new(Vec::new());
            for r in &rows {
                streamed.item(r).expect("item");
            }
            let streamed = streamed.finish().expect("finish");
            assert_eq!(
                String::from_utf8(streamed).expect("utf-8"),
                render(&rows, Format::Json)
            );
        }
    }
}
