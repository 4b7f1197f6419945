//! The gradebook CSV (issue 22): `roster_identifier,github_username,name`, then per session (in the
//! book's order) `<slug>_points,<slug>_status`; every cell formula-safe ([`super::csv_safe`]).

use crate::db::gradebook::Book;

/// The header's cells.
pub fn header(book: &Book) -> Vec<String> {
    let mut cells: Vec<String> = ["roster_identifier", "github_username", "name"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for s in &book.sessions {
        cells.push(format!("{}_points", s.slug));
        cells.push(format!("{}_status", s.slug));
    }
    cells
}

/// Each row's cells, in the header's order.
pub fn rows(book: &Book) -> impl Iterator<Item = Vec<String>> + '_ {
    book.rows.iter().map(|r| {
        let mut cells = vec![
            r.roster_identifier.clone(),
            r.github_username.clone(),
            r.name.clone(),
        ];
        for c in &r.cells {
            cells.push(c.points.clone());
            cells.push(c.status.as_str().to_owned());
        }
        cells
    })
}

/// One CSV record (LF), every cell through [`super::csv_safe`].
pub fn record(cells: &[String]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(cells.iter().map(|c| super::csv_safe(c).into_owned()))?;
    w.into_inner()
        .map_err(|e| csv::Error::from(std::io::Error::other(e.to_string())))
}

/// The whole CSV as records: the header, then one per row (a caller streams them).
pub fn records(book: &Book) -> impl Iterator<Item = Result<Vec<u8>, csv::Error>> + '_ {
    std::iter::once(header(book))
        .chain(rows(book))
        .map(|cells| record(&cells))
}
