//! The attempts export's encoders (issue 24): a page of [`ExportedAttempt`]s as CSV, written cell by cell
//! into one buffer a page (no row of `String`s, times formatted by hand), and as [`AttemptRow`]s for JSON.
//! The CSV is byte for byte what [`CsvWriter`]`<_, AttemptRow>` writes for the same attempts (the same
//! `csv` writer, every cell through [`escape_controls`] then [`csv_safe`]); unit tests compare them.

use chrono::{DateTime, Datelike, Offset, SecondsFormat, Timelike, Utc};
use chrono_tz::Tz;
use entity::lab_session;

use super::{csv_safe, escape_controls, utc, AttemptRow, FileRow, Row};
use crate::db::export::ExportedAttempt;
use crate::domain::session::{local_time, parse_timezone};

#[cfg(doc)]
use super::CsvWriter;

impl AttemptRow {
    /// The row of an exported attempt of `session` (the same as [`AttemptRow::from`] an `AttemptView`).
    pub fn exported(a: &ExportedAttempt, session: &lab_session::Model) -> Self {
        let score = a.score.as_ref();
        Self {
            after: a.after_sha.clone(),
            attempt_number: a.attempt_number,
            audit_seq: a.audit_seq,
            before: a.before_sha.clone(),
            check_run_id: a.check_run_id,
            conclusion: score.and_then(|s| s.conclusion.clone()),
            delivery_id: a.delivery_id.clone(),
            early: a.early,
            early_now: a.early_now,
            files: a
                .files
                .iter()
                .map(|(path, status)| FileRow {
                    path: path.clone(),
                    status: status.clone(),
                })
                .collect(),
            files_complete: a.files_complete,
            files_source: a.files_source.clone(),
            forced: a.forced,
            id: a.id,
            late: a.late,
            late_now: a.late_now,
            points: score.and_then(|s| s.points.clone()),
            points_available: score.and_then(|s| s.points_available.clone()),
            pushed_at: utc(a.pushed_at),
            pushed_at_local: local_time(a.pushed_at, &session.timezone),
            pusher: a.pusher_login.clone(),
            received_at: a.received_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            git_ref: a.git_ref.clone(),
            repository: a.repository_full_name.clone(),
            repository_id: a.repository_id,
            session: session.slug.clone(),
        }
    }
}

/// A session's attempts CSV written a page at a time (the header before the first page).
pub struct AttemptsCsv {
    slug: String,
    timezone: String,
    tz: Tz,
    header: bool,
    /// A cell being built (reused).
    cell: String,
    /// The files cell being built (reused).
    files: String,
}

impl AttemptsCsv {
    /// The CSV of `session`'s attempts; nothing written yet.
    pub fn new(session: &lab_session::Model) -> Self {
        Self {
            slug: session.slug.clone(),
            timezone: session.timezone.clone(),
            // A zone that no longer parses shows UTC, as `local_time` does.
            tz: parse_timezone(&session.timezone).unwrap_or(Tz::UTC),
            header: true,
            cell: String::new(),
            files: String::new(),
        }
    }

    /// The bytes of `rows` (after the header, on the first call): one buffer for the page.
    pub fn page(&mut self, rows: &[ExportedAttempt]) -> Result<Vec<u8>, csv::Error> {
        let mut out = Vec::with_capacity(rows.len() * 400 + 512);
        {
            let mut w = csv::Writer::from_writer(&mut out);
            if std::mem::take(&mut self.header) {
                w.write_record(AttemptRow::COLUMNS)?;
            }
            for a in rows {
                self.row(&mut w, a)?;
            }
            w.flush()?;
        }
        Ok(out)
    }

    /// One row: the cells of [`AttemptRow`]'s `Row::cells`, in [`AttemptRow::COLUMNS`] order.
    fn row<W: std::io::Write>(
        &mut self,
        w: &mut csv::Writer<W>,
        a: &ExportedAttempt,
    ) -> Result<(), csv::Error> {
        let score = a.score.as_ref();
        let bool_cell = |b: bool| if b { "true" } else { "false" };
        int(w, &mut self.cell, a.id)?;
        text(w, &self.slug)?;
        text(w, &a.repository_full_name)?;
        int(w, &mut self.cell, a.repository_id)?;
        text(w, &a.git_ref)?;
        text(w, &a.before_sha)?;
        text(w, &a.after_sha)?;
        self.cell.clear();
        utc_into(&mut self.cell, a.pushed_at, false);
        text(w, &self.cell)?;
        self.cell.clear();
        local_into(&mut self.cell, a.pushed_at, &self.tz, &self.timezone);
        text(w, &self.cell)?;
        self.cell.clear();
        utc_into(&mut self.cell, a.received_at, true);
        text(w, &self.cell)?;
        text(w, &a.delivery_id)?;
        text(w, opt_str(a.pusher_login.as_ref()))?;
        text(w, bool_cell(a.forced))?;
        int(w, &mut self.cell, i64::from(a.attempt_number))?;
        text(w, bool_cell(a.late))?;
        text(w, &a.files_source)?;
        text(w, bool_cell(a.files_complete))?;
        self.files.clear();
        for (i, (path, status)) in a.files.iter().enumerate() {
            if i > 0 {
                self.files.push('\n');
            }
            self.files.push_str(status);
            self.files.push(' ');
            self.files.push_str(path);
        }
        text(w, &self.files)?;
        match a.check_run_id {
            Some(id) => int(w, &mut self.cell, id)?,
            None => text(w, "")?,
        }
        int(w, &mut self.cell, a.audit_seq)?;
        text(w, bool_cell(a.early))?;
        text(w, bool_cell(a.late_now))?;
        text(w, bool_cell(a.early_now))?;
        text(w, opt_str(score.and_then(|s| s.points.as_ref())))?;
        text(w, opt_str(score.and_then(|s| s.points_available.as_ref())))?;
        text(w, opt_str(score.and_then(|s| s.conclusion.as_ref())))?;
        w.write_record(None::<&[u8]>)
    }
}

fn opt_str(s: Option<&String>) -> &str {
    s.map_or("", String::as_str)
}

/// One cell, as [`CsvWriter::row`] writes it: control characters escaped, then formula-safe.
fn text<W: std::io::Write>(w: &mut csv::Writer<W>, cell: &str) -> Result<(), csv::Error> {
    w.write_field(csv_safe(&escape_controls(cell)).as_bytes())
}

fn int<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    scratch: &mut String,
    n: i64,
) -> Result<(), csv::Error> {
    use std::fmt::Write as _;
    scratch.clear();
    let _ = write!(scratch, "{n}");
    text(w, scratch)
}

/// `n` (0..100) as two digits.
fn two(out: &mut String, n: u32) {
    out.push(char::from(b'0' + (n / 10 % 10) as u8));
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// `YYYY-MM-DD?HH:MM` of a date and time whose year is 0..=9999.
fn date_minute(out: &mut String, d: &impl Datelike, t: &impl Timelike, sep: char) -> bool {
    let Ok(year) = u32::try_from(d.year()) else {
        return false;
    };
    if year > 9999 {
        return false;
    }
    two(out, year / 100);
    two(out, year % 100);
    out.push('-');
    two(out, d.month());
    out.push('-');
    two(out, d.day());
    out.push(sep);
    two(out, t.hour());
    out.push(':');
    two(out, t.minute());
    true
}

/// `t` as [`utc`] (whole seconds) or `to_rfc3339_opts(Micros, true)` (`micros`) writes it, by hand;
/// anything unusual (a leap second, a year past 9999) through chrono itself.
fn utc_into(out: &mut String, t: DateTime<Utc>, micros: bool) {
    let naive = t.naive_utc();
    let nanos = naive.nanosecond();
    let start = out.len();
    if nanos < 1_000_000_000 && date_minute(out, &naive.date(), &naive.time(), 'T') {
        out.push(':');
        two(out, naive.second());
        if micros {
            use std::fmt::Write as _;
            let _ = write!(out, ".{:06}", nanos / 1_000);
        }
        out.push('Z');
        return;
    }
    out.truncate(start);
    out.push_str(&if micros {
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    } else {
        utc(t)
    });
}

/// `t` as [`local_time`] writes it in `tz` (`2026-11-30 23:59 +01:00`), by hand; an offset with seconds
/// or an unusual date through [`local_time`] itself.
fn local_into(out: &mut String, t: DateTime<Utc>, tz: &Tz, timezone: &str) {
    let local = t.with_timezone(tz);
    let offset = local.offset().fix().local_minus_utc();
    let naive = local.naive_local();
    let start = out.len();
    if offset % 60 == 0 && date_minute(out, &naive.date(), &naive.time(), ' ') {
        let minutes = offset.unsigned_abs() / 60;
        out.push(' ');
        out.push(if offset < 0 { '-' } else { '+' });
        two(out, minutes / 60);
        out.push(':');
        two(out, minutes % 60);
        if minutes / 60 < 100 {
            return;
        }
    }
    out.truncate(start);
    out.push_str(&local_time(t, timezone));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::export::ExportScore;
    use crate::report::CsvWriter;

    fn session(timezone: &str) -> lab_session::Model {
        let t: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().expect("time");
        lab_session::Model {
            id: 1,
            org: "course".into(),
            slug: "lab1".into(),
            title: "Lab 1".into(),
            repo_pattern: "lab1-*".into(),
            branch_policy: "all".into(),
            opens_at: t,
            closes_at: t,
            archived_at: None,
            created_at: t,
            timezone: timezone.into(),
            score_check: String::new(),
        }
    }

    fn attempt(id: i64, text: &str, t: DateTime<Utc>) -> ExportedAttempt {
        ExportedAttempt {
            id,
            repository_id: id * 7,
            repository_full_name: format!("course/{text}"),
            git_ref: format!("refs/heads/{text}"),
            before_sha: "0".repeat(40),
            after_sha: text.into(),
            pusher_login: (id % 2 == 0).then(|| text.to_owned()),
            pushed_at: t,
            received_at: t + chrono::Duration::nanoseconds(id * 1_234_567),
            delivery_id: text.into(),
            forced: id % 3 == 0,
            attempt_number: i32::try_from(id).unwrap_or(0),
            late: id % 2 == 1,
            files_source: "payload".into(),
            files_complete: id % 5 != 0,
            check_run_id: (id % 4 == 0).then_some(-id),
            audit_seq: id + 100,
            early: id % 7 == 0,
            files: (0..(id % 4))
                .map(|k| (format!("{text}/f{k},\"x\""), "modified".to_owned()))
                .collect(),
            score: (id % 3 == 1).then(|| ExportScore {
                points: Some(format!("{id}")),
                points_available: (id % 2 == 0).then(|| "10".to_owned()),
                conclusion: Some(text.into()),
            }),
            late_now: id % 2 == 0,
            early_now: id % 3 == 2,
        }
    }

    /// The bytes of the one writer, through `AttemptRow::exported`.
    fn reference(rows: &[ExportedAttempt], session: &lab_session::Model) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = CsvWriter::<_, AttemptRow>::new(&mut out).expect("header");
        for a in rows {
            w.row(&AttemptRow::exported(a, session)).expect("row");
        }
        w.finish().expect("flush");
        out
    }

    #[test]
    fn the_page_encoder_writes_the_one_writers_bytes() {
        let texts = [
            "plain",
            "=cmd|' /C calc'!A0",
            "+1",
            "-2",
            "@SUM(1+1)",
            "\tTab",
            "a,b",
            "quote\"d",
            "line\nbreak",
            "esc\u{1b}[31m",
            "csi\u{9b}x",
            "ünïcödé",
            "",
        ];
        let instants = [
            "2026-01-01T00:00:00Z",
            "2026-03-29T00:59:59.999999Z",
            "2026-03-29T01:00:00.5Z",
            "2026-10-25T00:30:00Z",
            "1969-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "2026-06-30T12:34:56.000001Z",
        ];
        for timezone in [
            "UTC",
            "Europe/Paris",
            "America/St_Johns",
            "Asia/Kolkata",
            "Pacific/Chatham",
            "America/Sao_Paulo",
            "not/a zone",
        ] {
            let session = session(timezone);
            let mut rows = Vec::new();
            for (i, text) in texts.iter().enumerate() {
                for (j, t) in instants.iter().enumerate() {
                    let id = i64::try_from(i * instants.len() + j).unwrap_or(0);
                    rows.push(attempt(id, text, t.parse().expect("time")));
                }
            }
            // Historic offsets with seconds (local mean time) go through `local_time`.
            rows.push(attempt(
                9_001,
                "lmt",
                "1850-01-01T00:00:00Z".parse().expect("t"),
            ));
            let mut csv = AttemptsCsv::new(&session);
            let (first, rest) = rows.split_at(rows.len() / 3);
            let mut bytes = csv.page(first).expect("page");
            bytes.extend(csv.page(rest).expect("page"));
            bytes.extend(csv.page(&[]).expect("page"));
            assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&reference(&rows, &session)),
                "{timezone}"
            );
        }
    }

    #[test]
    fn an_empty_export_is_the_header() {
        let session = session("UTC");
        let mut csv = AttemptsCsv::new(&session);
        assert_eq!(csv.page(&[]).expect("page"), reference(&[], &session));
        assert!(csv.page(&[]).expect("page").is_empty());
    }
}
