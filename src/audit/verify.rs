//! Recompute the audit chain from the stored canonical bytes (and archived segments), check it passes
//! through every signed checkpoint, and report the first break and the unsigned tail.

use std::collections::BTreeMap;
use std::path::PathBuf;

use entity::{audit_checkpoint, audit_head, audit_log};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::archive::{self, Segment, ARCHIVED_ACTION};
use super::chain::{
    canonical_bytes, chain_hash, check_entry_doc, genesis_hash, leaf_hash, SCHEME_VERSION,
};
use super::checkpoint::{open_checkpoint, open_note, resolve_stored, Verifier};
use super::merkle::{self, Frontier, Hash};
use super::merkle_store::{self, StoreError};
use super::records::{self, RecordsSummary};
use super::witness::{cosigners, WitnessVerifier};

const PAGE: u64 = 1000;

/// Verification could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the database")]
    Db(#[from] DbErr),
    #[error("the records check stopped: {0}")]
    Task(String),
    #[error("the audit_head row is missing: is this a labtrail database with migrations applied?")]
    NoHead,
    #[error("the log was started with origin {stored:?} but {configured:?} is configured (set LABTRAIL_AUDIT_ORIGIN)")]
    Origin { stored: String, configured: String },
    #[error(
        "cannot check signed checkpoints without the log's public key (pass --public-key FILE)"
    )]
    NoPublicKey,
    #[error("cannot read the archive directory {path}: {source}")]
    Archive {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<super::OtherOrigin> for VerifyError {
    fn from(super::OtherOrigin { stored, configured }: super::OtherOrigin) -> Self {
        Self::Origin { stored, configured }
    }
}

/// The verdict on an readable log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every entry rehashes and chains; the head agrees.
    Intact {
        size: i64,
        head_hash: Option<Hash>,
        first_seq: i64,
    },
    /// The first entry (or the head) that does not hold, and why.
    Tampered { seq: i64, reason: String },
    /// A piece of evidence (a checkpoint note, an archive manifest) is forged, damaged or contradicts
    /// another one.
    BadEvidence { what: String, reason: String },
}

/// What the verifier is given besides the database.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The log's public key; needed to check any checkpoint.
    pub verifier: Option<Verifier>,
    /// Signed notes kept outside the database (the checkpoint file), with a label for messages.
    pub external_notes: Vec<(String, String)>,
    /// A directory of archive segments and manifests.
    pub archive_dir: Option<PathBuf>,
    /// Witnesses whose cosignatures the newest checkpoint must carry (none: not required).
    pub witnesses: Vec<WitnessVerifier>,
    /// How many of `witnesses` must have cosigned it.
    pub quorum: usize,
}

/// The verdict and what it rests on.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub verdict: Verdict,
    /// Entries ever appended (`audit_head.size`).
    pub size: i64,
    /// Signed checkpoints the chain was checked against.
    pub checkpoints_checked: usize,
    /// The size of the newest checkpoint kept outside the database (file or archive manifest).
    pub external_size: Option<i64>,
    /// Things worth knowing that do not change the verdict.
    pub notes: Vec<String>,
    /// The graded rows compared with the entries that set them (when the log itself is intact).
    pub records: Option<RecordsSummary>,
    /// With witnesses required: the newest checkpoint's size and the witnesses that cosigned it.
    pub witnessed: Option<(i64, Vec<String>)>,
}

/// Verify the whole stored chain against `origin` (no checkpoints, no archives).
pub async fn verify(db: &DatabaseConnection, origin: &str) -> Result<Verdict, VerifyError> {
    Ok(verify_with(db, origin, &Evidence::default()).await?.verdict)
}

/// Per size: the chain head and the Merkle root signed (either may be absent: a legacy chain-only
/// checkpoint signs no root, a standard three-line one no chain head), and by what.
type Signed = BTreeMap<i64, Vec<(Option<Hash>, Option<Hash>, String)>>;

/// Verify the chain, the checkpoints (stored, external, in archive manifests) and the archives.
pub async fn verify_with(
    db: &DatabaseConnection,
    origin: &str,
    ev: &Evidence,
) -> Result<VerifyReport, VerifyError> {
    let head = audit_head::Entity::find_by_id(1)
        .one(db)
        .await?
        .ok_or(VerifyError::NoHead)?;
    super::check_head_origin(&head, origin)?;
    let mut report = VerifyReport {
        // Replaced by the walk's verdict (check_chain always sets one).
        verdict: Verdict::Intact {
            size: head.size,
            head_hash: None,
            first_seq: head.archived_upto,
        },
        size: head.size,
        checkpoints_checked: 0,
        external_size: None,
        notes: Vec::new(),
        records: None,
        witnessed: None,
    };
    let segments = match &ev.archive_dir {
        Some(dir) => {
            let (segments, bad) =
                archive::read_dir(dir).map_err(|source| VerifyError::Archive {
                    path: dir.clone(),
                    source,
                })?;
            if let Some(b) = bad.first() {
                report.verdict = Verdict::BadEvidence {
                    what: format!("archive manifest {}", b.path.display()),
                    reason: b.reason.clone(),
                };
                return Ok(report);
            }
            Some(segments)
        }
        None => None,
    };
    let signed = match collect_checkpoints(db, origin, ev, segments.as_deref(), &mut report).await?
    {
        Ok(signed) => signed,
        Err(verdict) => {
            report.verdict = verdict;
            return Ok(report);
        }
    };
    if let Err(verdict) = check_successive(db, origin, ev, &mut report).await? {
        report.verdict = verdict;
        return Ok(report);
    }
    if let Err(verdict) = check_witnessed(db, origin, ev, &mut report).await? {
        report.verdict = verdict;
        return Ok(report);
    }
    let verifier = ev.verifier.as_ref();
    // The chain walk (entries by seq) and the records check (entries by subject, then the rows) read
    // different things: they run side by side, the records check in a task of its own (another core) on
    // another pooled connection. The records' summary counts only when the chain is intact.
    let records_db = db.clone();
    let archived_upto = head.archived_upto;
    let records = tokio::spawn(async move { records::check(&records_db, archived_upto).await });
    let chain = check_chain(db, origin, &head, &signed, segments, verifier, &mut report).await;
    let records = records.await;
    if let Err(verdict) = chain? {
        report.verdict = verdict;
        return Ok(report);
    }
    let summary = records.map_err(|e| VerifyError::Task(e.to_string()))??;
    if summary.unchecked_archived > 0 {
        report.notes.push(format!(
            "{} rows were not compared with the log: the entries that set them are archived",
            summary.unchecked_archived
        ));
    }
    if summary.attempts_not_covered > 0 {
        report.notes.push(format!(
            "{} attempts were recorded before their entry held the sender and the repository's and \
             pusher's digests: those three were not compared",
            summary.attempts_not_covered
        ));
    }
    if summary.roster_not_covered > 0 {
        report.notes.push(format!(
            "{} roster rows were not compared: the imports that set them predate per-row digests, or are archived",
            summary.roster_not_covered
        ));
    }
    report.records = Some(summary);
    Ok(report)
}

/// Successive checkpoints of the checkpoint file must describe one growing log: sizes never
/// decrease, and the RFC 9162 consistency proof between each pair, computed from the stored tree,
/// connects their signed roots. A forked or rewritten note breaks this even where its size matches
/// no other note.
async fn check_successive(
    db: &impl ConnectionTrait,
    origin: &str,
    ev: &Evidence,
    report: &mut VerifyReport,
) -> Result<Result<(), Verdict>, VerifyError> {
    let Some(verifier) = &ev.verifier else {
        return Ok(Ok(()));
    };
    let mut previous: Option<(&str, i64, Hash)> = None;
    let mut unchecked = 0usize;
    for (what, note) in &ev.external_notes {
        // Notes that do not open were reported by collect_checkpoints already.
        let Ok(c) = open_checkpoint(note, verifier, origin) else {
            continue;
        };
        let c = resolve_stored(db, c).await?;
        let Some(root) = c.root() else {
            continue;
        };
        if let Some((prev_what, prev_size, prev_root)) = previous {
            if c.size < prev_size {
                return Ok(Err(Verdict::BadEvidence {
                    what: what.clone(),
                    reason: format!(
                        "it signs {} entries after {prev_what} signed {prev_size}: the log shrank, \
                         or the file was rewritten",
                        c.size
                    ),
                }));
            }
            let (first, second) = (to_u64(prev_size), to_u64(c.size));
            if first == 0 {
                previous = Some((what, c.size, root));
                continue;
            }
            match merkle_store::consistency_proof(db, first, second).await {
                Ok(proof) => {
                    if merkle::verify_consistency(first, second, &prev_root, &root, &proof).is_err()
                    {
                        return Ok(Err(Verdict::BadEvidence {
                            what: what.clone(),
                            reason: format!(
                                "its tree (size {second}) is not an extension of the tree signed \
                                 by {prev_what} (size {first}): the RFC 9162 consistency proof \
                                 from the stored tree does not connect the two signed roots (a \
                                 forked or rewritten checkpoint)"
                            ),
                        }));
                    }
                }
                Err(StoreError::Db(e)) => return Err(e.into()),
                Err(_) => unchecked += 1,
            }
        }
        previous = Some((what, c.size, root));
    }
    if unchecked > 0 {
        report.notes.push(format!(
            "{unchecked} pairs of successive checkpoints were not checked for consistency: the \
             stored Merkle tree does not cover them"
        ));
    }
    Ok(Ok(()))
}

/// With witnesses required: the newest checkpoint (largest size, stored or external), which anchors the
/// verdict, must carry valid `cosignature/v1` lines of `quorum` of them (counted over every note of that
/// size the log's key signed: the log keeps one per set of cosignatures).
async fn check_witnessed(
    db: &impl ConnectionTrait,
    origin: &str,
    ev: &Evidence,
    report: &mut VerifyReport,
) -> Result<Result<(), Verdict>, VerifyError> {
    if ev.witnesses.is_empty() {
        return Ok(Ok(()));
    }
    let verifier = ev.verifier.as_ref().ok_or(VerifyError::NoPublicKey)?;
    let stored = audit_checkpoint::Entity::find()
        .order_by_asc(audit_checkpoint::Column::Id)
        .all(db)
        .await?;
    let notes = stored
        .into_iter()
        .map(|c| {
            (
                format!("database checkpoint #{} (size {})", c.id, c.size),
                c.note,
            )
        })
        .chain(ev.external_notes.iter().cloned());
    // (size, what, valid witnesses, witnesses with a line that does not verify)
    let mut newest: Option<(i64, String, Vec<String>, Vec<String>)> = None;
    for (what, note) in notes {
        let Ok(c) = open_checkpoint(&note, verifier, origin) else {
            continue;
        };
        let cosigned = cosigners(&note, &ev.witnesses).unwrap_or_default();
        match &mut newest {
            Some((size, _, valid, invalid)) if *size == c.size => {
                for v in cosigned.valid {
                    if !valid.contains(&v) {
                        valid.push(v);
                    }
                }
                invalid.extend(cosigned.invalid);
            }
            Some((size, ..)) if *size > c.size => {}
            _ => newest = Some((c.size, what, cosigned.valid, cosigned.invalid)),
        }
    }
    let Some((size, what, valid, invalid)) = newest else {
        return Ok(Err(Verdict::BadEvidence {
            what: "witnesses".into(),
            reason: "no signed checkpoint to hold their cosignatures".into(),
        }));
    };
    if valid.len() < ev.quorum {
        let missing: Vec<&str> = ev
            .witnesses
            .iter()
            .map(|w| w.name.as_str())
            .filter(|n| !valid.iter().any(|v| v == n))
            .collect();
        let bad = if invalid.is_empty() {
            String::new()
        } else {
            format!("; lines that do not verify from: {}", invalid.join(", "))
        };
        return Ok(Err(Verdict::BadEvidence {
            what,
            reason: format!(
                "the newest checkpoint carries {} valid witness cosignatures, {} required (cosigned \
                 by: {}; not by: {}){bad}: the witnesses never saw this tree (a rewritten or forked \
                 log), or have not cosigned it yet",
                valid.len(),
                ev.quorum,
                if valid.is_empty() {
                    "none".into()
                } else {
                    valid.join(", ")
                },
                missing.join(", ")
            ),
        }));
    }
    report.witnessed = Some((size, valid));
    Ok(Ok(()))
}

fn to_u64(i: i64) -> u64 {
    u64::try_from(i).unwrap_or(0)
}

/// Open every checkpoint note; `Err(verdict)` on a note that does not verify, a fork, or a checkpoint
/// that covers more entries than the log holds.
async fn collect_checkpoints(
    db: &impl ConnectionTrait,
    origin: &str,
    ev: &Evidence,
    segments: Option<&[Segment]>,
    report: &mut VerifyReport,
) -> Result<Result<Signed, Verdict>, VerifyError> {
    let stored = audit_checkpoint::Entity::find()
        .order_by_asc(audit_checkpoint::Column::Id)
        .all(db)
        .await?;
    let mut external: Vec<(String, String)> = ev.external_notes.clone();
    for s in segments.unwrap_or_default() {
        external.push((
            format!(
                "the checkpoint in archive manifest {}",
                s.manifest_path.display()
            ),
            s.manifest.checkpoint.clone(),
        ));
    }
    let Some(verifier) = &ev.verifier else {
        if !external.is_empty() {
            return Err(VerifyError::NoPublicKey);
        }
        if !stored.is_empty() {
            report.notes.push(format!(
                "{} checkpoints stored in the database were not checked: no public key",
                stored.len()
            ));
        }
        return Ok(Ok(Signed::new()));
    };
    let internal = stored
        .into_iter()
        .map(|c| (format!("database checkpoint #{}", c.id), c.note, false));
    let mut signed = Signed::new();
    for (what, note, is_external) in internal.chain(external.into_iter().map(|(w, n)| (w, n, true)))
    {
        let checkpoint = match open_checkpoint(&note, verifier, origin) {
            Ok(c) => resolve_stored(db, c).await?,
            Err(e) => {
                return Ok(Err(Verdict::BadEvidence {
                    what,
                    reason: e.to_string(),
                }))
            }
        };
        if is_external {
            report.external_size = report.external_size.max(Some(checkpoint.size));
        }
        let same_size = signed.entry(checkpoint.size).or_default();
        let (head, root) = (checkpoint.head(), checkpoint.root());
        let forks = |(h, r, _): &&(Option<Hash>, Option<Hash>, String)| {
            matches!((h, head), (Some(a), Some(b)) if *a != b)
                || matches!((r, root), (Some(a), Some(b)) if *a != b)
        };
        if let Some((_, _, other)) = same_size.iter().find(forks) {
            return Ok(Err(Verdict::BadEvidence {
                what,
                reason: format!(
                    "fork: it signs another head for size {} than {other}",
                    checkpoint.size
                ),
            }));
        }
        same_size.push((head, root, what));
    }
    if let Some((size, list)) = signed.range(report.size + 1..).next() {
        return Ok(Err(Verdict::Tampered {
            seq: report.size,
            reason: format!(
                "{} signs {size} entries but the log holds only {}: entries were removed or an older \
                 state was restored",
                list[0].2, report.size
            ),
        }));
    }
    Ok(Ok(signed))
}

/// An `audit.archived` entry met on the walk.
#[derive(Debug, Clone)]
struct ArchivedRecord {
    seq: i64,
    first_seq: Option<i64>,
    upto: Option<i64>,
    head_hash: Option<String>,
    segment_sha256: Option<String>,
    manifest_sha256: Option<String>,
    statement: Option<String>,
}

impl ArchivedRecord {
    /// The record's signed statement opens with the log's key and says what the record says.
    fn statement_holds(&self, origin: &str, verifier: &Verifier) -> bool {
        let (Some(first_seq), Some(upto), Some(head), Some(seg), Some(man), Some(note)) = (
            self.first_seq,
            self.upto,
            self.head_hash.as_deref(),
            self.segment_sha256.as_deref(),
            self.manifest_sha256.as_deref(),
            self.statement.as_deref(),
        ) else {
            return false;
        };
        let expected = archive::ArchiveStatement {
            origin,
            first_seq,
            upto,
            head_hash: head,
            segment_sha256: seg,
            manifest_sha256: man,
        };
        open_note(note, verifier).is_ok_and(|text| text == expected.body())
    }
}

/// The running state of the chain walk.
struct Walk<'a> {
    next: i64,
    prev: Option<Hash>,
    anchor: Option<i64>,
    signed: &'a Signed,
    checked: usize,
    archived: Vec<ArchivedRecord>,
    /// The Merkle tree of the entries walked so far (`None` when the walk starts after archived
    /// entries whose tree is not stored): signed roots are checked against it.
    tree: Option<Frontier>,
}

impl Walk<'_> {
    /// The chain's hash after `size` entries is `hash`: it must match every checkpoint of that size.
    fn at(&mut self, size: i64, hash: Hash) -> Result<(), Verdict> {
        for (signed_head, signed_root, what) in self.signed.get(&size).into_iter().flatten() {
            if signed_head.is_some_and(|h| h != hash) {
                return Err(Verdict::Tampered {
                    seq: (size - 1).max(0),
                    reason: format!(
                        "the chain does not pass through the head signed by {what} (size {size})"
                    ),
                });
            }
            let tree_root = self.tree.as_ref().map(Frontier::root);
            if let (Some(signed), Some(computed)) = (signed_root, tree_root) {
                if *signed != computed {
                    return Err(Verdict::Tampered {
                        seq: (size - 1).max(0),
                        reason: format!(
                            "the Merkle tree root of the entries differs from the root signed by \
                             {what} (size {size})"
                        ),
                    });
                }
            }
            // A standard three-line checkpoint with no tree to compare with checked nothing.
            if signed_head.is_some() || (signed_root.is_some() && tree_root.is_some()) {
                self.checked += 1;
            }
        }
        Ok(())
    }

    fn start(&mut self, seq: i64, hash: Hash) -> Result<(), Verdict> {
        if seq == 0 {
            self.tree = Some(Frontier::new());
        }
        self.anchor = Some(seq);
        self.prev = Some(hash);
        self.next = seq;
        self.at(seq, hash)
    }

    fn entry(&mut self, seq: i64, doc: &Value, leaf: Hash, hash: Hash) -> Result<(), Verdict> {
        if let Some(tree) = &mut self.tree {
            tree.push(leaf);
        }
        if doc["action"] == ARCHIVED_ACTION {
            let d = &doc["details"];
            let text = |k: &str| d[k].as_str().map(str::to_owned);
            self.archived.push(ArchivedRecord {
                seq,
                first_seq: d["first_seq"].as_i64(),
                upto: d["upto"].as_i64(),
                head_hash: text("head_hash"),
                segment_sha256: text("segment_sha256"),
                manifest_sha256: text("manifest_sha256"),
                statement: text("statement"),
            });
        }
        self.prev = Some(hash);
        self.next = seq + 1;
        self.at(seq + 1, hash)
    }
}

fn tampered(seq: i64, reason: String) -> Verdict {
    Verdict::Tampered { seq, reason }
}

/// Walk archives (when given) then the stored rows, checking hashes, checkpoints, the head and the
/// archive records.
async fn check_chain(
    db: &impl ConnectionTrait,
    origin: &str,
    head: &audit_head::Model,
    signed: &Signed,
    segments: Option<Vec<Segment>>,
    verifier: Option<&Verifier>,
    report: &mut VerifyReport,
) -> Result<Result<(), Verdict>, VerifyError> {
    let mut walk = Walk {
        next: 0,
        prev: None,
        anchor: None,
        signed,
        checked: 0,
        archived: Vec::new(),
        tree: None,
    };
    let first_seq = head.archived_upto;
    let mut used = Vec::new();
    if let Some(segments) = segments {
        if let Err(v) = walk.start(0, genesis_hash(origin)) {
            return Ok(Err(v));
        }
        match walk_archives(&mut walk, segments, first_seq, origin, report) {
            Ok(u) => used = u,
            Err(v) => return Ok(Err(v)),
        }
    } else if first_seq == 0 {
        if let Err(v) = walk.start(0, genesis_hash(origin)) {
            return Ok(Err(v));
        }
    } else {
        report.notes.push(format!(
            "entries 0..{} are archived and were not checked (pass --archive DIR)",
            first_seq - 1
        ));
    }
    if let Err(v) = walk_rows(db, &mut walk, first_seq).await? {
        return Ok(Err(v));
    }
    report.checkpoints_checked = walk.checked;
    let unchecked: usize = signed
        .range(..walk.anchor.unwrap_or(first_seq))
        .map(|(_, l)| l.len())
        .sum();
    if unchecked > 0 {
        report.notes.push(format!(
            "{unchecked} checkpoints cover only archived entries and were not checked"
        ));
    }
    let last_hash = walk.prev.filter(|_| walk.next > first_seq);
    if walk.next != head.size {
        let seq = walk.next.min(head.size);
        return Ok(Err(tampered(
            seq,
            format!(
                "audit_head says {} entries but the chain holds {}",
                head.size, walk.next
            ),
        )));
    }
    let head_agrees = match (head.head_hash.as_deref(), last_hash) {
        (Some(text), Some(hash)) => hash.is_hex_of(text),
        (stored, hash) => stored.is_none() && hash.is_none(),
    };
    if head.size > first_seq && !head_agrees {
        return Ok(Err(tampered(
            head.size - 1,
            "audit_head hash differs from the last entry's hash".into(),
        )));
    }
    if let Err(v) = check_archive_records(&walk.archived, first_seq, &used) {
        return Ok(Err(v));
    }
    if let Err(v) = check_archive_statements(&walk.archived, origin, verifier)? {
        return Ok(Err(v));
    }
    report.verdict = Verdict::Intact {
        size: head.size,
        head_hash: last_hash,
        first_seq: walk.anchor.unwrap_or(first_seq),
    };
    Ok(Ok(()))
}

/// Walk the stored rows from `first_seq`; the first row anchors the chain when nothing came before.
async fn walk_rows(
    db: &impl ConnectionTrait,
    walk: &mut Walk<'_>,
    first_seq: i64,
) -> Result<Result<(), Verdict>, VerifyError> {
    let mut expected_seq = first_seq;
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
                return Ok(Err(tampered(
                    expected_seq,
                    format!("entry missing (next stored seq is {})", row.seq),
                )));
            }
            if walk.prev.is_none() {
                // Entries before this one were archived: the first remaining entry anchors the chain.
                let Ok(p) = Hash::from_hex(&row.prev_hash) else {
                    return Ok(Err(tampered(
                        row.seq,
                        "prev_hash is not a SHA-256 hex digest".into(),
                    )));
                };
                // The stored tree of the archived entries, when there is one: the signed roots after
                // this point check it.
                let size = u64::try_from(row.seq).unwrap_or_default();
                walk.tree = super::merkle_store::frontier(db, size).await.ok();
                if let Err(v) = walk.start(row.seq, p) {
                    return Ok(Err(v));
                }
            }
            let prev = walk.prev.unwrap_or_default();
            let (hash, leaf, doc) = match check_entry_doc(&row, &prev) {
                Ok(checked) => checked,
                Err(reason) => return Ok(Err(tampered(row.seq, reason))),
            };
            if let Err(v) = walk.entry(row.seq, &doc, leaf, hash) {
                return Ok(Err(v));
            }
            expected_seq += 1;
        }
        if done {
            return Ok(Ok(()));
        }
    }
}

/// Walk the archive segments that tile `0..archived_upto`; returns the segments used.
fn walk_archives(
    walk: &mut Walk<'_>,
    segments: Vec<Segment>,
    archived_upto: i64,
    origin: &str,
    report: &mut VerifyReport,
) -> Result<Vec<Segment>, Verdict> {
    let mut used = Vec::new();
    for seg in segments {
        let m = &seg.manifest;
        let name = seg.manifest_path.display().to_string();
        if m.first_seq >= archived_upto {
            report.notes.push(format!(
                "archive manifest {name} starts at seq {} at or past archived_upto {archived_upto}: ignored",
                m.first_seq
            ));
            continue;
        }
        if m.first_seq != walk.next {
            let why = if m.first_seq > walk.next {
                format!(
                    "archive segment missing: no segment in the directory starts at seq {}",
                    walk.next
                )
            } else {
                format!("archive manifest {name} overlaps the previous segment")
            };
            return Err(tampered(walk.next, why));
        }
        let seg_err = |why: &str| tampered(m.first_seq, format!("archive {name}: {why}"));
        if m.origin != origin {
            return Err(seg_err("another origin"));
        }
        let Some(bytes) = &seg.bytes else {
            return Err(seg_err(&format!("segment file {} is missing", m.file)));
        };
        if hex::encode(Sha256::digest(bytes)) != m.file_sha256 {
            return Err(seg_err(
                "the segment file does not match the manifest's SHA-256",
            ));
        }
        if !walk.prev.is_some_and(|h| h.is_hex_of(&m.prev_hash)) {
            return Err(seg_err("prev_hash does not continue the chain"));
        }
        let Some(body) = bytes.strip_suffix(b"\n") else {
            return Err(seg_err("the segment does not end in a newline"));
        };
        for line in body.split(|b| *b == b'\n') {
            let seq = walk.next;
            let prev = walk.prev.unwrap_or_default();
            let (doc, hash) = check_line(line, seq, &prev).map_err(|r| tampered(seq, r))?;
            walk.entry(seq, &doc, leaf_hash(line), hash)?;
        }
        if walk.next != m.last_seq + 1 {
            return Err(seg_err(
                "the segment holds another number of entries than the manifest says",
            ));
        }
        if !walk.prev.is_some_and(|h| h.is_hex_of(&m.head_hash)) {
            return Err(seg_err(
                "head_hash is not the hash of the segment's last entry",
            ));
        }
        used.push(seg);
    }
    if walk.next != archived_upto {
        return Err(tampered(
            walk.next,
            format!(
                "archive segment missing: entries {}..{} are archived but no segment holds them",
                walk.next,
                archived_upto - 1
            ),
        ));
    }
    Ok(used)
}

/// Check one archived line (exact hashed bytes) as entry `seq`; returns its document and hash.
fn check_line(line: &[u8], seq: i64, prev: &Hash) -> Result<(Value, Hash), String> {
    let doc: Value =
        serde_json::from_slice(line).map_err(|e| format!("archived entry is not JSON: {e}"))?;
    if canonical_bytes(&doc).map_err(|e| e.to_string())? != line {
        return Err("archived entry is not in canonical form".into());
    }
    if doc["v"] != SCHEME_VERSION || doc["seq"] != seq {
        return Err("archived entry has another seq or version".into());
    }
    let hash = chain_hash(prev, &leaf_hash(line));
    Ok((doc, hash))
}

/// Every `audit.archived` entry must carry a statement signed by the log's key: without it, database
/// access alone would let an attacker append an archive record and delete the entries "under" it.
fn check_archive_statements(
    records: &[ArchivedRecord],
    origin: &str,
    verifier: Option<&Verifier>,
) -> Result<Result<(), Verdict>, VerifyError> {
    if records.is_empty() {
        return Ok(Ok(()));
    }
    let verifier = verifier.ok_or(VerifyError::NoPublicKey)?;
    Ok(
        match records
            .iter()
            .find(|r| !r.statement_holds(origin, verifier))
        {
            Some(r) => Err(tampered(
                r.seq,
                "audit.archived entry without a valid statement signed by the log's key".into(),
            )),
            None => Ok(()),
        },
    )
}

/// `archived_upto` must be what the last `audit.archived` entry says, and every manifest used must be
/// byte for byte the one its entry recorded.
fn check_archive_records(
    records: &[ArchivedRecord],
    archived_upto: i64,
    used: &[Segment],
) -> Result<(), Verdict> {
    let recorded_upto = records.last().and_then(|r| r.upto).unwrap_or(0);
    if recorded_upto != archived_upto {
        return Err(tampered(
            archived_upto.min(recorded_upto),
            format!(
                "audit_head.archived_upto is {archived_upto} but the log's last audit.archived entry \
                 records {recorded_upto}"
            ),
        ));
    }
    for seg in used {
        let m = &seg.manifest;
        let recorded = records.iter().any(|r| {
            r.first_seq == Some(m.first_seq)
                && r.upto == Some(m.last_seq + 1)
                && r.segment_sha256.as_deref() == Some(m.file_sha256.as_str())
                && r.manifest_sha256.as_deref() == Some(seg.manifest_sha256.as_str())
        });
        if !recorded {
            return Err(tampered(
                m.first_seq,
                format!(
                    "archive manifest {} is not the one recorded by an audit.archived entry",
                    seg.manifest_path.display()
                ),
            ));
        }
    }
    Ok(())
}
