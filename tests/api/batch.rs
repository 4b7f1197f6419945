//! Group commit: a worker claims a batch of deliveries and records their attempts in one transaction.
//! A batch records exactly what one-by-one recording records, and one attempt that cannot be recorded
//! neither blocks nor loses the rest of its batch.

use entity::states::DeliveryStatus as Status;

use crate::audit_support::verify_ok;
use crate::backend_tests;
use crate::helpers::{push_payload, sha, spawn_app_with, AppOptions, Backend, TestApp, TestDb};

backend_tests!(
    a_batch_records_what_one_by_one_recording_records,
    a_batch_that_fails_halfway_records_the_rest,
);

/// The same pushes for organisation `org`: out-of-order push times in one repository, the same push under
/// two GUIDs, a redelivery of a push recorded before, a repository no session takes, and an event that is
/// not a push. Returns the GUIDs in delivery order.
async fn scenario(app: &TestApp, org: &str, ids: i64) -> Vec<String> {
    app.create_session(
        org,
        &format!("{org}-lab1"),
        "lab1-*",
        ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z"),
    )
    .await;
    let t0 = 1_767_225_600; // 2026-01-01T00:00:00Z
                            // Repository ids are GitHub's, unique across organisations: each scenario has its own.
    let push = |repo: &str, id: i64, n: u64, at: i64| {
        let mut p = push_payload(org, repo, ids + id, &sha(n + 1), t0 + at);
        p["before"] = sha(n).into();
        p["created"] = false.into();
        serde_json::to_vec(&p).expect("json")
    };
    // Recorded before the batch: alice's first push.
    let first = format!("{org}-first");
    assert_eq!(
        app.deliver_status("push", &first, &push("lab1-alice", 1, 1, 60))
            .await,
        202
    );
    app.drain().await;
    // (GUID suffix, repository, repository id, push number, minutes after opening)
    let pushes: &[(&str, &str, i64, u64, i64)] = &[
        // alice at 10, 30 and 20 minutes (the last arrives after a later push), then once late.
        ("a1", "lab1-alice", 1, 2, 600),
        ("a2", "lab1-alice", 1, 3, 1800),
        ("a3", "lab1-alice", 1, 4, 1200),
        ("late", "lab1-alice", 1, 5, 3700),
        // bob's push, then the same push under another GUID (GitHub redelivering), in the same batch.
        ("b1", "lab1-bob", 2, 10, 900),
        ("b1-again", "lab1-bob", 2, 10, 900),
        // alice's first push once more, under a new GUID: a duplicate of a row recorded before the batch.
        ("first-again", "lab1-alice", 1, 1, 60),
        // No session takes this repository.
        ("other", "homework-carol", 3, 20, 900),
    ];
    let mut guids = Vec::new();
    for (suffix, repo, id, n, at) in pushes {
        let guid = format!("{org}-{suffix}");
        assert_eq!(
            app.deliver_status("push", &guid, &push(repo, *id, *n, *at))
                .await,
            202
        );
        guids.push(guid);
    }
    // A ping is not a push.
    let ping = format!("{org}-ping");
    let zen = br#"{"zen":"Keep it logically awesome."}"#;
    assert_eq!(app.deliver_status("ping", &ping, zen).await, 202);
    guids.push(ping);
    for i in 0..20u64 {
        let guid = format!("{org}-s{i}");
        let body = push(
            &format!("lab1-student{i}"),
            100 + i as i64,
            100 + i,
            60 * i as i64,
        );
        assert_eq!(app.deliver_status("push", &guid, &body).await, 202);
        guids.push(guid);
    }
    guids
}

/// What a scenario left, without the organisation, ids or times: per delivery its status, note and the
/// attempt (repository, number, late, files) it recorded or duplicated.
async fn outcome(app: &TestApp, org: &str, guids: &[String]) -> Vec<String> {
    let attempts = app.attempts().await;
    let mut out = Vec::new();
    for guid in guids {
        let d = app.delivery(guid).await;
        let note = d.last_error.clone().unwrap_or_default();
        let attempt = match note.strip_prefix("duplicate of attempt ") {
            Some(id) => attempts.iter().find(|a| a.id.to_string() == id),
            None => attempts.iter().find(|a| &a.delivery_id == guid),
        };
        let attempt = attempt.map(|a| {
            format!(
                "{} #{} late={} files={}",
                a.repository_full_name
                    .trim_start_matches(&format!("{org}/")),
                a.attempt_number,
                a.late,
                a.file_count
            )
        });
        let note = if note.starts_with("duplicate of attempt ") {
            "duplicate".to_owned()
        } else {
            note.replace(org, "ORG")
        };
        out.push(format!(
            "{} {:?} [{note}] {attempt:?}",
            guid.trim_start_matches(&format!("{org}-")),
            d.status
        ));
    }
    out
}

async fn a_batch_records_what_one_by_one_recording_records(db: TestDb) {
    // One app records one delivery at a time, the other 32 at once, on the same database.
    let with_batch = |batch| {
        let mut opts = AppOptions::default();
        opts.worker.batch = batch;
        spawn_app_with(&db, opts)
    };
    let one_by_one = with_batch(1).await;
    let guids = scenario(&one_by_one, "one", 0).await;
    one_by_one.drain().await;
    let expected = outcome(&one_by_one, "one", &guids).await;

    let batched = with_batch(32).await;
    let guids = scenario(&batched, "many", 1000).await;
    let before = batched.audit_head().await.size;
    // The whole scenario is one claim and one recording transaction.
    assert_eq!(
        batched.step().await,
        labtrail::jobs::worker::Step::Processed
    );
    let after = batched.audit_head().await.size;
    assert_eq!(
        after - before,
        25,
        "one step records the 25 new attempts (alice 4, bob 1, 20 students)"
    );
    assert_eq!(outcome(&batched, "many", &guids).await, expected);
    // Spot checks of what one by one means: numbers by push time (the 20-minute push, arriving after the
    // 30-minute one, is number 3 like it: docs/design.md §4), the late push, the duplicates.
    for (i, needles) in [
        (0, &["lab1-alice #2 late=false"][..]),
        (1, &["lab1-alice #3 late=false"]),
        (2, &["lab1-alice #3 late=false"]),
        (3, &["lab1-alice #5 late=true"]),
        (5, &["[duplicate]", "lab1-bob #1"]),
        (6, &["[duplicate]", "lab1-alice #1"]),
        (7, &["Ignored"]),
        (8, &["Ignored"]),
    ] {
        for needle in needles {
            assert!(expected[i].contains(needle), "{needle} in {}", expected[i]);
        }
    }

    // Every attempt points at its own entry, the seqs have no gap, and the whole log (Merkle tree
    // included) verifies, records and all.
    let seqs: Vec<i64> = batched
        .audit_entries()
        .await
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (0..after).collect::<Vec<_>>());
    verify_ok(&batched, &[]);
}

/// A trigger that refuses to store an attempt of `course/lab1-bad`, as a broken row would.
async fn refuse_bad_attempts(app: &TestApp, backend: Backend) {
    let statements: &[&str] = match backend {
        Backend::Sqlite => &["CREATE TRIGGER test_refuse_bad BEFORE INSERT ON lab_attempt \
             WHEN NEW.repository_full_name = 'course/lab1-bad' \
             BEGIN SELECT RAISE(ABORT, 'test: this attempt is refused'); END"],
        Backend::Postgres => &[
            "CREATE FUNCTION test_refuse_bad() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'test: this attempt is refused'; END $$",
            "CREATE TRIGGER test_refuse_bad BEFORE INSERT ON lab_attempt FOR EACH ROW \
             WHEN (NEW.repository_full_name = 'course/lab1-bad') EXECUTE FUNCTION test_refuse_bad()",
        ],
    };
    for sql in statements {
        app.exec(sql).await.expect("create the refusing trigger");
    }
}

async fn a_batch_that_fails_halfway_records_the_rest(db: TestDb) {
    let app = spawn_app_with(&db, AppOptions::default()).await;
    app.create_lab1_session().await;
    refuse_bad_attempts(&app, db.backend).await;
    let t0 = 1_767_225_600;
    let mut guids = Vec::new();
    for i in 0..10u64 {
        // The sixth push of the batch is the one the database refuses.
        let repo = if i == 5 {
            "lab1-bad".to_owned()
        } else {
            format!("lab1-s{i}")
        };
        let body = serde_json::to_vec(&push_payload(
            "course",
            &repo,
            50 + i as i64,
            &sha(i + 1),
            t0 + i as i64,
        ))
        .expect("json");
        let guid = format!("d{i}");
        assert_eq!(app.deliver_status("push", &guid, &body).await, 202);
        guids.push(guid);
    }
    // One claim takes all ten; the batch fails, and each is then recorded on its own.
    assert_eq!(app.step().await, labtrail::jobs::worker::Step::Processed);
    let attempts = app.attempts().await;
    assert_eq!(attempts.len(), 9, "every attempt but the refused one");
    for (i, guid) in guids.iter().enumerate() {
        let d = app.delivery(guid).await;
        if i == 5 {
            assert_eq!(
                d.status,
                Status::Retrying,
                "the refused one is retried later"
            );
            let error = d.last_error.unwrap_or_default();
            assert!(error.contains("this attempt is refused"), "{error}");
        } else {
            assert_eq!(d.status, Status::Processed, "{guid}");
            assert!(attempts.iter().any(|a| &a.delivery_id == guid), "{guid}");
        }
    }
    // The log has no hole where the refused attempt's entry would have been.
    let seqs: Vec<i64> = app.audit_entries().await.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..10).collect::<Vec<_>>(), "session + 9 attempts");

    // Once the database takes it, the retry records it: nothing was lost.
    let drop_trigger = match db.backend {
        Backend::Sqlite => "DROP TRIGGER test_refuse_bad",
        Backend::Postgres => "DROP TRIGGER test_refuse_bad ON lab_attempt",
    };
    app.exec(drop_trigger).await.expect("drop the trigger");
    app.drain().await;
    assert_eq!(app.delivery("d5").await.status, Status::Processed);
    assert_eq!(app.attempts().await.len(), 10);
    verify_ok(&app, &[]);
}

backend_tests!(a_batch_is_one_transaction);

/// The group commit itself, below the worker: a batch with the audit guards of the database in place
/// (an entry only at the head) commits as one, with consecutive seqs, and verifies.
async fn a_batch_is_one_transaction(db: TestDb) {
    use labtrail::db::attempts::{self, FilesSource, NewAttempt, Recorded};
    use labtrail::domain::files::{ChangedFile, FileStatus};
    let app = spawn_app_with(&db, AppOptions::default()).await;
    let session = app.create_lab1_session().await;
    let at = |s: i64| chrono::DateTime::from_timestamp(1_767_225_600 + s, 0).expect("time");
    let news: Vec<NewAttempt> = (0..40i64)
        .map(|i| NewAttempt {
            session_id: session.id,
            installation_id: 1,
            repository_id: 500 + i % 7,
            repository_full_name: format!("course/lab1-r{}", i % 7),
            git_ref: "refs/heads/main".into(),
            before_sha: sha(i as u64),
            after_sha: sha(i as u64 + 1),
            forced: false,
            created_branch: false,
            pusher_login: Some(format!("r{}", i % 7)),
            sender_id: Some(i % 7),
            pushed_at: at(40 - i),
            received_at: at(100),
            delivery_id: format!("direct-{i}"),
            late: false,
            early: false,
            files: vec![ChangedFile {
                path: format!("f{i}.rs"),
                status: FileStatus::Added,
            }],
            files_source: FilesSource::Payload,
            files_complete: true,
            files_retry_at: None,
        })
        .collect();
    let first = app.audit_head().await.size;
    let recorded = attempts::record_batch(&app.db, crate::helpers::ORIGIN, &news)
        .await
        .expect("the batch commits as one");
    let seqs: Vec<i64> = recorded
        .iter()
        .map(|r| match r {
            Recorded::New { receipt, .. } => receipt.seq,
            Recorded::Duplicate { .. } => panic!("nothing here is a duplicate"),
        })
        .collect();
    assert_eq!(seqs, (first..first + 40).collect::<Vec<_>>());
    // Pushed in reverse order of arrival: each repository's later arrivals get the smaller numbers.
    let numbers: Vec<i32> = recorded
        .iter()
        .filter_map(|r| match r {
            Recorded::New { attempt, .. } if attempt.repository_id == 500 => {
                Some(attempt.attempt_number)
            }
            _ => None,
        })
        .collect();
    assert_eq!(numbers, vec![1, 1, 1, 1, 1, 1]);
    // The same batch again: all duplicates, nothing appended.
    let again = attempts::record_batch(&app.db, crate::helpers::ORIGIN, &news)
        .await
        .expect("again");
    assert!(again
        .iter()
        .all(|r| matches!(r, Recorded::Duplicate { .. })));
    assert_eq!(app.audit_head().await.size, first + 40);
    verify_ok(&app, &[]);
}
