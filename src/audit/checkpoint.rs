//! Signed checkpoints: the Ed25519 log key, C2SP signed notes (encode, parse, verify), the checkpoint file
//! outside the database, and writing one when due (the periodic writer is `jobs::checkpoint`).
//!
//! Key and note formats are those of `golang.org/x/mod/sumdb/note` (c2sp.org/signed-note): the key id is
//! the first 4 bytes of `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`, a signature line is
//! `— <name> <base64(key id ‖ signature)>`, a private key file holds
//! `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>` and a public (verifier) key
//! `<name>+<hex key id>+<base64(0x01 ‖ public key)>`.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use entity::audit_checkpoint;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, QueryOrder, Set, TransactionTrait,
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{AuditError, Hash, LockedHead};

/// The signature algorithm byte of Ed25519 in signed notes.
pub const ALG_ED25519: u8 = 0x01;
const SIG_PREFIX: &str = "\u{2014} ";
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";
/// The most signature lines a note may carry (Go's `note.Open` refuses more, so that parsing stays cheap).
pub const MAX_SIGNATURES: usize = 100;

/// Why a key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the audit key {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the audit key {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the audit key {0} already exists; refusing to replace it")]
    Exists(PathBuf),
    #[error(
        "the audit key {path} can be read by other users (mode {mode:o}): run chmod 600 on it"
    )]
    Mode { path: PathBuf, mode: u32 },
    #[error("{0} does not hold a signed-note private key (PRIVATE+KEY+name+id+key)")]
    Format(PathBuf),
    #[error("invalid key name {0:?}: it must be non-empty, without spaces or '+'")]
    Name(String),
    #[error(transparent)]
    Random(#[from] crate::secrets::RandomError),
}

/// Why a note or a public key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("malformed public key: {0}")]
    PublicKey(String),
    #[error("not signed by the trusted key {0}")]
    NotSigned(String),
    #[error("the signature by {0} does not verify")]
    BadSignature(String),
    #[error("not a checkpoint of this log: {0}")]
    Checkpoint(String),
}

pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(char::is_whitespace)
}

/// A key id as written in a key: 8 hex digits (either case, as Go's `strconv.ParseUint(id, 16, 32)`
/// reads them).
pub(crate) fn id_matches(written: &str, id: [u8; 4]) -> bool {
    written.len() == 8 && written.eq_ignore_ascii_case(&hex::encode(id))
}

/// A note key's private text, `PRIVATE+KEY+<name>+<hex id>+<base64(alg ‖ seed)>` (Go's `note` format):
/// the log's key (`alg` 0x01) and a witness's (0x04) are written alike.
pub(crate) fn private_key_text(
    alg: u8,
    name: &str,
    id: [u8; 4],
    signing: &SigningKey,
) -> Zeroizing<String> {
    let mut raw = Zeroizing::new(vec![alg]);
    raw.extend_from_slice(signing.as_bytes());
    Zeroizing::new(format!(
        "{PRIVATE_PREFIX}{name}+{}+{}\n",
        hex::encode(id),
        B64.encode(raw.as_slice())
    ))
}

/// The parts of a private key text of algorithm `alg` ([`private_key_text`]): its name, its id as
/// written, and the signing key; `None` for another algorithm, a bad name or a malformed text. The
/// caller checks the id against the key it derives.
pub(crate) fn parse_private_key(text: &str, alg: u8) -> Option<(&str, &str, SigningKey)> {
    let rest = text.trim().strip_prefix(PRIVATE_PREFIX)?;
    let mut parts = rest.splitn(3, '+');
    let (name, id, key) = (parts.next()?, parts.next()?, parts.next()?);
    let raw = Zeroizing::new(B64.decode(key).ok()?);
    let (&found, seed) = raw.split_first()?;
    let seed: &[u8; 32] = seed.try_into().ok()?;
    (found == alg && valid_name(name)).then(|| (name, id, SigningKey::from_bytes(seed)))
}

/// Read a private key file (refusing one other users could read) and parse it with `parse`.
pub(crate) fn read_private_key<K>(
    path: &Path,
    parse: impl FnOnce(&str) -> Option<K>,
) -> Result<K, KeyError> {
    check_mode(path)?;
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?,
    );
    parse(&text).ok_or_else(|| KeyError::Format(path.to_owned()))
}

/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[..4]`.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    note_key_id(ALG_ED25519, name, public_key)
}

/// `SHA-256(name ‖ 0x0A ‖ alg ‖ public key)[..4]`: the id of a note key of signature type `alg` (the
/// log's 0x01, a witness's 0x04).
pub(crate) fn note_key_id(alg: u8, name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', alg]);
    h.update(public_key);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A verifier key's text, `<name>+<hex id>+<base64(alg ‖ public key)>`.
pub(crate) fn vkey_text(alg: u8, name: &str, id: [u8; 4], key: &VerifyingKey) -> String {
    let mut raw = vec![alg];
    raw.extend_from_slice(key.as_bytes());
    format!("{name}+{}+{}", hex::encode(id), B64.encode(raw))
}

/// A named Ed25519 signing key of note signature type `ALG`: the log's ([`AuditKey`], 0x01) or a
/// witness's (`witness::CosignerKey`, 0x04). Its Debug output shows the name and key id only; the seed is
/// wiped on drop.
pub struct NoteKey<const ALG: u8> {
    name: String,
    pub(super) signing: SigningKey,
}

/// The log's signing key.
pub type AuditKey = NoteKey<ALG_ED25519>;

impl<const ALG: u8> fmt::Debug for NoteKey<ALG> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let type_name = if ALG == ALG_ED25519 {
            "AuditKey"
        } else {
            "CosignerKey"
        };
        f.debug_struct(type_name)
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.id()))
            .finish_non_exhaustive()
    }
}

impl<const ALG: u8> NoteKey<ALG> {
    /// A fresh key from the operating system's randomness.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        if !valid_name(name) {
            return Err(KeyError::Name(name.to_owned()));
        }
        let seed = crate::secrets::random::<32>()?;
        Ok(Self {
            name: name.to_owned(),
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// Parse `PRIVATE+KEY+<name>+<hex id>+<base64(ALG ‖ seed)>`; the id must match the key.
    pub fn from_private_text(text: &str) -> Option<Self> {
        let (name, id, signing) = parse_private_key(text, ALG)?;
        let key = Self {
            name: name.to_owned(),
            signing,
        };
        id_matches(id, key.id()).then_some(key)
    }

    pub(super) fn private_text(&self) -> Zeroizing<String> {
        private_key_text(ALG, &self.name, self.id(), &self.signing)
    }

    /// The key's name (the log's origin by default, for the log's key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id, `SHA-256(name ‖ 0x0A ‖ ALG ‖ public key)[..4]`.
    pub(super) fn id(&self) -> [u8; 4] {
        note_key_id(ALG, &self.name, self.signing.verifying_key().as_bytes())
    }

    /// `<base64(key id ‖ extra ‖ signature of message)>`: a signature line's last field.
    pub(super) fn signature_field(&self, extra: &[u8], message: &str) -> String {
        let sig = self.signing.sign(message.as_bytes());
        let mut raw = self.id().to_vec();
        raw.extend_from_slice(extra);
        raw.extend_from_slice(&sig.to_bytes());
        B64.encode(raw)
    }

    /// Read a key file; refuses files that other users could read.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        read_private_key(path, Self::from_private_text)
    }

    /// Create a new key file (mode 0600); fails when the file exists.
    pub fn create(path: &Path, name: &str) -> Result<Self, KeyError> {
        let key = Self::generate(name)?;
        let write_err = |source| KeyError::Write {
            path: path.to_owned(),
            source,
        };
        let mut file = crate::secrets::options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    KeyError::Exists(path.to_owned())
                } else {
                    write_err(e)
                }
            })?;
        file.write_all(key.private_text().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(write_err)?;
        Ok(key)
    }

    /// Load the key at `path`, creating it (named `name`) when absent; `true` when it was created.
    pub fn load_or_create(path: &Path, name: &str) -> Result<(Self, bool), KeyError> {
        match Self::create(path, name) {
            Ok(key) => Ok((key, true)),
            Err(KeyError::Exists(_)) => Ok((Self::load(path)?, false)),
            Err(e) => Err(e),
        }
    }
}

impl AuditKey {
    /// The public half.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            id: self.id(),
            name: self.name.clone(),
            key: self.signing.verifying_key(),
        }
    }

    /// Sign a note text (which must end in a newline): the text, a blank line, one signature line.
    pub fn sign_note(&self, text: &str) -> String {
        let sig = self.signature_field(&[], text);
        format!("{text}\n{SIG_PREFIX}{} {sig}\n", self.name)
    }
}

#[cfg(unix)]
pub(crate) fn check_mode(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Mode {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_mode(_path: &Path) -> Result<(), KeyError> {
    Ok(())
}

/// Parse a verifier key `<name>+<hex id>+<base64(alg ‖ public key)>` of signature type `alg` (a note
/// signer's 0x01, a witness's 0x04; `wrong_alg` says what another type means), whose id (any case) must
/// be `id_of(name, key)`: the name and the Ed25519 key.
pub(crate) fn parse_vkey(
    vkey: &str,
    alg: u8,
    wrong_alg: &str,
    id_of: fn(&str, &[u8; 32]) -> [u8; 4],
) -> Result<(String, VerifyingKey), NoteError> {
    let bad = |m: &str| NoteError::PublicKey(m.to_owned());
    let mut parts = vkey.trim().splitn(3, '+');
    let (name, id, key) = match (parts.next(), parts.next(), parts.next()) {
        (Some(n), Some(i), Some(k)) => (n, i, k),
        _ => return Err(bad("expected <name>+<hex id>+<base64 key>")),
    };
    if !valid_name(name) {
        return Err(bad("invalid name"));
    }
    let raw = B64.decode(key).map_err(|_| bad("key is not base64"))?;
    let (&found, public) = raw.split_first().ok_or_else(|| bad("empty key"))?;
    let public: &[u8; 32] = public
        .try_into()
        .map_err(|_| bad("not a 32-byte Ed25519 key"))?;
    if found != alg {
        return Err(bad(wrong_alg));
    }
    let key = VerifyingKey::from_bytes(public).map_err(|_| bad("not an Ed25519 point"))?;
    if !id_matches(id, id_of(name, public)) {
        return Err(bad("the key id does not match the key"));
    }
    Ok((name.to_owned(), key))
}

/// A trusted public key: name, key id and Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub name: String,
    pub id: [u8; 4],
    key: VerifyingKey,
}

impl Verifier {
    /// Parse `<name>+<hex id>+<base64(0x01 ‖ public key)>`; the id must match the key.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, key) = parse_vkey(vkey, ALG_ED25519, "not an Ed25519 key", key_id)?;
        Ok(Self {
            id: key_id(&name, key.as_bytes()),
            name,
            key,
        })
    }

    /// `<name>+<hex id>+<base64(0x01 ‖ public key)>`.
    pub fn to_vkey(&self) -> String {
        vkey_text(ALG_ED25519, &self.name, self.id, &self.key)
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    pub signature: Vec<u8>,
}

/// A parsed (not yet verified) signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    /// The signed text, ending in a newline.
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

/// Split a note into its text and signature lines (the text ends at the last blank line). As Go's
/// `note.Open`: no ASCII control character but the newline (U+0000..U+001F), at most
/// [`MAX_SIGNATURES`] signature lines.
pub fn parse_note(note: &str) -> Result<SignedNote, NoteError> {
    let bad = |m: &str| NoteError::Malformed(m.to_owned());
    if note.chars().any(|c| c < ' ' && c != '\n') {
        return Err(bad("control characters"));
    }
    if !note.ends_with('\n') {
        return Err(bad("does not end in a newline"));
    }
    let split = note.rfind("\n\n").ok_or_else(|| bad("no blank line"))?;
    let (text, sigs) = (&note[..=split], &note[split + 2..]);
    if sigs.lines().count() > MAX_SIGNATURES {
        return Err(bad("more than 100 signature lines"));
    }
    let signatures = sigs
        .lines()
        .map(|line| {
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or_else(|| bad("a signature line must start with an em dash"))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| bad("signature line without a signature"))?;
            let raw = B64
                .decode(b64)
                .map_err(|_| bad("signature is not base64"))?;
            if raw.len() < 5 || !valid_name(name) {
                return Err(bad("signature line too short or bad name"));
            }
            Ok(NoteSignature {
                name: name.to_owned(),
                key_id: [raw[0], raw[1], raw[2], raw[3]],
                signature: raw[4..].to_vec(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if signatures.is_empty() {
        return Err(bad("no signature lines"));
    }
    Ok(SignedNote {
        text: text.to_owned(),
        signatures,
    })
}

/// Verify a note's signature by `verifier`; returns the signed text.
pub fn open_note(note: &str, verifier: &Verifier) -> Result<String, NoteError> {
    let parsed = parse_note(note)?;
    let sig = parsed
        .signatures
        .iter()
        .find(|s| s.name == verifier.name && s.key_id == verifier.id)
        .ok_or_else(|| NoteError::NotSigned(verifier.to_vkey()))?;
    let signature = Signature::from_slice(&sig.signature)
        .map_err(|_| NoteError::BadSignature(verifier.name.clone()))?;
    verifier
        .key
        .verify_strict(parsed.text.as_bytes(), &signature)
        .map_err(|_| NoteError::BadSignature(verifier.name.clone()))?;
    Ok(parsed.text)
}

/// The extension line that carries the hash chain's head in a C2SP `tlog-checkpoint`.
pub const CHAIN_EXTENSION: &str = "labtrail-chain ";

/// What the hash lines of a checkpoint sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signs {
    /// labtrail's checkpoints: the RFC 6962 Merkle root (third line) and the hash chain's head after
    /// `size` entries (the `labtrail-chain` extension line).
    RootAndChain { root: Hash, chain: Hash },
    /// A standard C2SP `tlog-checkpoint` (three lines, no `labtrail-chain` line): the third line is the
    /// Merkle root. This is how a three-line body is parsed.
    Root(Hash),
    /// labtrail's legacy chain-only checkpoint: three lines, the third being the chain head. Written
    /// before the Merkle tree existed (and still for a log whose tree is not stored). Its text cannot
    /// be told from [`Signs::Root`]: only a reader holding the log can, see [`resolve_stored`].
    Chain(Hash),
}

/// A checkpoint body.
///
/// Checkpoints are C2SP `tlog-checkpoint`s: `<origin>`, `<size>`, the base64 RFC 6962 Merkle root, then
/// extension lines. labtrail writes the extension line `labtrail-chain <base64 chain head>` (the hash of
/// the last entry's chain, which archives and check-run receipts refer to). A body without that line is
/// read as the standard format: its third line is the root ([`Signs::Root`]). labtrail's legacy
/// chain-only checkpoints have the same three lines with the chain head third; reading labtrail's own
/// stored checkpoints, [`resolve_stored`] tells the two apart against the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: i64,
    pub signs: Signs,
}

impl Checkpoint {
    /// The signed RFC 6962 root of the first `size` entries (`None` in a legacy chain-only checkpoint).
    pub fn root(&self) -> Option<Hash> {
        match self.signs {
            Signs::RootAndChain { root, .. } | Signs::Root(root) => Some(root),
            Signs::Chain(_) => None,
        }
    }

    /// The signed chain hash after `size` entries (`None` in a standard three-line checkpoint).
    pub fn head(&self) -> Option<Hash> {
        match self.signs {
            Signs::RootAndChain { chain, .. } | Signs::Chain(chain) => Some(chain),
            Signs::Root(_) => None,
        }
    }

    /// The legacy reading of a three-line checkpoint (its third line the chain head); `None` for a
    /// checkpoint with a `labtrail-chain` line, which is never legacy.
    pub fn as_legacy(&self) -> Option<Self> {
        match self.signs {
            Signs::Root(h) | Signs::Chain(h) => Some(Self {
                signs: Signs::Chain(h),
                ..self.clone()
            }),
            Signs::RootAndChain { .. } => None,
        }
    }

    /// `<origin>\n<size>\n<base64 root>\nlabtrail-chain <base64 head>\n`, or three lines for
    /// [`Signs::Root`] (the root) and [`Signs::Chain`] (the chain head).
    pub fn body(&self) -> String {
        match self.signs {
            Signs::RootAndChain { root, chain } => format!(
                "{}\n{}\n{}\n{CHAIN_EXTENSION}{}\n",
                self.origin,
                self.size,
                root.to_base64(),
                chain.to_base64()
            ),
            Signs::Root(h) | Signs::Chain(h) => {
                format!("{}\n{}\n{}\n", self.origin, self.size, h.to_base64())
            }
        }
    }

    /// Parse a checkpoint body: a `labtrail-chain` line makes it [`Signs::RootAndChain`], its absence
    /// [`Signs::Root`] (other extension lines are ignored).
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        let bad = |m: &str| NoteError::Checkpoint(m.to_owned());
        let hash = |h: &str| Hash::from_base64(h).ok();
        let mut lines = text.lines();
        let origin = lines.next().filter(|o| !o.is_empty());
        let size = lines.next().and_then(|s| {
            (s == "0" || !s.starts_with('0'))
                .then(|| s.parse::<i64>().ok())
                .flatten()
        });
        let third = lines.next().and_then(hash);
        let mut chain = None;
        for line in lines {
            if line.is_empty() {
                return Err(bad("empty extension line"));
            }
            if let Some(h) = line.strip_prefix(CHAIN_EXTENSION) {
                if chain.is_some() {
                    return Err(bad("two labtrail-chain lines"));
                }
                chain = Some(hash(h).ok_or_else(|| bad("labtrail-chain is not a base64 hash"))?);
            }
        }
        let signs = match (third, chain) {
            (Some(root), Some(chain)) => Signs::RootAndChain { root, chain },
            (Some(root), None) => Signs::Root(root),
            (None, _) => return Err(bad("expected <origin>, <size>, <base64 hash> lines")),
        };
        match (origin, size) {
            (Some(origin), Some(size)) if size >= 0 => Ok(Self {
                origin: origin.to_owned(),
                size,
                signs,
            }),
            _ => Err(bad("expected <origin>, <size>, <base64 hash> lines")),
        }
    }
}

/// Read a checkpoint of this log as labtrail wrote it. A three-line checkpoint ([`Signs::Root`]) is
/// kept as a root when it is the root the stored Merkle tree gives for its size; otherwise it is
/// labtrail's legacy chain-only checkpoint ([`Signs::Chain`]), and the verifier then holds its hash to
/// the chain. Either way a hash that is neither the log's root nor its chain head fails verification:
/// this only chooses which of the two a three-line note is compared with.
pub async fn resolve_stored(
    db: &impl ConnectionTrait,
    checkpoint: Checkpoint,
) -> Result<Checkpoint, DbErr> {
    let Signs::Root(signed) = checkpoint.signs else {
        return Ok(checkpoint);
    };
    let size = u64::try_from(checkpoint.size).unwrap_or_default();
    match super::merkle_store::root(db, size).await {
        Ok(root) if root == signed => Ok(checkpoint),
        Err(super::merkle_store::StoreError::Db(e)) => Err(e),
        Ok(_) | Err(_) => Ok(checkpoint.as_legacy().unwrap_or(checkpoint)),
    }
}

/// Verify a signed checkpoint of the log named `origin`.
pub fn open_checkpoint(
    note: &str,
    verifier: &Verifier,
    origin: &str,
) -> Result<Checkpoint, NoteError> {
    let checkpoint = Checkpoint::parse_body(&open_note(note, verifier)?)?;
    if checkpoint.origin != origin {
        return Err(NoteError::Checkpoint(format!(
            "origin {:?} is not {origin:?}",
            checkpoint.origin
        )));
    }
    Ok(checkpoint)
}

/// Split a checkpoint file (notes one after the other, blank lines between) into notes.
pub fn split_notes(file: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let mut current = String::new();
    let mut in_signatures = false;
    for line in file.split_inclusive('\n') {
        if in_signatures {
            if line.starts_with(SIG_PREFIX) {
                current.push_str(line);
                continue;
            }
            notes.push(std::mem::take(&mut current));
            in_signatures = false;
        }
        if line == "\n" {
            if current.is_empty() {
                continue;
            }
            in_signatures = true;
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        notes.push(current);
    }
    notes
}

/// Append a note to the checkpoint file (created 0600 when absent, tightened to 0600 when wider) and
/// flush it to disk.
pub fn append_to_file(path: &Path, note: &str) -> std::io::Result<()> {
    let mut file = crate::secrets::options()
        .create(true)
        .append(true)
        .open(path)?;
    crate::secrets::tighten(path)?;
    file.write_all(format!("{note}\n").as_bytes())?;
    file.sync_all()
}

/// Why a checkpoint could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("cannot read the Merkle tree")]
    Tree(#[from] super::merkle_store::StoreError),
    #[error("cannot append to the checkpoint file {path}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "checkpoint #{id} of this log was signed by another key than {vkey}: every instance must use \
         the same LABTRAIL_AUDIT_KEY_PATH key; not signing"
    )]
    ForeignKey { id: i64, vkey: String },
}

super::db_error_via_audit!(CheckpointError);

/// Refuse a key that did not sign the log's newest checkpoint: two instances with their own keys would
/// make an intact log fail verification.
pub fn check_same_key(
    newest: Option<&audit_checkpoint::Model>,
    key: &AuditKey,
) -> Result<(), CheckpointError> {
    let verifier = key.verifier();
    match newest {
        Some(last) if open_note(&last.note, &verifier).is_err() => {
            Err(CheckpointError::ForeignKey {
                id: last.id,
                vkey: verifier.to_vkey(),
            })
        }
        _ => Ok(()),
    }
}

/// Where and how often checkpoints are written.
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    pub key: Arc<AuditKey>,
    pub origin: String,
    /// The append-only file outside the database.
    pub file: PathBuf,
    /// At most one checkpoint per interval (across instances), and only when the log grew.
    pub interval: Duration,
}

/// The newest stored checkpoint.
pub async fn latest(db: &impl ConnectionTrait) -> Result<Option<audit_checkpoint::Model>, DbErr> {
    audit_checkpoint::Entity::find()
        .order_by_desc(audit_checkpoint::Column::Size)
        .order_by_desc(audit_checkpoint::Column::Id)
        .one(db)
        .await
}

/// Sign the locked head, append the note to the file, store it: the caller holds the audit lock and
/// commits. The file comes first: a note there whose row was rolled back still states a true head.
pub async fn sign_head(
    txn: &impl ConnectionTrait,
    head: &LockedHead,
    key: &AuditKey,
    origin: &str,
    file: &Path,
) -> Result<audit_checkpoint::Model, CheckpointError> {
    // Under the audit lock: no other instance can slip a checkpoint by another key in between.
    check_same_key(latest(txn).await?.as_ref(), key)?;
    let size = u64::try_from(head.size).unwrap_or_default();
    // Without a stored tree (entries archived before it existed) only the legacy chain-only format can
    // be written; `resolve_stored` reads it back as such.
    let signs = match super::merkle_store::root_for_checkpoint(txn, size).await? {
        Some(root) => Signs::RootAndChain {
            root,
            chain: head.head_hash,
        },
        None => Signs::Chain(head.head_hash),
    };
    let checkpoint = Checkpoint {
        origin: origin.to_owned(),
        size: head.size,
        signs,
    };
    let note = key.sign_note(&checkpoint.body());
    store(
        txn,
        file,
        head.size,
        head.head_hash.to_string(),
        note,
        Utc::now(),
    )
    .await
}

/// Append the checkpoint `note` (of the tree of `size` entries and chain head `head_hash`) to the
/// checkpoint file `file`, then store it: a signed one here, a cosigned one in
/// `witness::store_cosignatures`.
pub(crate) async fn store(
    txn: &impl ConnectionTrait,
    file: &Path,
    size: i64,
    head_hash: String,
    note: String,
    created_at: DateTime<Utc>,
) -> Result<audit_checkpoint::Model, CheckpointError> {
    let (path, text) = (file.to_owned(), note.clone());
    tokio::task::spawn_blocking(move || append_to_file(&path, &text))
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|r| r)
        .map_err(|source| CheckpointError::File {
            path: file.to_owned(),
            source,
        })?;
    let row = audit_checkpoint::ActiveModel {
        size: Set(size),
        head_hash: Set(head_hash),
        note: Set(note),
        created_at: Set(created_at),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(row)
}

/// Write a checkpoint if the log grew since the newest one and that one is older than `min_age`.
/// Runs under the audit lock, so only one instance writes at a time and none duplicates another.
pub async fn write_if_due(
    db: &impl TransactionTrait,
    cfg: &CheckpointConfig,
    min_age: Duration,
) -> Result<Option<audit_checkpoint::Model>, CheckpointError> {
    let (txn, head) = super::begin_write(db, &cfg.origin).await?;
    if head.size == 0 {
        return Ok(None);
    }
    if let Some(last) = latest(&txn).await? {
        let age = Utc::now().signed_duration_since(last.created_at);
        let young = age.to_std().is_ok_and(|a| a < min_age) || age < chrono::Duration::zero();
        if last.size >= head.size || young {
            return Ok(None);
        }
    }
    let row = sign_head(&txn, &head, &cfg.key, &cfg.origin, &cfg.file).await?;
    txn.commit().await?;
    Ok(Some(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of golang.org/x/mod/sumdb/note: the same key must give the same note, byte for byte.
    const SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const NOTE: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n\n\
                        \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn matches_the_go_reference_vector() {
        let key = AuditKey::from_private_text(SKEY).expect("reference key");
        assert_eq!(key.verifier().to_vkey(), VKEY);
        assert_eq!(key.sign_note(TEXT), NOTE);
        let verifier = Verifier::parse(VKEY).expect("reference vkey");
        assert_eq!(open_note(NOTE, &verifier).as_deref(), Ok(TEXT));
        assert_eq!(&*key.private_text(), &format!("{SKEY}\n"));
    }

    #[test]
    fn altered_notes_do_not_verify() {
        let verifier = Verifier::parse(VKEY).expect("reference vkey");
        let edited = NOTE.replace("cryptography", "cryptographY");
        assert!(matches!(
            open_note(&edited, &verifier),
            Err(NoteError::BadSignature(_))
        ));
        let other = AuditKey::generate("PeterNeumann").expect("key");
        assert!(matches!(
            open_note(&other.sign_note(TEXT), &verifier),
            Err(NoteError::NotSigned(_))
        ));
        assert!(open_note(&NOTE.replace('\u{2014}', "-"), &verifier).is_err());
        assert!(Verifier::parse(&VKEY.replace("c74f20a3", "c74f20a4")).is_err());
    }

    #[test]
    fn checkpoint_bodies_round_trip_and_files_split() {
        let key = AuditKey::generate("log.example").expect("key");
        let cp = Checkpoint {
            origin: "log.example".into(),
            size: 42,
            signs: Signs::RootAndChain {
                root: Hash::new([8; 32]),
                chain: Hash::new([7; 32]),
            },
        };
        let a = key.sign_note(&cp.body());
        let b = key.sign_note(
            &Checkpoint {
                size: 43,
                ..cp.clone()
            }
            .body(),
        );
        let notes = split_notes(&format!("{a}\n{b}\n"));
        assert_eq!(notes, vec![a.clone(), b]);
        let opened = open_checkpoint(&a, &key.verifier(), "log.example").expect("open");
        assert_eq!(opened, cp);
        assert!(open_checkpoint(&a, &key.verifier(), "other").is_err());
        assert!(Checkpoint::parse_body("o\n007\nAAAA\n").is_err());
        assert_eq!(
            (cp.root(), cp.head()),
            (Some(Hash::new([8; 32])), Some(Hash::new([7; 32])))
        );
        assert_eq!(cp.as_legacy(), None);
        let new = cp.body();
        assert_eq!(
            new,
            format!(
                "log.example\n42\n{}\nlabtrail-chain {}\n",
                B64.encode([8; 32]),
                B64.encode([7; 32])
            )
        );
        let other_ext = new.replace("labtrail-chain", "labtrail-chain x\nother-ext");
        assert!(Checkpoint::parse_body(&other_ext).is_err());
        let unknown = format!("{new}some-witness-ext 1\n");
        assert_eq!(Checkpoint::parse_body(&unknown), Ok(cp.clone()));
        assert!(!format!("{key:?}").contains(&B64.encode(key.signing.as_bytes())));
    }

    #[test]
    fn a_three_line_body_is_a_root_and_legacy_only_on_request() {
        // A standard C2SP tlog-checkpoint: origin, size, root, no extension line.
        let standard = format!("log.example\n5\n{}\n", B64.encode([3; 32]));
        let parsed = Checkpoint::parse_body(&standard).expect("standard checkpoint");
        assert_eq!(parsed.signs, Signs::Root(Hash::new([3; 32])));
        assert_eq!(
            (parsed.root(), parsed.head()),
            (Some(Hash::new([3; 32])), None)
        );
        assert_eq!(parsed.body(), standard);
        // With extension lines other than labtrail-chain it is still a root.
        let ext = format!("{standard}other.example/ext 1\n");
        assert_eq!(Checkpoint::parse_body(&ext), Ok(parsed.clone()));
        // labtrail's legacy chain-only checkpoint: the same three lines, read as the chain head only
        // when asked (resolve_stored does, against the log).
        let legacy = parsed.as_legacy().expect("three lines");
        assert_eq!(legacy.signs, Signs::Chain(Hash::new([3; 32])));
        assert_eq!(
            (legacy.root(), legacy.head()),
            (None, Some(Hash::new([3; 32])))
        );
        assert_eq!(legacy.body(), standard);
        assert_eq!(legacy.as_legacy(), Some(legacy.clone()));
        // The current shape: root and labtrail-chain line, never legacy.
        let current = format!("{standard}labtrail-chain {}\n", B64.encode([4; 32]));
        let parsed = Checkpoint::parse_body(&current).expect("current checkpoint");
        assert_eq!(
            parsed.signs,
            Signs::RootAndChain {
                root: Hash::new([3; 32]),
                chain: Hash::new([4; 32])
            }
        );
        assert_eq!(parsed.as_legacy(), None);
        assert_eq!(parsed.body(), current);
    }
}
