//! Archiving a prefix of the audit log: the segment as JSONL of the exact hashed bytes, a manifest, an
//! `audit.archived` entry that records both files' SHA-256, then `archived_upto` advances and the rows go.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use entity::{audit_head, audit_log};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chain::{check_entry, genesis_hash};
use super::checkpoint::{self, AuditKey, CheckpointError};
use super::{entries, Action, AuditError, Hash};

/// The `format` of every manifest.
pub const MANIFEST_FORMAT: &str = "labtrail-audit-archive-v1";
/// The action of the entry that records an archive run.
pub const ARCHIVED_ACTION: &str = Action::AuditArchived.as_str();
const PAGE: u64 = 1000;

/// What an `audit.archived` entry states, signed by the log's key (a C2SP signed note of [`Self::body`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveStatement<'a> {
    pub origin: &'a str,
    pub first_seq: i64,
    pub upto: i64,
    pub head_hash: &'a str,
    pub segment_sha256: &'a str,
    pub manifest_sha256: &'a str,
}

impl ArchiveStatement<'_> {
    /// The signed text: one fact a line.
    pub fn body(&self) -> String {
        format!(
            "labtrail-audit-archive-v1\n{}\n{}\n{}\n{}\n{}\n{}\n",
            self.origin,
            self.first_seq,
            self.upto,
            self.head_hash,
            self.segment_sha256,
            self.manifest_sha256
        )
    }
}

/// What an archive segment holds and how it chains; written next to the segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub origin: String,
    pub first_seq: i64,
    pub last_seq: i64,
    /// Hex hash before the first entry (the genesis hash when `first_seq` is 0).
    pub prev_hash: String,
    /// Hex entry hash of `last_seq`.
    pub head_hash: String,
    /// The segment's file name, in the same directory.
    pub file: String,
    pub file_sha256: String,
    /// A signed checkpoint whose size covers the whole segment.
    pub checkpoint: String,
}

/// Why archiving failed (nothing was deleted).
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("nothing to archive: entries below {0} are archived already")]
    NothingNew(i64),
    #[error("cannot archive up to {upto}: the log holds {size} entries")]
    BeyondHead { upto: i64, size: i64 },
    #[error(
        "the entry at seq {seq} does not verify ({reason}): run `labtrail audit verify` first"
    )]
    Broken { seq: i64, reason: String },
}

super::db_error_via_audit!(ArchiveError);

/// The files an archive run wrote.
#[derive(Debug, Clone)]
pub struct Archived {
    pub manifest: Manifest,
    pub segment_path: PathBuf,
    pub manifest_path: PathBuf,
}

/// `audit-<first>-<last>`: segment and manifest names sort by seq.
pub fn base_name(first: i64, last: i64) -> String {
    format!("audit-{first:012}-{last:012}")
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Write `bytes` to `path` (mode 0600) through a temporary file, flushed before the rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ArchiveError> {
    let tmp = path.with_extension("tmp");
    let mut f = crate::secrets::options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    // A leftover temporary file keeps its old mode when truncated.
    crate::secrets::tighten(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Archive entries `archived_upto..upto` to `out`, then delete them, in one transaction under the audit
/// lock. The segment is covered by a signed checkpoint (one is written now when none covers it yet).
pub async fn archive(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    key: &AuditKey,
    checkpoint_file: &Path,
    upto: i64,
    out: &Path,
) -> Result<Archived, ArchiveError> {
    let (txn, mut head) = super::begin_write(db, origin).await?;
    let from = audit_head::Entity::find_by_id(1)
        .one(&txn)
        .await?
        .ok_or(AuditError::NoHead)?
        .archived_upto;
    if upto <= from {
        return Err(ArchiveError::NothingNew(from));
    }
    if upto > head.size {
        return Err(ArchiveError::BeyondHead {
            upto,
            size: head.size,
        });
    }
    let note = match checkpoint::latest(&txn).await? {
        Some(c) if c.size >= upto => c.note,
        _ => {
            checkpoint::sign_head(&txn, &head, key, origin, checkpoint_file)
                .await?
                .note
        }
    };
    let (segment, prev_hash, head_hash) = read_segment(&txn, origin, from, upto).await?;
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let name = base_name(from, upto - 1);
    let segment_path = out.join(format!("{name}.jsonl"));
    write_atomically(&segment_path, &segment)?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        origin: origin.into(),
        first_seq: from,
        last_seq: upto - 1,
        prev_hash: prev_hash.to_string(),
        head_hash: head_hash.to_string(),
        file: format!("{name}.jsonl"),
        file_sha256: hex::encode(Sha256::digest(&segment)),
        checkpoint: note,
    };
    let manifest_bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| AuditError::Canonical(e.to_string()))?;
    let manifest_path = out.join(format!("{name}.manifest.json"));
    write_atomically(&manifest_path, &manifest_bytes)?;
    let manifest_sha256 = hex::encode(Sha256::digest(&manifest_bytes));
    let statement = ArchiveStatement {
        origin,
        first_seq: from,
        upto,
        head_hash: &manifest.head_hash,
        segment_sha256: &manifest.file_sha256,
        manifest_sha256: &manifest_sha256,
    };
    let entry = entries::log_archived(
        actor,
        entries::LogArchived {
            first_seq: from,
            upto,
            head_hash: &manifest.head_hash,
            segment_sha256: &manifest.file_sha256,
            manifest_sha256: &manifest_sha256,
            statement: key.sign_note(&statement.body()),
        },
    )?;
    super::append(&txn, &mut head, entry).await?;
    audit_head::ActiveModel {
        id: Set(1),
        archived_upto: Set(upto),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    audit_log::Entity::delete_many()
        .filter(audit_log::Column::Seq.lt(upto))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(Archived {
        manifest,
        segment_path,
        manifest_path,
    })
}

/// The JSONL bytes of entries `from..upto` (each line the exact hashed bytes), checked on the way: the
/// hash before the first entry and the last entry's hash.
async fn read_segment(
    db: &impl ConnectionTrait,
    origin: &str,
    from: i64,
    upto: i64,
) -> Result<(Vec<u8>, Hash, Hash), ArchiveError> {
    let mut out = Vec::new();
    let mut first_prev = None;
    let mut prev = (from == 0).then(|| genesis_hash(origin));
    let mut next = from;
    while next < upto {
        let rows = audit_log::Entity::find()
            .filter(audit_log::Column::Seq.gte(next))
            .filter(audit_log::Column::Seq.lt(upto))
            .order_by_asc(audit_log::Column::Seq)
            .limit(PAGE)
            .all(db)
            .await?;
        if rows.is_empty() {
            return Err(broken(next, "entry missing"));
        }
        for row in rows {
            if row.seq != next {
                return Err(broken(next, "entry missing"));
            }
            let p = match prev {
                Some(p) => p,
                None => {
                    Hash::from_hex(&row.prev_hash).map_err(|_| broken(row.seq, "bad prev_hash"))?
                }
            };
            first_prev.get_or_insert(p);
            let hash = check_entry(&row, &p).map_err(|r| broken(row.seq, &r))?;
            out.extend_from_slice(&row.canonical);
            out.push(b'\n');
            prev = Some(hash);
            next += 1;
        }
    }
    match (first_prev, prev) {
        (Some(first), Some(last)) => Ok((out, first, last)),
        _ => Err(broken(from, "entry missing")),
    }
}

fn broken(seq: i64, reason: &str) -> ArchiveError {
    ArchiveError::Broken {
        seq,
        reason: reason.to_owned(),
    }
}

/// One archive segment as found on disk, not yet checked against the chain.
#[derive(Debug, Clone)]
pub struct Segment {
    pub manifest_path: PathBuf,
    pub manifest: Manifest,
    pub manifest_sha256: String,
    /// The segment file's bytes (`None` when it is missing).
    pub bytes: Option<Vec<u8>>,
}

/// A manifest that could not be read as one.
#[derive(Debug, Clone)]
pub struct BadManifest {
    pub path: PathBuf,
    pub reason: String,
}

/// Read every `*.manifest.json` in `dir` (and the segments they name), by first seq.
pub fn read_dir(dir: &Path) -> std::io::Result<(Vec<Segment>, Vec<BadManifest>)> {
    let mut segments = Vec::new();
    let mut bad = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".manifest.json"))
        })
        .collect();
    paths.sort();
    for path in paths {
        let bytes = std::fs::read(&path)?;
        match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(manifest) if manifest.format == MANIFEST_FORMAT && !manifest.file.contains('/') => {
                let data = std::fs::read(dir.join(&manifest.file)).ok();
                segments.push(Segment {
                    manifest_sha256: hex::encode(Sha256::digest(&bytes)),
                    manifest_path: path,
                    manifest,
                    bytes: data,
                });
            }
            Ok(_) => bad.push(BadManifest {
                path,
                reason: format!("not a {MANIFEST_FORMAT} manifest"),
            }),
            Err(e) => bad.push(BadManifest {
                path,
                reason: format!("not valid JSON: {e}"),
            }),
        }
    }
    segments.sort_by_key(|s| s.manifest.first_seq);
    Ok((segments, bad))
}
