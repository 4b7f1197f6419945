//! The instructor's loop in the web view (issues 22 and 23): points on the session, attempt and student
//! pages, the gradebook download, the per-student page, attempt badges and the final attempt, and the
//! extension form (grant, change, remove; CSRF; typos refused with a suggestion).

use crate::backend_tests;
use crate::helpers::{assert_contains_all, push_payload, sha, spawn_app, TestApp, TestDb};
use crate::scores::{autograded, OPENS};
use crate::tokens::create_token;
use crate::web::{instructor_browser, Browser, Page, ALICE_BOB_CAROL};

backend_tests!(
    points_and_the_gradebook_download,
    badges_final_attempts_and_the_student_page,
    the_extension_form_grants_changes_and_removes,
);

/// The session's deadline (2026-02-01T00:00Z) from `OPENS`.
const DEADLINE: i64 = 31 * 86_400;

/// A push to `course/{repo}` by `login` at `OPENS + offset`, of commit `sha(n)`.
pub async fn push_by(app: &TestApp, repo: &str, repo_id: i64, login: &str, n: u64, offset: i64) {
    let mut p = push_payload("course", repo, repo_id, &sha(n), OPENS + offset);
    p["pusher"]["name"] = login.into();
    p["sender"]["login"] = login.into();
    p["sender"]["id"] = (repo_id + 100).into();
    let resp = app.deliver_push(&format!("push-{repo}-{n}"), &p).await;
    assert_eq!(resp.status().as_u16(), 202);
}

/// `course/lab1` with a roster (alice, bob, carol): alice pushes twice (#2 scored 7/10), bob once.
pub async fn graded_class(app: &TestApp) {
    app.create_lab1_session().await;
    push_by(app, "lab1-alice", 11, "alice", 1, 100).await;
    push_by(app, "lab1-alice", 11, "alice", 2, 200).await;
    push_by(app, "lab1-bob", 12, "bob", 3, 300).await;
    // alice #3: an hour late; #4: a helper's push, on time but older than #2.
    push_by(app, "lab1-alice", 11, "alice", 4, DEADLINE + 3600).await;
    push_by(app, "lab1-alice", 11, "helper", 5, 150).await;
    app.drain().await;
    autograded(app, "run-1", ("lab1-alice", 11), 2, 101, "Points 7/10").await;
    app.drain().await;
    app.import_roster(ALICE_BOB_CAROL);
}

/// [`graded_class`] in a new app, and its instructor's API token, signed in with a [`Browser`].
async fn instructor_of_graded_class(db: &TestDb) -> (TestApp, String, Browser) {
    let app = spawn_app(db).await;
    graded_class(&app).await;
    let (token, b) = instructor_browser(&app).await;
    (app, token, b)
}

/// The session page's extension form for `course/lab1` (with its CSRF value, when given): `student`,
/// then `last` (`closes` or `action`).
async fn extension_form(
    b: &mut Browser,
    csrf: Option<&str>,
    student: &str,
    last: (&str, &str),
) -> Page {
    let mut form = Vec::from_iter(csrf.map(|c| ("csrf", c)));
    form.extend([("org", "course"), ("student", student), last]);
    b.post("/sessions/lab1/extensions", &form).await
}

/// The attempt page of `repo`'s attempt number `n`.
async fn attempt_page(app: &TestApp, b: &mut Browser, repo: &str, n: i32) -> Page {
    b.get(&format!("/attempts/{}", attempt_id(app, repo, n).await))
        .await
}

/// The attempt id of `repo`'s attempt number `n`.
pub async fn attempt_id(app: &TestApp, repo: &str, n: i32) -> i64 {
    app.attempts()
        .await
        .iter()
        .find(|a| a.repository_full_name == format!("course/{repo}") && a.attempt_number == n)
        .expect("the attempt")
        .id
}

async fn points_and_the_gradebook_download(db: TestDb) {
    let (app, token, mut b) = instructor_of_graded_class(&db).await;

    // The session page: alice's final attempt's points and conclusion; bob's final has none yet.
    let page = b.get("/sessions/lab1").await;
    assert_eq!(page.status, 200);
    let alice = page.body.find("course/lab1-alice").expect("alice's row");
    let bob = page.body.find("course/lab1-bob").expect("bob's row");
    page.assert_contains(">Points</a>");
    assert!(
        page.body[alice..bob].contains("7/10 (success)"),
        "{}",
        page.body
    );
    assert!(page.body[bob..].contains("no score yet"), "{}", page.body);
    // The roster's names stand beside the identifiers (issue 23), carol's too, who never pushed.
    for name in [
        "id-alice<br><small class=\"name\">Alice</small>",
        "id-carol<br><small class=\"name\">Carol</small>",
    ] {
        assert!(page.body.contains(name), "{name} in {}", page.body);
    }

    // The attempt pages: the score, or none yet.
    let scored = attempt_page(&app, &mut b, "lab1-alice", 2).await;
    scored.assert_shows(200, "7/10 (success)");
    let unscored = attempt_page(&app, &mut b, "lab1-alice", 1).await;
    unscored.assert_contains("no score yet");

    // The front page links the gradebook; the download is the API's CSV, audited as a web export.
    let index = b.get("/").await;
    index.assert_contains("href=\"/orgs/course/gradebook.csv\"");
    let web = b
        .download("/orgs/course/gradebook.csv", "course-gradebook.csv")
        .await;
    let api = app
        .get_as("/api/v1/orgs/course/gradebook.csv", &token)
        .await;
    assert_eq!(api.status().as_u16(), 200);
    let api = api.text().await.expect("text");
    assert_eq!(web.body, api);
    web.assert_contains("id-alice,alice,Alice,7,");
    assert_eq!(app.audit_count("web.gradebook_exported", None).await, 1);
    // Another organisation's gradebook is not found.
    assert_eq!(b.get("/orgs/other/gradebook.csv").await.status, 404);
}

async fn badges_final_attempts_and_the_student_page(db: TestDb) {
    let (app, _, mut b) = instructor_of_graded_class(&db).await;
    let final_id = attempt_id(&app, "lab1-alice", 2).await;

    // Each attempt's own badge, and whether it is the final one.
    let graded = b.get(&format!("/attempts/{final_id}")).await;
    assert_contains_all(&graded.body, &["On time</span>", "final (graded)"]);
    let late = attempt_page(&app, &mut b, "lab1-alice", 3).await;
    late.assert_contains("Late by 1 h");
    assert!(!late.body.contains("Late only"), "{}", late.body);
    assert!(
        late.body.contains(&format!(
            "not the final: <a href=\"/attempts/{final_id}\">#2</a> is"
        )),
        "{}",
        late.body
    );

    // The session page links each student's page (the login and the last push).
    let page = b.get("/sessions/lab1").await;
    page.assert_contains("href=\"/sessions/lab1/students/id-alice\"");
    let before = app.audit_count("web.summary_read", None).await;
    let alice = b.get("/sessions/lab1/students/id-alice").await;
    assert_eq!(alice.status, 200, "{}", alice.body);
    assert_eq!(app.audit_count("web.summary_read", None).await, before + 1);
    let mine: Vec<_> = app
        .attempts()
        .await
        .into_iter()
        .filter(|a| a.repository_full_name == "course/lab1-alice")
        .collect();
    assert_eq!(mine.len(), 4, "{mine:?}");
    for a in &mine {
        assert!(
            alice.body.contains(&format!("href=\"/attempts/{}\"", a.id)),
            "#{}: {}",
            a.attempt_number,
            alice.body
        );
    }
    assert_contains_all(
        &alice.body,
        &[
            "Deadline that applies",
            "Late by 1 h",
            "7/10 (success)",
            "it is the one graded",
        ],
    );
    // Pushed by someone else: named.
    alice.assert_contains("<strong>helper</strong>");
    assert!(!alice.body.contains("lab1-bob"), "{}", alice.body);
    // By login too; bob's page has only bob's attempt.
    assert_eq!(b.get("/sessions/lab1/students/alice").await.status, 200);
    let bob = b.get("/sessions/lab1/students/bob").await;
    assert!(bob.body.contains("course/lab1-bob") && !bob.body.contains("lab1-alice"));
    assert_eq!(b.get("/sessions/lab1/students/nobody").await.status, 404);

    // Another organisation's instructor finds nothing.
    let other = create_token(&app, "other-teacher", "instructor", Some("other"));
    let mut o = Browser::new(&app.base_url);
    assert_eq!(o.sign_in(&other).await.status, 303);
    for path in [
        "/sessions/lab1/students/alice",
        "/sessions/lab1/students/alice?org=course",
        "/sessions/lab1/students/id-alice?org=course",
    ] {
        let page = o.get(path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(!page.body.contains("lab1-alice"), "{path}");
    }
}

async fn the_extension_form_grants_changes_and_removes(db: TestDb) {
    let (app, _, mut b) = instructor_of_graded_class(&db).await;
    let page = b.get("/sessions/lab1").await;
    page.assert_contains("No student has an extension");
    let csrf = page.field("csrf");
    let late = attempt_id(&app, "lab1-alice", 3).await;

    // Without the session's CSRF value: refused, nothing changed.
    let refused = extension_form(&mut b, None, "alice", ("closes", "2026-02-01T02:00")).await;
    assert_eq!(refused.status, 403);
    assert_eq!(app.audit_count("lab_session.extended", None).await, 0);

    // Granted: alice's late push is now her final attempt.
    let granted =
        extension_form(&mut b, Some(&csrf), "alice", ("closes", "2026-02-01T02:00")).await;
    assert_eq!(granted.status, 303, "{}", granted.body);
    assert_eq!(app.audit_count("lab_session.extended", None).await, 1);
    let page = b.get("/sessions/lab1").await;
    assert_contains_all(
        &page.body,
        &[
            "Students with their own deadline",
            "2026-02-01 02:00 +00:00",
        ],
    );
    let alice = page.body.find("course/lab1-alice").expect("alice's row");
    assert!(
        page.body[alice..].contains(&format!("href=\"/attempts/{late}\">#3</a>")),
        "{}",
        page.body
    );
    let graded = b.get(&format!("/attempts/{late}")).await;
    graded.assert_contains("final (graded)");

    // Changed: back before her late push.
    let changed =
        extension_form(&mut b, Some(&csrf), "alice", ("closes", "2026-02-01T00:30")).await;
    assert_eq!(changed.status, 303, "{}", changed.body);
    let page = b.get("/sessions/lab1").await;
    page.assert_contains("2026-02-01 00:30 +00:00");
    assert!(
        !page.body.contains("2026-02-01 02:00 +00:00"),
        "{}",
        page.body
    );

    // A typo: refused on the page with the suggestion, nothing changed.
    let typo = extension_form(&mut b, Some(&csrf), "alcie", ("closes", "2026-02-03T00:00")).await;
    assert_eq!(typo.status, 400, "{}", typo.body);
    assert_contains_all(&typo.body, &["did you mean alice?", "value=\"alcie\""]);
    // A bad time: refused on the page too, no 500.
    let bad = extension_form(&mut b, Some(&csrf), "alice", ("closes", "tomorrow")).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(app.audit_count("lab_session.extended", None).await, 2);

    // Removed.
    let removed = extension_form(&mut b, Some(&csrf), "alice", ("action", "remove")).await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(
        app.audit_count("lab_session.extension_removed", None).await,
        1
    );
    let page = b.get("/sessions/lab1").await;
    page.assert_contains("No student has an extension");
    // Removing again: refused on the page.
    let again = extension_form(&mut b, Some(&csrf), "alice", ("action", "remove")).await;
    again.assert_shows(400, "has no extension");
    // The actor is the web session.
    let actors = app
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'lab_session.extended' AND actor LIKE 'web_session:%'")
        .await;
    assert_eq!(actors, 2);

    // An auditor may read but not change.
    let auditor = create_token(&app, "audit", "auditor", None);
    let mut c = Browser::new(&app.base_url);
    assert_eq!(c.sign_in(&auditor).await.status, 303);
    let theirs = c.get("/sessions/lab1").await;
    assert!(!theirs.body.contains("Grant or change an extension"));
    let csrf = theirs.field("csrf");
    let no = extension_form(&mut c, Some(&csrf), "alice", ("closes", "2026-02-01T02:00")).await;
    assert_eq!(no.status, 403);
}
