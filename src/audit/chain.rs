//! The pure core of the hash chain, shared by appending, archiving and verifying: canonical encoding
//! (RFC 8785), leaf and chain hashes, the genesis hash, and the check of one stored entry against its
//! predecessor. No database, no I/O.

use entity::audit_log;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Version tag of the hashing scheme inside every canonical entry.
pub const SCHEME_VERSION: i64 = 1;

/// A JSON value that has no RFC 8785 encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode canonical JSON: {0}")]
pub struct CanonicalError(pub String);

/// `SHA-256("labtrail-audit-v1\n" ‖ origin)`: the first entry's `prev_hash`.
pub fn genesis_hash(origin: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"labtrail-audit-v1\n");
    h.update(origin.as_bytes());
    h.finalize().into()
}

/// `SHA-256(0x00 ‖ canonical)`.
pub fn leaf_hash(canonical: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(canonical);
    h.finalize().into()
}

/// `SHA-256(0x02 ‖ prev ‖ leaf)`.
pub fn chain_hash(prev: &[u8; 32], leaf: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x02]);
    h.update(prev);
    h.update(leaf);
    h.finalize().into()
}

/// Parse a stored hex hash.
pub fn parse_hash(hex_str: &str) -> Option<[u8; 32]> {
    hex::decode(hex_str).ok()?.try_into().ok()
}

/// RFC 8785 canonical bytes of a JSON value.
pub fn canonical_bytes(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| CanonicalError(e.to_string()))
}

/// Check one stored entry against its predecessor's hash; returns its hash, or why it does not hold.
pub fn check_entry(row: &audit_log::Model, prev: &[u8; 32]) -> Result<[u8; 32], String> {
    check_entry_doc(row, prev).map(|(hash, _)| hash)
}

/// [`check_entry`], also returning the parsed hashed document (so a caller need not parse it again).
pub fn check_entry_doc(
    row: &audit_log::Model,
    prev: &[u8; 32],
) -> Result<([u8; 32], Value), String> {
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
    Ok((hash, doc))
}
