//! A gradebook across an organisation's sessions (issue 22): one row per roster student (then one per
//! student pushing without a roster entry), per session the final attempt's points and the status, each
//! cell exactly what that session's summary says.

use std::collections::BTreeMap;

use entity::lab_session;
use sea_orm::{ConnectionTrait, DbErr};

use crate::db::summary::{summarize, StudentSummary};
use crate::db::{roster, sessions};
use crate::domain::summary::Status;

/// One session's cell of a student.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The final attempt's points (empty without a score or without points).
    pub points: String,
    pub status: Status,
}

impl Cell {
    const MISSING: Self = Self {
        points: String::new(),
        status: Status::Missing,
    };
}

/// One student's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookRow {
    pub roster_identifier: String,
    pub github_username: String,
    pub name: String,
    /// One per session of the book, in its order.
    pub cells: Vec<Cell>,
}

/// The gradebook: its sessions (by `opens_at`, then slug) and rows.
#[derive(Debug, Clone)]
pub struct Book {
    pub sessions: Vec<lab_session::Model>,
    pub rows: Vec<BookRow>,
}

/// Why a gradebook cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("no session {0:?} in organisation {1}")]
    NoSession(String, String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Which of a student's summary rows (several repositories in one session) fills the cell: on time over
/// late only over missing, then one with points, then the first (summary order).
fn better(a: &StudentSummary, b: &StudentSummary) -> bool {
    let rank = |s: &StudentSummary| {
        let status = match s.status {
            Status::OnTime => 2,
            Status::LateOnly => 1,
            Status::Missing => 0,
        };
        (
            status,
            s.score.as_ref().and_then(|x| x.points.as_ref()).is_some(),
        )
    };
    rank(b) > rank(a)
}

fn cell(s: &StudentSummary) -> Cell {
    Cell {
        points: s
            .score
            .as_ref()
            .and_then(|x| x.points.clone())
            .unwrap_or_default(),
        status: s.status,
    }
}

/// The gradebook of `org`: `slugs` (empty: every session of the org, archived ones included), in session
/// order.
pub async fn book(
    db: &impl ConnectionTrait,
    org: &str,
    slugs: &[String],
) -> Result<Book, BookError> {
    let org = org.to_ascii_lowercase();
    let all = sessions::list(db, Some(&org)).await?;
    let mut chosen: Vec<lab_session::Model> = if slugs.is_empty() {
        all
    } else {
        let mut out = Vec::with_capacity(slugs.len());
        for slug in slugs {
            let found = all
                .iter()
                .find(|s| s.slug == *slug)
                .ok_or_else(|| BookError::NoSession(slug.clone(), org.clone()))?;
            if !out.iter().any(|s: &lab_session::Model| s.id == found.id) {
                out.push(found.clone());
            }
        }
        out
    };
    chosen.sort_by(|a, b| (a.opens_at, &a.slug).cmp(&(b.opens_at, &b.slug)));
    let students = roster::list(db, &org).await?;
    let n = chosen.len();
    let mut by_identifier: BTreeMap<String, BookRow> = students
        .iter()
        .map(|s| {
            (
                s.identifier.clone(),
                BookRow {
                    roster_identifier: s.identifier.clone(),
                    github_username: s.github_username.clone(),
                    name: s.name.clone(),
                    cells: vec![Cell::MISSING; n],
                },
            )
        })
        .collect();
    let mut unrostered: BTreeMap<String, BookRow> = BTreeMap::new();
    for (i, session) in chosen.iter().enumerate() {
        let summary = summarize(db, session).await?;
        let mut best: BTreeMap<(bool, String), &StudentSummary> = BTreeMap::new();
        for s in &summary {
            let key = match &s.student {
                Some(r) => (true, r.identifier.clone()),
                None => (false, s.github_username()),
            };
            match best.get(&key) {
                Some(old) if !better(old, s) => {}
                _ => {
                    best.insert(key, s);
                }
            }
        }
        for ((rostered, key), s) in best {
            let row = if rostered {
                by_identifier.get_mut(&key)
            } else {
                Some(unrostered.entry(key.clone()).or_insert_with(|| BookRow {
                    roster_identifier: String::new(),
                    github_username: key.clone(),
                    name: String::new(),
                    cells: vec![Cell::MISSING; n],
                }))
            };
            if let Some(slot) = row.and_then(|r| r.cells.get_mut(i)) {
                *slot = cell(s);
            }
        }
    }
    let mut rows: Vec<BookRow> = by_identifier.into_values().collect();
    rows.extend(unrostered.into_values());
    Ok(Book {
        sessions: chosen,
        rows,
    })
}
