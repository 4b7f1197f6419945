//! Catch-up of lost deliveries: `labtrail redeliver` and the periodic task of `serve` ask GitHub (the fake)
//! for the App's deliveries and request the redelivery of each GUID that never reached us.

use std::process::Output;
use std::time::Duration;

use labtrail::jobs::redeliver::RedeliverPolicy;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::backend_tests;
use crate::fake_github::{rate_limited, FakeGithub, HookAttempt, Route, APP_ID};
use crate::helpers::{
    assert_contains_all, spawn_app, spawn_app_with, AppOptions, TestDb, ORIGIN, SECRET,
};

backend_tests!(
    failed_deliveries_we_lack_are_redelivered,
    stored_guid_is_not_requested,
    guid_whose_redelivery_succeeded_is_not_requested,
    dry_run_requests_nothing,
    listing_follows_cursor_pages_until_the_window_ends,
    limit_and_failed_requests_are_reported,
    rate_limit_stops_the_requests_of_a_run,
    periodic_task_recovers_a_lost_delivery,
    bad_since_or_missing_credentials_fail_clearly,
);

/// Run `labtrail redeliver ARGS` as the fake's App against `db`.
fn redeliver(db: &TestDb, fake: &FakeGithub, args: &[&str]) -> Output {
    cli_as_app(db, fake, &[&["redeliver"][..], args].concat())
}

/// Run `labtrail ARGS` as the fake's App (its id, the test key, its API) against `db`.
pub fn cli_as_app(db: &TestDb, fake: &FakeGithub, args: &[&str]) -> Output {
    let key = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/test-only-github-app-key.pem");
    crate::helpers::output_of(
        std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
            .env("RUST_LOG", "warn")
            .env("GITHUB_APP_ID", APP_ID.to_string())
            .env("GITHUB_PRIVATE_KEY_PATH", key)
            .env("GITHUB_API_URL", fake.api_url())
            .env_remove("GITHUB_PRIVATE_KEY")
            .current_dir(db.scratch_dir()),
    )
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The stdout line of one GUID.
fn line_of<'a>(stdout: &'a str, guid: &str) -> &'a str {
    crate::helpers::line_where(stdout, guid, |l| l.starts_with(guid))
}

async fn failed_deliveries_we_lack_are_redelivered(db: TestDb) {
    let fake = FakeGithub::start().await;
    let bad_gateway = fake.add_hook_attempt(HookAttempt::new("guid-502", "push", 502, 10));
    let unreachable = fake.add_hook_attempt(HookAttempt::new("guid-0", "push", 0, 20));
    fake.add_hook_attempt(HookAttempt::new("guid-ok", "push", 202, 30));

    let out = redeliver(&db, &fake, &[]);

    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let mut requested = fake.redelivery_requests();
    requested.sort_unstable();
    assert_eq!(requested, vec![bad_gateway, unreachable]);
    assert!(line_of(&stdout, "guid-502")
        .contains(&format!("redelivery requested of attempt {bad_gateway}")));
    assert!(line_of(&stdout, "guid-0").contains("failed to connect"));
    assert!(line_of(&stdout, "guid-ok").contains("delivered"));
    assert_contains_all(
        &stdout,
        &[
            "3 GUIDs in 3 deliveries since",
            "redelivery requested 2, request failed 0",
        ],
    );
    // One page asked for with GitHub's maximum page size, as the App (the fake checks the JWT).
    let lists: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.route == Route::ListDeliveries)
        .collect();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].query.as_deref(), Some("per_page=100"));
    assert!(
        fake.seen().iter().all(|s| s.status < 300),
        "{:?}",
        fake.seen()
    );
    assert_eq!(
        fake.count(Route::Token),
        0,
        "no installation token is needed"
    );
}

async fn stored_guid_is_not_requested(db: TestDb) {
    let app = spawn_app(&db).await;
    let body = serde_json::to_vec(&json!({ "zen": "Keep it logically awesome.", "hook_id": 1 }))
        .expect("json");
    // We stored it, but answered after GitHub's 10 s: GitHub recorded a failure.
    assert_eq!(
        app.deliver("ping", "guid-stored", &body).await.status(),
        202
    );
    app.settled("guid-stored").await;
    let fake = FakeGithub::start().await;
    fake.add_hook_attempt(HookAttempt::new("guid-stored", "ping", 0, 5));

    let out = redeliver(&db, &fake, &[]);

    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(fake.count(Route::Redeliver), 0);
    assert!(line_of(&stdout, "guid-stored").contains("already stored here"));
    assert!(
        stdout.contains("already stored 1, redelivery requested 0"),
        "{stdout}"
    );
    app.stop().await;
}

async fn guid_whose_redelivery_succeeded_is_not_requested(db: TestDb) {
    let fake = FakeGithub::start().await;
    fake.add_hook_attempt(HookAttempt::new("guid-again", "push", 503, 60));
    fake.add_hook_attempt(HookAttempt::new("guid-again", "push", 202, 30).redelivered());
    // The other way round: a later redelivery failed, the original had reached us.
    fake.add_hook_attempt(HookAttempt::new("guid-first", "push", 202, 50));
    fake.add_hook_attempt(HookAttempt::new("guid-first", "push", 502, 40).redelivered());

    let out = redeliver(&db, &fake, &[]);

    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(fake.count(Route::Redeliver), 0);
    assert!(line_of(&stdout, "guid-again").contains("delivered"));
    assert!(line_of(&stdout, "guid-first").contains("delivered"));
    assert!(stdout.contains("2 GUIDs in 4 deliveries"), "{stdout}");
}

async fn dry_run_requests_nothing(db: TestDb) {
    let fake = FakeGithub::start().await;
    let lost = fake.add_hook_attempt(HookAttempt::new("guid-dry", "push", 502, 10));

    let out = redeliver(&db, &fake, &["--dry-run"]);

    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(fake.count(Route::Redeliver), 0);
    assert!(line_of(&stdout, "guid-dry")
        .contains(&format!("would request a redelivery of attempt {lost}")));
    assert!(
        stdout.contains("would request (dry run: nothing requested) 1"),
        "{stdout}"
    );
}

async fn listing_follows_cursor_pages_until_the_window_ends(db: TestDb) {
    let fake = FakeGithub::start().await;
    fake.set_delivery_page_cap(2);
    // Pages of two, newest first: [a, b] [c, d] [e]. d is older than the 90-minute window: the listing
    // stops on its page, and page three is never asked for.
    let a = fake.add_hook_attempt(HookAttempt::new("guid-a", "push", 502, 1));
    let b = fake.add_hook_attempt(HookAttempt::new("guid-b", "push", 0, 2));
    let c = fake.add_hook_attempt(HookAttempt::new("guid-c", "push", 500, 80));
    fake.add_hook_attempt(HookAttempt::new("guid-d", "push", 502, 100));
    fake.add_hook_attempt(HookAttempt::new("guid-e", "push", 502, 120));

    let out = redeliver(&db, &fake, &["--since", "90m"]);

    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let lists: Vec<Option<String>> = fake
        .seen()
        .into_iter()
        .filter(|s| s.route == Route::ListDeliveries)
        .map(|s| s.query)
        .collect();
    assert_eq!(
        lists,
        vec![
            Some("per_page=100".to_owned()),
            Some(format!("per_page=2&cursor=v1_{c}")),
        ]
    );
    let mut requested = fake.redelivery_requests();
    requested.sort_unstable();
    assert_eq!(requested, vec![a, b, c]);
    assert!(
        !stdout.contains("guid-d") && !stdout.contains("guid-e"),
        "{stdout}"
    );
    assert!(stdout.contains("3 GUIDs in 3 deliveries"), "{stdout}");
}

async fn limit_and_failed_requests_are_reported(db: TestDb) {
    let fake = FakeGithub::start().await;
    // One attempt each; with --limit 2 the two first attempted earliest go first.
    let gone = fake.add_hook_attempt(HookAttempt::new("guid-old", "push", 502, 300));
    let mid = fake.add_hook_attempt(HookAttempt::new("guid-mid", "push", 502, 200));
    fake.add_hook_attempt(HookAttempt::new("guid-new", "push", 502, 100));
    // GitHub no longer knows the oldest: a permanent answer, the run goes on.
    fake.fail_next(
        Route::Redeliver,
        1,
        ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })),
    );

    let out = redeliver(&db, &fake, &["--limit", "2"]);

    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed request fails the run:\n{stdout}\n{stderr}"
    );
    assert_eq!(fake.count(Route::Redeliver), 2);
    assert_eq!(fake.redelivery_requests(), vec![mid]);
    assert!(
        line_of(&stdout, "guid-old").contains(&format!("FAILED for attempt {gone}")),
        "{stdout}"
    );
    assert!(line_of(&stdout, "guid-new").contains("not requested in this run"));
    assert_contains_all(
        &stdout,
        &[
            "redelivery requested 1, request failed 1",
            "left for the next run: 1 (limit: 2 requests per run",
        ],
    );
}

async fn rate_limit_stops_the_requests_of_a_run(db: TestDb) {
    let fake = FakeGithub::start().await;
    fake.add_hook_attempt(HookAttempt::new("guid-one", "push", 502, 20));
    fake.add_hook_attempt(HookAttempt::new("guid-two", "push", 502, 10));
    // An hour's wait is beyond what a call waits for: the request fails at once.
    fake.fail_always(Route::Redeliver, rate_limited(3600));

    let out = redeliver(&db, &fake, &[]);

    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(
        fake.count(Route::Redeliver),
        1,
        "no request after the limit"
    );
    assert!(line_of(&stdout, "guid-one").contains("FAILED"), "{stdout}");
    assert!(line_of(&stdout, "guid-two").contains("not requested in this run"));
    assert!(stdout.contains("left for the next run: 1"), "{stdout}");
}

async fn periodic_task_recovers_a_lost_delivery(db: TestDb) {
    let fake = FakeGithub::start().await;
    // The periodic task and the workers run on their own: that they do is the point.
    let mut opts = AppOptions::with_github(&fake).with_workers(2);
    opts.redeliver = Some(RedeliverPolicy {
        interval: Duration::from_millis(200),
        ..RedeliverPolicy::default()
    });
    let app = spawn_app_with(&db, opts).await;
    fake.set_hook_target(&format!("{}/webhooks/github", app.base_url), SECRET);
    let mut lost = HookAttempt::new("guid-lost", "ping", 503, 15);
    lost.payload = Some(
        serde_json::to_vec(&json!({ "zen": "Design for failure.", "hook_id": 1 })).expect("json"),
    );
    let id = fake.add_hook_attempt(lost);

    // The task asks for the redelivery; the fake sends it; intake stores it.
    let row = app.wait_settled("guid-lost").await;

    assert_eq!(row.event, "ping");
    assert_eq!(fake.redelivery_requests().first(), Some(&id));
    // Later runs see the 2xx redelivery (or the stored row) and ask for nothing more.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fake.hook_attempts_of("guid-lost").first() != Some(&202) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no redelivery recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Two more runs after the redelivery was seen, however slow the machine: the task runs periodically.
    let requests = fake.redelivery_requests().len();
    let runs = fake.count(Route::ListDeliveries);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fake.count(Route::ListDeliveries) < runs + 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task does not run periodically"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.redelivery_requests().len(), requests);
    assert!(
        app.metrics()
            .await
            .contains("labtrail_github_api_calls_total{installation=\"app\",result=\"ok\"}"),
        "App-level calls are counted"
    );
    // The task stops with the server (`stop` fails the test otherwise).
    app.stop().await;
}

async fn bad_since_or_missing_credentials_fail_clearly(db: TestDb) {
    let fake = FakeGithub::start().await;
    fake.add_hook_attempt(HookAttempt::new("guid-x", "push", 502, 10));
    let cases = [
        (
            "4d",
            "reaches back further than GitHub keeps deliveries: at most 72h",
        ),
        ("73h", "at most 72h"),
        ("soon", "use a whole number with the unit m, h or d"),
        ("0m", "longer than zero"),
    ];
    for (since, want) in cases {
        let out = redeliver(&db, &fake, &["--since", since]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{since}: {stdout}\n{stderr}");
        assert!(
            stderr.contains("Cannot use --since") && stderr.contains(want),
            "{since}: {stderr}"
        );
    }
    let out = crate::helpers::output_of(
        std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
            .arg("redeliver")
            .env("DATABASE_URL", &db.url)
            .env("GITHUB_API_URL", fake.api_url())
            .env_remove("GITHUB_APP_ID")
            .env_remove("GITHUB_PRIVATE_KEY")
            .env_remove("GITHUB_PRIVATE_KEY_PATH")
            .current_dir(db.scratch_dir()),
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("set GITHUB_APP_ID and GITHUB_PRIVATE_KEY"),
        "{stderr}"
    );
    assert!(fake.seen().is_empty(), "nothing was asked of GitHub");
}
