//! `audit verify` on a large log: builds a class of `BENCH_ENTRIES` audit entries (default 100,000: one
//! session and that many minus one recorded attempts of 3 files each) through the library's own record
//! path (`db::attempts::record_batch`, the worker's group commit, 1000 attempts a transaction), then runs the
//! release `labtrail audit verify` under `/usr/bin/time -v` and prints its verdict, wall time and peak
//! RSS.
//!
//! `cargo bench --bench verify` (SQLite temp file; PostgreSQL too when `LABTRAIL_TEST_POSTGRES_URL` is
//! set). Every run must exit 0 and, on a log it built, report all its entries intact. `LABTRAIL_BENCH_TINY=1` makes the default
//! 300 entries (what CI runs, in the test profile: `cargo test --bench verify -- --bench`).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use labtrail::db;
use labtrail::db::attempts::{FilesSource, NewAttempt, Recorded};
use labtrail::domain::files::{ChangedFile, FileStatus};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

mod common;
use common::ORIGIN;

const BATCH: usize = 1000;
const STUDENTS: usize = 500;

fn attempt(session_id: i64, n: usize) -> NewAttempt {
    let student = n % STUDENTS;
    let push = n / STUDENTS;
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let pushed_at = start + Duration::seconds(i64::try_from(n).unwrap_or(0));
    NewAttempt {
        session_id,
        installation_id: 1,
        repository_id: 10_000 + i64::try_from(student).unwrap_or(0),
        repository_full_name: format!("course/lab1-s{student}"),
        git_ref: "refs/heads/main".into(),
        before_sha: format!("{n:040x}"),
        after_sha: format!("{:040x}", n + 1),
        forced: false,
        created_branch: push == 0,
        pusher_login: Some(format!("s{student}")),
        sender_id: Some(i64::try_from(student).unwrap_or(0)),
        pushed_at,
        received_at: pushed_at + Duration::milliseconds(250),
        delivery_id: format!("bench-{n}"),
        late: n % 10 == 0,
        early: false,
        files: (0..3)
            .map(|i| ChangedFile {
                path: format!("src/file{i}.rs"),
                status: FileStatus::Modified,
            })
            .collect(),
        files_source: FilesSource::Payload,
        files_complete: true,
        files_retry_at: None,
    }
}

async fn build(url: &str, entries: usize) {
    let t = |d| {
        Utc.with_ymd_and_hms(2026, d, 1, 0, 0, 0)
            .single()
            .expect("date")
    };
    let (conn, session_id) = common::prepare(url, t(1), t(2)).await;
    let attempts = entries.saturating_sub(1);
    let mut n = 0;
    while n < attempts {
        let batch: Vec<NewAttempt> = (n..(n + BATCH).min(attempts))
            .map(|i| attempt(session_id, i))
            .collect();
        let recorded = db::attempts::record_batch(&conn, ORIGIN, &batch)
            .await
            .expect("record a batch");
        assert!(recorded.iter().all(|r| matches!(r, Recorded::New { .. })));
        n += BATCH;
    }
    // PostgreSQL: planner statistics, as autovacuum keeps them on a database in use (a bulk-loaded table
    // has none until it runs, and the records check's `IN (…)` pages then scan whole tables). SQLite has
    // none unless someone runs ANALYZE, and is measured so.
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared("ANALYZE").await.expect("analyze");
    }
}

/// Run `labtrail audit verify` under `/usr/bin/time -v`; print its verdict and the two figures. The log
/// is intact: each run must exit 0, and report `entries` entries when it is known (a log this run built).
fn measure(label: &str, url: &str, dir: &Path, entries: Option<usize>) {
    let bin = env!("CARGO_BIN_EXE_labtrail");
    println!("{label}: /usr/bin/time -v {bin} audit verify   (DATABASE_URL={url} LABTRAIL_AUDIT_ORIGIN={ORIGIN})");
    for run in 1..=3 {
        let out = Command::new("/usr/bin/time")
            .args(["-v", bin, "audit", "verify"])
            .env("DATABASE_URL", url)
            .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
            .env("RUST_LOG", "warn")
            .current_dir(dir)
            .output()
            .expect("run /usr/bin/time");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let pick = |key: &str| {
            stderr
                .lines()
                .find(|l| l.trim_start().starts_with(key))
                .map(|l| l.trim().to_owned())
                .unwrap_or_default()
        };
        println!(
            "{label} run {run}: exit {:?}; {}; {}",
            out.status.code(),
            pick("Elapsed (wall clock) time"),
            pick("Maximum resident set size"),
        );
        if run == 1 {
            for line in stdout.lines() {
                println!("    {line}");
            }
        }
        assert_eq!(
            out.status.code(),
            Some(0),
            "{label}: audit verify of an intact log:\n{stdout}{stderr}"
        );
        if let Some(n) = entries {
            assert!(
                stdout.contains(&format!("audit log intact: {n} entries")),
                "{label}: every entry checked:\n{stdout}"
            );
        }
    }
}

/// Build the class of `entries` at `url` unless `reused` names what is there already (a kept database),
/// then measure `audit verify` on it; `label` names the backend.
async fn build_and_measure(
    label: &str,
    url: &str,
    reused: Option<String>,
    entries: usize,
    dir: &Path,
) {
    let built = reused.is_none().then_some(entries);
    if let Some(what) = reused {
        println!("{label}: reusing {what}");
    } else {
        let started = Instant::now();
        build(url, entries).await;
        println!(
            "{label}: built {entries} entries in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    measure(label, url, dir, built);
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs this without `--bench`; only measure under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let entries = std::env::var("BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if common::tiny() { 300 } else { 100_000 });
    let dir = tempfile::tempdir().expect("tempdir");
    // BENCH_DB=FILE keeps the SQLite database: built once if FILE is missing, reused as it is otherwise.
    let db_file = std::env::var("BENCH_DB")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("bench.db"));
    let url = format!("sqlite://{}?mode=rwc", db_file.display());
    let reused = db_file.exists().then(|| db_file.display().to_string());
    build_and_measure("sqlite", &url, reused, entries, dir.path()).await;

    if let Ok(admin_url) = std::env::var("LABTRAIL_TEST_POSTGRES_URL") {
        let admin = Database::connect(&admin_url).await.expect("postgres");
        // BENCH_PG_DB=NAME keeps the PostgreSQL database: built once if missing, reused as it is after.
        let kept = std::env::var("BENCH_PG_DB").ok();
        let name = kept.clone().unwrap_or_else(common::database_name);
        let exists = admin
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT 1 FROM pg_database WHERE datname = $1",
                [name.clone().into()],
            ))
            .await
            .expect("look for the database")
            .is_some();
        let pg = common::database_url(&admin_url, &name);
        if !exists {
            common::create_database(&admin, &name).await;
        }
        let reused = exists.then(|| format!("database {name}"));
        build_and_measure("postgres", &pg, reused, entries, dir.path()).await;
        if kept.is_none() {
            common::drop_database(&admin, &name).await;
        }
    }
}
