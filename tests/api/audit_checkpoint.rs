//! Checkpoints: the key (`audit keygen`, mode 0600, never printed), the server's periodic writer (only
//! when the log grew), the file outside the database, `audit checkpoint`, and verification with them.

use std::time::Duration;

use labtrail::audit::checkpoint::{open_checkpoint, split_notes, Verifier};

use crate::audit_support::{checkpoint, cli, more, record, verify, verify_ok};
use crate::backend_tests;
use crate::helpers::{
    output_of, serve_command, spawn_app_with, spawn_serve_until_logged, AppOptions, TestApp,
    TestDb, ORIGIN,
};

backend_tests!(
    keygen_writes_an_owner_only_key_and_prints_the_public_key,
    server_writes_checkpoints_when_the_log_grew,
    serve_creates_the_key_on_first_start_and_logs_only_its_public_half,
    instances_must_share_one_key,
);

async fn serve_creates_the_key_on_first_start_and_logs_only_its_public_half(db: TestDb) {
    assert!(!db.key_path().exists());
    let mut command = serve_command(&db);
    command
        .env("RUST_LOG", "info")
        .env_remove("GITHUB_WEBHOOK_SECRET");
    // Read the log until the server listens (the key is created and announced before that).
    let (serve, log) = spawn_serve_until_logged(command, "labtrail listening");
    drop(serve);
    let key =
        labtrail::audit::checkpoint::AuditKey::load(&db.key_path()).expect("a valid 0600 key");
    let vkey = key.verifier().to_vkey();
    let secret = std::fs::read_to_string(db.key_path()).expect("key");
    let secret = secret.trim().splitn(5, '+').nth(4).expect("key part");
    assert!(
        !log.contains(secret),
        "the private key is never logged:\n{log}"
    );
    assert!(
        log.contains(&vkey),
        "the public key is logged once created:\n{log}"
    );
}

async fn keygen_writes_an_owner_only_key_and_prints_the_public_key(db: TestDb) {
    let (code, out) = cli_db(&db, &["audit", "keygen"]);
    assert_eq!(code, Some(0), "{out}");
    let key_text = std::fs::read_to_string(db.key_path()).expect("key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(db.key_path())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let secret = key_text.trim().splitn(5, '+').nth(4).expect("key part");
    assert!(!out.contains(secret), "the private key is never printed");
    let vkey = out.lines().next().expect("public key line");
    let verifier = Verifier::parse(vkey).expect("a verifier key");
    assert_eq!(verifier.name, ORIGIN);
    let public = std::fs::read_to_string(format!("{}.pub", db.key_path().display())).expect("pub");
    assert_eq!(public.trim(), vkey);
    // Never replaced.
    let (code, out) = cli_db(&db, &["audit", "keygen"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("already exists"), "{out}");
    assert_eq!(
        std::fs::read_to_string(db.key_path()).expect("key"),
        key_text
    );
    // A key others can read is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(db.key_path(), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let (code, out) = cli_db(&db, &["audit", "checkpoint", "--write"]);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("chmod 600"), "{out}");
    }
}

fn cli_db(db: &TestDb, args: &[&str]) -> (Option<i32>, String) {
    let out = crate::helpers::run_cli(db, args);
    crate::helpers::code_and_output(&out)
}

/// Poll (bounded) until the newest stored checkpoint covers the whole log.
async fn wait_checkpointed(app: &TestApp) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let size = app.audit_head().await.size;
        let signed = app
            .checkpoints()
            .await
            .iter()
            .map(|c| c.size)
            .max()
            .unwrap_or(0);
        if signed == size {
            return size;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no checkpoint of size {size}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn server_writes_checkpoints_when_the_log_grew(db: TestDb) {
    let app = checkpointing_app(&db).await;
    record(&app, 2).await;
    assert_eq!(wait_checkpointed(&app).await, 3);
    more(&app, 2, 2).await;
    assert_eq!(wait_checkpointed(&app).await, 5);
    // Every stored note is in the file outside the database too, and verifies.
    let verifier = labtrail::audit::checkpoint::AuditKey::load(&db.key_path())
        .expect("the server created the key")
        .verifier();
    let file = std::fs::read_to_string(db.checkpoint_file()).expect("checkpoint file");
    let notes = split_notes(&file);
    let stored = app.checkpoints().await.len();
    assert_eq!(notes.len(), stored);
    let sizes: Vec<i64> = notes
        .iter()
        .map(|n| {
            open_checkpoint(n, &verifier, ORIGIN)
                .expect("valid note")
                .size
        })
        .collect();
    assert!(
        sizes.windows(2).all(|w| w[0] < w[1]),
        "only when the log grew: {sizes:?}"
    );
    // `audit checkpoint` prints the newest note; --write adds none while the log did not grow.
    let (code, printed) = cli(&app, &["audit", "checkpoint"]);
    assert_eq!(code, Some(0), "{printed}");
    assert_eq!(Some(&printed), notes.last());
    assert_eq!(checkpoint(&app), printed);
    assert_eq!(app.checkpoints().await.len(), stored);
    let out = verify_ok(&app, &[]);
    assert!(
        out.contains(&format!("checkpoints checked: {}", 2 * stored)),
        "{out}"
    );
    assert!(out.contains("unsigned tail: none"), "{out}");
    // Cannot verify (exit 2): a named checkpoint file that is missing; checkpoints but no public key.
    let (code, out) = verify(&app, &["--checkpoints", "no-such-file"]);
    assert_eq!(code, Some(2), "{out}");
    let out = output_of(
        std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
            .args(["audit", "verify"])
            .env("DATABASE_URL", &db.url)
            .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
            .env("LABTRAIL_AUDIT_KEY_PATH", "no-such-key")
            .current_dir(db.scratch_dir()),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without the log's public key"));
    app.stop().await;
}

/// A second instance with its own key would make an intact log fail verification: it is refused, both
/// when its key file is missing (nothing is created) and when it holds another key.
async fn instances_must_share_one_key(db: TestDb) {
    let app = checkpointing_app(&db).await;
    record(&app, 1).await;
    wait_checkpointed(&app).await;
    let other = db.scratch_dir().join("other-instance.key");
    let with_other_key = |args: &[&str]| {
        let out = output_of(
            std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
                .args(args)
                .env("DATABASE_URL", &db.url)
                .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
                .env("LABTRAIL_AUDIT_KEY_PATH", &other)
                .env("LABTRAIL_BIND", "127.0.0.1:0")
                .env("RUST_LOG", "warn")
                .current_dir(db.scratch_dir()),
        );
        crate::helpers::code_and_output(&out)
    };
    let (code, out) = with_other_key(&["serve"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("copy the key file"), "{out}");
    assert!(!other.exists(), "no second key is created");

    let (code, out) = with_other_key(&["audit", "keygen"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = with_other_key(&["serve"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("signed by another key"), "{out}");
    let (code, out) = with_other_key(&["audit", "checkpoint", "--write"]);
    assert_eq!(code, Some(1), "{out}");
    let (code, out) = cli_db(&db, &["audit", "verify"]);
    assert_eq!(code, Some(0), "the log stays verifiable: {out}");
}

/// An app that writes a checkpoint every 50 ms while the log grows.
async fn checkpointing_app(db: &TestDb) -> TestApp {
    spawn_app_with(
        db,
        AppOptions {
            checkpoint_interval: Some(Duration::from_millis(50)),
            ..AppOptions::default()
        },
    )
    .await
}
