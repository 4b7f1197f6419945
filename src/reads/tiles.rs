//! The log as a C2SP `tlog-tiles` static API (`/log/checkpoint`, `/log/tile/…`): for auditor and admin
//! tokens, or for anyone when `LABTRAIL_PUBLIC_LOG=1` (the handler passes no viewer then).
//!
//! These reads are **not** audited per request, unlike the other reads here: what they give is the log
//! itself — entries that hold ids and digests only (never names), hashes, and the signed checkpoint —
//! which is meant to be copied by auditors and mirrors; and an audit entry per tile would grow the log
//! with every fetch, so a client following the log could never catch up with it.

use sea_orm::DatabaseConnection;

use super::viewer::Viewer;
use super::ReadError;
use crate::audit::checkpoint::{self, parse_note, resolve_stored, Checkpoint};
use crate::audit::tiles::{self, TileError};

/// Why a tile or the checkpoint was not given.
#[derive(Debug, thiserror::Error)]
pub enum TileReadError {
    #[error(transparent)]
    Read(#[from] ReadError),
    /// No such tile (or path), or no checkpoint yet: a 404.
    #[error("{0}")]
    NotFound(String),
}

impl From<sea_orm::DbErr> for TileReadError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Read(ReadError::Db(e))
    }
}

fn allowed(viewer: Option<&Viewer>) -> Result<(), ReadError> {
    match viewer {
        Some(v) if !v.reads_audit() => Err(ReadError::NeedsAuditRole),
        _ => Ok(()),
    }
}

/// The newest checkpoint with a Merkle root: its note (with the witnesses' cosignatures) and size.
async fn newest(db: &DatabaseConnection) -> Result<(String, u64), TileReadError> {
    let none = || TileReadError::NotFound("no checkpoint has been written yet".into());
    let latest = checkpoint::latest(db).await?.ok_or_else(none)?;
    let body = parse_note(&latest.note)
        .map_err(|e| TileReadError::Read(ReadError::Internal(Box::new(e))))?;
    let parsed = Checkpoint::parse_body(&body.text)
        .map_err(|e| TileReadError::Read(ReadError::Internal(Box::new(e))))?;
    let resolved = resolve_stored(db, parsed).await?;
    match (resolved.root(), u64::try_from(resolved.size)) {
        (Some(_), Ok(size)) => Ok((latest.note, size)),
        _ => Err(TileReadError::NotFound(
            "the newest checkpoint signs no Merkle root (a chain-only log)".into(),
        )),
    }
}

/// `<prefix>/checkpoint`: the newest signed checkpoint.
pub async fn log_checkpoint(
    db: &DatabaseConnection,
    viewer: Option<&Viewer>,
) -> Result<String, TileReadError> {
    allowed(viewer)?;
    Ok(newest(db).await?.0)
}

/// `<prefix>/tile/<path>`: a tile or entry bundle of the newest checkpoint's tree.
pub async fn log_tile(
    db: &DatabaseConnection,
    viewer: Option<&Viewer>,
    path: &str,
) -> Result<Vec<u8>, TileReadError> {
    allowed(viewer)?;
    let tile = tiles::parse_path(path)
        .ok_or_else(|| TileReadError::NotFound(format!("not a tile path: tile/{path}")))?;
    let (_, size) = newest(db).await?;
    tiles::read(db, &tile, size).await.map_err(|e| match e {
        TileError::Missing(m) => TileReadError::NotFound(m),
        TileError::Store(e) => TileReadError::Read(ReadError::Internal(Box::new(e))),
        TileError::Db(e) => TileReadError::Read(ReadError::Db(e)),
    })
}
