//! Students see their own record (issue 21), through the fake GitHub's OAuth: a student follows the check
//! run's Details link, signs in with GitHub and lands on that attempt, downloads its proof and checks it
//! with the key of `/audit/public-key`; `/me` for a student with an extension, a late-only one and one on
//! the roster who never pushed; another student's attempt, proof or session page is 404, and so is it for
//! an instructor of another organisation; a push to a classmate's repository shows to its sender alone;
//! an extension granted after a late push rewrites that push's check run.

use crate::backend_tests;
use crate::fake_github::FakeGithub;
use crate::helpers::{cli_stdout, push_payload, sha, AppOptions, TestApp, TestDb};
use crate::web::{spawn_signing_in_with, Browser, Page};

backend_tests!(students_see_their_own_record_and_nothing_else);

const CLIENT_ID: &str = "Iv1.studentclient";
const CLIENT_SECRET: &str = "fake-student-secret";
/// `course/lab1` closes 2026-02-01T00:00:00Z.
const CLOSES: i64 = 1_769_904_000;

/// An app with the fake GitHub as its App and its OAuth, signing checkpoints; `course/lab1`, the
/// repositories of alice and bob, and the roster (alice by id, bob and carol by username).
pub async fn student_app(db: &TestDb) -> (TestApp, FakeGithub) {
    let fake = FakeGithub::start().await;
    let opts = AppOptions {
        checkpoint_interval: Some(std::time::Duration::from_secs(3600)),
        ..AppOptions::with_github(&fake)
    };
    let app = spawn_signing_in_with(db, &fake, (CLIENT_ID, CLIENT_SECRET), None, opts).await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    fake.add_repo_without_git(1, "course/lab1-bob", 8);
    app.import_roster(
        "identifier,github_username,github_id,name\n\
         id-alice,alice,601,Alice Anders\nid-bob,bob,,Bob Berg\nid-carol,carol,,Carol Czerny\n",
    );
    (app, fake)
}

/// A push to `course/{repo}` sent by `login` (GitHub id `sender`) at `at`.
pub async fn push_by(
    app: &TestApp,
    guid: &str,
    repo: (&str, i64),
    who: (&str, i64),
    n: u64,
    at: i64,
) {
    let mut p = push_payload("course", repo.0, repo.1, &sha(n), at);
    p["pusher"]["name"] = who.0.into();
    p["sender"]["login"] = who.0.into();
    p["sender"]["id"] = who.1.into();
    assert_eq!(app.deliver_push(guid, &p).await.status().as_u16(), 202);
}

/// `GET /login/github?…` → GitHub's authorize → the callback: the callback's answer.
async fn through_github(b: &mut Browser, start: &str) -> Page {
    let start = b.get(start).await;
    assert_eq!(start.status, 303, "{}", start.body);
    let at_github = b.get(start.location()).await;
    assert_eq!(at_github.status, 302, "{}", at_github.body);
    b.get(at_github.location()).await
}

/// A browser signed in to labtrail as the GitHub user `login` (`id`).
async fn signed_in(app: &TestApp, fake: &FakeGithub, id: i64, login: &str) -> Browser {
    fake.sign_in_browser(id, login);
    let mut b = Browser::new(&app.base_url);
    let done = through_github(&mut b, "/login/github").await;
    assert_eq!((done.status, done.location()), (303, "/"), "{}", done.body);
    b
}

fn assert_hides(page: &Page, words: &[&str]) {
    for w in words {
        assert!(!page.body.contains(w), "{w:?} shown: {}", page.body);
    }
}

async fn students_see_their_own_record_and_nothing_else(db: TestDb) {
    let (app, fake) = student_app(&db).await;
    // alice pushes 2 h late to her repository; dave (not on the roster) pushes on time to alice's
    // repository; bob pushes 1 h late to his; carol never pushes.
    push_by(
        &app,
        "s-1",
        ("lab1-alice", 7),
        ("dave", 604),
        72,
        CLOSES - 3600,
    )
    .await;
    push_by(
        &app,
        "s-2",
        ("lab1-alice", 7),
        ("alice", 601),
        71,
        CLOSES + 7200,
    )
    .await;
    push_by(
        &app,
        "s-3",
        ("lab1-bob", 8),
        ("bob", 602),
        81,
        CLOSES + 3600,
    )
    .await;
    app.drain().await;
    let attempts = app.attempts().await;
    let id_of = |after: u64| {
        attempts
            .iter()
            .find(|a| a.after_sha == sha(after))
            .expect("attempt")
            .id
    };
    let (alice_id, bob_id, dave_id) = (id_of(71), id_of(81), id_of(72));
    let run_of = |fake: &FakeGithub, n: u64| {
        fake.check_runs()
            .into_iter()
            .find(|r| r.head_sha == sha(n))
            .expect("a check run")
    };
    let run = run_of(&fake, 71);
    assert_eq!(
        (run.conclusion.as_deref(), run.title.as_str()),
        (Some("neutral"), "Attempt #2: late by 2 h")
    );
    let details = run.details_url.clone().expect("details_url");
    assert_eq!(details, format!("{}/attempts/{alice_id}", app.base_url));
    crate::audit_support::checkpoint(&app);

    // alice follows Details: the sign-in, through GitHub, and back to that attempt.
    fake.sign_in_browser(601, "alice");
    let mut alice = Browser::new(&app.base_url);
    let first = alice.get(&details).await;
    let next = format!("/login?next=%2Fattempts%2F{alice_id}");
    assert_eq!((first.status, first.location()), (303, next.as_str()));
    let login = alice.get(&next).await;
    let github_link = format!("/login/github?next=%2Fattempts%2F{alice_id}");
    assert!(
        login.body.contains(&format!("href=\"{github_link}\"")),
        "{}",
        login.body
    );
    let landed = through_github(&mut alice, &github_link).await;
    assert_eq!(
        (landed.status, landed.location()),
        (303, format!("/attempts/{alice_id}").as_str())
    );
    let page = alice.get(&format!("/attempts/{alice_id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("your attempt #2") && page.body.contains("Late by 2 h"));
    assert!(
        page.body.contains("course/lab1-alice"),
        "her own repository"
    );
    assert!(page.body.contains("Download proof") && page.body.contains("/audit/public-key"));
    assert!(page
        .body
        .contains("labtrail audit check-proof labtrail-proof-"));
    assert_hides(&page, &["dave", "Alice Anders", "id-alice", "lab1-bob"]);

    // The proof, checked offline with the key anyone can fetch.
    let proof = alice
        .download(
            &format!("/attempts/{alice_id}/proof.json"),
            &format!("labtrail-proof-{alice_id}.json"),
        )
        .await;
    let key = app.get("/audit/public-key").await;
    assert_eq!(key.status().as_u16(), 200);
    assert!(key.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/plain"));
    let key = key.text().await.expect("key");
    assert_eq!(key, cli_stdout(&app.cli(&["audit", "public-key"])));
    let dir = app.test_db.scratch_dir();
    let (proof_file, key_file) = (dir.join("downloaded-proof.json"), dir.join("labtrail.pub"));
    std::fs::write(&proof_file, &proof.body).expect("write proof");
    std::fs::write(&key_file, &key).expect("write key");
    let checked = cli_stdout(&app.cli(&[
        "audit",
        "check-proof",
        proof_file.to_str().expect("utf8"),
        "--public-key",
        key_file.to_str().expect("utf8"),
    ]));
    assert!(checked.starts_with("valid: "), "{checked}");

    // An extension after the late push: the check run becomes success / on time.
    app.extend_lab1("alice", "2026-02-01 03:00");
    app.drain().await;
    let run = run_of(&fake, 71);
    assert_eq!(
        (run.conclusion.as_deref(), run.title.as_str()),
        (Some("success"), "Attempt #2: on time")
    );
    assert!(run
        .summary
        .contains("| Your deadline | 2026-02-01 03:00 +00:00 (UTC; extended"));
    assert_eq!(
        app.audit_count("check_run.updated", None).await,
        1,
        "only alice's verdict changed"
    );
    assert_eq!(run_of(&fake, 81).conclusion.as_deref(), Some("neutral"));

    // alice's record: her extension, on time, both attempts of her repository (dave's too, unnamed).
    let me = alice.get("/me").await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert!(me.body.contains("2026-02-01 03:00 +00:00") && me.body.contains("your extension"));
    assert!(me.body.contains("badge on_time"));
    assert!(me
        .body
        .contains("the latest attempt pushed by your deadline"));
    assert!(me.body.contains(&format!("href=\"/attempts/{dave_id}\"")));
    assert_hides(&me, &["dave", "bob", "carol", "Alice Anders", "id-alice"]);

    // bob (on the roster by username only): late only, 1 h; alice's attempt, proof and pages are 404.
    let mut bob = signed_in(&app, &fake, 602, "bob").await;
    assert_eq!(bob.get("/").await.location(), "/me");
    let me = bob.get("/me").await;
    assert!(
        me.body.contains("badge late_only") && me.body.contains("1 h"),
        "{}",
        me.body
    );
    assert!(me
        .body
        .contains("every attempt was pushed after your deadline"));
    assert_hides(&me, &["alice", "carol", "dave", "Bob Berg", "id-bob"]);
    assert_eq!(bob.get(&format!("/attempts/{bob_id}")).await.status, 200);
    for path in [
        format!("/attempts/{alice_id}"),
        format!("/attempts/{alice_id}/proof.json"),
        format!("/attempts/{dave_id}"),
        "/attempts/999999".into(),
        "/sessions/lab1".into(),
        "/sessions/lab1/attempts.csv".into(),
    ] {
        let page = bob.get(&path).await;
        assert_eq!(page.status, 404, "{path}: {}", page.body);
        assert_hides(&page, &["alice", "dave"]);
    }

    // carol: on the roster, no push: missing.
    let mut carol = signed_in(&app, &fake, 603, "carol").await;
    let me = carol.get("/me").await;
    assert!(
        me.body.contains("badge missing") && me.body.contains("no push yet"),
        "{}",
        me.body
    );
    assert_hides(&me, &["alice", "bob", "dave"]);

    // dave pushed to a classmate's repository: that push only, the repository unnamed.
    let mut dave = signed_in(&app, &fake, 604, "dave").await;
    let me = dave.get("/me").await;
    assert_eq!(
        me.body.matches("href=\"/attempts/").count(),
        2,
        "{}",
        me.body
    );
    assert!(me.body.contains(&format!("href=\"/attempts/{dave_id}\"")));
    assert_hides(&me, &["lab1-alice", "alice", "bob", "carol"]);
    let page = dave.get(&format!("/attempts/{dave_id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("a repository that is not yours"));
    assert_hides(&page, &["lab1-alice", "alice"]);
    assert_eq!(dave.get(&format!("/attempts/{alice_id}")).await.status, 404);

    // An instructor of another organisation: 404 too.
    fake.set_org_role("elsewhere", "eve", "admin");
    let mut eve = signed_in(&app, &fake, 605, "eve").await;
    assert!(eve.get("/").await.body.contains("lab9"));
    assert_eq!(eve.get(&format!("/attempts/{alice_id}")).await.status, 404);
    assert_eq!(
        eve.get(&format!("/attempts/{alice_id}/proof.json"))
            .await
            .status,
        404
    );

    // Every student read is audited, by attempt or session id, never by login.
    let reads: Vec<_> = app
        .audit_entries()
        .await
        .into_iter()
        .filter(|e| e.action == "web.student_read")
        .collect();
    assert!(reads.len() >= 8, "{}", reads.len());
    for e in &reads {
        let text = String::from_utf8_lossy(&e.canonical);
        assert_hides(
            &Page {
                status: 0,
                headers: Default::default(),
                body: text.into_owned(),
            },
            &["alice", "bob", "carol", "dave"],
        );
    }
    app.assert_audit_verifies();
}
