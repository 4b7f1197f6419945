//! Truncated pushes are completed through the (fake) GitHub API, backed by real git repositories: the
//! recorded list is exactly `git diff --name-status --no-renames before after`. Histories that undo
//! their own changes are in `net_diff.rs`.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::fake_github::{
    push_from_git, rate_limited, server_error, Cut, FakeGithub, GitRepo, Op, PushSpec, Route,
};
use crate::helpers::{push_payload, sha, spawn_app, spawn_app_with, AppOptions, TestApp, TestDb};
use labtrail::jobs::worker::Step;

backend_tests!(
    complete_payload_makes_no_enrichment_call,
    without_the_app_a_truncated_push_is_marked_incomplete,
    push_of_2100_commits_is_completed_through_compare,
    commit_of_5000_files_is_completed_through_trees,
    huge_commit_with_empty_lists_is_paged_then_diffed,
    new_branch_with_a_huge_commit,
    force_push_back_without_commits_diffs_the_heads,
    rate_limited_then_success,
    server_errors_then_success,
    timeout_then_success,
    github_outage_records_from_the_payload_then_completes_later,
    slow_github_does_not_lose_the_claim,
);

pub const ORG: &str = "course";
pub const INSTALLATION: i64 = 77;
/// 2026-01-10: inside the test session.
pub const PUSHED_AT: i64 = 1_768_003_200;

/// An app talking to a fresh fake GitHub, with a session for `lab1-*` in `course`.
pub async fn app_with_fake(db: &TestDb) -> (TestApp, FakeGithub) {
    let fake = FakeGithub::start().await;
    let app = spawn_app_with(db, AppOptions::with_github(&fake)).await;
    app.create_lab1_session().await;
    (app, fake)
}

/// [`small_truncated_push`] as `course/lab1-small` of the fake's installation.
pub fn small_push_on(fake: &FakeGithub) -> (GitRepo, Value, Vec<(String, String)>) {
    let (repo, payload, expected) = small_truncated_push(ORG, INSTALLATION);
    fake.add_repo(INSTALLATION, "course/lab1-small", 500, &repo.dir);
    (repo, payload, expected)
}

/// [`app_with_fake`] where `course/lab1-small` holds [`small_truncated_push`]: the app, the fake, the
/// repository (keep it: dropping it removes its directory), the payload and the expected files.
pub async fn app_with_small_push(
    db: &TestDb,
) -> (TestApp, FakeGithub, GitRepo, Value, Vec<(String, String)>) {
    let (app, fake) = app_with_fake(db).await;
    let (repo, payload, expected) = small_push_on(&fake);
    (app, fake, repo, payload, expected)
}

/// The recorded files of the only attempt, and its source and completeness.
pub async fn recorded(app: &TestApp) -> (Vec<(String, String)>, String, bool) {
    recorded_of(app, entity::lab_attempt::Entity::find()).await
}

/// [`recorded`] for the attempt of one repository.
pub async fn recorded_for(app: &TestApp, repo_id: i64) -> (Vec<(String, String)>, String, bool) {
    let of_repo = entity::lab_attempt::Column::RepositoryId.eq(repo_id);
    recorded_of(app, entity::lab_attempt::Entity::find().filter(of_repo)).await
}

async fn recorded_of(
    app: &TestApp,
    attempt: sea_orm::Select<entity::lab_attempt::Entity>,
) -> (Vec<(String, String)>, String, bool) {
    let attempt = attempt
        .one(&app.db)
        .await
        .expect("read attempt")
        .expect("one attempt");
    let files = entity::lab_attempt_file::Entity::find()
        .filter(entity::lab_attempt_file::Column::AttemptId.eq(attempt.id))
        .order_by_asc(entity::lab_attempt_file::Column::Path)
        .all(&app.db)
        .await
        .expect("read files")
        .into_iter()
        .map(|f| (f.path, f.status.to_string()))
        .collect();
    (
        files,
        attempt.files_source.to_string(),
        attempt.files_complete,
    )
}

/// The installation's calls counted as rate limited in `/metrics` (`None`: no such sample).
pub async fn rate_limited_calls(app: &TestApp) -> Option<u64> {
    let sample = format!(
        "labtrail_github_api_calls_total{{installation=\"{INSTALLATION}\",result=\"rate_limited\"}} "
    );
    let metrics = app.metrics().await;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&sample))
        .map(|n| n.trim().parse().expect("a count"))
}

pub fn spec<'a>(repo: &'a str, before: Option<&'a str>, after: &'a str) -> PushSpec<'a> {
    PushSpec {
        org: ORG,
        repo,
        repo_id: 500,
        installation_id: INSTALLATION,
        branch: "main",
        before,
        base: None,
        after,
        forced: false,
        pushed_at: PUSHED_AT,
        cut: Cut::Cap,
    }
}

pub async fn deliver(
    app: &TestApp,
    guid: &str,
    payload: &Value,
) -> entity::webhook_delivery::Model {
    let body = serde_json::to_vec(payload).expect("json");
    assert_eq!(app.deliver_status("push", guid, &body).await, 202);
    app.settled(guid).await
}

/// [`deliver`] as `guid` the forced push of `git reset --hard {to} && git push --force` from `from` in
/// `course/{name}` (a payload without commits), which must be processed.
pub async fn deliver_reset(
    app: &TestApp,
    repo: &GitRepo,
    (name, from, to): (&str, &str, &str),
    guid: &str,
) -> entity::webhook_delivery::Model {
    let mut s = spec(name, Some(from), to);
    s.forced = true;
    let payload = push_from_git(repo, &s);
    assert_eq!(payload["commits"], json!([]));
    let d = deliver(app, guid, &payload).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    d
}

/// [`deliver`] alice's push (`course/lab1-alice`, id 7) of `sha(n)` at `pushed_at` as `guid`, then
/// drain the check-run outbox.
pub async fn deliver_alice_and_check(app: &TestApp, guid: &str, n: u64, pushed_at: i64) {
    deliver(
        app,
        guid,
        &push_payload(ORG, "lab1-alice", 7, &sha(n), pushed_at),
    )
    .await;
    app.drain_check_runs().await;
}

fn write(path: String, content: String) -> Op {
    Op::Write(path, content)
}

/// main: 50 files, then 2100 commits that modify, add, delete and rename files.
fn many_commits_repo() -> (GitRepo, String, String) {
    let mut repo = GitRepo::new();
    let mut paths: Vec<String> = (0..50).map(|k| format!("src/m{k:02}.txt")).collect();
    let base_ops: Vec<Op> = paths
        .iter()
        .map(|p| write(p.clone(), format!("{p} v0")))
        .collect();
    let c0 = repo.commit("main", None, &base_ops);
    let mut added: std::collections::VecDeque<String> = Default::default();
    for i in 1..=2100usize {
        let mut ops = Vec::new();
        let target = paths[(i * 7) % paths.len()].clone();
        ops.push(write(target.clone(), format!("{target} v{i}")));
        if i % 5 == 0 {
            let p = format!("new/n{i:05}.txt");
            ops.push(write(p.clone(), format!("new {i}")));
            added.push_back(p);
        }
        if i % 11 == 0 && added.len() > 1 {
            if let Some(gone) = added.pop_front() {
                ops.push(Op::Delete(gone));
            }
        }
        if i % 97 == 0 {
            let k = (i / 97) % paths.len();
            if paths[k] != target {
                let old = paths[k].clone();
                let new = format!("moved/{i}.txt");
                ops.push(Op::Delete(old.clone()));
                ops.push(write(new.clone(), format!("{old} v0")));
                paths[k] = new;
            }
        }
        repo.commit("main", None, &ops);
    }
    let marks = repo.import();
    let tip = repo.git(&["rev-parse", "main"]).trim().to_owned();
    (repo, marks[&c0].clone(), tip)
}

/// main: c0 with 1200 files and a README; c1 changes 5000 files; c2 changes the README.
fn huge_commit_repo() -> (GitRepo, String, String) {
    let mut repo = GitRepo::new();
    let mut ops: Vec<Op> = (0..1200)
        .map(|k| write(format!("base/d{}/f{k}.txt", k / 100), format!("{k}")))
        .collect();
    ops.push(write("README.md".into(), "hello".into()));
    let c0 = repo.commit("main", None, &ops);
    let mut ops: Vec<Op> = Vec::new();
    ops.extend((0..600).map(|k| write(format!("base/d{}/f{k}.txt", k / 100), format!("{k}!"))));
    ops.extend((600..900).map(|k| Op::Delete(format!("base/d{}/f{k}.txt", k / 100))));
    ops.extend((0..4100).map(|j| write(format!("gen/d{}/g{j}.txt", j / 100), format!("g{j}"))));
    repo.commit("main", None, &ops);
    let c2 = repo.commit(
        "main",
        None,
        &[write("README.md".into(), "hello again".into())],
    );
    let marks = repo.import();
    (repo, marks[&c0].clone(), marks[&c2].clone())
}

async fn complete_payload_makes_no_enrichment_call(db: TestDb) {
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    let payload = push_payload(ORG, "lab1-alice", 7, &sha(7), PUSHED_AT);
    assert_eq!(
        deliver(&app, "complete-1", &payload).await.status,
        "processed"
    );
    app.drain_check_runs().await;

    let (files, source, complete) = recorded(&app).await;
    assert_eq!(files, vec![("README.md".to_owned(), "added".to_owned())]);
    assert_eq!((source.as_str(), complete), ("payload", true));
    assert_eq!(fake.enrichment_calls(), 0, "{:?}", fake.seen());
    let routes: Vec<Route> = fake.seen().iter().map(|s| s.route).collect();
    assert_eq!(
        routes,
        vec![Route::Token, Route::ListCheckRuns, Route::CreateCheckRun],
        "only the check run"
    );
}

async fn without_the_app_a_truncated_push_is_marked_incomplete(db: TestDb) {
    let app = spawn_app(&db).await;
    app.create_lab1_session().await;
    let mut payload = push_payload(ORG, "lab1-alice", 7, &sha(7), PUSHED_AT);
    payload["commits"][0]["added"] = json!([]);
    assert_eq!(deliver(&app, "noapp-1", &payload).await.status, "processed");
    let (files, source, complete) = recorded(&app).await;
    assert!(files.is_empty());
    assert_eq!((source.as_str(), complete), ("payload", false));
    assert_eq!(app.attempt().await.check_run_id, None);
}

async fn push_of_2100_commits_is_completed_through_compare(db: TestDb) {
    let (repo, c0, tip) = many_commits_repo();
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo(INSTALLATION, "course/lab1-many", 500, &repo.dir);
    let payload = push_from_git(&repo, &spec("lab1-many", Some(&c0), &tip));
    assert_eq!(payload["commits"].as_array().map(Vec::len), Some(2048));

    let d = deliver(&app, "many-1", &payload).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    let (files, source, complete) = recorded(&app).await;
    let expected = repo.expected_files(&c0, &tip);
    assert!(
        expected.len() > 250,
        "a real spread of changes: {}",
        expected.len()
    );
    assert_eq!(files, expected);
    assert_eq!((source.as_str(), complete), ("api", true));
    assert_eq!(fake.count(Route::Compare), 21, "2100 commits, 100 a page");
    assert_eq!(
        fake.count(Route::Commit),
        2100 - 2048,
        "only commits missing from the payload"
    );
    assert_eq!(
        fake.count(Route::Tree),
        2,
        "paths modified again and again: only the trees say whether they came back"
    );
    assert_eq!(
        fake.count(Route::Token),
        1,
        "one token serves the whole run"
    );
    app.drain_check_runs().await;
    let calls = fake.seen().len();
    let metrics = app.metrics().await;
    let line = format!(
        "labtrail_github_api_calls_total{{installation=\"{INSTALLATION}\",result=\"ok\"}} {calls}"
    );
    assert!(metrics.contains(&line), "{line} in\n{metrics}");
}

async fn commit_of_5000_files_is_completed_through_trees(db: TestDb) {
    let (repo, c0, c2) = huge_commit_repo();
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo(INSTALLATION, "course/lab1-huge", 500, &repo.dir);
    let payload = push_from_git(&repo, &spec("lab1-huge", Some(&c0), &c2));
    let shown = ["added", "removed", "modified"]
        .iter()
        .map(|k| payload["commits"][0][k].as_array().map_or(0, Vec::len))
        .sum::<usize>();
    assert_eq!(shown, 3000, "GitHub's cap");

    let d = deliver(&app, "huge-1", &payload).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    let (files, source, complete) = recorded(&app).await;
    assert_eq!(files.len(), 5001);
    assert_eq!(files, repo.expected_files(&c0, &c2));
    assert_eq!((source.as_str(), complete), ("api", true));
    assert_eq!(
        fake.count(Route::Commit),
        1,
        "the payload showed the cap: one page for the parent"
    );
    assert_eq!(fake.count(Route::Tree), 2);
    assert_eq!(fake.count(Route::Compare), 0);
}

async fn huge_commit_with_empty_lists_is_paged_then_diffed(db: TestDb) {
    let (repo, c0, c2) = huge_commit_repo();
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo(INSTALLATION, "course/lab1-huge", 500, &repo.dir);
    let mut s = spec("lab1-huge", Some(&c0), &c2);
    s.cut = Cut::Empty;
    let payload = push_from_git(&repo, &s);
    assert_eq!(payload["commits"][0]["added"], json!([]));

    let d = deliver(&app, "empty-1", &payload).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    let (files, source, complete) = recorded(&app).await;
    assert_eq!(
        (source.as_str(), complete),
        ("api", true),
        "{:?}",
        fake.seen()
    );
    assert_eq!(files, repo.expected_files(&c0, &c2));
    assert_eq!(fake.count(Route::Commit), 10, "3000 files, 300 a page");
    assert_eq!(fake.count(Route::Tree), 2);
}

async fn new_branch_with_a_huge_commit(db: TestDb) {
    let mut repo = GitRepo::new();
    let c0 = repo.commit(
        "main",
        None,
        &(0..10)
            .map(|k| write(format!("f{k}.txt"), "x".into()))
            .collect::<Vec<_>>(),
    );
    let mut ops: Vec<Op> = (0..3500)
        .map(|j| write(format!("big/{j}.txt"), format!("{j}")))
        .collect();
    ops.push(Op::Delete("f0.txt".into()));
    repo.commit("feature", Some(&c0), &ops);
    let f2 = repo.commit("feature", None, &[write("f1.txt".into(), "y".into())]);
    let marks = repo.import();
    let (c0, f2) = (marks[&c0].clone(), marks[&f2].clone());
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo(INSTALLATION, "course/lab1-branch", 500, &repo.dir);
    let mut s = spec("lab1-branch", None, &f2);
    s.branch = "feature";
    s.base = Some("main");
    let payload = push_from_git(&repo, &s);
    assert_eq!(payload["created"], json!(true));
    assert_eq!(payload["commits"].as_array().map(Vec::len), Some(2));

    let d = deliver(&app, "branch-1", &payload).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    let (files, source, complete) = recorded(&app).await;
    assert_eq!(files, repo.expected_files(&c0, &f2));
    assert_eq!((source.as_str(), complete), ("api", true));
    assert_eq!(fake.count(Route::Commit), 1);
    assert_eq!(fake.count(Route::Tree), 2);
    assert!(app.attempt().await.created_branch);
}

async fn force_push_back_without_commits_diffs_the_heads(db: TestDb) {
    let mut repo = GitRepo::new();
    let c0 = repo.commit("main", None, &[write("a.txt".into(), "1".into())]);
    repo.commit("main", None, &[write("b.txt".into(), "2".into())]);
    let c2 = repo.commit(
        "main",
        None,
        &[
            write("a.txt".into(), "3".into()),
            Op::Delete("b.txt".into()),
            write("c.txt".into(), "4".into()),
        ],
    );
    let marks = repo.import();
    let (c0, c2) = (marks[&c0].clone(), marks[&c2].clone());
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo(INSTALLATION, "course/lab1-reset", 500, &repo.dir);
    // `git reset --hard c0 && git push --force` from c2: no commits in the payload.
    deliver_reset(&app, &repo, ("lab1-reset", &c2, &c0), "reset-1").await;
    let (files, _, complete) = recorded(&app).await;
    assert_eq!(files, repo.expected_files(&c2, &c0));
    assert!(complete);
    assert_eq!(fake.count(Route::Tree), 2);
}

/// A small commit whose payload lists GitHub left empty: one commit-API call completes it.
pub fn small_truncated_push(
    org: &str,
    installation_id: i64,
) -> (GitRepo, Value, Vec<(String, String)>) {
    let mut repo = GitRepo::new();
    let c0 = repo.commit("main", None, &[write("a.txt".into(), "1".into())]);
    let ops: Vec<Op> = (0..20)
        .map(|k| write(format!("lab/{k}.c"), format!("{k}")))
        .collect();
    let c1 = repo.commit("main", None, &ops);
    let marks = repo.import();
    let (c0, c1) = (marks[&c0].clone(), marks[&c1].clone());
    let mut s = spec("lab1-small", Some(&c0), &c1);
    s.org = org;
    s.installation_id = installation_id;
    let mut payload = push_from_git(&repo, &s);
    for k in ["added", "removed", "modified"] {
        payload["commits"][0][k] = json!([]);
    }
    let expected = repo.expected_files(&c0, &c1);
    (repo, payload, expected)
}

async fn rate_limited_then_success(db: TestDb) {
    let (app, fake, _repo, payload, expected) = app_with_small_push(&db).await;
    fake.fail_next(Route::Commit, 1, rate_limited(1));

    let d = deliver(&app, "limited-1", &payload).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    assert_eq!(
        d.attempts, 1,
        "waited inside the call, not a delivery retry"
    );
    assert_eq!(recorded(&app).await.0, expected);
    assert_eq!(fake.count(Route::Commit), 2);
    assert_eq!(rate_limited_calls(&app).await, Some(1));
}

async fn server_errors_then_success(db: TestDb) {
    let (app, fake, _repo, payload, expected) = app_with_small_push(&db).await;
    fake.fail_next(Route::Commit, 2, server_error());

    let d = deliver(&app, "flaky-gh-1", &payload).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    assert_eq!(d.attempts, 1);
    assert_eq!(recorded(&app).await.0, expected);
    assert_eq!(fake.count(Route::Commit), 3, "two 500s, then the answer");
}

async fn timeout_then_success(db: TestDb) {
    let fake = FakeGithub::start().await;
    let mut opts = AppOptions::with_github(&fake);
    if let Some(g) = opts.github.as_mut() {
        // Ten seconds for the second try's answer, which takes milliseconds: enough on a loaded machine.
        g.policy.request_timeout = std::time::Duration::from_secs(10);
    }
    let app = spawn_app_with(&db, opts).await;
    app.create_lab1_session().await;
    let (_repo, payload, expected) = small_push_on(&fake);
    // Far longer than the app waits: the first try can only end by the timeout.
    let stalled =
        wiremock::ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(120));
    fake.fail_next(Route::Commit, 1, stalled);

    let d = deliver(&app, "slow-1", &payload).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    assert_eq!(d.attempts, 1);
    assert_eq!(recorded(&app).await.0, expected);
    assert_eq!(fake.count(Route::Commit), 2);
    assert!(app.metrics().await.contains(&format!(
        "labtrail_github_api_calls_total{{installation=\"{INSTALLATION}\",result=\"transport_error\"}} 1"
    )));
}

async fn github_outage_records_from_the_payload_then_completes_later(db: TestDb) {
    let (app, fake, _repo, payload, expected) = app_with_small_push(&db).await;
    fake.fail_always(Route::Commit, server_error());
    let body = serde_json::to_vec(&payload).expect("json");
    app.deliver("push", "down-1", &body).await;

    assert_eq!(app.step().await, Step::Processed);
    let d = app.delivery("down-1").await;
    assert_eq!(d.status, "retrying");
    assert!(
        d.last_error.as_deref().is_some_and(|e| e.contains("500")),
        "{:?}",
        d.last_error
    );
    assert!(app.attempts().await.is_empty());
    // The last try does not give the attempt up: it is recorded from the payload, marked incomplete.
    // (Stepped, not drained: the sweep would already try to complete the list.)
    assert_eq!(app.step().await, Step::Processed);
    assert_eq!(app.step().await, Step::Processed);
    let d = app.delivery("down-1").await;
    assert_eq!(d.status, "processed");
    assert_eq!(d.attempts, 3);
    assert_eq!(
        fake.count(Route::Commit),
        9,
        "3 tries of processing × 3 calls"
    );
    let (files, source, complete) = recorded(&app).await;
    assert_eq!((source.as_str(), complete), ("payload", false));
    assert_ne!(files, expected, "the payload's list is the truncated one");
    assert_eq!(app.audit_count("delivery.dead", None).await, 0);
    assert_eq!(app.audit_count("lab_attempt.recorded", None).await, 1);
    // GitHub is back: a redelivery of the same GUID is a duplicate, and the sweep completes the list.
    fake.heal();
    assert_eq!(app.deliver_status("push", "down-1", &body).await, 200);
    app.drain().await;
    let (files, source, complete) = recorded(&app).await;
    assert_eq!((source.as_str(), complete), ("api", true));
    assert_eq!(files, expected, "exactly what git says changed");
    let attempt = app.attempt().await;
    assert_eq!(
        app.audit_count("lab_attempt.files_completed", None).await,
        1
    );
    assert_eq!(attempt.file_count as usize, expected.len());
    // The check run posted with the incomplete list now says what git says.
    let wanted = format!(
        "| Changed files | {} (from the GitHub API) |",
        expected.len()
    );
    assert!(
        fake.check_runs()
            .iter()
            .any(|r| r.summary.contains(&wanted)),
        "check run not updated: {:?}",
        fake.check_runs()
    );
    assert_eq!(fake.check_runs().len(), 1, "updated, not duplicated");
    app.assert_audit_verifies();
}

/// GitHub slower than the claim's lease: the worker renews its lease while it waits, so no other worker
/// takes the delivery over and repeats the calls.
async fn slow_github_does_not_lose_the_claim(db: TestDb) {
    let fake = FakeGithub::start().await;
    // Workers racing for the delivery are the point here. The heartbeat renews every third of the 10 s
    // lease, so a renewal late by up to 6 s on a loaded machine still holds the claim; GitHub answers
    // after two leases, so without renewals another worker (polling every 100 ms) would take it over.
    let mut opts = AppOptions::with_github(&fake).with_workers(4);
    opts.worker.lease = std::time::Duration::from_secs(10);
    if let Some(g) = opts.github.as_mut() {
        // The slow answer ends by GitHub answering, not by the app giving up on it.
        g.policy.request_timeout = std::time::Duration::from_secs(120);
    }
    let app = spawn_app_with(&db, opts).await;
    app.create_lab1_session().await;
    let (_repo, payload, expected) = small_push_on(&fake);
    fake.fail_next(
        Route::Commit,
        1,
        server_error().set_delay(std::time::Duration::from_secs(20)),
    );
    let body = serde_json::to_vec(&payload).expect("json");
    assert_eq!(app.deliver_status("push", "slow-1", &body).await, 202);
    let d = app.wait_settled("slow-1").await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    assert_eq!(d.attempts, 1, "claimed once");
    assert_eq!(d.claims, 1, "never taken over: {d:?}");
    assert_eq!(
        fake.count(Route::Commit),
        2,
        "one slow 500, then the answer"
    );
    assert_eq!(recorded(&app).await.0, expected);
}
