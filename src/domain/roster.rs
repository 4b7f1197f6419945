//! A class roster file as GitHub Classroom exports it (`identifier,github_username,github_id,name`):
//! parsed and checked as a whole, so a bad file changes nothing.

use std::collections::HashMap;

use entity::roster_student;

/// One student of a roster file.
/// What an import did, student by student of the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The roster identifier (an e-mail address, a student number…); required, unique in the file.
    pub identifier: String,
    /// The linked GitHub login; empty: not linked yet.
    pub github_username: String,
    pub github_id: Option<i64>,
    pub name: String,
    /// The file's line (1-based, counting the header).
    pub line: u64,
}

/// Why a roster file was refused; lines are 1-based and count the header.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RosterError {
    #[error("line {line}: {message}")]
    Csv { line: u64, message: String },
    #[error(
        "line 1: no column {0:?} (a GitHub Classroom roster has identifier,github_username,github_id,name)"
    )]
    MissingColumn(&'static str),
    #[error("line {line}, column {column} ({name}): {message}")]
    Cell {
        line: u64,
        column: usize,
        name: &'static str,
        message: String,
    },
    /// An identifier, a GitHub login (case-insensitive) or a GitHub id twice in the file.
    #[error("line {line}, column {column} ({name}): {value:?} is also on line {first}")]
    Duplicate {
        line: u64,
        column: usize,
        name: &'static str,
        value: String,
        first: u64,
    },
    #[error("the roster lists no student")]
    Empty,
    /// A login or id of the file already belongs to another roster student, who stays.
    #[error(
        "line {line}: {name} {value:?} is already linked to roster identifier {identifier:?} (remove that \
         student with `labtrail roster remove`, or import with --replace)"
    )]
    Linked {
        line: u64,
        name: &'static str,
        value: String,
        identifier: String,
    },
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A GitHub login: letters, digits and `-`, at most 39 characters.
pub fn valid_login(s: &str) -> bool {
    !s.is_empty() && s.len() <= 39 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Where the columns are (0-based) in the header; `github_id` and `name` may be absent.
struct Columns {
    identifier: usize,
    github_username: usize,
    github_id: Option<usize>,
    name: Option<usize>,
}

impl Columns {
    fn from_header(header: &csv::StringRecord) -> Result<Self, RosterError> {
        let find = |wanted: &str| {
            header
                .iter()
                .position(|h| h.trim().eq_ignore_ascii_case(wanted))
        };
        Ok(Self {
            identifier: find("identifier").ok_or(RosterError::MissingColumn("identifier"))?,
            github_username: find("github_username")
                .ok_or(RosterError::MissingColumn("github_username"))?,
            github_id: find("github_id"),
            name: find("name"),
        })
    }
}

/// The 1-based line a record starting at `pos` is on. (The `csv` reader counts lines by `\n` from where
/// the record starts, which after a CRLF line end is that `\n`: a line too few.)
fn line_of(bytes: &[u8], pos: Option<&csv::Position>) -> u64 {
    let Some(pos) = pos else { return 0 };
    let start = usize::try_from(pos.byte())
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let ends = bytes[start..]
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    bytes[..start + ends]
        .iter()
        .filter(|b| **b == b'\n')
        .count() as u64
        + 1
}

fn csv_error(bytes: &[u8], e: &csv::Error) -> RosterError {
    let line = line_of(bytes, e.position());
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text".to_owned(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => e.to_string(),
    };
    RosterError::Csv { line, message }
}

/// Parse a roster file: UTF-8 with or without a byte-order mark, a header row in any column order,
/// extra columns ignored, cells trimmed.
pub fn parse(bytes: &[u8]) -> Result<Vec<RosterEntry>, RosterError> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let header = reader.headers().map_err(|e| csv_error(bytes, &e))?.clone();
    let cols = Columns::from_header(&header)?;
    let mut entries = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut seen_logins: HashMap<String, u64> = HashMap::new();
    let mut seen_ids: HashMap<i64, u64> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(bytes, &e))?;
        let line = line_of(bytes, record.position());
        let cell = |i: usize| record.get(i).unwrap_or("").trim().to_owned();
        let bad = |column: usize, name: &'static str, message: String| RosterError::Cell {
            line,
            column: column + 1,
            name,
            message,
        };
        let duplicate =
            |column: usize, name: &'static str, value: String, first: u64| RosterError::Duplicate {
                line,
                column: column + 1,
                name,
                value,
                first,
            };
        let identifier = cell(cols.identifier);
        if identifier.is_empty() {
            return Err(bad(cols.identifier, "identifier", "empty".into()));
        }
        if let Some(&first) = seen.get(&identifier) {
            return Err(duplicate(cols.identifier, "identifier", identifier, first));
        }
        let github_username = cell(cols.github_username);
        if !github_username.is_empty() && !valid_login(&github_username) {
            return Err(bad(
                cols.github_username,
                "github_username",
                format!("{github_username:?} is not a GitHub login"),
            ));
        }
        let github_id = match cols.github_id.map(cell).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => match s.parse::<i64>() {
                Ok(id) if id > 0 => Some(id),
                _ => {
                    let column = cols.github_id.unwrap_or_default();
                    return Err(bad(
                        column,
                        "github_id",
                        format!("{s:?} is not a GitHub user id"),
                    ));
                }
            },
        };
        if !github_username.is_empty() {
            let key = github_username.to_ascii_lowercase();
            if let Some(&first) = seen_logins.get(&key) {
                return Err(duplicate(
                    cols.github_username,
                    "github_username",
                    github_username,
                    first,
                ));
            }
            seen_logins.insert(key, line);
        }
        if let Some(id) = github_id {
            if let Some(&first) = seen_ids.get(&id) {
                return Err(duplicate(
                    cols.github_id.unwrap_or_default(),
                    "github_id",
                    id.to_string(),
                    first,
                ));
            }
            seen_ids.insert(id, line);
        }
        seen.insert(identifier.clone(), line);
        entries.push(RosterEntry {
            identifier,
            github_username,
            github_id,
            name: cols.name.map(cell).unwrap_or_default(),
            line,
        });
    }
    if entries.is_empty() {
        return Err(RosterError::Empty);
    }
    Ok(entries)
}

/// What importing a file changes in a roster: students added, updated (the row as it is, and the file's
/// entry), removed (only with `replace`), and how many stay as they are.
#[derive(Debug, Clone, Default)]
pub struct Diff {
    pub added: Vec<RosterEntry>,
    pub updated: Vec<(roster_student::Model, RosterEntry)>,
    pub removed: Vec<roster_student::Model>,
    pub unchanged: u64,
}

impl Diff {
    /// The counts of the added, updated and unchanged students.
    pub fn counts(&self) -> ImportCounts {
        ImportCounts {
            added: self.added.len() as u64,
            updated: self.updated.len() as u64,
            unchanged: self.unchanged,
        }
    }
}

/// The diff of importing `file` into the roster `existing`: a student is keyed by identifier; with
/// `replace`, students absent from the file are removed, else kept — and then none of their logins or
/// ids may appear on another identifier's line of the file ([`RosterError::Linked`]).
pub fn diff(
    existing: Vec<roster_student::Model>,
    file: &[RosterEntry],
    replace: bool,
) -> Result<Diff, RosterError> {
    let mut rows: HashMap<String, roster_student::Model> = existing
        .into_iter()
        .map(|s| (s.identifier.clone(), s))
        .collect();
    let mut d = Diff::default();
    for entry in file {
        match rows.remove(&entry.identifier) {
            None => d.added.push(entry.clone()),
            Some(s)
                if s.github_username == entry.github_username
                    && s.github_id == entry.github_id
                    && s.name == entry.name =>
            {
                d.unchanged += 1;
            }
            Some(s) => d.updated.push((s, entry.clone())),
        }
    }
    let mut rest: Vec<roster_student::Model> = rows.into_values().collect();
    rest.sort_by(|a, b| a.identifier.cmp(&b.identifier));
    if replace {
        d.removed = rest;
        return Ok(d);
    }
    for entry in file {
        for kept in &rest {
            let login = !entry.github_username.is_empty()
                && entry
                    .github_username
                    .eq_ignore_ascii_case(&kept.github_username);
            let id = entry.github_id.is_some() && entry.github_id == kept.github_id;
            if login || id {
                let (name, value) = if login {
                    ("github_username", entry.github_username.clone())
                } else {
                    ("github_id", entry.github_id.unwrap_or_default().to_string())
                };
                return Err(RosterError::Linked {
                    line: entry.line,
                    name,
                    value,
                    identifier: kept.identifier.clone(),
                });
            }
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classroom_export_with_bom_extra_columns_and_any_order() {
        let file = "\u{feff}name,github_id,identifier,section,github_username\r\n\
                    Ada L,583231,ada@uni.test,A,Octocat\r\n\
                    Bob,,bob@uni.test,B,\r\n";
        let got = parse(file.as_bytes()).expect("parses");
        assert_eq!(
            got,
            vec![
                RosterEntry {
                    identifier: "ada@uni.test".into(),
                    github_username: "Octocat".into(),
                    github_id: Some(583231),
                    name: "Ada L".into(),
                    line: 2,
                },
                RosterEntry {
                    identifier: "bob@uni.test".into(),
                    github_username: String::new(),
                    github_id: None,
                    name: "Bob".into(),
                    line: 3,
                },
            ]
        );
    }

    fn row(
        id: i64,
        identifier: &str,
        login: &str,
        github_id: Option<i64>,
    ) -> roster_student::Model {
        let t = chrono::DateTime::from_timestamp(0, 0).unwrap_or_default();
        roster_student::Model {
            id,
            org: "c".into(),
            identifier: identifier.into(),
            github_username: login.into(),
            github_id,
            name: String::new(),
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn diff_adds_updates_keeps_or_removes() {
        let file = parse(b"identifier,github_username\na,alice\nc,carol\n").expect("parses");
        let existing = vec![row(1, "a", "alice", None), row(2, "b", "bob", None)];
        let kept = diff(existing.clone(), &file, false).expect("diff");
        assert_eq!(
            (kept.added.len(), kept.unchanged, kept.removed.len()),
            (1, 1, 0)
        );
        let replaced = diff(existing, &file, true).expect("diff");
        assert_eq!(
            replaced.removed.iter().map(|r| r.id).collect::<Vec<_>>(),
            [2]
        );
    }

    #[test]
    fn a_login_or_id_linked_to_another_kept_identifier_is_refused() {
        let existing = vec![row(1, "a@uni", "alice", Some(9))];
        let file = parse(b"identifier,github_username,github_id\nz@uni,ALICE,\n").expect("parses");
        let err = diff(existing.clone(), &file, false).expect_err("linked");
        assert!(
            err.to_string().starts_with(
                "line 2: github_username \"ALICE\" is already linked to roster identifier \"a@uni\""
            ),
            "{err}"
        );
        let file = parse(b"identifier,github_username,github_id\nz@uni,zed,9\n").expect("parses");
        let err = diff(existing.clone(), &file, false).expect_err("linked");
        assert!(err.to_string().contains("github_id \"9\""), "{err}");
        assert!(
            diff(existing, &file, true).is_ok(),
            "--replace removes a@uni"
        );
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let cases: [(&str, &str); 7] = [
            (
                "identifier,github_username,github_id\na,Alice,1\nb,x,2\nc,alice,3\n",
                "line 4, column 2 (github_username): \"alice\" is also on line 2",
            ),
            (
                "identifier,github_username,github_id\na,x,7\nb,y,7\n",
                "line 3, column 3 (github_id): \"7\" is also on line 2",
            ),
            (
                "identifier,name\na,b\n",
                "line 1: no column \"github_username\"",
            ),
            (
                "identifier,github_username,github_id\na,x,1\nb,y,twelve\n",
                "line 3, column 3 (github_id)",
            ),
            (
                "identifier,github_username\na,x\n,y\n",
                "line 3, column 1 (identifier): empty",
            ),
            (
                "identifier,github_username\na,x\na,y\n",
                "line 3, column 1 (identifier): \"a\" is also on line 2",
            ),
            (
                "github_username,identifier\nnot a login!,a\n",
                "line 2, column 1 (github_username)",
            ),
        ];
        for (file, want) in cases {
            let err = parse(file.as_bytes()).expect_err(file).to_string();
            assert!(err.starts_with(want), "{file:?}: {err}");
        }
        assert_eq!(
            parse(b"identifier,github_username\n"),
            Err(RosterError::Empty)
        );
        let err = parse(b"identifier,github_username\na,b,c\n").expect_err("ragged");
        assert!(matches!(err, RosterError::Csv { line: 2, .. }), "{err}");
        let err = parse(b"identifier,github_username\na\xff,b\n").expect_err("latin-1");
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }
}
