//! The product driven into the states the fake GitHub is strict about: truncated trees, several attempts
//! and check runs on one SHA (also across a restart), another App's run that looks like ours, more runs
//! on a SHA than one page holds, a push without an installation and a compare GitHub refuses.

use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::backend_tests;
use crate::fake_github::{push_from_git, server_error, CheckRun, GitRepo, Op, Route, APP_ID};
use crate::github_files::{
    app_with_fake, deliver, deliver_reset, recorded, spec, INSTALLATION, ORG, PUSHED_AT,
};
use crate::helpers::{push_payload, sha, spawn_app_with, AppOptions, TestDb};

backend_tests!(
    truncated_list_and_truncated_tree_are_stored_incomplete,
    two_attempts_on_one_sha_keep_one_run_each_across_a_restart,
    another_apps_run_with_our_external_id_is_not_adopted,
    our_run_is_found_on_the_second_page,
    push_without_installation_is_recorded_from_the_payload,
    compare_refused_with_404_or_422_is_recorded_from_the_payload,
);

fn write(path: &str, content: &str) -> Op {
    Op::Write(path.into(), content.into())
}

/// The check run of `attempt` among `runs`, by its `external_id`.
fn run_of<'a>(runs: &'a [CheckRun], attempt: &entity::lab_attempt::Model) -> &'a CheckRun {
    let id = attempt.id.to_string();
    let mine: Vec<&CheckRun> = runs
        .iter()
        .filter(|r| r.external_id.as_deref() == Some(id.as_str()))
        .collect();
    assert_eq!(mine.len(), 1, "one run for attempt {id}: {runs:?}");
    mine[0]
}

/// A force push back (`git reset --hard c0 && git push --force` from c1): the payload lists no commit, so
/// only git's trees can say what changed, and GitHub truncates both. The attempt is stored as incomplete
/// and its check run says so; nothing the truncated trees cannot tell is listed as a change.
async fn truncated_list_and_truncated_tree_are_stored_incomplete(db: TestDb) {
    let mut repo = GitRepo::new();
    let c0 = repo.commit(
        "main",
        None,
        &[
            write("a.txt", "1"),
            write("c.txt", "c"),
            write("d.txt", "d"),
        ],
    );
    let c1 = repo.commit("main", None, &[write("a.txt", "2"), write("b.txt", "b")]);
    let marks = repo.import();
    let (c0, c1) = (marks[&c0].clone(), marks[&c1].clone());
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo(INSTALLATION, "course/lab1-cut", 500, &repo.dir);
    // c1's tree lists a, b, c, d; c0's a, c, d: three entries each, as GitHub cuts a huge tree.
    fake.set_tree_limit(3);
    let d = deliver_reset(&app, &repo, ("lab1-cut", &c1, &c0), "cut-1").await;
    assert_eq!(
        d.attempts, 1,
        "a truncated tree is an answer, not a failure"
    );
    assert_eq!(fake.count(Route::Tree), 2);
    let (files, source, complete) = recorded(&app).await;
    assert_eq!((source.as_str(), complete), ("api", false));
    let truth = repo.expected_files(&c1, &c0);
    assert_eq!(
        truth,
        [
            ("a.txt".to_owned(), "modified".to_owned()),
            ("b.txt".to_owned(), "removed".to_owned())
        ]
    );
    for f in &files {
        assert!(
            truth.contains(f),
            "{f:?} is not a change of this push (git says {truth:?}); recorded {files:?}"
        );
    }
    assert!(
        files.contains(&("a.txt".to_owned(), "modified".to_owned())),
        "what both truncated trees show is kept: {files:?}"
    );
    let attempt = app.attempt().await;
    assert!(!attempt.files_complete);
    assert_eq!(attempt.files_retry_at, None, "GitHub cannot say more later");

    app.drain_check_runs().await;
    let runs = fake.check_runs();
    assert_eq!(runs.len(), 1);
    let wanted = format!(
        "| Changed files | {} (from the GitHub API, list incomplete) |",
        files.len()
    );
    assert!(runs[0].summary.contains(&wanted), "{}", runs[0].summary);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

/// Two pushes of one SHA (to two branches) are two attempts with one check run each; after a restart
/// that lost the stored run ids (or a process that died between creating and storing them), each is
/// found again by its `external_id`, not created a second time.
async fn two_attempts_on_one_sha_keep_one_run_each_across_a_restart(db: TestDb) {
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    let head = sha(0x5a);
    for (guid, branch, at) in [
        ("same-1", "main", PUSHED_AT),
        ("same-2", "fix", PUSHED_AT + 60),
    ] {
        let mut p = push_payload(ORG, "lab1-alice", 7, &head, at);
        p["ref"] = json!(format!("refs/heads/{branch}"));
        assert_eq!(deliver(&app, guid, &p).await.status, "processed");
    }
    app.drain_check_runs().await;
    let attempts = app.attempts().await;
    assert_eq!(attempts.len(), 2, "two attempts on one SHA");
    let runs = fake.check_runs();
    assert_eq!(runs.len(), 2, "one run per attempt: {runs:?}");
    let ids: Vec<Option<i64>> = attempts.iter().map(|a| a.check_run_id).collect();
    for a in &attempts {
        let run = run_of(&runs, a);
        assert_eq!(a.check_run_id, Some(run.id));
        assert_eq!(run.head_sha, head);
        assert!(
            run.title
                .starts_with(&format!("Attempt #{}", a.attempt_number)),
            "{}",
            run.title
        );
    }
    assert_ne!(ids[0], ids[1]);
    assert_eq!(fake.count(Route::CreateCheckRun), 2);
    app.stop().await;

    // The restarted process lost both stored ids (as if it died between create and store).
    let app = spawn_app_with(&db, AppOptions::with_github(&fake)).await;
    app.exec("UPDATE lab_attempt SET check_run_id = NULL")
        .await
        .expect("forget the ids");
    let lists_before = fake.count(Route::ListCheckRuns);
    app.drain_check_runs().await;

    let again: Vec<Option<i64>> = app
        .attempts()
        .await
        .iter()
        .map(|a| a.check_run_id)
        .collect();
    assert_eq!(again, ids, "each attempt found its own run again");
    assert_eq!(
        fake.count(Route::CreateCheckRun),
        2,
        "nothing created twice"
    );
    assert_eq!(fake.check_runs().len(), 2);
    assert!(fake.count(Route::ListCheckRuns) >= lists_before + 2);
}

/// Another App's `labtrail` run with this attempt's `external_id` on the same SHA is not ours: labtrail
/// creates its own and leaves the other alone.
async fn another_apps_run_with_our_external_id_is_not_adopted(db: TestDb) {
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    // Another CI names its runs after the same small numbers labtrail's attempt ids are (the first
    // attempt of a fresh database is 1).
    let foreign_ids: Vec<(i64, i64)> = (1..=5)
        .map(|n| {
            let id = fake.add_foreign_check_run(
                "course/lab1-alice",
                &sha(0xf0),
                "labtrail",
                &n.to_string(),
                99,
            );
            (n, id)
        })
        .collect();
    // Its first create fails: the run is looked up again by the sweep, too.
    fake.fail_next(Route::CreateCheckRun, 1, server_error());
    deliver(
        &app,
        "foreign-1",
        &push_payload(ORG, "lab1-alice", 7, &sha(0xf0), PUSHED_AT),
    )
    .await;
    app.drain_check_runs().await;
    let attempt = app.attempt().await;
    let foreign = foreign_ids
        .iter()
        .find(|(n, _)| *n == attempt.id)
        .map(|(_, id)| *id)
        .expect("another App's run carries this attempt's id");

    let ours = fake.check_runs();
    assert_eq!(ours.len(), 1, "labtrail created its own run");
    assert_eq!(ours[0].app_id, APP_ID);
    assert_eq!(attempt.check_run_id, Some(ours[0].id));
    assert_ne!(attempt.check_run_id, Some(foreign));
    let theirs: Vec<CheckRun> = fake
        .all_check_runs()
        .into_iter()
        .filter(|r| r.id == foreign)
        .collect();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].app_id, 99);
    assert_eq!(
        (theirs[0].title.as_str(), theirs[0].conclusion.as_deref()),
        ("elsewhere", Some("success")),
        "the other App's run is untouched"
    );
    assert_eq!(fake.count(Route::UpdateCheckRun), 0);
    assert_eq!(
        fake.count(Route::CreateCheckRun),
        2,
        "one failed, one stored"
    );
}

/// 101 `labtrail` runs on the SHA, ours the oldest: the lookup follows the `Link` header to page 2 and
/// finds it there instead of creating a second one.
async fn our_run_is_found_on_the_second_page(db: TestDb) {
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    let head = sha(0x101);
    deliver(
        &app,
        "paged-1",
        &push_payload(ORG, "lab1-alice", 7, &head, PUSHED_AT),
    )
    .await;
    app.drain_check_runs().await;
    let first = app.attempt().await.check_run_id;
    assert!(first.is_some());
    // Other CIs named their runs the same since: 100 newer runs fill the first page.
    for k in 0..100 {
        fake.add_foreign_check_run(
            "course/lab1-alice",
            &head,
            "labtrail",
            &format!("other-{k}"),
            1000 + k,
        );
    }
    app.exec("UPDATE lab_attempt SET check_run_id = NULL")
        .await
        .expect("forget the id");
    app.drain_check_runs().await;

    assert_eq!(app.attempt().await.check_run_id, first, "found again");
    assert_eq!(fake.count(Route::CreateCheckRun), 1, "not created twice");
    let pages: Vec<String> = fake
        .seen()
        .into_iter()
        .filter(|s| s.route == Route::ListCheckRuns)
        .filter_map(|s| s.query)
        .collect();
    assert!(
        pages.iter().any(|q| q.contains("page=2")),
        "the second page was read: {pages:?}"
    );
}

/// A push payload without `installation` (a repository hook with the App's secret, not the App's own
/// delivery) that matches a session: recorded from the payload like any other push (docs/design.md §4,
/// "No `installation`"). With no installation there is no token: a truncated list is kept incomplete and
/// never asked for again, a complete one stays complete, no check run is posted, and nothing is retried.
async fn push_without_installation_is_recorded_from_the_payload(db: TestDb) {
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    let without_installation = |n: u64, pushed_at: i64| {
        let mut p = push_payload(ORG, "lab1-alice", 7, &sha(n), pushed_at);
        assert!(p
            .as_object_mut()
            .and_then(|o| o.remove("installation"))
            .is_some());
        p
    };
    // GitHub truncated the lists: completing them would need the API.
    let mut truncated = without_installation(0x1a, PUSHED_AT);
    truncated["commits"][0]["added"] = json!([]);
    truncated["head_commit"]["added"] = json!([]);
    let complete = without_installation(0x1b, PUSHED_AT + 1);

    for (guid, p) in [("noinst-1", &truncated), ("noinst-2", &complete)] {
        let d = deliver(&app, guid, p).await;
        assert_eq!(
            (d.status.to_string().as_str(), d.last_error.as_deref()),
            ("processed", None),
            "{guid}"
        );
        assert_eq!(d.attempts, 1, "{guid}: settled at its first try");
    }
    let attempts = app.attempts().await;
    let facts: Vec<_> = attempts
        .iter()
        .map(|a| {
            (
                a.delivery_id.as_str(),
                a.installation_id,
                a.files_source.to_string(),
                a.files_complete,
                a.files_retry_at,
                a.check_run_id,
                a.check_run_tries,
            )
        })
        .collect();
    assert_eq!(
        facts,
        [
            ("noinst-1", 0, "payload".to_owned(), false, None, None, 0),
            ("noinst-2", 0, "payload".to_owned(), true, None, None, 0),
        ]
    );
    // The sweeps (check runs, file lists) find nothing to do for them, however often they run.
    app.drain().await;
    app.drain().await;
    assert!(
        fake.seen().is_empty(),
        "no call to GitHub: {:?}",
        fake.seen()
    );
    assert_eq!(
        labtrail::db::check_runs::pending(&app.db)
            .await
            .expect("pending"),
        0,
        "no check run is owed"
    );
    // A redelivery of it is the same delivery, already settled: no second attempt.
    let body = serde_json::to_vec(&truncated).expect("json");
    assert_eq!(app.deliver_status("push", "noinst-1", &body).await, 200);
    app.drain().await;
    assert_eq!(app.delivery("noinst-1").await.attempts, 1);
    assert_eq!(app.attempts().await.len(), 2);
    assert!(fake.seen().is_empty());
    app.assert_audit_verifies();
}

/// A new branch whose lists cannot give the net diff (one path changed twice): its base is asked of the
/// compare API, which refuses (404: no such base; 422: GitHub will not compute it). The attempt is
/// recorded from the payload, marked incomplete, at once and once.
async fn compare_refused_with_404_or_422_is_recorded_from_the_payload(db: TestDb) {
    let mut repo = GitRepo::new();
    let c0 = repo.commit("main", None, &[write("a.txt", "0")]);
    repo.commit("feature", Some(&c0), &[write("a.txt", "1")]);
    let f2 = repo.commit("feature", None, &[write("a.txt", "0")]);
    let marks = repo.import();
    let f2 = marks[&f2].clone();
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo(INSTALLATION, "course/lab1-cmp", 500, &repo.dir);
    let mut s = spec("lab1-cmp", None, &f2);
    s.branch = "feature";
    s.base = Some("main");
    let payload = push_from_git(&repo, &s);
    assert_eq!(payload["commits"].as_array().map(Vec::len), Some(2));

    let refusals: [(&str, ResponseTemplate); 2] = [
        (
            "cmp-404",
            ResponseTemplate::new(404).set_body_json(json!({
                "message": "Not Found",
                "documentation_url": "https://docs.github.com/rest/commits/commits#compare-two-commits",
            })),
        ),
        (
            "cmp-422",
            ResponseTemplate::new(422).set_body_json(json!({
                "message": "Server Error: Sorry, this diff is taking too long to generate.",
                "errors": [{ "resource": "Comparison", "field": "basehead", "code": "invalid" }],
                "documentation_url": "https://docs.github.com/rest/commits/commits#compare-two-commits",
            })),
        ),
    ];
    for (n, (guid, refusal)) in refusals.into_iter().enumerate() {
        let compares = fake.count(Route::Compare);
        fake.fail_always(Route::Compare, refusal);
        let mut p: Value = payload.clone();
        // Another push of the branch: its own delivery and attempt.
        p["repository"]["pushed_at"] = json!(PUSHED_AT + n as i64);
        let d = deliver(&app, guid, &p).await;
        assert_eq!(d.status, "processed", "{guid}: {:?}", d.last_error);
        assert_eq!(d.attempts, 1, "{guid}: a refusal is not retried");
        assert_eq!(fake.count(Route::Compare), compares + 1, "{guid}");
        fake.heal();
    }
    let attempts = app.attempts().await;
    assert_eq!(attempts.len(), 2);
    for a in &attempts {
        assert_eq!(
            (a.files_source.to_string().as_str(), a.files_complete),
            ("payload", false),
            "{a:?}"
        );
        assert_eq!(a.files_retry_at, None);
    }
    app.drain_check_runs().await;
    for run in fake.check_runs() {
        assert!(
            run.summary
                .contains("(from the push payload, list incomplete)"),
            "{}",
            run.summary
        );
    }
    assert_eq!(fake.check_runs().len(), 2);
    assert_eq!(
        fake.count(Route::Compare),
        2,
        "the sweep does not ask again"
    );
}
