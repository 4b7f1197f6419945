//! The web view in a real browser: headless Chromium driven through chromedriver (fantoccini). Sign in with
//! a token, open a session, filter to `late_only`, open an attempt, download the CSV with the session
//! cookie, sign out. `LABTRAIL_SCREENSHOTS=docs/img` writes 1280×800 screenshots of the three main pages.
//! Without chromedriver the test fails naming the fix; `LABTRAIL_SKIP_BROWSER=1` skips it (one line says so).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{spawn_app, Backend, TestApp, TestDb};
use crate::tokens::create_token;
use crate::web::class;

backend_tests!(
    sign_in_filter_open_download_sign_out,
    student_from_check_run_to_proof,
    student_accepts_an_invitation
);

/// chromedriver on `PATH`, or why the test cannot run.
fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromedriver"))
        .find(|p| p.is_file())
}

/// A running chromedriver on a free port; killed when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start(binary: &PathBuf) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = tokio::process::Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        // A separate process: poll until it listens, with a deadline.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not listen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless Chromium session with a fresh profile and a 1280×800 window.
    async fn browser(&self, profile: &std::path::Path) -> Client {
        let mut options = json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--window-size=1280,800", "--hide-scrollbars",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session");
        // The window includes the browser's own bars: grow it until the page itself is 1280×800.
        let (w, h) = png_size(&client.screenshot().await.expect("screenshot"));
        if (w, h) != (1280, 800) {
            client
                .set_window_size(1280 + 1280 - w, 800 + 800 - h)
                .await
                .expect("resize the window");
        }
        client
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Width and height of a PNG (its IHDR chunk).
fn png_size(png: &[u8]) -> (u32, u32) {
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

/// Where screenshots go (`LABTRAIL_SCREENSHOTS`), relative to the crate.
fn screenshot_dir(db: &TestDb) -> Option<PathBuf> {
    // One backend writes them: the pages are the same.
    let dir = std::env::var_os("LABTRAIL_SCREENSHOTS").filter(|_| db.backend == Backend::Sqlite)?;
    Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir))
}

async fn shot(browser: &Client, dir: &Option<PathBuf>, name: &str) {
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).expect("screenshot dir");
        let png = browser.screenshot().await.expect("screenshot");
        assert_eq!(png_size(&png), (1280, 800), "{name}");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }
}

/// chromedriver, or `None` when the browser tests are skipped on purpose (one line says so).
fn chromedriver_or_skip() -> Option<PathBuf> {
    if std::env::var("LABTRAIL_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("NOTE: browser test skipped (LABTRAIL_SKIP_BROWSER=1)");
        return None;
    }
    let Some(binary) = chromedriver() else {
        panic!(
            "chromedriver not found on PATH: apt-get install chromium chromium-driver, or set \
             LABTRAIL_SKIP_BROWSER=1 to skip the browser test"
        );
    };
    Some(binary)
}

async fn sign_in_filter_open_download_sign_out(db: TestDb) {
    let Some(binary) = chromedriver_or_skip() else {
        return;
    };
    let app = spawn_app(&db).await;
    class(&app).await;
    let token = create_token(&app, "teach", "instructor", Some("course"));
    in_chromium(&binary, &db, async |browser| {
        drive(&app, browser, &token, screenshot_dir(&db)).await;
    })
    .await;
}

use futures::FutureExt as _;

/// The path the browser is on once it has left `from` (at most 30 s): a click returns before the next
/// page has loaded, so the URL read right after it may still be the old one.
async fn path_after(b: &Client, from: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let url = b.current_url().await.expect("url");
        if url.path() != from || std::time::Instant::now() > deadline {
            return url.path().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Find the element at `at` and click it: `what` the click does.
async fn click(b: &Client, at: Locator<'_>, what: &str) {
    b.find(at)
        .await
        .unwrap_or_else(|e| panic!("find what to click to {what}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// Wait (at most 30 s) for the element at `at`, which shows that `what` has loaded.
async fn wait_for(b: &Client, at: Locator<'_>, what: &str) {
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(at)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// Click the element at `at` (`what` the click does), then wait for the element at `shown`, which shows
/// that `loaded` has loaded.
async fn click_then_wait(
    b: &Client,
    at: Locator<'_>,
    what: &str,
    shown: Locator<'_>,
    loaded: &str,
) {
    click(b, at, what).await;
    wait_for(b, shown, loaded).await;
}

/// Type `text` into the field at `at` (`what` the field is).
async fn type_into(b: &Client, at: Locator<'_>, what: &str, text: &str) {
    b.find(at)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type {text:?} into {what}: {e}"));
}

/// Choose the option `value` of the select at `at` (`what` the select is).
async fn choose(b: &Client, at: Locator<'_>, what: &str, value: &str) {
    b.find(at)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("choose {value:?} in {what}: {e}"));
}

/// The current page's path.
async fn path_of(b: &Client) -> String {
    b.current_url().await.expect("url").path().to_owned()
}

/// The current page's source.
async fn source(b: &Client) -> String {
    b.source().await.expect("source")
}

async fn drive(app: &TestApp, b: &Client, token: &str, shots: Option<PathBuf>) {
    let base = &app.base_url;
    // Not signed in: the sign-in page.
    b.goto(&format!("{base}/")).await.expect("goto /");
    assert_eq!(path_of(b).await, "/login");
    type_into(b, Locator::Id("token"), "the token field", token).await;
    click(b, Locator::Css("form.login button[type=submit]"), "sign in").await;
    assert_eq!(path_after(b, "/login").await, "/");
    let cookie = b
        .get_named_cookie("lt_session")
        .await
        .expect("session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert!(source(b).await.contains("Session lab1"));
    shot(b, &shots, "sessions.png").await;

    // The session, then only the late students.
    click(b, Locator::LinkText("Session lab1"), "open the session").await;
    assert_eq!(path_after(b, "/").await, "/sessions/lab1");
    let page = source(b).await;
    assert!(page.contains("course/lab1-alice") && page.contains("course/lab1-bob"));
    shot(b, &shots, "session.png").await;
    choose(b, Locator::Id("status"), "the status filter", "late_only").await;
    // The filtered page has late_only selected.
    click_then_wait(
        b,
        Locator::Css("form.filter button[type=submit]"),
        "filter",
        Locator::Css("select#status option[value='late_only'][selected]"),
        "the filtered page",
    )
    .await;
    let url = b.current_url().await.expect("url");
    assert!(
        url.query().unwrap_or("").contains("status=late_only"),
        "{url}"
    );
    let late = source(b).await;
    assert!(late.contains("course/lab1-bob") && !late.contains("course/lab1-alice"));

    // Search (issue 24): every status, then a login typed in any case; the search stays in the form.
    choose(b, Locator::Id("status"), "the status filter", "").await;
    type_into(b, Locator::Id("q"), "the search field", "ALICE").await;
    click_then_wait(
        b,
        Locator::Css("form.filter button[type=submit]"),
        "search",
        Locator::Css("input#q[value='ALICE']"),
        "the searched page",
    )
    .await;
    let found = source(b).await;
    assert!(found.contains("course/lab1-alice") && !found.contains("course/lab1-bob"));

    // bob has no final attempt: open alice's from the unfiltered table.
    b.goto(&format!("{base}/sessions/lab1?status=on_time"))
        .await
        .expect("on time");
    click(
        b,
        Locator::Css("table.summary tbody a[href^='/attempts/']"),
        "open the attempt",
    )
    .await;
    assert!(path_after(b, "/sessions/lab1")
        .await
        .starts_with("/attempts/"));
    let attempt = source(b).await;
    // No checkpoint in this app: the page says when the proof will be ready.
    assert!(
        attempt.contains("Audit receipt")
            && attempt.contains("No signed checkpoint covers this entry yet"),
        "{attempt}"
    );
    shot(b, &shots, "attempt.png").await;

    // The CSV link, fetched with the browser's session cookie.
    b.goto(&format!("{base}/sessions/lab1"))
        .await
        .expect("session");
    let csv = fetch_link(app, b, "All attempts (CSV)").await;
    assert_eq!(csv.status().as_u16(), 200);
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .starts_with("attachment"));
    assert_eq!(csv.text().await.expect("csv").lines().count(), 4);

    // The extension form: bob gets his own deadline (the field holds the session's to start with).
    type_into(b, Locator::Id("ext-student"), "the student field", "bob").await;
    click_then_wait(
        b,
        Locator::Css("form.extend button[type=submit]"),
        "save the extension",
        Locator::Css("table.extensions"),
        "the extension list",
    )
    .await;
    let page = source(b).await;
    assert!(page.contains("Students with their own deadline"), "{page}");
    // bob's page, from his extension.
    click_then_wait(
        b,
        Locator::Css("table.extensions a[href^='/sessions/lab1/students/']"),
        "open bob's page",
        Locator::Css("table.attempts"),
        "bob's page",
    )
    .await;
    let student = source(b).await;
    assert!(
        student.contains("Deadline that applies")
            && student.contains("course/lab1-bob")
            && !student.contains("course/lab1-alice"),
        "{student}"
    );
    shot(b, &shots, "student.png").await;
    // Removed again from the session page.
    b.goto(&format!("{base}/sessions/lab1"))
        .await
        .expect("session");
    click_then_wait(
        b,
        Locator::Css("table.extensions button[value='remove']"),
        "remove the extension",
        Locator::XPath("//p[contains(., 'No student has an extension')]"),
        "the session page without extensions",
    )
    .await;
    assert_eq!(
        app.audit_count("lab_session.extension_removed", None).await,
        1
    );

    // Sign out: back to the sign-in page, and the cookie no longer opens anything.
    click_then_wait(
        b,
        Locator::Css("form.signout button[type=submit]"),
        "sign out",
        Locator::Id("token"),
        "the sign-in page",
    )
    .await;
    assert_eq!(path_of(b).await, "/login");
    b.goto(&format!("{base}/sessions/lab1"))
        .await
        .expect("goto");
    assert_eq!(path_of(b).await, "/login");
}

/// The target of the current page's link `text`, fetched outside the browser with the browser's session
/// cookie.
async fn fetch_link(app: &TestApp, b: &Client, text: &str) -> reqwest::Response {
    let cookie = b
        .get_named_cookie("lt_session")
        .await
        .expect("session cookie");
    let href = b
        .find(Locator::LinkText(text))
        .await
        .unwrap_or_else(|e| panic!("the link {text:?}: {e}"))
        .attr("href")
        .await
        .expect("href")
        .expect("an href");
    app.client
        .get(format!("{}{href}", app.base_url))
        .header("cookie", format!("lt_session={}", cookie.value()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {href}: {e}"))
}

/// A student in Chromium: the check run's Details link, "Sign in with GitHub" (the fake GitHub approves
/// at once), back on that attempt; its proof; their record after an extension. Screenshots
/// `student-attempt.png` and `student-me.png`.
async fn student_from_check_run_to_proof(db: TestDb) {
    let Some(binary) = chromedriver_or_skip() else {
        return;
    };
    let (app, fake) = crate::students::student_app(&db).await;
    crate::students::push_by(
        &app,
        "b-1",
        ("lab1-alice", 7),
        ("alice", 601),
        71,
        1_769_904_000 + 7200,
    )
    .await;
    app.drain().await;
    crate::audit_support::checkpoint(&app);
    fake.sign_in_browser(601, "alice");
    let details = fake.check_runs()[0]
        .details_url
        .clone()
        .expect("details_url");
    in_chromium(&binary, &db, async |browser| {
        drive_student(&app, browser, &details, screenshot_dir(&db)).await;
    })
    .await;
}

/// Run `drive` in a fresh headless Chromium (its own profile under the test's scratch directory); the
/// browser is closed and chromedriver stopped whatever `drive` does, then its panic goes on.
async fn in_chromium(binary: &PathBuf, db: &TestDb, drive: impl AsyncFnOnce(&Client)) {
    let driver = Driver::start(binary).await;
    let profile = db.scratch_dir().join("chromium-profile");
    let browser = driver.browser(&profile).await;
    let result = std::panic::AssertUnwindSafe(drive(&browser))
        .catch_unwind()
        .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn drive_student(app: &TestApp, b: &Client, details: &str, shots: Option<PathBuf>) {
    let base = &app.base_url;
    let attempt_path = details.trim_start_matches(base.as_str()).to_owned();
    b.goto(details).await.expect("goto the Details link");
    assert_eq!(path_of(b).await, "/login");
    click(
        b,
        Locator::LinkText("Sign in with GitHub"),
        "sign in with GitHub",
    )
    .await;
    assert_eq!(path_after(b, "/login").await, attempt_path);
    wait_for(b, Locator::LinkText("Download proof"), "the attempt page").await;
    let page = source(b).await;
    assert!(
        page.contains("your attempt #1") && page.contains("Late by 2 h"),
        "{page}"
    );
    shot(b, &shots, "student-attempt.png").await;

    // The proof link, fetched with the browser's session cookie: the API's proof JSON, as a file.
    let proof = fetch_link(app, b, "Download proof").await;
    assert_eq!(proof.status().as_u16(), 200);
    let id = attempt_path.trim_start_matches("/attempts/");
    assert_eq!(
        proof.headers()["content-disposition"],
        format!("attachment; filename=\"labtrail-proof-{id}.json\"").as_str()
    );

    // An extension later: on time on their record.
    app.extend_lab1("alice", "2026-02-01 03:00");
    app.drain().await;
    click(b, Locator::LinkText("My record"), "open my record").await;
    assert_eq!(path_after(b, &attempt_path).await, "/me");
    let me = source(b).await;
    assert!(
        me.contains("your extension") && me.contains("badge on_time"),
        "{me}"
    );
    shot(b, &shots, "student-me.png").await;
}

/// Issue 25 in Chromium: a student opens the invitation link, signs in with GitHub on the way, picks
/// their name from the roster and gets their repository.
async fn student_accepts_an_invitation(db: TestDb) {
    let Some(binary) = chromedriver_or_skip() else {
        return;
    };
    let (app, fake, path) = crate::invitations::invite_app(&db).await;
    fake.sign_in_browser(701, "alice");
    in_chromium(&binary, &db, async |browser| {
        drive_invitation(&app, browser, &path).await;
    })
    .await;
    assert_eq!(
        fake.collaborators(),
        vec![("course/lab3-alice".into(), "alice".into(), "push".into())]
    );
}

async fn drive_invitation(app: &TestApp, b: &Client, path: &str) {
    b.goto(&format!("{}{path}", app.base_url))
        .await
        .expect("goto the invitation link");
    // Through GitHub's sign-in and back to the invitation: the roster choice.
    wait_for(b, Locator::Css("select#identifier"), "the roster choice").await;
    assert_eq!(path_of(b).await, path);
    choose(
        b,
        Locator::Css("select#identifier"),
        "the roster choice",
        "id-alice",
    )
    .await;
    click_then_wait(
        b,
        Locator::XPath("//button[text()='Create my repository']"),
        "accept the invitation",
        Locator::Id("repository"),
        "the repository page",
    )
    .await;
    let repo = b
        .find(Locator::Id("repository"))
        .await
        .expect("the repository link");
    assert_eq!(repo.text().await.expect("text"), "course/lab3-alice");
    let page = source(b).await;
    assert!(page.contains("Deadline"), "{page}");
}
