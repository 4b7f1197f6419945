//! Concurrent appenders: two app instances with separate connection pools on one database (50 pushes
//! sent to them at once, both running the checkpoint writer) plus four `labtrail` CLI processes
//! appending at the same time. Seqs stay contiguous, the chain verifies, and no two checkpoints share a
//! size (one writer at a time).

use std::time::Duration;

use futures::future::join_all;

use crate::audit_support::verify_ok;
use crate::backend_tests;
use crate::helpers::{push_payload, sha, spawn_app_with, AppOptions, TestDb};

backend_tests!(concurrent_appends_from_two_instances_and_cli_processes_are_contiguous);

async fn concurrent_appends_from_two_instances_and_cli_processes_are_contiguous(db: TestDb) {
    // Two instances with their own workers racing for the same deliveries: real concurrency is the point.
    let opts = AppOptions {
        checkpoint_interval: Some(Duration::from_millis(20)),
        ..AppOptions::default()
    }
    .with_workers(4);
    let a = spawn_app_with(&db, opts.clone()).await;
    let b = spawn_app_with(&db, opts).await;
    a.create_lab1_session().await;
    let cli_db = db.clone();
    let processes = std::thread::spawn(move || {
        let children: Vec<_> = (0..4)
            .map(|i| {
                std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
                    .args(["session", "create", "--org", "course", "--slug"])
                    .arg(format!("extra{i}"))
                    .args(["--title", "t", "--repos"])
                    // Patterns that do not overlap (overlapping ones are refused).
                    .arg(format!("x{i}-*"))
                    .args([
                        "--opens",
                        "2026-01-01T00:00:00Z",
                        "--closes",
                        "2026-02-01T00:00:00Z",
                    ])
                    .env("DATABASE_URL", &cli_db.url)
                    .env("LABTRAIL_AUDIT_ORIGIN", crate::helpers::ORIGIN)
                    .env("RUST_LOG", "warn")
                    .current_dir(cli_db.scratch_dir())
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("spawn labtrail")
            })
            .collect();
        children
            .into_iter()
            .map(|mut c| {
                crate::helpers::wait_within(
                    &mut c,
                    crate::helpers::CHILD_TIMEOUT,
                    "labtrail session create",
                )
                .success()
            })
            .collect::<Vec<_>>()
    });
    let sends = (0..50u64).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let body = serde_json::to_vec(&push_payload(
            "course",
            &format!("lab1-s{i}"),
            100 + i as i64,
            &sha(i + 1),
            1767225600,
        ))
        .expect("json");
        async move { app.deliver_status("push", &format!("c-{i}"), &body).await }
    });
    assert!(join_all(sends).await.iter().all(|s| *s == 202));
    assert_eq!(processes.join().expect("cli thread"), vec![true; 4]);
    a.wait_idle().await;
    let size = a.audit_head().await.size;
    assert_eq!(size, 1 + 50 + 4);
    let seqs: Vec<i64> = a.audit_entries().await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..size).collect::<Vec<_>>(), "contiguous from 0");
    let attempt_seqs: std::collections::BTreeSet<i64> =
        a.attempts().await.iter().map(|t| t.audit_seq).collect();
    assert_eq!(attempt_seqs.len(), 50);
    // Checkpoints written by both instances: every size at most once.
    // One read: the writers are still running, and two separate counts could straddle a new checkpoint.
    let checkpoints = a.checkpoints().await;
    let total = checkpoints.len();
    let distinct: std::collections::BTreeSet<i64> = checkpoints.iter().map(|c| c.size).collect();
    let duplicated = total - distinct.len();
    assert!(total >= 1, "the writers wrote checkpoints");
    assert_eq!(
        duplicated, 0,
        "two checkpoints of one size: two writers at once"
    );
    verify_ok(&a, &[]);
    a.stop().await;
    b.stop().await;
}
