//! The audit log's Merkle tree in the database (`audit_tree_hash`): written in the transaction of each
//! append, backfilled for logs written before it existed, and read O(log n) rows at a time for roots
//! and proofs. The layout is tlog's (see [`super::merkle`]).

use entity::{audit_head, audit_log, audit_tree_hash};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::merkle::{self, Frontier, Hash, MerkleError};

const PAGE: u64 = 1000;

/// Why a root or a proof could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    #[error("the Merkle tree holds {stored} leaves, fewer than the {wanted} asked for")]
    NotStored { stored: u64, wanted: u64 },
    #[error("stored tree hash #{0} is not 32 bytes")]
    Corrupt(u64),
}

fn to_i64(i: u64) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

/// The stored hashes at `indexes`, in that order; `None` when one is missing.
async fn read_hashes(
    db: &impl ConnectionTrait,
    indexes: &[u64],
) -> Result<Option<Vec<Hash>>, StoreError> {
    if indexes.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let rows = audit_tree_hash::Entity::find()
        .filter(audit_tree_hash::Column::Idx.is_in(indexes.iter().map(|&i| to_i64(i))))
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(indexes.len());
    for &i in indexes {
        let Some(row) = rows.iter().find(|r| r.idx == to_i64(i)) else {
            return Ok(None);
        };
        out.push(Hash::from_slice(&row.hash).map_err(|_| StoreError::Corrupt(i))?);
    }
    Ok(Some(out))
}

async fn write_hashes(
    db: &impl ConnectionTrait,
    first_index: u64,
    hashes: &[Hash],
) -> Result<(), DbErr> {
    // Two bound values a row: well inside SQLite's limit of 32,766 per statement.
    for (k, chunk) in hashes
        .chunks(usize::try_from(PAGE).unwrap_or(1000))
        .enumerate()
    {
        let first = first_index + u64::try_from(k).unwrap_or(0) * PAGE;
        let rows = chunk
            .iter()
            .zip(first..)
            .map(|(h, i)| audit_tree_hash::ActiveModel {
                idx: sea_orm::Set(to_i64(i)),
                hash: sea_orm::Set(h.as_bytes().to_vec()),
            });
        audit_tree_hash::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Leaves the stored tree holds (one `MAX` over the primary key).
pub async fn tree_size(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let max: Option<i64> = audit_tree_hash::Entity::find()
        .select_only()
        .column_as(audit_tree_hash::Column::Idx.max(), "m")
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten();
    let Some(max) = max.and_then(|m| u64::try_from(m).ok()) else {
        return Ok(0);
    };
    // The smallest n with stored_hash_count(n) > max.
    let (mut lo, mut hi) = (0u64, max + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if merkle::stored_hash_count(mid) > max {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

/// Store the hashes of entry `seq` (in the appending transaction, under the audit lock). When the
/// stored tree is behind (a log written before the tree existed), it is first built from the stored
/// entries; when those start after entry 0 (archived before the tree existed) there is no tree and
/// nothing is stored — checkpoints then keep the old format (see docs/audit.md).
pub async fn append_leaf(
    db: &impl ConnectionTrait,
    seq: i64,
    canonical: &[u8],
) -> Result<(), DbErr> {
    let n = u64::try_from(seq).map_err(|_| DbErr::Custom(format!("negative seq {seq}")))?;
    let mut need = merkle::stored_hashes_indexes(n);
    if n > 0 {
        need.push(merkle::stored_hash_index(0, n - 1));
    }
    let store_err = |e: StoreError| DbErr::Custom(e.to_string());
    let old = match read_hashes(db, &need).await.map_err(store_err)? {
        Some(old) => old,
        None => {
            if !catch_up(db, n).await.map_err(store_err)? {
                return Ok(());
            }
            read_hashes(db, &need)
                .await
                .map_err(store_err)?
                .ok_or_else(|| DbErr::Custom("the Merkle tree backfill left a gap".into()))?
        }
    };
    let old = &old[..merkle::stored_hashes_indexes(n).len()];
    let hashes = merkle::stored_hashes_from(n, merkle::leaf_hash(canonical), old)
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    write_hashes(db, merkle::stored_hash_index(0, n), &hashes).await
}

/// Store the hashes of entries `first_seq ..` (one canonical form each, in order) in the appending
/// transaction: the tree's right edge is read once, the hashes are computed in memory and written in
/// multi-row inserts — a batch of entries costs two statements, not two per entry. When the stored tree
/// is behind (or absent), each leaf goes through [`append_leaf`], which catches up.
pub async fn append_leaves(
    db: &impl ConnectionTrait,
    first_seq: i64,
    canonicals: &[&[u8]],
) -> Result<(), DbErr> {
    let n =
        u64::try_from(first_seq).map_err(|_| DbErr::Custom(format!("negative seq {first_seq}")))?;
    let store_err = |e: StoreError| DbErr::Custom(e.to_string());
    let edge = if n == 0 {
        Some(Vec::new())
    } else {
        read_hashes(db, merkle::root_plan(n).indexes())
            .await
            .map_err(store_err)?
    };
    let Some(edge) = edge else {
        for (seq, canonical) in (first_seq..).zip(canonicals) {
            append_leaf(db, seq, canonical).await?;
        }
        return Ok(());
    };
    let mut frontier = Frontier::from_stored(n, &edge).map_err(|e| DbErr::Custom(e.to_string()))?;
    let mut hashes = Vec::with_capacity(canonicals.len() * 2);
    for canonical in canonicals {
        hashes.extend(frontier.push(merkle::leaf_hash(canonical)));
    }
    write_hashes(db, merkle::stored_hash_index(0, n), &hashes).await
}

/// Build the stored tree up to `upto` leaves from the stored entries' canonical bytes; `false` when the
/// entries needed are no longer stored (archived before the tree existed).
pub async fn catch_up(db: &impl ConnectionTrait, upto: u64) -> Result<bool, StoreError> {
    let size = tree_size(db).await?;
    if size >= upto {
        return Ok(true);
    }
    let stored = read_hashes(db, merkle::root_plan(size).indexes())
        .await?
        .ok_or(StoreError::NotStored {
            stored: size,
            wanted: upto,
        })?;
    let mut frontier = Frontier::from_stored(size, &stored)?;
    let archived_upto = audit_head::Entity::find_by_id(1)
        .one(db)
        .await?
        .map_or(0, |h| h.archived_upto);
    if archived_upto > to_i64(size) {
        return Ok(false);
    }
    while frontier.size() < upto {
        let rows = audit_log::Entity::find()
            .filter(audit_log::Column::Seq.gte(to_i64(frontier.size())))
            .filter(audit_log::Column::Seq.lt(to_i64(upto)))
            .order_by_asc(audit_log::Column::Seq)
            .limit(PAGE)
            .all(db)
            .await?;
        if rows.is_empty() {
            return Ok(false);
        }
        let first_index = merkle::stored_hash_index(0, frontier.size());
        let mut batch = Vec::new();
        for row in rows {
            if row.seq != to_i64(frontier.size()) {
                return Ok(false);
            }
            batch.extend(frontier.push(merkle::leaf_hash(&row.canonical)));
        }
        write_hashes(db, first_index, &batch).await?;
    }
    Ok(true)
}

/// The startup step: build the tree of a log written before it existed, under the audit lock (a no-op
/// read when the tree is complete).
pub async fn backfill(db: &impl sea_orm::TransactionTrait, origin: &str) -> Result<(), DbErr> {
    let (size, tree) = {
        let txn = db.begin().await?;
        let size = audit_head::Entity::find_by_id(1)
            .one(&txn)
            .await?
            .map_or(0, |h| h.size);
        let tree = tree_size(&txn).await?;
        txn.commit().await?;
        (u64::try_from(size).unwrap_or_default(), tree)
    };
    if tree >= size {
        return Ok(());
    }
    let (txn, head) = super::begin_write(db, origin)
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    let built = catch_up(&txn, u64::try_from(head.size).unwrap_or_default())
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    txn.commit().await?;
    if built {
        tracing::info!(size = head.size, "built the audit log's Merkle tree");
    }
    Ok(())
}

async fn read_all(
    db: &impl ConnectionTrait,
    indexes: &[u64],
    wanted: u64,
) -> Result<Vec<Hash>, StoreError> {
    match read_hashes(db, indexes).await? {
        Some(h) => Ok(h),
        None => Err(StoreError::NotStored {
            stored: tree_size(db).await?,
            wanted,
        }),
    }
}

/// The stored hashes at `indexes` (tlog's stored hash indexes), in that order; `None` when one is
/// missing (the tile reads of the `tlog-tiles` API).
pub async fn stored_hashes(
    db: &impl ConnectionTrait,
    indexes: &[u64],
) -> Result<Option<Vec<Hash>>, StoreError> {
    read_hashes(db, indexes).await
}

/// The RFC 6962 root of the first `size` entries.
pub async fn root(db: &impl ConnectionTrait, size: u64) -> Result<Hash, StoreError> {
    let hashes = read_all(db, merkle::root_plan(size).indexes(), size).await?;
    Ok(merkle::root_from(size, &hashes)?)
}

/// The right edge of the tree of the first `size` entries, from its stored complete subtrees.
pub async fn frontier(db: &impl ConnectionTrait, size: u64) -> Result<Frontier, StoreError> {
    let hashes = read_all(db, merkle::root_plan(size).indexes(), size).await?;
    Ok(Frontier::from_stored(size, &hashes)?)
}

/// The inclusion proof of entry `index` in the tree of `size` entries (RFC 9162 §2.1.3).
pub async fn inclusion_proof(
    db: &impl ConnectionTrait,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, StoreError> {
    let plan = merkle::inclusion_plan(index, size)?;
    let hashes = read_all(db, plan.indexes(), size).await?;
    Ok(plan.hashes(&hashes)?)
}

/// The consistency proof between the trees of `first` and `second` entries (RFC 9162 §2.1.4).
pub async fn consistency_proof(
    db: &impl ConnectionTrait,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, StoreError> {
    let plan = merkle::consistency_plan(first, second)?;
    let hashes = read_all(db, plan.indexes(), second).await?;
    Ok(plan.hashes(&hashes)?)
}

/// The root to sign in a checkpoint of `size` entries, building the tree first when it is behind;
/// `None` when the log has no tree (archived before the tree existed).
pub async fn root_for_checkpoint(
    db: &impl ConnectionTrait,
    size: u64,
) -> Result<Option<Hash>, StoreError> {
    if size == 0 || !catch_up(db, size).await? {
        return Ok(None);
    }
    Ok(Some(root(db, size).await?))
}
