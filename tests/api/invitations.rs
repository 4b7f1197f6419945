//! Invitations (issue 25), on both backends through the fake GitHub: a student opens the link, signs in
//! with GitHub, picks their roster entry, gets `lab3-<login>` from the template with push access, and their
//! first push is an attempt matched to that entry (`attempts summary`); accepting twice or twice at once
//! gives one repository and one audit entry; a taken name, a missing permission, a rotated or closed link
//! and a roster entry linked to someone else each answer as the issue says; `roster link|unlink`.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::fake_github::{server_error, FakeGithub, Route};
use crate::helpers::{
    cli_stdout, fixture_json, spawn_app_signing_in_with, AppOptions, TestApp, TestDb,
};
use crate::students::push_by;
use crate::web::{Browser, Page};

backend_tests!(
    a_student_accepts_and_their_first_push_is_matched_to_their_roster_entry,
    accepts_are_idempotent_and_refusals_say_what_to_do,
);

const CLIENT_ID: &str = "Iv1.inviteclient";
const CLIENT_SECRET: &str = "fake-invite-secret";
/// `course/lab3` opens 2026-01-01 and closes 2026-02-01T00:00:00Z.
const CLOSES: i64 = 1_769_904_000;
const TEMPLATE: &str = "course/lab3-template";

/// An app with the fake GitHub as its App and OAuth; the App installed on `course` (installation 1)
/// with the template; the roster; session `lab3` from the template, and its invitation link's path.
pub async fn invite_app(db: &TestDb) -> (TestApp, FakeGithub, String) {
    let fake = FakeGithub::start().await;
    let opts = AppOptions::with_github(&fake);
    let app = spawn_app_signing_in_with(db, &fake, (CLIENT_ID, CLIENT_SECRET), None, opts).await;
    // GitHub tells labtrail of the installation on `course`.
    let mut created = fixture_json("octokit-webhooks/installation/created.payload.json");
    created["installation"]["id"] = json!(1);
    created["installation"]["account"]["login"] = json!("course");
    created["installation"]["account"]["type"] = json!("Organization");
    let body = serde_json::to_vec(&created).expect("json");
    assert_eq!(
        app.deliver("installation", "inst-1", &body)
            .await
            .status()
            .as_u16(),
        202
    );
    app.drain().await;
    fake.add_template(
        1,
        TEMPLATE,
        900,
        std::path::Path::new("/nonexistent/labtrail-fake"),
    );
    let roster = app.test_db.scratch_dir().join("roster.csv");
    std::fs::write(
        &roster,
        "identifier,github_username,github_id,name\n\
         id-alice,,,Alice Anders\nid-bob,bob,,Bob Berg\nid-carol,,,Carol Czerny\n\
         id-erin,,,Erin Eng\nid-frank,,,Frank Fox\nid-gina,,,Gina Gale\nid-henry,,,Henry Hu\n",
    )
    .expect("write roster");
    cli_stdout(&app.cli(&[
        "roster",
        "import",
        "--org",
        "course",
        roster.to_str().expect("utf8"),
    ]));
    let created = cli_stdout(&app.cli(&[
        "session",
        "create",
        "--org",
        "course",
        "--slug",
        "lab3",
        "--title",
        "Lab 3",
        "--template",
        TEMPLATE,
        "--opens",
        "2026-01-01T00:00:00Z",
        "--closes",
        "2026-02-01T00:00:00Z",
    ]));
    assert!(created.contains("\"lab3-*\""), "{created}");
    let path = invite_path(&app, false);
    (app, fake, path)
}

/// `session invite` (with `--rotate`): the link's path, `/join/<code>`.
fn invite_path(app: &TestApp, rotate: bool) -> String {
    let mut args = vec!["session", "invite", "--slug", "lab3"];
    if rotate {
        args.push("--rotate");
    }
    let out = cli_stdout(&app.cli(&args));
    let url = out.lines().last().expect("the link").trim().to_owned();
    let path = url.strip_prefix(app.base_url.as_str()).unwrap_or(&url);
    let path = path
        .get(path.find("/join/").expect("a /join/ link")..)
        .expect("path");
    let code = path.trim_start_matches("/join/");
    // At least 128 bits: 32 random bytes, base64url.
    assert!(code.len() >= 43, "{code}");
    path.to_owned()
}

/// A browser of GitHub user `login` (`id`) that opened `path`, signed in with GitHub on the way, and is
/// back on it.
async fn opened(
    app: &TestApp,
    fake: &FakeGithub,
    path: &str,
    id: i64,
    login: &str,
) -> (Browser, Page) {
    fake.sign_in_browser(id, login);
    let mut b = Browser::new(&app.base_url);
    let first = b.get(path).await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert!(
        first.location().starts_with("/login/github?next="),
        "{}",
        first.location()
    );
    let start = b.get(first.location()).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let at_github = b.get(start.location()).await;
    assert_eq!(at_github.status, 302, "{}", at_github.body);
    let back = b.get(at_github.location()).await;
    assert_eq!((back.status, back.location()), (303, path), "{}", back.body);
    let page = b.get(path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    (b, page)
}

async fn accept(b: &mut Browser, path: &str, page: &Page, pick: Option<&str>) -> Page {
    let csrf = page.field("csrf");
    let mut form = vec![("csrf", csrf.as_str())];
    if let Some(p) = pick {
        form.push(("identifier", p));
    }
    b.post(path, &form).await
}

async fn provisioned_entries(app: &TestApp) -> u64 {
    entity::audit_log::Entity::find()
        .filter(entity::audit_log::Column::Action.eq("repository.provisioned"))
        .count(&app.db)
        .await
        .expect("count")
}

fn summary(app: &TestApp) -> Vec<Value> {
    let out = cli_stdout(&app.cli(&[
        "attempts",
        "summary",
        "--session",
        "lab3",
        "--format",
        "json",
    ]));
    serde_json::from_str::<Value>(&out)
        .expect("json")
        .as_array()
        .expect("rows")
        .clone()
}

async fn a_student_accepts_and_their_first_push_is_matched_to_their_roster_entry(db: TestDb) {
    let (app, fake, path) = invite_app(&db).await;
    let (mut b, page) = opened(&app, &fake, &path, 701, "alice").await;
    // The roster choice: entries not linked to anyone (bob's is linked).
    assert!(
        page.body.contains("id-alice") && page.body.contains("id-carol"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id-bob"), "{}", page.body);
    let done = accept(&mut b, &path, &page, Some("id-alice")).await;
    done.assert_shows(200, "course/lab3-alice");
    assert_eq!(
        fake.generated_from(TEMPLATE),
        vec!["course/lab3-alice".to_owned()]
    );
    assert_eq!(
        fake.collaborators(),
        vec![("course/lab3-alice".into(), "alice".into(), "push".into())]
    );
    // Accepting again (a reload): the same repository, nothing new.
    let again = b.get(&path).await;
    again.assert_contains("course/lab3-alice");
    let repeat = accept(&mut b, &path, &page, None).await;
    assert_eq!(repeat.status, 200, "{}", repeat.body);
    assert_eq!(provisioned_entries(&app).await, 1);
    assert_eq!(fake.generated_from(TEMPLATE).len(), 1);
    // The roster links alice by id now.
    let roster = cli_stdout(&app.cli(&["roster", "list", "--org", "course", "--format", "csv"]));
    assert!(roster.contains("id-alice,alice,701,"), "{roster}");
    // Her first push is an attempt matched to her roster entry.
    let repo_id = fake.repo_id("course/lab3-alice").expect("generated");
    push_by(
        &app,
        "inv-push-1",
        ("lab3-alice", repo_id),
        ("alice", 701),
        31,
        CLOSES - 3600,
    )
    .await;
    app.drain().await;
    let rows = summary(&app);
    let alice = rows
        .iter()
        .find(|r| r["roster_identifier"] == "id-alice")
        .expect("alice's row");
    assert_eq!(alice["repository"], "course/lab3-alice", "{rows:?}");
    assert_ne!(alice["status"], "missing", "{rows:?}");
    app.assert_audit_verifies();
    // The records check covers the new rows: a provisioned repository changed by hand is reported.
    use sea_orm::ConnectionTrait as _;
    app.db
        .execute_unprepared("UPDATE provisioned_repository SET repository_id = repository_id + 1")
        .await
        .expect("tamper");
    let out = app.cli(&["audit", "verify"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("provisioned repository 1: repository_id is"),
        "{report}"
    );
}

async fn accepts_are_idempotent_and_refusals_say_what_to_do(db: TestDb) {
    let (app, fake, path) = invite_app(&db).await;
    // bob is on the roster by login: no choice, and two tabs accepting at once get one repository.
    let (b1, page) = opened(&app, &fake, &path, 702, "bob").await;
    assert!(!page.body.contains("<select"), "{}", page.body);
    let (mut t1, mut t2) = (Browser::new(&app.base_url), Browser::new(&app.base_url));
    t1.cookies = b1.cookies.clone();
    t2.cookies = b1.cookies.clone();
    let (a, b) = tokio::join!(
        accept(&mut t1, &path, &page, None),
        accept(&mut t2, &path, &page, None)
    );
    assert_eq!((a.status, b.status), (200, 200), "{}\n{}", a.body, b.body);
    assert!(a.body.contains("course/lab3-bob") && b.body.contains("course/lab3-bob"));
    assert_eq!(
        fake.generated_from(TEMPLATE),
        vec!["course/lab3-bob".to_owned()]
    );
    assert_eq!(provisioned_entries(&app).await, 1);

    // dave may not pick bob's entry: it is linked to someone else.
    let (mut d, page) = opened(&app, &fake, &path, 704, "dave").await;
    let refused = accept(&mut d, &path, &page, Some("id-bob")).await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    refused.assert_contains("already linked to another GitHub account");

    // A repository named lab3-carol that is not from the template: a clear error naming it.
    fake.add_plain_repo(1, "course/lab3-carol", 950);
    let (mut c, page) = opened(&app, &fake, &path, 703, "carol").await;
    let taken = accept(&mut c, &path, &page, Some("id-carol")).await;
    taken.assert_shows(409, "course/lab3-carol");

    // Without `administration: write`: a page saying what to do; once fixed, a retry finishes.
    fake.set_permissions(
        1,
        json!({ "checks": "write", "contents": "read", "metadata": "read" }),
    );
    let (mut e, page) = opened(&app, &fake, &path, 705, "erin").await;
    let denied = accept(&mut e, &path, &page, Some("id-erin")).await;
    denied.assert_shows(503, "administration: write");
    fake.set_permissions(
        1,
        json!({ "administration": "write", "checks": "write", "contents": "read", "metadata": "read" }),
    );
    let page = e.get(&path).await;
    let retried = accept(&mut e, &path, &page, None).await;
    retried.assert_shows(200, "course/lab3-erin");

    // GitHub failing (a 5xx): the student is told to come back; the retry finishes.
    fake.fail_next(Route::GenerateRepo, 1, server_error());
    let (mut g, page) = opened(&app, &fake, &path, 706, "gina").await;
    let down = accept(&mut g, &path, &page, Some("id-gina")).await;
    down.assert_shows(503, "GitHub is not answering right now");
    let page = g.get(&path).await;
    let retried = accept(&mut g, &path, &page, None).await;
    retried.assert_shows(200, "course/lab3-gina");
    // Rate limited: when to come back.
    fake.exhaust_rate_limit(1, chrono::Duration::hours(1));
    let (mut h, page) = opened(&app, &fake, &path, 707, "henry").await;
    let limited = accept(&mut h, &path, &page, Some("id-henry")).await;
    limited.assert_shows(503, "GitHub is rate limiting labtrail");

    // A rotated link: the old one is 404, the new one works.
    let new_path = invite_path(&app, true);
    assert_eq!(Browser::new(&app.base_url).get(&path).await.status, 404);
    assert_eq!(e.get(&path).await.status, 404);
    assert_eq!(e.get(&new_path).await.status, 200);
    // A closed invitation: 404.
    cli_stdout(&app.cli(&[
        "session",
        "edit",
        "--slug",
        "lab3",
        "--invitations",
        "closed",
    ]));
    assert_eq!(e.get(&new_path).await.status, 404);

    // Instructors link and unlink by hand, audited.
    cli_stdout(&app.cli(&["roster", "link", "--org", "course", "id-frank", "frank"]));
    let out = app.cli(&["roster", "link", "--org", "course", "id-frank", "someone"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already linked"));
    cli_stdout(&app.cli(&["roster", "unlink", "--org", "course", "id-carol"]));
    let roster = cli_stdout(&app.cli(&["roster", "list", "--org", "course", "--format", "csv"]));
    assert!(roster.contains("id-frank,frank,,"), "{roster}");
    assert!(roster.contains("id-carol,,,"), "{roster}");
    assert_eq!(provisioned_entries(&app).await, 3);
    app.assert_audit_verifies();
}
