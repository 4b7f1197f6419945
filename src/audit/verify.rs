//! Recompute the audit chain from the stored canonical bytes and report the first break.

use entity::{audit_head, audit_log};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::Value;

use super::{canonical_bytes, chain_hash, genesis_hash, leaf_hash, parse_hash, SCHEME_VERSION};

const PAGE: u64 = 1000;

/// Verification could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the database: {0}")]
    Db(#[from] DbErr),
    #[error("the audit_head row is missing: is this a labtrail database with migrations applied?")]
    NoHead,
    #[error("the log was started with origin {stored:?} but {configured:?} is configured (set LABTRAIL_AUDIT_ORIGIN)")]
    Origin { stored: String, configured: String },
}

/// The verdict on an readable log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry rehashes and chains; the head agrees.
    Intact {
        size: i64,
        head_hash: Option<String>,
        first_seq: i64,
    },
    /// The first entry (or the head) that does not hold, and why.
    Tampered { seq: i64, reason: String },
}

/// Verify the whole stored chain against `origin`.
pub async fn verify(db: &impl ConnectionTrait, origin: &str) -> Result<Verdict, VerifyError> {
    let head = audit_head::Entity::find_by_id(1)
        .one(db)
        .await?
        .ok_or(VerifyError::NoHead)?;
    if let Some(stored) = head.origin.as_deref().filter(|s| *s != origin) {
        return Err(VerifyError::Origin {
            stored: stored.to_owned(),
            configured: origin.to_owned(),
        });
    }
    let first_seq = head.archived_upto;
    let mut expected_seq = first_seq;
    let mut prev: Option<[u8; 32]> = (first_seq == 0).then(|| genesis_hash(origin));
    loop {
        let rows = audit_log::Entity::find()
            .filter(audit_log::Column::Seq.gte(expected_seq))
            .order_by_asc(audit_log::Column::Seq)
            .limit(PAGE)
            .all(db)
            .await?;
        let done = (rows.len() as u64) < PAGE;
        for row in rows {
            if row.seq != expected_seq {
                return Ok(tampered(
                    expected_seq,
                    format!("entry missing (next stored seq is {})", row.seq),
                ));
            }
            // Entries before this one were archived: the first remaining entry anchors the chain.
            let prev_hash = match prev {
                Some(p) => p,
                None => match parse_hash(&row.prev_hash) {
                    Some(p) => p,
                    None => {
                        return Ok(tampered(
                            row.seq,
                            "prev_hash is not a SHA-256 hex digest".into(),
                        ))
                    }
                },
            };
            match check_entry(&row, &prev_hash) {
                Ok(hash) => prev = Some(hash),
                Err(reason) => return Ok(tampered(row.seq, reason)),
            }
            expected_seq += 1;
        }
        if done {
            break;
        }
    }
    let last_hash = prev.filter(|_| expected_seq > first_seq).map(hex::encode);
    if expected_seq != head.size {
        let seq = expected_seq.min(head.size);
        return Ok(tampered(
            seq,
            format!(
                "audit_head says {} entries but the chain holds {expected_seq}",
                head.size
            ),
        ));
    }
    if head.size > 0 && head.head_hash != last_hash {
        return Ok(tampered(
            head.size - 1,
            "audit_head hash differs from the last entry's hash".into(),
        ));
    }
    Ok(Verdict::Intact {
        size: head.size,
        head_hash: last_hash,
        first_seq,
    })
}

fn tampered(seq: i64, reason: String) -> Verdict {
    Verdict::Tampered { seq, reason }
}

/// Check one entry against its predecessor's hash; returns its hash.
fn check_entry(row: &audit_log::Model, prev: &[u8; 32]) -> Result<[u8; 32], String> {
    if row.prev_hash != hex::encode(prev) {
        return Err("prev_hash does not match the previous entry's hash".into());
    }
    let doc: Value = serde_json::from_slice(&row.canonical)
        .map_err(|e| format!("hashed bytes are not JSON: {e}"))?;
    let recanonical = canonical_bytes(&doc).map_err(|e| e.to_string())?;
    if recanonical != row.canonical {
        return Err("hashed bytes are not in canonical form".into());
    }
    let details = canonical_bytes(&doc["details"]).map_err(|e| e.to_string())?;
    let columns_agree = doc["v"] == SCHEME_VERSION
        && doc["seq"] == row.seq
        && doc["entry_id"] == row.entry_id.as_str()
        && doc["occurred_at_us"] == row.occurred_at_us
        && doc["actor"] == row.actor.as_str()
        && doc["action"] == row.action.as_str()
        && doc["subject"] == row.subject.as_str()
        && details == row.details.as_bytes();
    if !columns_agree {
        return Err("stored columns differ from the hashed entry".into());
    }
    let hash = chain_hash(prev, &leaf_hash(&row.canonical));
    if row.entry_hash != hex::encode(hash) {
        return Err("entry_hash does not match the recomputed hash".into());
    }
    Ok(hash)
}
