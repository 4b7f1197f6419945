//! The proof that an attempt is in the audit log, as one JSON document anyone can check offline: the
//! entry's exact canonical bytes, an RFC 9162 inclusion proof, and the signed checkpoint (a C2SP
//! `tlog-checkpoint` note) whose root it leads to. Pure: no database.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::checkpoint::{open_note, Checkpoint, NoteError, Verifier};
use super::merkle::{self, Hash};

/// `{"attempt_id", "leaf_index", "entry", "tree_size", "inclusion", "checkpoint"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// What a valid proof establishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The log (the checkpoint's origin).
    pub origin: String,
    pub tree_size: u64,
    pub leaf_index: u64,
    /// The entry, parsed from its canonical bytes.
    pub entry: Value,
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
            inclusion: inclusion.iter().map(|h| B64.encode(h)).collect(),
            checkpoint: checkpoint_note.to_owned(),
        }
    }

    /// Parse the JSON document.
    pub fn from_json(text: &str) -> Result<Self, ProofError> {
        serde_json::from_str(text).map_err(|e| ProofError::Unusable(e.to_string()))
    }

    /// Check the proof against the log's verifier key (`origin+hash+base64`): the note's signature,
    /// the entry's bytes (canonical, about this attempt, at this index) and the inclusion proof
    /// against the signed root.
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
        let root = checkpoint.root.ok_or_else(|| {
            invalid("the checkpoint has no Merkle root (a chain-only checkpoint)".into())
        })?;
        if i64::try_from(self.tree_size).ok() != Some(checkpoint.size) {
            return Err(invalid(format!(
                "tree_size {} is not the checkpoint's size {}",
                self.tree_size, checkpoint.size
            )));
        }
        let canonical = B64
            .decode(&self.entry)
            .map_err(|_| ProofError::Unusable("entry is not base64".into()))?;
        let entry: Value =
            serde_json::from_slice(&canonical).map_err(|_| invalid("entry is not JSON".into()))?;
        if super::canonical_bytes(&entry).ok().as_deref() != Some(canonical.as_slice()) {
            return Err(invalid("entry is not in canonical form".into()));
        }
        if entry["seq"].as_u64() != Some(self.leaf_index) {
            return Err(invalid(format!(
                "the entry's seq is not leaf_index {}",
                self.leaf_index
            )));
        }
        let subject = format!("lab_attempt:{}", self.attempt_id);
        if entry["subject"].as_str() != Some(subject.as_str()) {
            return Err(invalid(format!(
                "the entry is not about attempt {}",
                self.attempt_id
            )));
        }
        let inclusion = self
            .inclusion
            .iter()
            .map(|h| {
                B64.decode(h)
                    .ok()
                    .and_then(|h| <Hash>::try_from(h).ok())
                    .ok_or_else(|| {
                        ProofError::Unusable("an inclusion hash is not 32 bytes of base64".into())
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        merkle::verify_inclusion(
            self.leaf_index,
            self.tree_size,
            &merkle::leaf_hash(&canonical),
            &inclusion,
            &root,
        )
        .map_err(|e| invalid(e.to_string()))?;
        Ok(Verified {
            origin: checkpoint.origin,
            tree_size: self.tree_size,
            leaf_index: self.leaf_index,
            entry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::AuditKey;
    use crate::audit::merkle::MemoryTree;

    fn entry(seq: u64) -> Vec<u8> {
        let doc = serde_json::json!({"seq": seq, "subject": format!("lab_attempt:{}", seq + 100)});
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
            root: Some(tree.root(7).expect("root")),
            head: [0; 32],
        }
        .body();
        let note = key.sign_note(&body);
        for i in 0..7u64 {
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
