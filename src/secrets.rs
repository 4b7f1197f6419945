//! Secrets at rest: 0600 files and random secret values from the OS.
//!
//! Files that hold data or secrets (the SQLite database and its `-wal`/`-shm`, the checkpoint file, archives,
//! `.env`, the App's key) are readable and writable by their owner only: created 0600, and tightened to 0600
//! when they already exist with wider rights.
//!
//! Every random secret (keys, tokens, session ids, setup codes, OAuth states) comes from [`random`]: bytes
//! straight from the operating system; each caller keeps its own encoding.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use zeroize::Zeroizing;

/// The operating system gave no randomness.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the operating system gave no randomness: {0}")]
pub struct RandomError(String);

/// `N` random bytes from the operating system, wiped when dropped.
pub fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, RandomError> {
    use rand::TryRngCore as _;
    let mut bytes = Zeroizing::new([0u8; N]);
    rand::rngs::OsRng
        .try_fill_bytes(bytes.as_mut())
        .map_err(|e| RandomError(e.to_string()))?;
    Ok(bytes)
}

/// [`random`] for a caller with no error to return: without the operating system's randomness no secret
/// can be made, so this panics (as `rand::random` does).
pub fn random_or_panic<const N: usize>() -> Zeroizing<[u8; N]> {
    random().unwrap_or_else(|e| panic!("{e}"))
}

/// Open options that create a missing file with mode 0600 (on Unix; elsewhere the platform's default).
pub fn options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut opts = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts
}

/// Take group and other rights away from an existing file; a missing file is left missing.
pub fn tighten(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = match std::fs::metadata(path) {
            Ok(meta) => meta.permissions().mode() & 0o7777,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn random_values_differ() {
        let (a, b) = (
            random::<32>().expect("random"),
            random::<32>().expect("random"),
        );
        assert_ne!(*a, *b);
        assert_ne!(*a, [0u8; 32]);
    }

    #[test]
    fn creates_0600_and_tightens_wider_files() {
        let dir =
            std::env::temp_dir().join(format!("labtrail-pf-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let new = dir.join("new");
        options()
            .write(true)
            .create_new(true)
            .open(&new)
            .and_then(|mut f| f.write_all(b"x"))
            .expect("create");
        assert_eq!(mode(&new), 0o600);
        let wide = dir.join("wide");
        std::fs::write(&wide, b"x").expect("write");
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o664)).expect("chmod");
        tighten(&wide).expect("tighten");
        assert_eq!(mode(&wide), 0o600);
        tighten(&dir.join("missing")).expect("missing is fine");
        assert!(!dir.join("missing").exists());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
