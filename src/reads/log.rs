//! Reads of the audit log itself (auditor or admin): entries, the newest checkpoint, consistency proofs,
//! the web view's overview. Each is audited like any other read.

use chrono::{DateTime, Utc};
use entity::{audit_checkpoint, audit_log};

use super::detail::{Read, ReadDetail};
use super::viewer::Viewer;
use super::{record, Ctx, ReadError};
use crate::audit::proof::{self, ConsistencyError, ConsistencyProof};
use crate::audit::{self};

const LOG_SUBJECT: &str = "audit_log";

fn require_audit_role(viewer: &Viewer) -> Result<(), ReadError> {
    if viewer.reads_audit() {
        Ok(())
    } else {
        Err(ReadError::NeedsAuditRole)
    }
}

/// A page of entries.
pub struct AuditEntries {
    pub entries: Vec<audit_log::Model>,
    /// `after_seq` of the next page; `None` on the last.
    pub next_after_seq: Option<i64>,
}

/// At most `limit` entries with `seq > after_seq`, oldest first.
pub async fn audit_entries(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    after_seq: Option<i64>,
    limit: u64,
) -> Result<AuditEntries, ReadError> {
    require_audit_role(viewer)?;
    let entries = audit::entries(ctx.db, after_seq, limit).await?;
    let next_after_seq = (entries.len() as u64 == limit)
        .then(|| entries.last().map(|r| r.seq))
        .flatten();
    let detail = ReadDetail::AuditPage {
        after_seq,
        limit,
        count: entries.len(),
    };
    record(ctx, viewer, Read::AuditEntries, LOG_SUBJECT.into(), detail).await?;
    Ok(AuditEntries {
        entries,
        next_after_seq,
    })
}

/// The newest signed checkpoint.
pub async fn checkpoint(
    ctx: Ctx<'_>,
    viewer: &Viewer,
) -> Result<audit_checkpoint::Model, ReadError> {
    require_audit_role(viewer)?;
    let latest = audit::checkpoint::latest(ctx.db)
        .await?
        .ok_or(ReadError::NoCheckpoint)?;
    let detail = ReadDetail::Size { size: latest.size };
    let subject = format!("audit_checkpoint:{}", latest.id);
    record(ctx, viewer, Read::Checkpoint, subject, detail).await?;
    Ok(latest)
}

/// The consistency proof between the trees of the first `from` and the first `to` entries.
pub async fn consistency(
    ctx: Ctx<'_>,
    viewer: &Viewer,
    from: u64,
    to: u64,
) -> Result<ConsistencyProof, ReadError> {
    require_audit_role(viewer)?;
    let proof = proof::consistency(ctx.db, from, to)
        .await
        .map_err(|e| match e {
            e @ ConsistencyError::BadRange { .. } => ReadError::BadRange(e.to_string()),
            ConsistencyError::Db(e) => ReadError::Db(e),
            ConsistencyError::Store(e) => ReadError::internal(e),
        })?;
    let detail = ReadDetail::Consistency { from, to };
    record(ctx, viewer, Read::Consistency, LOG_SUBJECT.into(), detail).await?;
    Ok(proof)
}

/// The log's size and its newest checkpoint's size and time (the web view's audit page).
pub async fn audit_overview(
    ctx: Ctx<'_>,
    viewer: &Viewer,
) -> Result<(i64, Option<(i64, DateTime<Utc>)>), ReadError> {
    require_audit_role(viewer)?;
    let size = audit::size(ctx.db).await?;
    let checkpoint = audit::checkpoint::latest(ctx.db)
        .await?
        .map(|c| (c.size, c.created_at));
    let detail = ReadDetail::Size { size };
    record(ctx, viewer, Read::AuditOverview, LOG_SUBJECT.into(), detail).await?;
    Ok((size, checkpoint))
}
