//! The gradebook of an organisation (issue 22), for an instructor or admin of that organisation; one
//! audit entry (`api.gradebook_exported` / `web.gradebook_exported`) with the org's digest, the
//! sessions' ids and the row count.

use sha2::{Digest, Sha256};

use super::detail::{Read, ReadDetail};
use super::viewer::Viewer;
use super::{record, Ctx, ReadError};
use crate::db::gradebook::{self, Book, BookError};

/// The gradebook of `org`, if the viewer sees that organisation: of the sessions `sessions` names
/// (`?sessions=a,b`: slugs separated by commas, blanks ignored), or of all when it names none.
pub async fn gradebook(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    org: &str,
    sessions: Option<&str>,
) -> Result<Book, ReadError> {
    let slugs: Vec<String> = sessions
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let slugs = slugs.as_slice();
    let org = org.to_ascii_lowercase();
    if !viewer.sees_org(&org) {
        return Err(ReadError::OtherOrg);
    }
    let book = gradebook::book(ctx.db, &org, slugs)
        .await
        .map_err(|e| match e {
            BookError::NoSession(slug, _) => ReadError::NoSession(slug),
            BookError::Db(e) => ReadError::Db(e),
        })?;
    let detail = ReadDetail::Gradebook {
        org_sha256: hex::encode(Sha256::digest(org.as_bytes())),
        session_ids: book.sessions.iter().map(|s| s.id).collect(),
        count: book.rows.len(),
    };
    record(ctx, viewer, Read::Gradebook, "gradebook".into(), detail).await?;
    Ok(book)
}
