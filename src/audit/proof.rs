//! The proof that an attempt is in the audit log, as one JSON document anyone can check offline: the
//! entry's exact canonical bytes, an RFC 9162 inclusion proof, and the signed checkpoint (a C2SP
//! `tlog-checkpoint` note) whose root it leads to. Checking one is pure (no database); [`build`] and
//! [`consistency`] read them from the stored tree for `audit prove` and the API.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use entity::{audit_log, lab_attempt, lab_attempt_score};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::checkpoint::{self, open_note, parse_note, Checkpoint, NoteError, Verifier};
use super::merkle::{self, Hash};
use super::merkle_store::{self, StoreError};
use super::witness::{cosigners, Cosigners, WitnessVerifier};

/// `{"attempt_id", "leaf_index", "entry", "tree_size", "inclusion", "checkpoint"}`, and `score` when the
/// attempt is scored (issue 22).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Proof {
    pub attempt_id: i64,
    /// The entry's seq: its leaf index in the tree.
    pub leaf_index: u64,
    /// Base64 of the entry's canonical (hashed) bytes.
    pub entry: String,
    /// The size of the tree the proof leads to (the checkpoint's size).
    pub tree_size: u64,
    /// Base64 32-byte hashes, leaf to root (RFC 9162 §2.1.3).
    pub inclusion: Vec<String>,
    /// The signed checkpoint note.
    pub checkpoint: String,
    /// The attempt's score (the one its grade uses): its `lab_attempt.scored` entry, proven against the
    /// same checkpoint. Absent when the attempt has no score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<ScoreProof>,
}

/// The inclusion proof of an attempt's `lab_attempt.scored` entry, under the proof's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoreProof {
    pub score_id: i64,
    /// The entry's seq: its leaf index in the tree.
    pub leaf_index: u64,
    /// Base64 of the entry's canonical (hashed) bytes.
    pub entry: String,
    /// Base64 32-byte hashes, leaf to root (RFC 9162 §2.1.3).
    pub inclusion: Vec<String>,
}

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The input cannot be checked (exit 2): not a proof, or an unusable field.
    #[error("unusable proof: {0}")]
    Unusable(String),
    /// The proof was checked and is false (exit 1).
    #[error("invalid proof: {0}")]
    Invalid(String),
}

/// The actions of the entries a proof of an attempt may prove: the attempt's recording and the completion
/// of its file list, and `lab_attempt.scored` once scores are recorded. Other entries about an attempt —
/// a read receipt (`api.proof_read`, `web.attempt_read`), an erasure — are no proof of the attempt.
pub const ATTEMPT_ACTIONS: &[&str] = &[
    "lab_attempt.recorded",
    "lab_attempt.files_completed",
    "lab_attempt.scored",
];

/// What a valid proof establishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The log (the checkpoint's origin).
    pub origin: String,
    pub tree_size: u64,
    pub leaf_index: u64,
    /// The entry, parsed from its canonical bytes.
    pub entry: Value,
    /// The score entry (leaf index, parsed entry), when the proof carries one.
    pub score: Option<(u64, Value)>,
}

impl Proof {
    /// Assemble a proof from the entry's canonical bytes, its inclusion proof and the checkpoint.
    pub fn new(
        attempt_id: i64,
        leaf_index: u64,
        canonical: &[u8],
        inclusion: &[Hash],
        tree_size: u64,
        checkpoint_note: &str,
    ) -> Self {
        Self {
            attempt_id,
            leaf_index,
            entry: B64.encode(canonical),
            tree_size,
            inclusion: inclusion.iter().map(Hash::to_base64).collect(),
            checkpoint: checkpoint_note.to_owned(),
            score: None,
        }
    }

    /// The same proof with the score entry's inclusion proof under the same checkpoint.
    pub fn with_score(
        mut self,
        score_id: i64,
        leaf_index: u64,
        canonical: &[u8],
        inclusion: &[Hash],
    ) -> Self {
        self.score = Some(ScoreProof {
            score_id,
            leaf_index,
            entry: B64.encode(canonical),
            inclusion: inclusion.iter().map(Hash::to_base64).collect(),
        });
        self
    }

    /// Parse the JSON document.
    pub fn from_json(text: &str) -> Result<Self, ProofError> {
        serde_json::from_str(text).map_err(|e| ProofError::Unusable(e.to_string()))
    }

    /// Check the proof against the log's verifier key (`origin+hash+base64`): the note's signature,
    /// the entry's bytes (canonical, about this attempt, one of [`ATTEMPT_ACTIONS`], at this index) and
    /// the inclusion proof against the signed root.
    pub fn verify(&self, verifier: &Verifier) -> Result<Verified, ProofError> {
        let invalid = |m: String| ProofError::Invalid(m);
        let text = open_note(&self.checkpoint, verifier).map_err(|e| match e {
            NoteError::Malformed(m) => ProofError::Unusable(format!("checkpoint: {m}")),
            other => invalid(format!("checkpoint: {other}")),
        })?;
        let checkpoint = Checkpoint::parse_body(&text).map_err(|e| invalid(e.to_string()))?;
        if checkpoint.origin != verifier.name {
            return Err(invalid(format!(
                "the checkpoint is of log {:?}, the key of {:?}",
                checkpoint.origin, verifier.name
            )));
        }
        let root = checkpoint.root().ok_or_else(|| {
            invalid("the checkpoint has no Merkle root (a chain-only checkpoint)".into())
        })?;
        if i64::try_from(self.tree_size).ok() != Some(checkpoint.size) {
            return Err(invalid(format!(
                "tree_size {} is not the checkpoint's size {}",
                self.tree_size, checkpoint.size
            )));
        }
        let subject = format!("lab_attempt:{}", self.attempt_id);
        let entry = check_leaf(
            &self.entry,
            self.leaf_index,
            &self.inclusion,
            self.tree_size,
            &root,
            &subject,
            &format!("attempt {}", self.attempt_id),
        )?;
        let action = entry["action"].as_str().unwrap_or_default();
        if !ATTEMPT_ACTIONS.contains(&action) {
            // The name as stored when it looks like one (`noun.verb`), quoted and escaped otherwise.
            let plain = !action.is_empty()
                && action
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
            return Err(invalid(if plain {
                format!("not an attempt entry: {action}")
            } else {
                format!("not an attempt entry: {action:?}")
            }));
        }
        let score = match &self.score {
            None => None,
            Some(s) => {
                let what = format!("score {}", s.score_id);
                let subject = format!("lab_attempt_score:{}", s.score_id);
                let scored = check_leaf(
                    &s.entry,
                    s.leaf_index,
                    &s.inclusion,
                    self.tree_size,
                    &root,
                    &subject,
                    &what,
                )
                .map_err(|e| match e {
                    ProofError::Invalid(m) => invalid(format!("score: {m}")),
                    ProofError::Unusable(m) => ProofError::Unusable(format!("score: {m}")),
                })?;
                if scored["action"].as_str() != Some("lab_attempt.scored")
                    || scored["details"]["attempt_id"].as_i64() != Some(self.attempt_id)
                {
                    return Err(invalid(format!(
                        "score: the entry is not a score of attempt {}",
                        self.attempt_id
                    )));
                }
                Some((s.leaf_index, scored))
            }
        };
        Ok(Verified {
            origin: checkpoint.origin,
            tree_size: self.tree_size,
            leaf_index: self.leaf_index,
            entry,
            score,
        })
    }
}

/// Check one proven entry: canonical bytes, its seq, its subject, and its inclusion under `root`.
fn check_leaf(
    entry_b64: &str,
    leaf_index: u64,
    inclusion: &[String],
    tree_size: u64,
    root: &Hash,
    subject: &str,
    what: &str,
) -> Result<Value, ProofError> {
    let invalid = |m: String| ProofError::Invalid(m);
    let canonical = B64
        .decode(entry_b64)
        .map_err(|_| ProofError::Unusable("entry is not base64".into()))?;
    let entry: Value =
        serde_json::from_slice(&canonical).map_err(|_| invalid("entry is not JSON".into()))?;
    if super::canonical_bytes(&entry).ok().as_deref() != Some(canonical.as_slice()) {
        return Err(invalid("entry is not in canonical form".into()));
    }
    if entry["seq"].as_u64() != Some(leaf_index) {
        return Err(invalid(format!(
            "the entry's seq is not leaf_index {leaf_index}"
        )));
    }
    if entry["subject"].as_str() != Some(subject) {
        return Err(invalid(format!("the entry is not about {what}")));
    }
    let inclusion = inclusion
        .iter()
        .map(|h| {
            Hash::from_base64(h).map_err(|_| {
                ProofError::Unusable("an inclusion hash is not 32 bytes of base64".into())
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    merkle::verify_inclusion(
        leaf_index,
        tree_size,
        &merkle::leaf_hash(&canonical),
        &inclusion,
        root,
    )
    .map_err(|e| invalid(e.to_string()))?;
    Ok(entry)
}

impl Proof {}

impl Proof {
    /// The proof's checkpoint must carry valid `cosignature/v1` lines of at least `quorum` of
    /// `witnesses` (nothing is required when none are given). Call after [`Proof::verify`].
    pub fn verify_cosigned(
        &self,
        witnesses: &[WitnessVerifier],
        quorum: usize,
    ) -> Result<Cosigners, ProofError> {
        if witnesses.is_empty() {
            return Ok(Cosigners::default());
        }
        let c = cosigners(&self.checkpoint, witnesses)
            .map_err(|e| ProofError::Unusable(format!("checkpoint: {e}")))?;
        if c.valid.len() < quorum {
            let missing: Vec<&str> = witnesses
                .iter()
                .map(|w| w.name.as_str())
                .filter(|n| !c.valid.iter().any(|v| v == n))
                .collect();
            let invalid = if c.invalid.is_empty() {
                String::new()
            } else {
                format!(
                    "; a cosignature line that does not verify: {}",
                    c.invalid.join(", ")
                )
            };
            return Err(ProofError::Invalid(format!(
                "the checkpoint (size {}) carries {} valid witness cosignatures, {quorum} required \
                 (signed: {}; not signed: {}){invalid}",
                self.tree_size,
                c.valid.len(),
                if c.valid.is_empty() { "none".into() } else { c.valid.join(", ") },
                missing.join(", ")
            )));
        }
        Ok(c)
    }
}

/// Why a proof could not be built from the database.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("no attempt {0}")]
    NoAttempt(i64),
    /// No signed checkpoint with a Merkle root covers the entry yet (ask again after the next one).
    #[error(
        "no signed checkpoint covers entry {leaf_index} yet (the newest covers {covered} entries)"
    )]
    NotCovered { leaf_index: u64, covered: u64 },
    /// The attempt's entry is not in the database (archived).
    #[error("entry {0} is no longer in the database (archived)")]
    Archived(u64),
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The proof of attempt `attempt_id`'s `lab_attempt.recorded` entry against the newest signed
/// checkpoint, when that checkpoint covers the entry and carries a Merkle root.
pub async fn build(db: &impl ConnectionTrait, attempt_id: i64) -> Result<Proof, ProveError> {
    let attempt = lab_attempt::Entity::find_by_id(attempt_id)
        .one(db)
        .await?
        .ok_or(ProveError::NoAttempt(attempt_id))?;
    build_for_entry(db, attempt_id, attempt.audit_seq).await
}

/// The proof, naming attempt `attempt_id`, of the entry `seq` (whatever it records) against the newest
/// signed checkpoint. [`build`] proves the attempt's own entry; any other entry about the attempt makes a
/// proof that [`Proof::verify`] refuses as "not an attempt entry".
pub async fn build_for_entry(
    db: &impl ConnectionTrait,
    attempt_id: i64,
    seq: i64,
) -> Result<Proof, ProveError> {
    let leaf_index = u64::try_from(seq).unwrap_or_default();
    let newest = checkpoint::latest(db).await?;
    // The size and root of the newest checkpoint, read from its own signed text (a legacy chain-only
    // checkpoint, told apart by `resolve_stored`, has no root to prove against).
    let parsed = newest.as_ref().and_then(|cp| {
        let body = parse_note(&cp.note).ok()?;
        Some((Checkpoint::parse_body(&body.text).ok()?, cp.note.clone()))
    });
    let signed = match parsed {
        Some((parsed, note)) => {
            let resolved = checkpoint::resolve_stored(db, parsed).await?;
            resolved
                .root()
                .and_then(|_| Some((u64::try_from(resolved.size).ok()?, note)))
        }
        None => None,
    };
    let (tree_size, note) = match signed {
        Some((size, note)) if size > leaf_index => (size, note),
        other => {
            return Err(ProveError::NotCovered {
                leaf_index,
                covered: other.map_or(0, |(size, _)| size),
            })
        }
    };
    let entry = audit_log::Entity::find_by_id(seq)
        .one(db)
        .await?
        .ok_or(ProveError::Archived(leaf_index))?;
    let inclusion = merkle_store::inclusion_proof(db, leaf_index, tree_size).await?;
    let proof = Proof::new(
        attempt_id,
        leaf_index,
        &entry.canonical,
        &inclusion,
        tree_size,
        &note,
    );
    // The score the grades use, when there is one: proven under the same checkpoint, which must cover it.
    let score = lab_attempt_score::Entity::find()
        .filter(lab_attempt_score::Column::AttemptId.eq(attempt_id))
        .order_by_desc(lab_attempt_score::Column::CompletedAt)
        .order_by_desc(lab_attempt_score::Column::CheckRunId)
        .one(db)
        .await?;
    let Some(score) = score else {
        return Ok(proof);
    };
    let score_index = u64::try_from(score.audit_seq).unwrap_or_default();
    if score_index >= tree_size {
        return Err(ProveError::NotCovered {
            leaf_index: score_index,
            covered: tree_size,
        });
    }
    let scored = audit_log::Entity::find_by_id(score.audit_seq)
        .one(db)
        .await?
        .ok_or(ProveError::Archived(score_index))?;
    let inclusion = merkle_store::inclusion_proof(db, score_index, tree_size).await?;
    Ok(proof.with_score(score.id, score_index, &scored.canonical, &inclusion))
}

/// `{"from", "to", "proof"}`: the RFC 9162 §2.1.4 consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// Base64 32-byte hashes (RFC 9162 §2.1.4.1 order); empty when `from == to`.
    pub proof: Vec<String>,
}

/// Why a consistency proof could not be given.
#[derive(Debug, thiserror::Error)]
pub enum ConsistencyError {
    #[error("need 0 < from <= to <= {size} (the tree's size); got from={from}, to={to}")]
    BadRange { from: u64, to: u64, size: u64 },
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The consistency proof between the trees of the first `from` and the first `to` entries.
pub async fn consistency(
    db: &impl ConnectionTrait,
    from: u64,
    to: u64,
) -> Result<ConsistencyProof, ConsistencyError> {
    let size = merkle_store::tree_size(db).await?;
    if from == 0 || from > to || to > size {
        return Err(ConsistencyError::BadRange { from, to, size });
    }
    let proof = merkle_store::consistency_proof(db, from, to).await?;
    Ok(ConsistencyProof {
        from,
        to,
        proof: proof.iter().map(Hash::to_base64).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::AuditKey;
    use crate::audit::merkle::MemoryTree;

    fn entry(seq: u64) -> Vec<u8> {
        let action = if seq == 6 {
            "api.proof_read"
        } else {
            "lab_attempt.recorded"
        };
        let doc = serde_json::json!({"action": action, "seq": seq, "subject": format!("lab_attempt:{}", seq + 100)});
        crate::audit::canonical_bytes(&doc).expect("canonical")
    }

    #[test]
    fn proofs_round_trip_and_any_flipped_field_fails() {
        let key = AuditKey::generate("log.example").expect("key");
        let entries: Vec<Vec<u8>> = (0..7).map(entry).collect();
        let tree = MemoryTree::from_leaves(entries.iter().map(|e| merkle::leaf_hash(e)));
        let body = Checkpoint {
            origin: "log.example".into(),
            size: 7,
            signs: checkpoint::Signs::RootAndChain {
                root: tree.root(7).expect("root"),
                chain: Hash::new([0; 32]),
            },
        }
        .body();
        let note = key.sign_note(&body);
        for i in 0..6u64 {
            let inclusion = tree.inclusion(i, 7).expect("inclusion");
            let proof = Proof::new(
                i as i64 + 100,
                i,
                &entries[i as usize],
                &inclusion,
                7,
                &note,
            );
            let json = serde_json::to_string(&proof).expect("json");
            let back = Proof::from_json(&json).expect("parse");
            let ok = back.verify(&key.verifier()).expect("valid");
            assert_eq!((ok.leaf_index, ok.tree_size), (i, 7));
            let mut bad = proof.clone();
            bad.attempt_id += 1;
            assert!(bad.verify(&key.verifier()).is_err());
            let mut bad = proof.clone();
            bad.leaf_index ^= 1;
            assert!(bad.verify(&key.verifier()).is_err());
            let mut bad = proof.clone();
            bad.tree_size = 8;
            assert!(bad.verify(&key.verifier()).is_err());
            let mut bad = proof.clone();
            bad.inclusion[0] = B64.encode([1; 32]);
            assert!(bad.verify(&key.verifier()).is_err());
        }
        // A read receipt about an attempt is in the log, but proves no attempt.
        let inclusion = tree.inclusion(6, 7).expect("inclusion");
        let receipt = Proof::new(106, 6, &entries[6], &inclusion, 7, &note);
        assert_eq!(
            receipt.verify(&key.verifier()),
            Err(ProofError::Invalid(
                "not an attempt entry: api.proof_read".into()
            ))
        );
        let other = AuditKey::generate("log.example").expect("key");
        let inclusion = tree.inclusion(0, 7).expect("inclusion");
        let proof = Proof::new(100, 0, &entries[0], &inclusion, 7, &note);
        assert!(matches!(
            proof.verify(&other.verifier()),
            Err(ProofError::Invalid(_))
        ));
        assert!(matches!(
            Proof::from_json("{}"),
            Err(ProofError::Unusable(_))
        ));
    }
}
