//! The C2SP `tlog-tiles` view of the log (c2sp.org/tlog-tiles): tile paths, and the tiles and entry
//! bundles themselves, read from the stored tree (`audit_tree_hash`, tlog's stored hash indexes) and the
//! entries' canonical bytes. Served under `/log/` by `http::tiles` through `reads::tiles`.

use sea_orm::ConnectionTrait;

use super::merkle::{self, Hash};
use super::merkle_store::{self, StoreError};

/// Hashes a full tile holds (tiles are of height 8).
pub const TILE_WIDTH: u64 = 256;

/// What a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileKind {
    /// `tile/<L>/…`: Merkle tree hashes of level `L`.
    Hashes { level: u8 },
    /// `tile/entries/…`: an entry bundle.
    Entries,
}

/// `tile/<L or entries>/<N>[.p/<W>]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    pub kind: TileKind,
    pub index: u64,
    /// 256 for a full tile, 1..=255 for a partial one.
    pub width: u64,
}

fn decimal(s: &str) -> Option<u64> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

/// Parse the path after `tile/` (`0/x001/234.p/7`, `entries/000`); `None` when it is not a valid
/// tlog-tiles path.
pub fn parse_path(path: &str) -> Option<TilePath> {
    let mut parts: Vec<&str> = path.split('/').collect();
    let kind = match parts.first()? {
        &"entries" => TileKind::Entries,
        l => TileKind::Hashes {
            level: u8::try_from(decimal(l)?).ok().filter(|l| *l <= 63)?,
        },
    };
    parts.remove(0);
    let mut width = TILE_WIDTH;
    if parts.len() >= 2 && parts[parts.len() - 2].ends_with(".p") {
        let w = decimal(parts.pop()?)?;
        if !(1..TILE_WIDTH).contains(&w) {
            return None;
        }
        width = w;
        let last = parts.pop()?.strip_suffix(".p")?;
        parts.push(last);
    }
    let (last, xs) = parts.split_last()?;
    let mut index: u64 = 0;
    for x in xs {
        index = index
            .checked_mul(1000)?
            .checked_add(three_digits(x.strip_prefix('x')?)?)?;
    }
    index = index.checked_mul(1000)?.checked_add(three_digits(last)?)?;
    Some(TilePath { kind, index, width })
}

fn three_digits(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Why a tile cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    /// Beyond the newest checkpoint, archived, or not stored: a 404.
    #[error("{0}")]
    Missing(String),
    #[error("cannot read the stored tree")]
    Store(#[from] StoreError),
    #[error("cannot read the entries")]
    Db(#[from] sea_orm::DbErr),
}

/// The leaves a tile spans end at `(index·256 + width)·256^level`; `None` on overflow.
fn end_leaf(t: &TilePath, level: u8) -> Option<u64> {
    let per_hash = 1u64.checked_shl(8 * u32::from(level))?;
    t.index
        .checked_mul(TILE_WIDTH)?
        .checked_add(t.width)?
        .checked_mul(per_hash)
}

/// The tile's bytes for a tree of `size` entries (the newest checkpoint's): the hashes of a level
/// tile, or the entry bundle (big-endian u16 length, then each entry's canonical bytes).
pub async fn read(
    db: &impl ConnectionTrait,
    t: &TilePath,
    size: u64,
) -> Result<Vec<u8>, TileError> {
    let level = match t.kind {
        TileKind::Hashes { level } => level,
        TileKind::Entries => 0,
    };
    if end_leaf(t, level).is_none_or(|end| end > size) {
        return Err(TileError::Missing(format!(
            "no such tile in the tree of the newest checkpoint ({size} entries)"
        )));
    }
    let first = t.index * TILE_WIDTH;
    match t.kind {
        TileKind::Hashes { level } => {
            let indexes: Vec<u64> = (first..first + t.width)
                .map(|k| merkle::stored_hash_index(8 * u32::from(level), k))
                .collect();
            let hashes: Vec<Hash> = merkle_store::stored_hashes(db, &indexes)
                .await?
                .ok_or_else(|| TileError::Missing("the stored tree does not hold it".into()))?;
            Ok(hashes.iter().flat_map(Hash::as_bytes).copied().collect())
        }
        TileKind::Entries => {
            let after = i64::try_from(first).ok().and_then(|f| f.checked_sub(1));
            let rows = super::entries(db, after.filter(|a| *a >= 0), t.width).await?;
            let mut out = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                if u64::try_from(row.seq).ok() != Some(first + i as u64) {
                    break;
                }
                let len = u16::try_from(row.canonical.len()).map_err(|_| {
                    TileError::Missing(format!("entry {} is longer than 65535 bytes", row.seq))
                })?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&row.canonical);
            }
            let complete = rows.len() as u64 == t.width
                && rows.first().and_then(|r| u64::try_from(r.seq).ok()) == Some(first);
            if !complete {
                return Err(TileError::Missing(
                    "these entries are no longer in the database (archived)".into(),
                ));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_parsed_as_the_spec_writes_them() {
        let p = |s: &str| parse_path(s);
        assert_eq!(
            p("0/x001/x234/067"),
            Some(TilePath {
                kind: TileKind::Hashes { level: 0 },
                index: 1_234_067,
                width: 256
            })
        );
        assert_eq!(
            p("entries/000.p/7"),
            Some(TilePath {
                kind: TileKind::Entries,
                index: 0,
                width: 7
            })
        );
        assert_eq!(p("2/005.p/255").map(|t| t.width), Some(255));
        for bad in [
            "00/000",
            "64/000",
            "0/1",
            "0/0001",
            "0/x1/000",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/07",
            "0/000/",
            "entries",
            "0/001/002",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
