//! [`Hash`]: one SHA-256 value of the audit log (a leaf, a Merkle node or root, a chain head), printed
//! and parsed as lowercase hex, as Go's `sumdb/tlog.Hash` is, and as standard base64 in notes, tiles and
//! proofs (the C2SP formats); its bytes leave it only at the database and wire boundaries.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf, a node, a root or a chain head.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash([u8; 32]);

/// Why text or bytes are not a [`Hash`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    #[error("a hash is 64 hex digits, got {0} characters")]
    HexLength(usize),
    #[error("a hash is written in hex digits")]
    NotHex,
    #[error("a hash is 32 bytes, got {0}")]
    ByteLength(usize),
    #[error("a hash is written in standard base64")]
    NotBase64,
}

impl Hash {
    /// The hash with these bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// `SHA-256(part₀ ‖ part₁ ‖ …)`.
    pub fn sha256(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for part in parts {
            h.update(part);
        }
        Self(h.finalize().into())
    }

    /// Its 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parse 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<Self, HashParseError> {
        if text.len() != 64 {
            return Err(HashParseError::HexLength(text.chars().count()));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| HashParseError::NotHex)?;
        Ok(Self(bytes))
    }

    /// Read 32 bytes (a stored hash, a decoded wire value).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashParseError> {
        <[u8; 32]>::try_from(bytes)
            .map(Self)
            .map_err(|_| HashParseError::ByteLength(bytes.len()))
    }

    /// Parse standard base64 (with padding) of 32 bytes, as C2SP notes and labtrail's proofs write it.
    pub fn from_base64(text: &str) -> Result<Self, HashParseError> {
        let bytes = B64.decode(text).map_err(|_| HashParseError::NotBase64)?;
        Self::from_slice(&bytes)
    }

    /// Standard base64 (with padding) of its bytes.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// `text` is this hash in lowercase hex (without allocating).
    pub fn is_hex_of(&self, text: &str) -> bool {
        let mut buf = [0u8; 64];
        hex::encode_to_slice(self.0, &mut buf).is_ok() && text.as_bytes() == buf
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl From<Hash> for [u8; 32] {
    fn from(hash: Hash) -> Self {
        hash.0
    }
}

impl TryFrom<&[u8]> for Hash {
    type Error = HashParseError;

    fn try_from(bytes: &[u8]) -> Result<Self, Self::Error> {
        Self::from_slice(bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl FromStr for Hash {
    type Err = HashParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// As its lowercase hex, the text the log stores and prints.
impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn prints_and_parses_lowercase_hex() {
        let h = Hash::sha256(&[]);
        assert_eq!(h.to_string(), EMPTY);
        assert_eq!(format!("{h:?}"), EMPTY);
        assert_eq!(EMPTY.parse::<Hash>(), Ok(h));
        assert_eq!(Hash::from_hex(&EMPTY.to_uppercase()), Ok(h));
        assert!(h.is_hex_of(EMPTY));
        assert!(!h.is_hex_of(&EMPTY.to_uppercase()));
        assert_eq!(Hash::from_slice(h.as_bytes()), Ok(h));
        assert_eq!(<[u8; 32]>::from(h), *h.as_bytes());
        assert_eq!(
            h.to_base64(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(Hash::from_base64(&h.to_base64()), Ok(h));
    }

    #[test]
    fn refuses_what_is_not_a_hash() {
        assert_eq!(Hash::from_hex("ab"), Err(HashParseError::HexLength(2)));
        assert_eq!(Hash::from_hex(&"g".repeat(64)), Err(HashParseError::NotHex));
        assert_eq!(Hash::from_hex(&"é".repeat(32)), Err(HashParseError::NotHex));
        assert_eq!(
            Hash::from_slice(&[0; 31]),
            Err(HashParseError::ByteLength(31))
        );
        assert_eq!(
            Hash::from_base64("AAAA"),
            Err(HashParseError::ByteLength(3))
        );
        assert_eq!(
            Hash::from_base64("not base64!"),
            Err(HashParseError::NotBase64)
        );
    }

    #[test]
    fn serde_is_the_hex_string() {
        let h = Hash::sha256(&[]);
        assert_eq!(
            serde_json::to_string(&h).expect("json"),
            format!("\"{EMPTY}\"")
        );
        let back: Hash = serde_json::from_str(&format!("\"{EMPTY}\"")).expect("parse");
        assert_eq!(back, h);
        assert!(serde_json::from_str::<Hash>("\"00\"").is_err());
        assert!(serde_json::from_str::<Hash>("[0]").is_err());
    }
}
