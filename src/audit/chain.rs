//! The pure core of the hash chain, shared by appending, archiving and verifying: canonical encoding
//! (RFC 8785), leaf and chain hashes, the genesis hash, and the check of one stored entry against its
//! predecessor. No database, no I/O.

use entity::audit_log;
use serde_json::Value;

use super::hash::Hash;

/// Version tag of the hashing scheme inside every canonical entry.
pub const SCHEME_VERSION: i64 = 1;

/// A JSON value that has no RFC 8785 encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode canonical JSON: {0}")]
pub struct CanonicalError(pub String);

/// `SHA-256("labtrail-audit-v1\n" ‖ origin)`: the first entry's `prev_hash`.
pub fn genesis_hash(origin: &str) -> Hash {
    Hash::sha256(&[b"labtrail-audit-v1\n", origin.as_bytes()])
}

/// `SHA-256(0x00 ‖ canonical)`.
pub fn leaf_hash(canonical: &[u8]) -> Hash {
    Hash::sha256(&[&[0x00], canonical])
}

/// `SHA-256(0x02 ‖ prev ‖ leaf)`.
pub fn chain_hash(prev: &Hash, leaf: &Hash) -> Hash {
    Hash::sha256(&[&[0x02], prev.as_bytes(), leaf.as_bytes()])
}

/// RFC 8785 canonical bytes of a JSON value.
///
/// Through serde_json's compact writer where it writes the same bytes, several times faster than
/// the canonicaliser ([`serde_json_is_canonical_for`]; `audit verify` re-encodes every entry), through
/// the RFC 8785 canonicaliser otherwise.
pub fn canonical_bytes(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    if serde_json_is_canonical_for(value) {
        return serde_json::to_vec(value).map_err(|e| CanonicalError(e.to_string()));
    }
    rfc8785_bytes(value)
}

/// The RFC 8785 canonicaliser itself.
fn rfc8785_bytes(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| CanonicalError(e.to_string()))
}

/// Integers up to 2^53 in magnitude: RFC 8785 writes them as plain digits, as serde_json does.
const SAFE_INTEGER: u64 = 1 << 53;

/// Whether serde_json's compact encoding of `v` is its RFC 8785 encoding: no floats, no integer
/// beyond 2^53 (RFC 8785 writes numbers as IEEE doubles), and object keys in ASCII (serde_json
/// sorts keys by UTF-8 bytes, RFC 8785 by UTF-16 code units; the two agree on ASCII) iterated in
/// sorted order. Strings are
/// escaped alike by both (`\"`, `\\`, `\b \f \n \r \t`, other controls as lowercase `\u00xx`,
/// nothing else).
fn serde_json_is_canonical_for(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(_) | Value::String(_) => true,
        Value::Number(n) => {
            n.as_u64().is_some_and(|u| u <= SAFE_INTEGER)
                || n.as_i64().is_some_and(|i| i.unsigned_abs() <= SAFE_INTEGER)
        }
        Value::Array(a) => a.iter().all(serde_json_is_canonical_for),
        Value::Object(m) => {
            // Sorted as written (serde_json's map is sorted unless its `preserve_order` is on).
            m.keys().zip(m.keys().skip(1)).all(|(a, b)| a < b)
                && m.iter()
                    .all(|(k, v)| k.is_ascii() && serde_json_is_canonical_for(v))
        }
    }
}

/// Check one stored entry against its predecessor's hash; returns its hash, or why it does not hold.
pub fn check_entry(row: &audit_log::Model, prev: &Hash) -> Result<Hash, String> {
    check_entry_doc(row, prev).map(|(hash, _, _)| hash)
}

/// [`check_entry`], also returning the entry's leaf hash and the parsed hashed document (so a caller
/// need not hash or parse it again).
pub fn check_entry_doc(row: &audit_log::Model, prev: &Hash) -> Result<(Hash, Hash, Value), String> {
    if !prev.is_hex_of(&row.prev_hash) {
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
    let leaf = leaf_hash(&row.canonical);
    let hash = chain_hash(prev, &leaf);
    if !hash.is_hex_of(&row.entry_hash) {
        return Err("entry_hash does not match the recomputed hash".into());
    }
    Ok((hash, leaf, doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serde_json_writes_rfc8785_bytes_wherever_it_is_trusted_to() {
        let values = [
            json!({"b": 1, "a": [true, null, -5, 9007199254740992_u64], "c": {"z": "", "y": {}}}),
            json!({"s": "quote \" backslash \\ controls \u{0}\u{1f}\u{8}\u{9}\u{a}\u{c}\u{d}\u{7f}"}),
            json!({"u": "é € 😀 \u{2028} \u{e000} /", "n": -9007199254740992_i64, "e": []}),
        ];
        for v in &values {
            assert!(serde_json_is_canonical_for(v), "{v}");
            assert_eq!(
                serde_json::to_vec(v).unwrap(),
                rfc8785_bytes(v).unwrap(),
                "{v}"
            );
            assert_eq!(canonical_bytes(v).unwrap(), rfc8785_bytes(v).unwrap());
        }
    }

    #[test]
    fn floats_big_integers_and_non_ascii_keys_go_through_the_canonicaliser() {
        for v in [
            json!({"f": 1.5}),
            json!([9007199254740993_u64]),
            json!([-9007199254740993_i64]),
            json!({"\u{e000}": 1, "😀": 2}),
        ] {
            assert!(!serde_json_is_canonical_for(&v), "{v}");
        }
        // Where the two writers differ, the canonicaliser's bytes are the ones checked.
        let v = json!({"\u{e000}": 1, "😀": 2});
        assert_ne!(serde_json::to_vec(&v).unwrap(), rfc8785_bytes(&v).unwrap());
        assert_eq!(canonical_bytes(&v).unwrap(), rfc8785_bytes(&v).unwrap());
        let f = json!({"f": 1.5e300, "g": 1e21});
        assert_eq!(canonical_bytes(&f).unwrap(), rfc8785_bytes(&f).unwrap());
    }

    #[test]
    fn hex_of_is_exact_lowercase_hex() {
        let h = Hash::new([0xab_u8; 32]);
        assert!(h.is_hex_of(&"ab".repeat(32)));
        assert!(!h.is_hex_of(&"AB".repeat(32)));
        assert!(!h.is_hex_of(&"ab".repeat(31)));
    }
}
