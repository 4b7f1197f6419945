//! The command line: sessions, attempt exports, and `deliver` against a running server.

use crate::backend_tests;
use crate::helpers::{
    cli_stdout, deliver_push_args, fixture, run_cli, session_create_args, spawn_app, Backend,
    TestDb, ORIGIN,
};

backend_tests!(
    session_commands,
    deliver_sends_a_signed_delivery,
    attempts_export_formats,
    commands_refuse_a_database_that_does_not_exist,
    errors_print_each_cause_once,
);

/// `error: what: why: deeper`, where no part repeats: sea-orm and sqlx put their source in their own message
/// too, and labtrail's variants wrapping them did the same (`database error: X: X`).
fn assert_each_cause_once(stderr: &str, cause: &str) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("an error line: {stderr}"));
    assert_eq!(line.matches(cause).count(), 1, "{cause:?} once: {line}");
    let parts: Vec<&str> = line.split(": ").collect();
    for (i, part) in parts.iter().enumerate() {
        assert!(!parts[i + 1..].contains(part), "{part:?} twice in {line}");
    }
}

/// A database error on the terminal names each cause once: a query on a missing table (both backends) and,
/// on SQLite, a file that is not a database.
async fn errors_print_each_cause_once(db: TestDb) {
    let conn = db.connect().await;
    sea_orm::ConnectionTrait::execute_unprepared(
        &conn,
        "ALTER TABLE api_token RENAME TO api_token_elsewhere",
    )
    .await
    .expect("rename");
    let out = run_cli(&db, &["token", "list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let missing = match db.backend {
        Backend::Sqlite => "no such table",
        Backend::Postgres => "does not exist",
    };
    assert_each_cause_once(&stderr, missing);
    if db.backend == Backend::Sqlite {
        let file = db.scratch_dir().join("not-a-database.db");
        let mut bytes = b"SQLite format 3\0".to_vec();
        bytes.resize(8192, 0x5a);
        std::fs::write(&file, bytes).expect("write");
        let out = crate::helpers::output_of(
            std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
                .args(["session", "list"])
                .env("DATABASE_URL", format!("sqlite://{}", file.display()))
                .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
                .env("RUST_LOG", "warn")
                .current_dir(db.scratch_dir()),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{stderr}");
        assert_each_cause_once(&stderr, "file is not a database");
    }
}

/// A command run against a database that does not exist (another working directory, a typo in the URL)
/// exits 2 naming it and creates nothing, instead of reporting on an empty database; only `migrate` (and
/// `serve`) create one.
async fn commands_refuse_a_database_that_does_not_exist(db: TestDb) {
    let name = format!("labtrail_missing_{}", uuid::Uuid::new_v4().simple());
    let (url, shown) = match db.backend {
        Backend::Sqlite => {
            let path = db
                .scratch_dir()
                .join("elsewhere")
                .join(format!("{name}.db"));
            std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
            (
                format!("sqlite://{}?mode=rwc", path.display()),
                path.display().to_string(),
            )
        }
        Backend::Postgres => {
            let mut url = url::Url::parse(&db.url).expect("url");
            url.set_path(&format!("/{name}"));
            (url.to_string(), name.clone())
        }
    };
    let run = |args: &[&str]| {
        crate::helpers::output_of(
            std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
                .args(args)
                .env("DATABASE_URL", &url)
                .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
                .env("RUST_LOG", "warn")
                .current_dir(db.scratch_dir()),
        )
    };
    for args in [
        &["audit", "verify"][..],
        &["audit", "export"],
        &["audit", "checkpoint"],
        &["session", "list"],
        &["attempts", "list"],
        &["token", "list"],
        &["retention", "run", "--dry-run"],
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&shown),
            "{args:?} names the database: {stderr}"
        );
    }
    // Nothing was created.
    match db.backend {
        Backend::Sqlite => assert!(
            std::fs::read_dir(db.scratch_dir().join("elsewhere"))
                .expect("dir")
                .next()
                .is_none(),
            "no database file, no -wal/-shm"
        ),
        Backend::Postgres => assert!(sea_orm::Database::connect(&url).await.is_err()),
    }
    // `migrate` creates the SQLite file; then the same commands work. PostgreSQL databases are created by
    // their administrator, so `migrate` refuses too.
    let migrate = run(&["migrate"]);
    match db.backend {
        Backend::Sqlite => {
            assert!(migrate.status.success(), "{migrate:?}");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let path = labtrail::db::sqlite_path(&url).expect("sqlite path");
                let mode = std::fs::metadata(&path)
                    .expect("created")
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "created owner-only");
            }
            let list = run(&["session", "list"]);
            assert!(list.status.success(), "{list:?}");
        }
        Backend::Postgres => assert_eq!(migrate.status.code(), Some(2), "{migrate:?}"),
    }
}

async fn session_commands(db: TestDb) {
    cli_stdout(&run_cli(
        &db,
        &session_create_args(
            "Course-Org",
            "lab3",
            "Lab 3: pointers",
            "lab3-*",
            ("2026-12-01T09:00:00+01:00", "2026-12-08T23:59:00+01:00"),
            &["--branches", "default"],
        ),
    ));
    let december = ("2026-12-01T09:00:00Z", "2026-12-08T23:59:00Z");
    let dup = run_cli(
        &db,
        &session_create_args("course-org", "lab3", "again", "lab3-*", december, &[]),
    );
    assert_eq!(dup.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already has a session"));
    for (window, repos, needle) in [
        (("2026-12-01 9h", "2026-12-08T23:59:00Z"), "x", "RFC 3339"),
        (
            ("2026-12-09T09:00:00Z", "2026-12-08T23:59:00Z"),
            "x",
            "close after",
        ),
        (december, "org/x", "pattern"),
    ] {
        let out = run_cli(
            &db,
            &session_create_args("course-org", "bad", "t", repos, window, &[]),
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = run_cli(&db, &["session", "list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["org"], "course-org");
    assert_eq!(list[0]["opens_at"], "2026-12-01T08:00:00Z");
    assert_eq!(list[0]["closes_at"], "2026-12-08T22:59:00Z");
    assert_eq!(list[0]["branches"], "default");
    let table = run_cli(&db, &["session", "list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.lines().next().is_some_and(|l| l.starts_with("ORG")),
        "{text}"
    );
    assert!(text.contains("Lab 3: pointers"));
}

async fn deliver_sends_a_signed_delivery(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_hello_session().await;
    let file = db.scratch_dir().join("push.json");
    std::fs::write(
        &file,
        fixture("octokit-webhooks/push/with-new-branch.payload.json"),
    )
    .expect("write");
    let url = format!("{}/webhooks/github", app.base_url);
    let file = file.to_string_lossy().to_string();
    let out = cli_stdout(&app.cli(&deliver_push_args(&file, &url, "cli-1")));
    assert!(out.starts_with("202"), "{out}");
    assert_eq!(app.settled("cli-1").await.status, "processed");
    let wrong = app.cli(&[
        "deliver", &file, "--event", "push", "--url", &url, "--secret", "nope",
    ]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stdout).starts_with("401"));
    let nosecret = app.cli(&["deliver", &file, "--event", "push", "--url", &url]);
    assert_eq!(nosecret.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nosecret.stderr).contains("--secret"));
}

async fn attempts_export_formats(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_hello_session().await;
    app.deliver(
        "push",
        "exp-1",
        &fixture("octokit-webhooks/push/with-new-branch.payload.json"),
    )
    .await;
    app.settled("exp-1").await;
    let csv = app.cli(&["attempts", "list", "--session", "hello", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv.stdout.as_slice());
    let headers = reader.headers().expect("headers").clone();
    assert_eq!(&headers[0], "id");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 1);
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    assert_eq!(&rows[0][col("repository")], "Codertocat/Hello-World");
    assert_eq!(&rows[0][col("files")], "added README.md");
    assert_eq!(&rows[0][col("late")], "false");
    let none = app.cli(&[
        "attempts",
        "list",
        "--session",
        "nothing",
        "--format",
        "json",
    ]);
    // An unknown session is a usage error (exit 2), not an empty list.
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no session \"nothing\""));
    let table = app.cli(&["attempts", "list"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("Codertocat/Hello-World"));
    let missing = app.cli(&["attempts", "show", "999"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("No attempt with id 999"));
}
