//! Files holding data or secrets are the owner's alone: the SQLite database with its `-wal`/`-shm`, the
//! checkpoint file, archive segments and manifests, `.env` and the App's key are 0600, created so and
//! tightened when they exist wider.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::audit_support::{cli, cli_ok, record};
use crate::backend_tests;
use crate::helpers::{spawn_app, Backend, TestDb};

backend_tests!(files_holding_data_or_secrets_are_private);

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn widen(path: &Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

/// The database file and its WAL companions (SQLite only).
fn sqlite_files(db: &TestDb) -> Vec<PathBuf> {
    let Some(file) = labtrail::db::sqlite_path(&db.url) else {
        return Vec::new();
    };
    let with = |suffix: &str| PathBuf::from(format!("{}{suffix}", file.display()));
    vec![file.clone(), with("-wal"), with("-shm")]
}

async fn files_holding_data_or_secrets_are_private(db: TestDb) {
    // A checkpoint file someone created world-readable.
    let checkpoints = db.checkpoint_file();
    std::fs::write(&checkpoints, b"").expect("create");
    widen(&checkpoints);

    let app = spawn_app(&db).await;
    for file in sqlite_files(&db) {
        assert_eq!(
            mode(&file),
            0o600,
            "{} once labtrail opened it",
            file.display()
        );
    }
    record(&app, 5).await;
    let archive = db.scratch_dir().join("archive");
    cli_ok(
        &app,
        &[
            "audit",
            "archive",
            "--upto",
            "3",
            "--out",
            &archive.display().to_string(),
        ],
    );
    let archived: Vec<PathBuf> = std::fs::read_dir(&archive)
        .expect("archive dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(
        archived.len() >= 2,
        "a segment and its manifest: {archived:?}"
    );
    for file in &archived {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    assert!(
        !std::fs::read_to_string(&checkpoints)
            .expect("read")
            .is_empty(),
        "archiving signed a checkpoint into the file"
    );
    assert_eq!(
        mode(&checkpoints),
        0o600,
        "the checkpoint file is tightened"
    );
    assert_eq!(mode(&db.key_path()), 0o600, "the audit key");

    // Database files that were widened are tightened by the next command that opens them.
    if db.backend == Backend::Sqlite {
        for file in sqlite_files(&db) {
            widen(&file);
        }
        let (code, out) = cli(&app, &["session", "list"]);
        assert_eq!(code, Some(0), "{out}");
        for file in sqlite_files(&db) {
            assert_eq!(mode(&file), 0o600, "{} tightened", file.display());
        }
    }

    // Setup writes the App's key over an existing world-readable file and merges into a world-readable
    // `.env`: both end up 0600.
    let dir = db.scratch_dir().join("setup");
    std::fs::create_dir_all(&dir).expect("dir");
    let pem = dir.join("labtrail-app.pem");
    std::fs::write(&pem, b"old").expect("write");
    widen(&pem);
    let cfg = labtrail::github::app_setup::SetupConfig {
        public_url: url::Url::parse("https://labtrail.example.edu").expect("url"),
        github_web_url: url::Url::parse("https://github.example").expect("url"),
        github_api_url: url::Url::parse("https://api.github.example").expect("url"),
        dir: dir.clone(),
        code: labtrail::github::app_setup::new_code(),
    };
    let env = dir.join(".env");
    std::fs::write(&env, b"RUST_LOG=info\n").expect("write");
    widen(&env);
    let new_app: labtrail::github::app_setup::NewApp = serde_json::from_value(serde_json::json!({
        "id": 1, "webhook_secret": "s", "client_id": "Iv1.c", "client_secret": "cs",
        "pem": crate::fake_github::app_key_pem(),
    }))
    .expect("new app");
    let creds =
        labtrail::github::app_setup::Credentials::check(new_app).expect("valid credentials");
    labtrail::github::app_setup::write_credentials(&cfg, &creds).expect("write credentials");
    assert_eq!(mode(&pem), 0o600, "the App's key");
    assert_eq!(mode(&env), 0o600, ".env");
    app.stop().await;
}
