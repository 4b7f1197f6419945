//! The append-only, hash-chained audit log: canonical encoding, hashing, append under the head lock.

mod action;
pub mod archive;
pub mod chain;
pub mod checkpoint;
pub mod entries;
mod hash;
pub mod merkle;
pub mod merkle_store;
pub mod proof;
pub mod records;
pub mod tiles;
pub mod verify;
pub mod witness;

pub use action::Action;
pub use chain::{
    canonical_bytes, chain_hash, genesis_hash, leaf_hash, CanonicalError, SCHEME_VERSION,
};
pub use hash::{Hash, HashParseError};

use chrono::Utc;
use entity::{audit_head, audit_log};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    QuerySelect, Set, Statement,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Why an entry could not be appended.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error("audit details must hold no floating-point numbers (at {0})")]
    Float(String),
    #[error("audit details must be a JSON object")]
    NotAnObject,
    #[error("cannot encode canonical JSON: {0}")]
    Canonical(String),
    #[error("the audit_head row is missing: run the migrations")]
    NoHead,
    #[error(
        "this log was started with origin {stored:?}, but the configured origin is {configured:?}: set \
         LABTRAIL_AUDIT_ORIGIN={stored} (or restore the LABTRAIL_PUBLIC_URL whose host it was)"
    )]
    OriginMismatch { stored: String, configured: String },
}

/// `From<DbErr>` for an error with an `Audit(AuditError)` variant: a database failure is the
/// [`AuditError::Db`] an audited write would give (printed as the database's own message), so the error
/// needs no `Db` variant of its own and callers map database failures in one place.
macro_rules! db_error_via_audit {
    ($error:ty) => {
        impl From<sea_orm::DbErr> for $error {
            fn from(e: sea_orm::DbErr) -> Self {
                Self::Audit($crate::audit::AuditError::Db(e))
            }
        }
    };
}
pub(crate) use db_error_via_audit;

impl From<CanonicalError> for AuditError {
    fn from(e: CanonicalError) -> Self {
        Self::Canonical(e.0)
    }
}

impl From<OtherOrigin> for AuditError {
    fn from(OtherOrigin { stored, configured }: OtherOrigin) -> Self {
        Self::OriginMismatch { stored, configured }
    }
}

/// The origin a log was started with, when it is not the configured one.
#[derive(Debug)]
pub struct OtherOrigin {
    pub stored: String,
    pub configured: String,
}

/// Refuse an origin other than the one the log of `head` was started with (a log without entries takes
/// any).
pub fn check_head_origin(head: &audit_head::Model, origin: &str) -> Result<(), OtherOrigin> {
    match head.origin.as_deref().filter(|stored| *stored != origin) {
        Some(stored) => Err(OtherOrigin {
            stored: stored.to_owned(),
            configured: origin.to_owned(),
        }),
        None => Ok(()),
    }
}

/// What to append; seq, id, time and hashes are assigned by [`append`].
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// `github:delivery:<guid>`, `cli:<user>`, `token:<name>` or `system`.
    pub actor: String,
    /// `lab_attempt.recorded`, `lab_session.created`, …
    pub action: Action,
    /// What the entry is about, e.g. `lab_attempt:42`.
    pub subject: String,
    /// Ids and facts only: no names, no e-mail addresses, no floats.
    pub details: Value,
}

/// Proof that an entry was appended: where and with which hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub seq: i64,
    pub entry_hash: Hash,
}

/// The locked head of the log inside a write transaction.
#[derive(Debug, Clone)]
pub struct LockedHead {
    pub size: i64,
    pub head_hash: Hash,
    origin: String,
}

/// Hex SHA-256 of the canonical JSON of a value: a digest that commits to content kept outside the log.
pub fn content_digest(value: &Value) -> Result<String, AuditError> {
    Ok(hex::encode(Sha256::digest(canonical_bytes(value)?)))
}

fn reject_floats(value: &Value, path: &str) -> Result<(), AuditError> {
    match value {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => Err(AuditError::Float(path.to_owned())),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| reject_floats(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| reject_floats(v, &format!("{path}.{k}"))),
        _ => Ok(()),
    }
}

/// The document hashed for one entry: every field but the hashes.
pub fn entry_document(seq: i64, entry_id: &str, occurred_at_us: i64, entry: &NewEntry) -> Value {
    serde_json::json!({
        "v": SCHEME_VERSION,
        "seq": seq,
        "entry_id": entry_id,
        "occurred_at_us": occurred_at_us,
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "details": entry.details,
    })
}

/// Take the audit lock at the start of a write transaction and read the head.
///
/// PostgreSQL: `SELECT … FOR UPDATE` on the single `audit_head` row. SQLite: a no-op write first, so the
/// transaction holds the database's write lock from its start (what `BEGIN IMMEDIATE` does) and cannot
/// fail later on a lock upgrade; the busy timeout makes other writers wait instead.
pub async fn lock_head(txn: &DatabaseTransaction, origin: &str) -> Result<LockedHead, AuditError> {
    if txn.get_database_backend() == DbBackend::Sqlite {
        txn.execute(Statement::from_string(
            DbBackend::Sqlite,
            "UPDATE audit_head SET size = size WHERE id = 1",
        ))
        .await?;
    }
    let head = audit_head::Entity::find_by_id(1)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(AuditError::NoHead)?;
    check_head_origin(&head, origin)?;
    let head_hash = match head.head_hash.as_deref() {
        Some(h) => Hash::from_hex(h)
            .map_err(|e| AuditError::Canonical(format!("corrupt head hash: {e}")))?,
        None => genesis_hash(origin),
    };
    Ok(LockedHead {
        size: head.size,
        head_hash,
        origin: origin.to_owned(),
    })
}

/// Refuse an origin other than the one the log was started with (a log without entries takes any): every
/// append would fail, so `serve` checks before it starts.
pub async fn check_origin(db: &impl ConnectionTrait, origin: &str) -> Result<(), AuditError> {
    let head = audit_head::Entity::find_by_id(1)
        .one(db)
        .await?
        .ok_or(AuditError::NoHead)?;
    Ok(check_head_origin(&head, origin)?)
}

/// Append one entry at the locked head, in the caller's transaction, and advance the head.
pub async fn append(
    txn: &DatabaseTransaction,
    head: &mut LockedHead,
    entry: NewEntry,
) -> Result<Receipt, AuditError> {
    let mut receipts = append_many(txn, head, vec![entry]).await?;
    receipts.pop().ok_or(AuditError::NoHead)
}

/// Append entries at the locked head, in order, in the caller's transaction, and advance the head: each
/// entry is hashed and chained in memory, then the batch is stored with multi-row inserts (Merkle hashes
/// after one read of the tree's edge, entries) and one move of the head — group commit's audit half. The
/// entries are the same, byte for byte, as if appended one by one.
pub async fn append_many(
    txn: &DatabaseTransaction,
    head: &mut LockedHead,
    entries: Vec<NewEntry>,
) -> Result<Vec<Receipt>, AuditError> {
    let first_seq = head.size;
    let mut rows = Vec::with_capacity(entries.len());
    let mut canonicals = Vec::with_capacity(entries.len());
    let mut receipts = Vec::with_capacity(entries.len());
    let mut chain = head.head_hash;
    for (seq, entry) in (first_seq..).zip(entries) {
        if !entry.details.is_object() {
            return Err(AuditError::NotAnObject);
        }
        reject_floats(&entry.details, "details")?;
        // Time-ordered (RFC 9562 version 7): the unique index on `entry_id` grows at its end, so an
        // append touches the same few index pages however long the log is (a random id would touch a
        // page per entry, spread over the whole index).
        let entry_id = uuid::Uuid::now_v7().to_string();
        let occurred_at_us = Utc::now().timestamp_micros();
        let canonical = canonical_bytes(&entry_document(seq, &entry_id, occurred_at_us, &entry))?;
        let details = String::from_utf8(canonical_bytes(&entry.details)?)
            .map_err(|e| AuditError::Canonical(e.to_string()))?;
        let entry_hash = chain_hash(&chain, &leaf_hash(&canonical));
        rows.push(audit_log::ActiveModel {
            seq: Set(seq),
            entry_id: Set(entry_id),
            occurred_at_us: Set(occurred_at_us),
            actor: Set(entry.actor),
            action: Set(entry.action.as_str().to_owned()),
            subject: Set(entry.subject),
            details: Set(details),
            canonical: Set(canonical.clone()),
            prev_hash: Set(chain.to_string()),
            entry_hash: Set(entry_hash.to_string()),
        });
        receipts.push(Receipt { seq, entry_hash });
        canonicals.push(canonical);
        chain = entry_hash;
    }
    if rows.is_empty() {
        return Ok(receipts);
    }
    let leaves: Vec<&[u8]> = canonicals.iter().map(Vec::as_slice).collect();
    merkle_store::append_leaves(txn, first_seq, &leaves).await?;
    // One multi-row insert a chunk, then the head moves once: the database accepts the first entry at
    // the head and each next one chained right after it (migration m20261130_000090).
    let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(ENTRY_CHUNK).collect();
        audit_log::Entity::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
    }
    head.size = first_seq + count;
    audit_head::ActiveModel {
        id: Set(1),
        size: Set(head.size),
        head_hash: Set(Some(chain.to_string())),
        origin: Set(Some(head.origin.clone())),
        archived_upto: sea_orm::ActiveValue::NotSet,
    }
    .update(txn)
    .await?;
    head.head_hash = chain;
    Ok(receipts)
}

/// Entries one multi-row insert carries at most (ten values a row; SQLite allows 32,766 a statement).
const ENTRY_CHUNK: usize = 500;

/// The audit side of an open [`write`]: the locked head, advanced by each append.
#[derive(Debug)]
pub struct Log<'t> {
    txn: &'t DatabaseTransaction,
    head: LockedHead,
    commit: bool,
}

impl Log<'_> {
    /// Append an entry now, in the write's transaction (before what the closure does next).
    pub async fn append(&mut self, entry: NewEntry) -> Result<Receipt, AuditError> {
        append(self.txn, &mut self.head, entry).await
    }

    /// Append several entries at once, in order (see [`append_many`]).
    pub async fn append_many(
        &mut self,
        entries: Vec<NewEntry>,
    ) -> Result<Vec<Receipt>, AuditError> {
        append_many(self.txn, &mut self.head, entries).await
    }

    /// The head: its size is the `seq` the next entry gets.
    pub fn head(&self) -> &LockedHead {
        &self.head
    }

    /// Roll the write back when the closure returns, though it returns `Ok` (nothing it did stays).
    pub fn roll_back(&mut self) {
        self.commit = false;
    }
}

/// An audited write: open a transaction, lock the log's head, run `change` (which changes rows through
/// `txn` and appends its entries through `log`), then commit, unless `change` failed or asked
/// [`Log::roll_back`]. Every state change goes through here, so it is logged in its own transaction.
pub async fn write<D, T, E, F>(db: &D, origin: &str, change: F) -> Result<T, E>
where
    D: sea_orm::TransactionTrait,
    E: From<AuditError>,
    F: AsyncFnOnce(&DatabaseTransaction, &mut Log<'_>) -> Result<T, E>,
{
    let (txn, head) = begin_write(db, origin).await?;
    let mut log = Log {
        txn: &txn,
        head,
        commit: true,
    };
    // On an error the transaction is dropped, which rolls it back.
    let value = change(&txn, &mut log).await?;
    if log.commit {
        txn.commit().await.map_err(AuditError::from)?;
    }
    Ok(value)
}

/// Open a write transaction holding the audit lock (the locked head), for the log's own upkeep (archive
/// segments, stored Merkle hashes, checkpoints) and for tests; every other audited change goes through
/// [`write`], which commits or rolls back for its caller.
pub async fn begin_write(
    db: &impl sea_orm::TransactionTrait,
    origin: &str,
) -> Result<(DatabaseTransaction, LockedHead), AuditError> {
    let txn = db.begin().await?;
    let head = lock_head(&txn, origin).await?;
    Ok((txn, head))
}

/// Stored entries with `seq > after_seq` (all when `None`), oldest first, at most `limit`.
pub async fn entries(
    db: &impl ConnectionTrait,
    after_seq: Option<i64>,
    limit: u64,
) -> Result<Vec<audit_log::Model>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    let mut q = audit_log::Entity::find();
    if let Some(after) = after_seq {
        q = q.filter(audit_log::Column::Seq.gt(after));
    }
    q.order_by_asc(audit_log::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// The log's size (entries appended), 0 before the first.
pub async fn size(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(audit_head::Entity::find()
        .one(db)
        .await?
        .map_or(0, |h| h.size))
}

/// The hash of entry `seq`, while it is in the database (not archived).
pub async fn entry_hash_at(db: &impl ConnectionTrait, seq: i64) -> Result<Option<String>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(audit_log::Entity::find()
        .filter(audit_log::Column::Seq.eq(seq))
        .one(db)
        .await?
        .map(|e| e.entry_hash))
}

/// The exported shape of an entry: its columns, `details` as JSON, and the exact hashed bytes.
pub fn entry_json(row: &audit_log::Model) -> Value {
    serde_json::json!({
        "seq": row.seq,
        "entry_id": row.entry_id,
        "occurred_at_us": row.occurred_at_us,
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "details": serde_json::from_str::<Value>(&row.details).unwrap_or(Value::Null),
        "canonical": String::from_utf8_lossy(&row.canonical),
        "prev_hash": row.prev_hash,
        "entry_hash": row.entry_hash,
    })
}

/// Append one entry in its own transaction (for events that change nothing else, like an API read).
pub async fn record(
    db: &impl sea_orm::TransactionTrait,
    origin: &str,
    entry: NewEntry,
) -> Result<Receipt, AuditError> {
    write(db, origin, async |_, log| log.append(entry).await).await
}
