//! Witnesses (c2sp.org/tlog-witness, c2sp.org/tlog-cosignature): the cosigner key and its verifier key
//! (signature type 0x04), `cosignature/v1` lines (signed and checked), the `add-checkpoint` request body,
//! the `LABTRAIL_WITNESSES` and witnessed-logs files, and storing returned cosignatures with the
//! checkpoint they sign. The HTTP calls are `jobs::witness` (client) and `witness` (server).
//!
//! A `cosignature/v1` signature line is `— <witness name> base64(key id ‖ u64 timestamp ‖ Ed25519
//! signature)`, the key id being `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]` and the signed message
//! `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint's whole body (extension lines included).

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use entity::{audit_checkpoint, audit_cosignature};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};

use super::checkpoint::{
    self, parse_note, parse_vkey, CheckpointError, NoteError, NoteKey, NoteSignature,
};
use super::merkle::Hash;

/// The signature type byte of Ed25519 `cosignature/v1` keys.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
const SIG_PREFIX: &str = "\u{2014} ";
/// The most consistency proof lines a client may send (tlog-witness).
pub const MAX_PROOF_LINES: usize = 63;

/// `SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]`.
pub fn cosigner_key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    checkpoint::note_key_id(ALG_COSIGNATURE_V1, name, public_key)
}

/// The message a `cosignature/v1` signs: two header lines, then the checkpoint body.
pub fn signed_message(body: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// A witness's signing key.
pub type CosignerKey = NoteKey<ALG_COSIGNATURE_V1>;

impl CosignerKey {
    /// The verifier key (type 0x04).
    pub fn verifier(&self) -> WitnessVerifier {
        WitnessVerifier {
            id: self.id(),
            name: self.name().to_owned(),
            key: self.signing.verifying_key(),
        }
    }

    /// The `cosignature/v1` line (without its newline) of `body` at `timestamp` (seconds).
    pub fn cosign(&self, body: &str, timestamp: u64) -> String {
        let sig = self.signature_field(&timestamp.to_be_bytes(), &signed_message(body, timestamp));
        format!("{SIG_PREFIX}{} {sig}", self.name())
    }
}

/// A witness's public key: name, key id (over type 0x04) and Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessVerifier {
    pub name: String,
    pub id: [u8; 4],
    key: VerifyingKey,
}

impl WitnessVerifier {
    /// Parse `<name>+<hex id>+<base64(0x04 ‖ public key)>`; the id must match the key.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, key) = parse_vkey(
            vkey,
            ALG_COSIGNATURE_V1,
            "not a cosignature/v1 key (signature type 0x04): is this the log's key?",
            cosigner_key_id,
        )?;
        Ok(Self {
            id: cosigner_key_id(&name, key.as_bytes()),
            name,
            key,
        })
    }

    /// `<name>+<hex id>+<base64(0x04 ‖ public key)>`.
    pub fn to_vkey(&self) -> String {
        checkpoint::vkey_text(ALG_COSIGNATURE_V1, &self.name, self.id, &self.key)
    }

    fn matches(&self, sig: &NoteSignature) -> bool {
        sig.name == self.name && sig.key_id == self.id
    }

    /// Check one signature line of this witness over `body`; its timestamp when valid.
    pub fn check(&self, body: &str, sig: &NoteSignature) -> Result<u64, NoteError> {
        let bad = || NoteError::BadSignature(self.name.clone());
        if !self.matches(sig) || sig.signature.len() != 8 + 64 {
            return Err(bad());
        }
        let (ts, raw) = sig.signature.split_at(8);
        let ts = u64::from_be_bytes(ts.try_into().map_err(|_| bad())?);
        if ts > i64::MAX as u64 {
            return Err(bad());
        }
        let signature = Signature::from_slice(raw).map_err(|_| bad())?;
        self.key
            .verify_strict(signed_message(body, ts).as_bytes(), &signature)
            .map_err(|_| bad())?;
        Ok(ts)
    }

    /// This witness's valid cosignature in `note`, if any: (timestamp, its signature line).
    pub fn find_in(&self, note: &str) -> Result<Option<(u64, String)>, NoteError> {
        let parsed = parse_note(note)?;
        for sig in parsed.signatures.iter().filter(|s| self.matches(s)) {
            if let Ok(ts) = self.check(&parsed.text, sig) {
                return Ok(Some((ts, signature_line(sig))));
            }
        }
        Ok(None)
    }
}

/// `— <name> <base64(key id ‖ signature)>` (no newline).
pub fn signature_line(sig: &NoteSignature) -> String {
    let mut raw = sig.key_id.to_vec();
    raw.extend_from_slice(&sig.signature);
    format!("{SIG_PREFIX}{} {}", sig.name, B64.encode(raw))
}

/// Which of `witnesses` validly cosigned `note` (names, in the order given), and which carry a line
/// with their name and key id that does not verify.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cosigners {
    pub valid: Vec<String>,
    pub invalid: Vec<String>,
}

/// Count the valid cosignatures of `witnesses` on `note` (the log's own signature is checked elsewhere).
pub fn cosigners(note: &str, witnesses: &[WitnessVerifier]) -> Result<Cosigners, NoteError> {
    let parsed = parse_note(note)?;
    let mut out = Cosigners::default();
    for w in witnesses {
        let lines: Vec<_> = parsed.signatures.iter().filter(|s| w.matches(s)).collect();
        if lines.iter().any(|s| w.check(&parsed.text, s).is_ok()) {
            out.valid.push(w.name.clone());
        } else if !lines.is_empty() {
            out.invalid.push(w.name.clone());
        }
    }
    Ok(out)
}

/// One configured witness: its verifier key and its tlog-witness submission prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub verifier: WitnessVerifier,
    pub url: url::Url,
}

/// Why a witnesses or logs file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("line {line}: {why}")]
    Line { line: usize, why: String },
}

fn lines_of(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// `witness <verifier key> <URL>` per line (`#` comments and blank lines ignored).
pub fn parse_witnesses(text: &str) -> Result<Vec<Witness>, ListError> {
    lines_of(text)
        .map(|(line, l)| {
            let bad = |why: String| ListError::Line { line, why };
            let mut words = l.split_whitespace();
            match (words.next(), words.next(), words.next(), words.next()) {
                (Some("witness"), Some(key), Some(url), None) => Ok(Witness {
                    verifier: WitnessVerifier::parse(key).map_err(|e| bad(e.to_string()))?,
                    url: url::Url::parse(url).map_err(|e| bad(format!("the URL: {e}")))?,
                }),
                _ => Err(bad("expected `witness <verifier key> <URL>`".into())),
            }
        })
        .collect()
}

/// `log <verifier key>` per line: the logs a witness cosigns (the key's name is the log's origin).
pub fn parse_logs(text: &str) -> Result<Vec<checkpoint::Verifier>, ListError> {
    lines_of(text)
        .map(|(line, l)| {
            let bad = |why: String| ListError::Line { line, why };
            let mut words = l.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("log"), Some(key), None) => {
                    checkpoint::Verifier::parse(key).map_err(|e| bad(e.to_string()))
                }
                _ => Err(bad("expected `log <verifier key>`".into())),
            }
        })
        .collect()
}

/// Read and parse a list file with `parse`.
pub fn read_list<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, ListError>,
) -> Result<T, ListError> {
    let text = std::fs::read_to_string(path).map_err(|source| ListError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text)
}

/// The body of `POST <prefix>/add-checkpoint`: `old <size>`, the consistency proof lines, a blank line,
/// the signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old: u64,
    pub proof: Vec<Hash>,
    pub note: String,
}

impl AddCheckpoint {
    pub fn encode(&self) -> String {
        let mut out = format!("old {}\n", self.old);
        for h in &self.proof {
            out.push_str(&h.to_base64());
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.note);
        out
    }

    /// Parse a request body; `Err` is a 400 Bad Request.
    pub fn parse(body: &str) -> Result<Self, String> {
        let (head, note) = body
            .split_once("\n\n")
            .ok_or("no blank line after the old size and proof")?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .filter(|s| *s == "0" || (!s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or("the first line must be `old <size>`")?;
        let proof = lines
            .map(|l| Hash::from_base64(l).map_err(|_| format!("{l:?} is not a base64 hash")))
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > MAX_PROOF_LINES {
            return Err("more than 63 consistency proof lines".into());
        }
        Ok(Self {
            old,
            proof,
            note: note.to_owned(),
        })
    }
}

/// Parse a `409 Conflict` body: the witness's size and a newline.
pub fn parse_conflict(body: &str) -> Option<u64> {
    let s = body.strip_suffix('\n').unwrap_or(body).trim();
    s.parse().ok()
}

/// The note with `lines` appended as signature lines (a note always ends in a newline).
pub fn add_signature_lines(note: &str, lines: &[String]) -> String {
    let mut out = note.to_owned();
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The size of the newest checkpoint `witness` cosigned for this log (0 when none).
pub async fn last_cosigned_size(
    db: &impl ConnectionTrait,
    witness: &WitnessVerifier,
) -> Result<u64, DbErr> {
    let row = audit_cosignature::Entity::find()
        .filter(audit_cosignature::Column::Witness.eq(witness.name.as_str()))
        .filter(audit_cosignature::Column::KeyId.eq(hex::encode(witness.id)))
        .order_by_desc(audit_cosignature::Column::Size)
        .one(db)
        .await?;
    Ok(row.and_then(|r| u64::try_from(r.size).ok()).unwrap_or(0))
}

/// The newest cosignature of `witness` (any checkpoint).
pub async fn newest_cosignature(
    db: &impl ConnectionTrait,
    witness: &WitnessVerifier,
) -> Result<Option<audit_cosignature::Model>, DbErr> {
    audit_cosignature::Entity::find()
        .filter(audit_cosignature::Column::Witness.eq(witness.name.as_str()))
        .filter(audit_cosignature::Column::KeyId.eq(hex::encode(witness.id)))
        .order_by_desc(audit_cosignature::Column::CosignedAt)
        .one(db)
        .await
}

/// A verified cosignature returned by a witness for a checkpoint.
#[derive(Debug, Clone)]
pub struct Returned {
    pub witness: WitnessVerifier,
    pub timestamp: u64,
    pub line: String,
}

/// Keep the cosignatures `returned` for checkpoint `sent`: under the audit lock, one row each in
/// `audit_cosignature`, and the checkpoint again with the new signature lines added — as a new
/// `audit_checkpoint` row (the table is append-only; same size, head and time, so the writer's schedule
/// is unchanged) and, when it is still the newest checkpoint, appended to the checkpoint file. Proofs
/// and archives read the newest row, so they carry the cosignatures from then on.
pub async fn store_cosignatures(
    db: &impl TransactionTrait,
    origin: &str,
    sent: &audit_checkpoint::Model,
    returned: &[Returned],
    file: &Path,
) -> Result<Option<audit_checkpoint::Model>, CheckpointError> {
    if returned.is_empty() {
        return Ok(None);
    }
    let (txn, _head) = super::begin_write(db, origin).await?;
    let newest = checkpoint::latest(&txn).await?;
    let lines: Vec<String> = returned.iter().map(|r| r.line.clone()).collect();
    let note = add_signature_lines(&sent.note, &lines);
    let now = Utc::now();
    for r in returned {
        audit_cosignature::ActiveModel {
            checkpoint_id: Set(sent.id),
            size: Set(sent.size),
            witness: Set(r.witness.name.clone()),
            key_id: Set(hex::encode(r.witness.id)),
            signature_line: Set(r.line.clone()),
            cosigned_at: Set(timestamp_time(r.timestamp)),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
    }
    // Only the newest checkpoint is re-stored: an older one cosigned late stays in audit_cosignature.
    let still_newest = newest.is_some_and(|n| n.id == sent.id);
    if !still_newest {
        txn.commit().await?;
        return Ok(None);
    }
    let row = checkpoint::store(
        &txn,
        file,
        sent.size,
        sent.head_hash.clone(),
        note,
        sent.created_at,
    )
    .await?;
    txn.commit().await?;
    Ok(Some(row))
}

/// A cosignature timestamp (POSIX seconds) as an instant.
pub fn timestamp_time(ts: u64) -> DateTime<Utc> {
    i64::try_from(ts)
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosignatures_round_trip_and_altered_ones_fail() {
        let key = CosignerKey::generate("witness.example/w1").expect("key");
        let v = WitnessVerifier::parse(&key.verifier().to_vkey()).expect("vkey");
        assert_eq!(v, key.verifier());
        let body = "log.example\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let note = format!("{body}\n\u{2014} log.example AAAAAAAA\n");
        let line = key.cosign(body, 1_700_000_000);
        let cosigned = add_signature_lines(&note, std::slice::from_ref(&line));
        assert_eq!(
            v.find_in(&cosigned).expect("parse"),
            Some((1_700_000_000, line.clone()))
        );
        assert_eq!(
            cosigners(&cosigned, std::slice::from_ref(&v))
                .expect("parse")
                .valid
                .len(),
            1
        );
        let other = cosigned.replace("\n5\n", "\n6\n");
        let c = cosigners(&other, std::slice::from_ref(&v)).expect("parse");
        assert_eq!((c.valid.len(), c.invalid.len()), (0, 1));
        let pk = CosignerKey::from_private_text(&key.private_text()).expect("private");
        assert_eq!(pk.verifier(), v);
        // A log key (type 0x01) is not a witness key.
        let log = checkpoint::AuditKey::generate("log.example").expect("log key");
        assert!(WitnessVerifier::parse(&log.verifier().to_vkey()).is_err());
    }

    #[test]
    fn add_checkpoint_bodies_round_trip() {
        let req = AddCheckpoint {
            old: 3,
            proof: vec![Hash::new([1; 32]), Hash::new([2; 32])],
            note: "o\n4\nAA==\n\n\u{2014} o AAAA\n".into(),
        };
        assert_eq!(AddCheckpoint::parse(&req.encode()), Ok(req.clone()));
        let zero = AddCheckpoint {
            old: 0,
            proof: vec![],
            note: req.note.clone(),
        };
        assert!(zero.encode().starts_with("old 0\n\no\n"));
        assert_eq!(AddCheckpoint::parse(&zero.encode()), Ok(zero));
        assert!(AddCheckpoint::parse("old 03\n\nx").is_err());
        assert!(AddCheckpoint::parse("old 3\nnot-a-hash\n\nx").is_err());
        assert_eq!(parse_conflict("12\n"), Some(12));
    }
}
