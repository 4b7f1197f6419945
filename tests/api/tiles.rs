//! The log as a C2SP `tlog-tiles` API under `/log/`: a tiles client written here from the spec
//! (c2sp.org/tlog-tiles) fetches the checkpoint, verifies it with `signed_note` and parses it with
//! `tlog_tiles`, fetches the level-0 tiles and entry bundles, checks that every entry hashes to its leaf,
//! and rebuilds the checkpoint's root. Auditor or admin tokens only, unless the log is public.

use labtrail::audit::checkpoint::AuditKey;
use sha2::{Digest, Sha256};
use signed_note::{Note, StandardVerifier, VerifierList};

use crate::audit_support::record;
use crate::backend_tests;
use crate::helpers::{spawn_app_with, AppOptions, TestApp, TestDb};
use crate::tokens::create_token;

/// `<N>` as the spec encodes it: 3-digit groups, all but the last prefixed with `x`.
fn index_path(mut n: u64) -> String {
    let mut parts = vec![format!("{:03}", n % 1000)];
    while n >= 1000 {
        n /= 1000;
        parts.push(format!("x{:03}", n % 1000));
    }
    parts.reverse();
    parts.join("/")
}

fn tile_path(level: &str, n: u64, width: u64) -> String {
    let p = format!("tile/{level}/{}", index_path(n));
    if width == 256 {
        p
    } else {
        format!("{p}.p/{width}")
    }
}

fn h(parts: &[&[u8]]) -> [u8; 32] {
    let mut d = Sha256::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().into()
}

/// RFC 6962 §2.1 MTH over leaf hashes.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => h(&[]),
        1 => leaves[0],
        n => {
            // The largest power of two smaller than n.
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            h(&[&[1], &mth(&leaves[..k]), &mth(&leaves[k..])])
        }
    }
}

async fn fetch(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = app.client.get(format!("{}/log/{path}", app.base_url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// The client: checkpoint, tiles, entries; returns the number of entries checked.
async fn rebuild(app: &TestApp, vkey: &str, token: Option<&str>) -> u64 {
    let (status, note) = fetch(app, "checkpoint", token).await;
    assert_eq!(status, 200);
    let note = Note::from_bytes(&note).expect("a signed note");
    let log = VerifierList::new(vec![Box::new(StandardVerifier::new(vkey).expect("vkey"))]);
    note.verify(&log).expect("signed by the log's key");
    let cp = tlog_tiles::Checkpoint::from_bytes(note.text()).expect("a tlog-checkpoint");
    let size = cp.size();
    assert!(size > 0);
    let mut leaves = Vec::new();
    for n in 0..size.div_ceil(256) {
        let width = (size - n * 256).min(256);
        let (status, tile) = fetch(app, &tile_path("0", n, width), token).await;
        assert_eq!(status, 200, "level-0 tile {n}");
        assert_eq!(tile.len() as u64, 32 * width);
        let (status, bundle) = fetch(app, &tile_path("entries", n, width), token).await;
        assert_eq!(status, 200, "entry bundle {n}");
        let mut rest = bundle.as_slice();
        for i in 0..width as usize {
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let entry = &rest[2..2 + len];
            rest = &rest[2 + len..];
            let leaf = h(&[&[0], entry]);
            assert_eq!(&tile[32 * i..32 * i + 32], leaf, "entry {i} of bundle {n}");
            let json: serde_json::Value = serde_json::from_slice(entry).expect("json entry");
            assert_eq!(json["seq"].as_u64(), Some(n * 256 + i as u64));
            leaves.push(leaf);
        }
        assert!(rest.is_empty());
    }
    assert_eq!(
        mth(&leaves),
        cp.hash().0,
        "the rebuilt root is the checkpoint's"
    );
    // Beyond the checkpoint: not served.
    let (status, _) = fetch(app, &tile_path("0", 0, (size % 256) + 1), token).await;
    assert_eq!(status, if size % 256 == 255 { 200 } else { 404 });
    assert_eq!(fetch(app, "tile/0/0001", token).await.0, 404);
    size
}

async fn tiles_rebuild_the_newest_root(db: TestDb) {
    let app = spawn_app_with(&db, AppOptions::default()).await;
    record(&app, 5).await;
    let auditor = create_token(&app, "aud", "auditor", None);
    let instructor = create_token(&app, "ins", "instructor", Some("course"));
    assert!(app
        .cli(&["audit", "checkpoint", "--write"])
        .status
        .success());
    let vkey = AuditKey::load(&db.key_path())
        .expect("key")
        .verifier()
        .to_vkey();
    assert_eq!(fetch(&app, "checkpoint", None).await.0, 401);
    assert_eq!(fetch(&app, "checkpoint", Some(&instructor)).await.0, 403);
    assert_eq!(
        fetch(&app, "tile/0/000.p/1", Some(&instructor)).await.0,
        403
    );
    let before = app.audit_head().await.size;
    let size = rebuild(&app, &vkey, Some(&auditor)).await;
    assert_eq!(i64::try_from(size).expect("size"), before);
    // Tile reads are not audited per request: reading the log does not grow it.
    assert_eq!(app.audit_head().await.size, before);
    app.stop().await;
    // Public: no token needed.
    let public = spawn_app_with(
        &db,
        AppOptions {
            public_log: true,
            ..AppOptions::default()
        },
    )
    .await;
    rebuild(&public, &vkey, None).await;
    public.stop().await;
}

backend_tests!(tiles_rebuild_the_newest_root);
