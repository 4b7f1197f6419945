//! A class roster file as GitHub Classroom exports it (`identifier,github_username,github_id,name`):
//! parsed and checked as a whole, so a bad file changes nothing.

use std::collections::HashMap;

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
    #[error("line {line}, column {column} (identifier): {identifier:?} is also on line {first}")]
    Duplicate {
        line: u64,
        column: usize,
        identifier: String,
        first: u64,
    },
    #[error("the roster lists no student")]
    Empty,
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

fn csv_error(e: &csv::Error) -> RosterError {
    let line = e.position().map_or(0, csv::Position::line);
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
    let header = reader.headers().map_err(|e| csv_error(&e))?.clone();
    let cols = Columns::from_header(&header)?;
    let mut entries = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(&e))?;
        let line = record.position().map_or(0, csv::Position::line);
        let cell = |i: usize| record.get(i).unwrap_or("").trim().to_owned();
        let bad = |column: usize, name: &'static str, message: String| RosterError::Cell {
            line,
            column: column + 1,
            name,
            message,
        };
        let identifier = cell(cols.identifier);
        if identifier.is_empty() {
            return Err(bad(cols.identifier, "identifier", "empty".into()));
        }
        if let Some(&first) = seen.get(&identifier) {
            return Err(RosterError::Duplicate {
                line,
                column: cols.identifier + 1,
                identifier,
                first,
            });
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
        seen.insert(identifier.clone(), line);
        entries.push(RosterEntry {
            identifier,
            github_username,
            github_id,
            name: cols.name.map(cell).unwrap_or_default(),
        });
    }
    if entries.is_empty() {
        return Err(RosterError::Empty);
    }
    Ok(entries)
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
                },
                RosterEntry {
                    identifier: "bob@uni.test".into(),
                    github_username: String::new(),
                    github_id: None,
                    name: "Bob".into(),
                },
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let cases: [(&str, &str); 5] = [
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
