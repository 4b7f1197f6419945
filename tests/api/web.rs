//! The instructor web view through real HTTP: sign-in with a token (CSRF, cookie flags, CSP), the pages
//! and downloads, org scoping (another org's pages are 404), sign-out, the GitHub OAuth round trip against
//! the fake (owner, team member, outsider, replayed state), and check runs linking to the attempt page.

use std::collections::HashMap;

use entity::states::SignInMethod;
use entity::web_session;
use sea_orm::EntityTrait;

use crate::backend_tests;
use crate::fake_github::FakeGithub;
use crate::github_files::{app_with_fake, deliver_alice_and_check, PUSHED_AT};
use crate::helpers::{
    cli_stdout, push_payload, session_create_args, sha, spawn_app, spawn_app_with, AppOptions,
    TestApp, TestDb, JANUARY_2026,
};
use crate::tokens::{create_token, two_orgs};

backend_tests!(
    token_sign_in_pages_downloads_and_sign_out,
    forms_without_their_csrf_token_are_refused,
    another_organisation_sees_404,
    github_sign_in_owner_team_member_and_outsider,
    check_runs_link_to_the_attempt_page,
    proof_download_and_audit_page,
    pages_show_local_times_and_extensions,
);

/// A browser without JavaScript: follows no redirect by itself, keeps cookies.
pub struct Browser {
    base: String,
    http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

/// One answer: status, headers, body.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The page answered `status` and shows `text` (the body is the failure message).
    pub fn assert_shows(&self, status: u16, text: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        self.assert_contains(text);
    }

    /// The page shows `text` (the body is the failure message).
    pub fn assert_contains(&self, text: &str) {
        assert!(self.body.contains(text), "{}", self.body);
    }

    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `Set-Cookie` value for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value of the form field `name` (`name="…" value="…"`).
    pub fn field(&self, name: &str) -> String {
        let key = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&key).expect("the field") + key.len();
        self.body[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for v in headers.get_all("set-cookie") {
            let v = v.to_str().expect("ascii");
            let pair = v.split(';').next().unwrap_or_default();
            if let Some((k, val)) = pair.split_once('=') {
                if val.is_empty() || v.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), val.to_owned());
                }
            }
        }
        let body = response.text().await.expect("body");
        Page {
            status,
            headers,
            body,
        }
    }

    /// GET a path of the app, or an absolute URL.
    /// GET `path`: a 200 attachment named `filename`.
    pub async fn download(&mut self, path: &str, filename: &str) -> Page {
        let page = self.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert_eq!(
            page.headers["content-disposition"],
            format!("attachment; filename=\"{filename}\"").as_str(),
            "{path}"
        );
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let same_site = url.starts_with(&self.base);
        let mut req = self.http.get(url);
        if same_site {
            req = req.header("cookie", self.cookie_header());
        }
        let response = req.send().await.expect("GET");
        self.keep(response).await
    }

    /// POST a form.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.keep(response).await
    }

    /// Sign in with an API token through the form.
    pub async fn sign_in(&mut self, token: &str) -> Page {
        let login = self.get("/login").await;
        assert_eq!(login.status, 200, "{}", login.body);
        let csrf = login.field("csrf");
        self.post("/login", &[("token", token), ("csrf", &csrf)])
            .await
    }
}

/// The instructor of `course` (an API token named `teach`), signed in with a new [`Browser`].
pub async fn instructor_browser(app: &TestApp) -> (String, Browser) {
    let token = create_token(app, "teach", "instructor", Some("course"));
    let mut b = Browser::new(&app.base_url);
    assert_eq!(b.sign_in(&token).await.status, 303);
    (token, b)
}

/// The roster of [`class`]: alice, bob and carol, by username.
pub const ALICE_BOB_CAROL: &str = "identifier,github_username,github_id,name\n\
     id-alice,alice,,Alice\nid-bob,bob,,Bob\nid-carol,carol,,Carol\n";

/// `course/lab1`: alice pushes on time twice, bob only late.
pub async fn class(app: &TestApp) {
    app.create_lab1_session().await;
    for (i, repo, id, at) in [
        (1u64, "lab1-alice", 7, 1767225600),
        (2, "lab1-alice", 7, 1767312000),
        (3, "lab1-bob", 8, 1770000000),
    ] {
        app.deliver_push(
            &format!("w-{i}"),
            &push_payload("course", repo, id, &sha(i), at),
        )
        .await;
    }
    app.drain().await;
    // carol is on the roster and never pushed.
    app.import_roster(ALICE_BOB_CAROL);
}

/// An API answer's status and text.
async fn api_text(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    let r = app.get_as(&format!("/api/v1{path}"), token).await;
    (r.status().as_u16(), r.text().await.expect("text"))
}

async fn token_sign_in_pages_downloads_and_sign_out(db: TestDb) {
    let app = spawn_app(&db).await;
    class(&app).await;
    let token = create_token(&app, "teach", "instructor", Some("course"));
    let mut b = Browser::new(&app.base_url);

    // Not signed in: every page sends the browser to the sign-in, which brings it back afterwards.
    for (path, to) in [
        ("/", "/login"),
        ("/sessions/lab1", "/login?next=%2Fsessions%2Flab1"),
        ("/attempts/1", "/login?next=%2Fattempts%2F1"),
        ("/audit", "/login?next=%2Faudit"),
    ] {
        let page = b.get(path).await;
        assert_eq!((page.status, page.location()), (303, to), "{path}");
    }
    let login = b.get("/login").await;
    assert_eq!(login.status, 200);
    assert_eq!(
        login.headers["content-security-policy"],
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    assert!(
        !login.body.contains("Sign in with GitHub"),
        "no OAuth configured"
    );
    assert!(!login.body.contains("<script"));

    let signed_in = b.sign_in(&token).await;
    assert_eq!((signed_in.status, signed_in.location()), (303, "/"));
    let cookie = signed_in.set_cookie("lt_session").expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "http public URL: {cookie}");
    // Only the hash of the cookie is stored.
    let value = b.cookies["lt_session"].clone();
    let row = web_session::Entity::find()
        .one(&app.db)
        .await
        .expect("read")
        .expect("a session");
    assert_ne!(row.id_sha256, value);
    assert_eq!(row.id_sha256, labtrail::db::tokens::token_hash(&value));
    assert_eq!(app.audit_count("web_session.created", None).await, 1);

    let index = b.get("/").await;
    index.assert_shows(200, "Session lab1");
    assert!(index.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
    // alice on time, bob late only, carol missing.
    index.assert_contains(
        "<td class=\"num\">1</td><td class=\"num\">1</td><td class=\"num\">1</td>",
    );

    let page = b.get("/sessions/lab1").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("course/lab1-alice") && page.body.contains("course/lab1-bob"));
    assert!(page.body.contains("On time") && page.body.contains("Late only"));
    assert!(page.body.contains("<svg"), "the chart");
    assert!(page.body.contains("<figcaption>"));
    assert!(page.body.contains(&format!(
        "https://github.com/course/lab1-alice/commit/{}",
        sha(2)
    )));
    assert!(page.body.contains("id-carol") && page.body.contains("Missing"));
    let late = b.get("/sessions/lab1?status=late_only").await;
    assert!(late.body.contains("course/lab1-bob") && late.body.contains("id-bob"));
    assert!(!late.body.contains("course/lab1-alice") && !late.body.contains("id-carol"));
    let missing = b.get("/sessions/lab1?status=missing").await;
    assert!(missing.body.contains("id-carol") && !missing.body.contains("id-bob"));
    let sorted = b.get("/sessions/lab1?sort=-late").await;
    assert_eq!(sorted.status, 200);
    let (bob, alice) = (
        sorted.body.find("course/lab1-bob").unwrap(),
        sorted.body.find("course/lab1-alice").unwrap(),
    );
    assert!(bob < alice, "most late attempts first");
    assert_eq!(b.get("/sessions/lab1?status=nope").await.status, 400);
    assert_eq!(app.audit_count("web.summary_read", None).await, 4);

    let attempt = app.attempts().await[0].clone();
    let page = b.get(&format!("/attempts/{}", attempt.id)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&attempt.after_sha));
    // No checkpoint yet: the page says when the proof will be ready instead of offering a failing link.
    page.assert_contains(
        "No signed checkpoint covers this entry yet. Checkpoints are signed every",
    );
    assert_eq!(
        app.audit_count(
            "web.attempt_read",
            Some(&format!("lab_attempt:{}", attempt.id))
        )
        .await,
        1
    );

    let csv = b
        .download("/sessions/lab1/attempts.csv", "lab1-attempts.csv")
        .await;
    // The API's writer: the same bytes as its CSV.
    let (_, api_csv) = api_text(&app, "/sessions/lab1/attempts?format=csv", &token).await;
    assert_eq!(csv.body, api_csv);
    assert_eq!(csv.body.lines().count(), 4);
    assert_eq!(app.audit_count("web.attempts_exported", None).await, 1);
    let grades = b
        .download("/sessions/lab1/grades.csv", "lab1-grades.csv")
        .await;
    let (_, api_grades) = api_text(&app, "/sessions/lab1/grades.csv", &token).await;
    assert_eq!(grades.body, api_grades);
    assert_eq!(
        grades.body.lines().count(),
        4,
        "a header and three students"
    );
    assert!(grades
        .body
        .starts_with("assignment_name,assignment_url,starter_code_url,github_username,"));
    assert_eq!(app.audit_count("web.grades_exported", None).await, 1);

    // An instructor is no auditor.
    assert_eq!(b.get("/audit").await.status, 403);

    let index = b.get("/").await;
    let csrf = index.field("csrf");
    let out = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location()), (303, "/login"));
    assert!(out.set_cookie("lt_session").unwrap().contains("Max-Age=0"));
    assert_eq!(app.audit_count("web_session.ended", None).await, 1);
    // The old cookie is worthless now, even if the browser kept it.
    b.cookies.insert("lt_session".into(), value);
    assert_eq!(b.get("/").await.status, 303);
}

async fn forms_without_their_csrf_token_are_refused(db: TestDb) {
    let app = spawn_app(&db).await;
    class(&app).await;
    let token = create_token(&app, "teach", "instructor", Some("course"));
    let admin = create_token(&app, "boss", "admin", None);
    let mut b = Browser::new(&app.base_url);
    b.get("/login").await;
    let before = (app.counts().await, app.count(web_session::Entity).await);
    let without = b.post("/login", &[("token", &token)]).await;
    assert_eq!(without.status, 403);
    let wrong = b
        .post("/login", &[("token", &token), ("csrf", "forged")])
        .await;
    assert_eq!(wrong.status, 403);
    // A CSRF token from another browser's cookie is no good either.
    let mut other = Browser::new(&app.base_url);
    let theirs = other.get("/login").await.field("csrf");
    assert_eq!(
        b.post("/login", &[("token", &token), ("csrf", &theirs)])
            .await
            .status,
        403
    );
    assert_eq!(
        (app.counts().await, app.count(web_session::Entity).await),
        before
    );
    // A wrong token: 401, still nothing changed but the page.
    let bad = b.get("/login").await.field("csrf");
    let refused = b
        .post("/login", &[("token", "lt_nope"), ("csrf", &bad)])
        .await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("unknown or revoked"));
    assert_eq!(app.count(web_session::Entity).await, 0);

    // Signed in: sign-out without (or with another session's) CSRF token is refused.
    assert_eq!(b.sign_in(&admin).await.status, 303);
    let mut c = Browser::new(&app.base_url);
    assert_eq!(c.sign_in(&token).await.status, 303);
    let foreign = c.get("/").await.field("csrf");
    assert_eq!(b.post("/logout", &[]).await.status, 403);
    assert_eq!(b.post("/logout", &[("csrf", &foreign)]).await.status, 403);
    assert_eq!(b.get("/").await.status, 200, "still signed in");
    assert_eq!(app.audit_count("web_session.ended", None).await, 0);
    // The admin is an auditor too.
    let audit = b.get("/audit").await;
    assert_eq!(audit.status, 200);
    assert!(audit.body.contains("Last verify"));
    assert!(audit.body.contains("not run"));
}

async fn another_organisation_sees_404(db: TestDb) {
    let app = spawn_app(&db).await;
    let (course_attempt, other_attempt) = two_orgs(&app).await;
    let token = create_token(&app, "other-teacher", "instructor", Some("other"));
    let mut b = Browser::new(&app.base_url);
    assert_eq!(b.sign_in(&token).await.status, 303);
    let index = b.get("/").await;
    assert!(index.body.contains("<td>other</td>"));
    assert!(!index.body.contains("<td>course</td>"));
    // The shared slug names only their own session.
    let page = b.get("/sessions/lab1").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("other/lab1-x") && !page.body.contains("course/lab1-x"));
    for path in [
        "/sessions/lab1?org=course".to_owned(),
        "/sessions/lab1/attempts.csv?org=course".to_owned(),
        format!("/attempts/{course_attempt}"),
        format!("/attempts/{course_attempt}/proof.json"),
        "/attempts/999999".to_owned(),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(!page.body.contains("course/lab1-x"));
    }
    assert_eq!(
        b.get(&format!("/attempts/{other_attempt}")).await.status,
        200
    );
    assert_eq!(app.audit_count("web.attempt_read", None).await, 1);
}

const CLIENT_ID: &str = "Iv1.fakeclient";
pub const CLIENT_SECRET: &str = "fake-client-secret";

/// An app whose web view signs in with the fake GitHub; `course/lab1` exists.
pub async fn app_with_oauth(db: &TestDb) -> (TestApp, FakeGithub) {
    let fake = FakeGithub::start().await;
    let client = (CLIENT_ID, CLIENT_SECRET);
    let app = spawn_signing_in_with(
        db,
        &fake,
        client,
        Some("course/teachers"),
        AppOptions::default(),
    )
    .await;
    (app, fake)
}

/// An app built with `opts` whose web view signs in with `fake` as the OAuth app `(id, secret)` (staff
/// of `team`, when given); `course/lab1` and `elsewhere/lab9` exist.
pub async fn spawn_signing_in_with(
    db: &TestDb,
    fake: &FakeGithub,
    (client_id, client_secret): (&str, &str),
    team: Option<&str>,
    opts: AppOptions,
) -> TestApp {
    let app =
        crate::helpers::spawn_app_signing_in_with(db, fake, (client_id, client_secret), team, opts)
            .await;
    app.create_lab1_session().await;
    app.create_session("elsewhere", "lab9", "lab9-*", JANUARY_2026)
        .await;
    app
}

/// The browser goes through GitHub: `/login/github` → authorize → callback; the callback's answer.
pub async fn through_github(b: &mut Browser) -> (Page, String) {
    let start = b.get("/login/github").await;
    assert_eq!(start.status, 303, "{}", start.body);
    assert!(start
        .location()
        .contains("/login/oauth/authorize?client_id="));
    let at_github = b.get(start.location()).await;
    assert_eq!(at_github.status, 302, "{}", at_github.body);
    let callback = at_github.location().to_owned();
    (b.get(&callback).await, callback)
}

async fn github_sign_in_owner_team_member_and_outsider(db: TestDb) {
    let (app, fake) = app_with_oauth(&db).await;
    let mut b = Browser::new(&app.base_url);
    assert!(b.get("/login").await.body.contains("Sign in with GitHub"));

    // An owner of `course` sees course, not `elsewhere`.
    fake.sign_in_browser(501, "prof");
    fake.set_org_role("course", "prof", "admin");
    fake.set_org_role("elsewhere", "prof", "member");
    let (done, callback) = through_github(&mut b).await;
    assert_eq!((done.status, done.location()), (303, "/"), "{}", done.body);
    let index = b.get("/").await;
    assert!(index.body.contains("Session lab1") && !index.body.contains("Session lab9"));
    assert!(index.body.contains("prof"));
    let row = web_session::Entity::find()
        .one(&app.db)
        .await
        .expect("read")
        .expect("a session");
    assert_eq!(
        (row.method, row.orgs.as_deref()),
        (SignInMethod::Github, Some("course"))
    );
    // The audit entry names the GitHub user by id only.
    let entry = app
        .audit_entries()
        .await
        .into_iter()
        .find(|e| e.action == "web_session.created")
        .expect("the entry");
    assert_eq!(entry.actor, "github_user:501");
    assert!(!String::from_utf8_lossy(&entry.canonical).contains("prof"));
    // The same state again (a replayed callback): refused, single use.
    let mut replay = Browser::new(&app.base_url);
    replay.cookies = b.cookies.clone();
    replay.cookies.remove("lt_session");
    assert_eq!(replay.get(&callback).await.status, 403);

    // A member of the instructors' team (not an owner).
    fake.sign_in_browser(502, "ta");
    fake.set_org_role("course", "ta", "member");
    fake.add_team_member("course", "teachers", "ta");
    let mut t = Browser::new(&app.base_url);
    let (done, _) = through_github(&mut t).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(t.get("/sessions/lab1").await.status, 200);
    assert_eq!(t.get("/sessions/lab9").await.status, 404);

    // An outsider (a member, not an owner, not in the team) signs in as a student: their own record
    // only, no organisation's pages.
    fake.sign_in_browser(503, "student");
    fake.set_org_role("course", "student", "member");
    let mut s = Browser::new(&app.base_url);
    let (student, _) = through_github(&mut s).await;
    assert_eq!(
        (student.status, student.location()),
        (303, "/"),
        "{}",
        student.body
    );
    assert!(s.cookies.contains_key("lt_session"));
    assert_eq!(app.count(web_session::Entity).await, 3);
    assert_eq!(s.get("/").await.location(), "/me");
    assert_eq!(s.get("/sessions/lab1").await.status, 404);
    assert_eq!(s.get("/sessions/lab1/grades.csv").await.status, 404);
    let row = web_session::Entity::find()
        .all(&app.db)
        .await
        .expect("read")
        .into_iter()
        .find(|r| r.github_user_id == Some(503))
        .expect("the student's session");
    assert_eq!(
        (row.role, row.orgs.as_deref()),
        (entity::states::Role::Student, Some(""))
    );

    // A callback whose state is not bound to this browser (no cookie): refused before any GitHub call.
    let calls = fake.oauth_seen().len();
    let mut forged = Browser::new(&app.base_url);
    let start = forged.get("/login/github").await;
    let at_github = forged.get(start.location()).await;
    forged.cookies.clear();
    assert_eq!(forged.get(at_github.location()).await.status, 403);
    assert_eq!(
        fake.oauth_seen().len(),
        calls + 1,
        "only the authorize call"
    );
}

async fn check_runs_link_to_the_attempt_page(db: TestDb) {
    let (app, fake) = app_with_fake(&db).await;
    fake.add_repo_without_git(1, "course/lab1-alice", 7);
    deliver_alice_and_check(&app, "web-cr", 7, PUSHED_AT).await;
    let attempt = app.attempt().await;
    let runs = fake.check_runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].details_url.as_deref(),
        Some(format!("{}/attempts/{}", app.base_url, attempt.id).as_str())
    );
}

async fn proof_download_and_audit_page(db: TestDb) {
    let opts = AppOptions {
        checkpoint_interval: Some(std::time::Duration::from_secs(3600)),
        ..AppOptions::default()
    };
    let app = spawn_app_with(&db, opts).await;
    class(&app).await;
    crate::audit_support::checkpoint(&app);
    let admin = create_token(&app, "boss", "admin", None);
    let mut b = Browser::new(&app.base_url);
    assert_eq!(b.sign_in(&admin).await.status, 303);
    let id = app.attempts().await[0].id;

    let proof = b
        .download(
            &format!("/attempts/{id}/proof.json"),
            &format!("labtrail-proof-{id}.json"),
        )
        .await;
    let from_web: serde_json::Value = serde_json::from_str(&proof.body).expect("proof JSON");
    let (status, from_api) = api_text(&app, &format!("/attempts/{id}/proof"), &admin).await;
    assert_eq!(status, 200);
    let from_api: serde_json::Value = serde_json::from_str(&from_api).expect("proof JSON");
    assert_eq!(from_web, from_api, "the API's proof");
    assert_eq!(app.audit_count("web.proof_read", None).await, 1);

    let vkey = cli_ok(&app, &["audit", "public-key"]);
    let audit = b.get("/audit").await;
    assert_eq!(audit.status, 200);
    assert!(audit.body.contains(vkey.trim()), "{}", audit.body);
    let size = app.audit_head().await.size;
    assert!(audit.body.contains("Newest checkpoint"));
    assert!(
        audit.body.contains("signed "),
        "a checkpoint exists: {}",
        audit.body
    );
    assert!(size > 0);
    assert_eq!(app.audit_count("web.audit_read", None).await, 1);
}

/// A CLI call that must succeed; its standard output.
fn cli_ok(app: &TestApp, args: &[&str]) -> String {
    cli_stdout(&app.cli(args))
}

/// A push to `course/{repo}` by `login` at `at` (Unix seconds).
async fn push_as(app: &TestApp, guid: &str, repo: &str, repo_id: i64, login: &str, at: i64) {
    let mut p = push_payload("course", repo, repo_id, &sha(repo_id as u64), at);
    p["pusher"]["name"] = login.into();
    p["sender"]["login"] = login.into();
    p["sender"]["id"] = (repo_id + 100).into();
    assert_eq!(app.deliver_push(guid, &p).await.status().as_u16(), 202);
}

/// A Paris session (deadline 2026-02-01 00:00 +01:00 = 2026-01-31T23:00Z): every page shows its times
/// local with the offset, the attempt page also in UTC; alice's extension (given after her push) moves
/// her deadline, the chart marks it, and her attempt page judges her by it.
async fn pages_show_local_times_and_extensions(db: TestDb) {
    let app = spawn_app(&db).await;
    cli_ok(
        &app,
        &session_create_args(
            "course",
            "lab1",
            "Lab one",
            "lab1-*",
            ("2026-01-01 00:00", "2026-02-01 00:00"),
            &["--branches", "all", "--timezone", "Europe/Paris"],
        ),
    );
    // alice at 2026-01-31T23:30Z (00:30 in Paris, late until her extension), bob at 01:00Z (02:00).
    push_as(&app, "tz-a", "lab1-alice", 31, "alice", 1_769_902_200).await;
    push_as(&app, "tz-b", "lab1-bob", 32, "bob", 1_769_907_600).await;
    app.drain().await;
    assert!(
        app.attempts().await.iter().all(|a| a.late),
        "both late when recorded"
    );
    app.extend_lab1("alice", "2026-02-01 01:00");
    let token = create_token(&app, "teach", "instructor", Some("course"));
    let mut b = Browser::new(&app.base_url);
    b.sign_in(&token).await;

    let index = b.get("/").await;
    assert_eq!(index.status, 200);
    assert!(
        index.body.contains(
            "<time datetime=\"2026-01-31T23:00:00+00:00\">2026-02-01 00:00 +01:00</time>"
        ),
        "{}",
        index.body
    );
    index.assert_contains("(Europe/Paris)");
    assert!(!index.body.contains("UTC"), "{}", index.body);

    let page = b.get("/sessions/lab1").await;
    assert_eq!(page.status, 200);
    for local in [
        "2026-01-01 00:00 +01:00", // opens
        "2026-02-01 00:00 +01:00", // the session's deadline
        "2026-02-01 00:30 +01:00", // alice's final attempt and last push
        "2026-02-01 02:00 +01:00", // bob's last push
    ] {
        assert!(page.body.contains(local), "{local}: {}", page.body);
    }
    assert!(page.body.contains("times in Europe/Paris"));
    // alice is on time by her extension, bob late only: the summary's statuses.
    let alice = page.body.find("course/lab1-alice").expect("alice's row");
    let bob = page.body.find("course/lab1-bob").expect("bob's row");
    assert!(
        page.body[alice..bob].contains("badge on_time"),
        "{}",
        page.body
    );
    assert!(
        page.body[bob..].contains("badge late_only"),
        "{}",
        page.body
    );
    // The chart marks the extension, and its text alternative lists it.
    assert_eq!(page.body.matches("class=\"extension\"").count(), 1);
    page.assert_contains(
        "1 extension marked by dotted lines: alice until 2026-02-01 01:00 +01:00.",
    );

    let attempts = app.attempts().await;
    let id_of = |repo: &str| {
        attempts
            .iter()
            .find(|a| a.repository_full_name == repo)
            .expect("attempt")
            .id
    };
    let bob_page = b
        .get(&format!("/attempts/{}", id_of("course/lab1-bob")))
        .await;
    assert_eq!(bob_page.status, 200);
    bob_page
        .assert_contains("2026-02-01 02:00 +01:00</time> (Europe/Paris; 2026-02-01 01:00:00 UTC)");
    bob_page.assert_contains("Late by 2 h");
    assert!(!bob_page.body.contains("extended"));

    let alice_page = b
        .get(&format!("/attempts/{}", id_of("course/lab1-alice")))
        .await;
    assert_eq!(alice_page.status, 200);
    let body = &alice_page.body;
    assert!(
        body.contains("2026-02-01 00:30 +01:00</time> (Europe/Paris; 2026-01-31 23:30:00 UTC)"),
        "{body}"
    );
    // Her own deadline, not the session's: on time now, late when recorded.
    assert!(
        body.contains(
            "2026-02-01 01:00 +01:00</time> (Europe/Paris; 2026-02-01 00:00:00 UTC) — extended; \
             the session's is 2026-02-01 00:00 +01:00"
        ),
        "{body}"
    );
    assert!(!body.contains("late by"), "{body}");
    assert!(
        body.contains("(recorded as late; the deadline has moved since)"),
        "{body}"
    );
}
