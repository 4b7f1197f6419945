//! `installation` and `installation_repositories` events keep the installation tables current, each
//! change audited; a suspended or deleted installation gets no API calls.

use sea_orm::EntityTrait;
use serde_json::json;

use crate::backend_tests;
use crate::fake_github::FakeGithub;
use crate::github_files::{deliver, recorded, small_truncated_push};
use crate::helpers::{
    fixture, spawn_app, spawn_app_with, AppOptions, TestApp, TestDb, JANUARY_2026,
};

backend_tests!(
    installation_events_keep_tables_current,
    suspended_installation_gets_no_api_calls,
    an_older_suspend_does_not_override_a_newer_unsuspend,
    a_late_suspend_is_corrected_from_github,
);

async fn send(app: &TestApp, event: &str, file: &str, guid: &str) {
    let body = fixture(&format!("octokit-webhooks/{event}/{file}.payload.json"));
    assert_eq!(app.deliver(event, guid, &body).await.status().as_u16(), 202);
    let d = app.settled(guid).await;
    assert_eq!(d.status, "processed", "{file}: {:?}", d.last_error);
}

async fn installation(app: &TestApp, id: i64) -> entity::installation::Model {
    entity::installation::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("read")
        .expect("installation row")
}

async fn repo_ids(app: &TestApp, id: i64) -> Vec<i64> {
    labtrail::db::installations::repositories(&app.db, id)
        .await
        .expect("read")
        .into_iter()
        .map(|r| r.repository_id)
        .collect()
}

async fn installation_events_keep_tables_current(db: TestDb) {
    let app = spawn_app(&db).await;
    send(&app, "installation", "created", "i-1").await;
    let i = installation(&app, 957387).await;
    assert_eq!(
        (
            i.account_login.as_str(),
            i.account_id,
            i.account_type.as_str()
        ),
        ("Codertocat", 21031067, "User")
    );
    assert_eq!(i.repository_selection.as_deref(), Some("selected"));
    assert_eq!(repo_ids(&app, 957387).await, vec![186853002]);

    send(&app, "installation_repositories", "added", "i-2").await;
    assert_eq!(repo_ids(&app, 957387).await, vec![186853002, 186853007]);
    send(&app, "installation", "new_permissions_accepted", "i-3").await;
    assert_eq!(
        installation(&app, 957387)
            .await
            .repository_selection
            .as_deref(),
        Some("all")
    );

    // Installation 2 was never seen created: its events still apply.
    send(&app, "installation_repositories", "removed", "i-4").await;
    assert!(repo_ids(&app, 2).await.is_empty());
    send(&app, "installation", "deleted", "i-5").await;
    assert!(installation(&app, 2).await.deleted_at.is_some());

    send(&app, "installation", "suspend", "i-6").await;
    let s = installation(&app, 16598467).await;
    assert_eq!(
        s.suspended_at.map(|t| t.to_rfc3339()),
        Some("2021-04-29T02:32:50+00:00".into())
    );
    send(&app, "installation", "unsuspend", "i-7").await;
    assert!(installation(&app, 16598467).await.suspended_at.is_none());

    for (action, n) in [
        ("installation.created", 1),
        ("installation.repositories_added", 1),
        ("installation.permissions_accepted", 1),
        ("installation.repositories_removed", 1),
        ("installation.deleted", 1),
        ("installation.suspended", 1),
        ("installation.unsuspended", 1),
    ] {
        assert_eq!(app.audit_count(action, None).await, n, "{action}");
    }
    let names = app
        .audit_matching(|e| e.details.contains("Codertocat") || e.details.contains("Hello-World"))
        .await;
    assert_eq!(names, 0, "ids only in the log");
    app.assert_audit_verifies();
}

async fn suspended_installation_gets_no_api_calls(db: TestDb) {
    const SUSPENDED: i64 = 16598467;
    let fake = FakeGithub::start().await;
    let app = spawn_app_with(&db, AppOptions::with_github(&fake)).await;
    app.create_session("Codertocat", "lab1", "lab1-*", JANUARY_2026)
        .await;
    let (repo, payload, expected) = small_truncated_push("Codertocat", SUSPENDED);
    fake.add_repo(SUSPENDED, "Codertocat/lab1-small", 500, &repo.dir);
    fake.set_installation(SUSPENDED, Some(chrono::Utc::now()));
    send(&app, "installation", "suspend", "s-1").await;

    assert_eq!(
        deliver(&app, "s-push-1", &payload).await.status,
        "processed"
    );
    let (files, source, complete) = recorded(&app).await;
    assert!(files.is_empty());
    assert_eq!((source.as_str(), complete), ("payload", false));
    // No call as the installation: only the App's own look-up of the installation's state.
    assert!(
        fake.seen()
            .iter()
            .all(|c| c.route == crate::fake_github::Route::GetInstallation),
        "{:?}",
        fake.seen()
    );
    let due = labtrail::db::check_runs::due(&app.db, chrono::Utc::now(), 100, 100)
        .await
        .expect("due");
    assert!(
        due.is_empty(),
        "the check-run sweep leaves a suspended installation alone"
    );
    assert_eq!(app.attempt().await.check_run_id, None);

    fake.set_installation(SUSPENDED, None);
    send(&app, "installation", "unsuspend", "s-2").await;
    let mut again = payload.clone();
    again["repository"]["pushed_at"] =
        json!(payload["repository"]["pushed_at"].as_i64().unwrap_or(0) + 60);
    assert_eq!(deliver(&app, "s-push-2", &again).await.status, "processed");
    app.drain_check_runs().await;
    let second = app.attempts().await.pop().expect("the second attempt");
    assert_eq!(
        (
            second.files_source.to_string().as_str(),
            second.files_complete
        ),
        ("api", true)
    );
    let files = app.attempt_files().await;
    assert_eq!(
        files.iter().filter(|f| f.attempt_id == second.id).count(),
        expected.len()
    );
    assert_eq!(
        fake.check_runs().len(),
        2,
        "both attempts have their check run once active again"
    );
}

/// Workers and retries may apply events out of order: a suspend received before an unsuspend, but
/// applied after it, must not leave the installation suspended (it would get no API calls for good).
async fn an_older_suspend_does_not_override_a_newer_unsuspend(db: TestDb) {
    use labtrail::db::installations;
    use labtrail::webhook::event::InstallationEvent;
    let app = spawn_app(&db).await;
    let parse = |file: &str| {
        InstallationEvent::parse(
            "installation",
            &fixture(&format!(
                "octokit-webhooks/installation/{file}.payload.json"
            )),
        )
        .expect("parse")
        .expect("a change")
    };
    let (suspend, unsuspend) = (parse("suspend"), parse("unsuspend"));
    let id = suspend.installation_id;
    let t0 = chrono::Utc::now();
    let (t1, t2) = (
        t0 + chrono::Duration::seconds(1),
        t0 + chrono::Duration::seconds(2),
    );
    installations::apply(
        &app.db,
        crate::helpers::ORIGIN,
        &unsuspend,
        installations::ApplyContext {
            delivery_guid: "g-unsuspend",
            event_at: t2,
            github_now: None,
            claim: None,
        },
    )
    .await
    .expect("apply unsuspend");
    installations::apply(
        &app.db,
        crate::helpers::ORIGIN,
        &suspend,
        installations::ApplyContext {
            delivery_guid: "g-suspend",
            event_at: t1,
            github_now: None,
            claim: None,
        },
    )
    .await
    .expect("apply the older suspend");
    assert!(
        installation(&app, id).await.suspended_at.is_none(),
        "still active"
    );
    assert!(installations::is_active(&app.db, id).await.expect("read"));
    // In order, the suspend applies.
    let t3 = t0 + chrono::Duration::seconds(3);
    installations::apply(
        &app.db,
        crate::helpers::ORIGIN,
        &suspend,
        installations::ApplyContext {
            delivery_guid: "g-suspend-2",
            event_at: t3,
            github_now: None,
            claim: None,
        },
    )
    .await
    .expect("apply suspend");
    assert!(!installations::is_active(&app.db, id).await.expect("read"));
    // Both events are in the audit log either way.
    let audited = app
        .audit_matching(|e| e.action.starts_with("installation."))
        .await;
    assert_eq!(audited, 3);
}

/// A lost `suspend` redelivered days later arrives after the `unsuspend`: by arrival it is the newest, so
/// the App asks GitHub for the installation's state now and keeps what GitHub says.
async fn a_late_suspend_is_corrected_from_github(db: TestDb) {
    use crate::fake_github::Route;
    use labtrail::db::installations;
    let fake = FakeGithub::start().await;
    let app = spawn_app_with(&db, AppOptions::with_github(&fake)).await;
    let id = 16598467; // the installation of the suspend/unsuspend fixtures
    fake.set_installation(id, None); // GitHub: active now
    send(&app, "installation", "unsuspend", "late-1").await;
    send(&app, "installation", "suspend", "late-2").await; // the late redelivery
    assert!(
        installations::is_active(&app.db, id).await.expect("read"),
        "GitHub says active: the late suspend does not stick"
    );
    assert!(fake.count(Route::GetInstallation) >= 2);
    // When GitHub says suspended, a late unsuspend does not make it active.
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    fake.set_installation(id, Some(since));
    send(&app, "installation", "unsuspend", "late-3").await;
    assert!(!installations::is_active(&app.db, id).await.expect("read"));
    // Both events stay in the audit log as they came.
    let audited = app
        .audit_matching(|e| {
            ["installation.suspended", "installation.unsuspended"].contains(&e.action.as_str())
        })
        .await;
    assert_eq!(audited, 3);
}
