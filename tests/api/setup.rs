//! The App manifest flow: `/setup` opens with the one-time code from `serve`'s log and binds the browser;
//! the callback converts GitHub's code (the fake GitHub's `POST /app-manifests/{code}/conversions`) for that
//! browser only and merges the credentials into `.env`, or shows them once when it cannot.

use std::path::PathBuf;

use reqwest::header::{ACCEPT, COOKIE, SET_COOKIE};
use secrecy::SecretString;

use crate::backend_tests;
use crate::fake_github::{FakeGithub, Route};
use crate::helpers::{
    run, serve_command, spawn_app, spawn_app_with, spawn_serve_until_logged, AppOptions, Backend,
    TestApp, TestDb,
};

const CODE: &str = "0123456789abcdef0123456789abcdef";
const HTML: &str = "text/html,application/xhtml+xml";
/// The public URL most setup tests serve at.
const PUBLIC_URL: &str = "https://labtrail.example.edu";

fn setup_dir(db: &TestDb) -> PathBuf {
    let dir = db.scratch_dir().join("setup");
    std::fs::create_dir_all(&dir).expect("setup dir");
    dir
}

async fn spawn_setup(db: &TestDb, fake: &FakeGithub, public_url: &str) -> TestApp {
    let opts = AppOptions {
        secrets: vec![],
        setup: Some(labtrail::github::app_setup::SetupConfig {
            public_url: url::Url::parse(public_url).expect("url"),
            github_web_url: url::Url::parse("https://github.example").expect("url"),
            github_api_url: url::Url::parse(&fake.api_url()).expect("url"),
            dir: setup_dir(db),
            code: SecretString::from(CODE),
        }),
        ..Default::default()
    };
    spawn_app_with(db, opts).await
}

/// A fake GitHub that converts the code `gh-code` into its App as `edit` changes it, and the app in setup
/// mode at [`PUBLIC_URL`] in front of it.
async fn setup_converting_gh_code(
    db: &TestDb,
    edit: impl FnOnce(&mut serde_json::Value),
) -> (FakeGithub, TestApp) {
    let fake = FakeGithub::start().await;
    fake.add_manifest_code("gh-code", edit);
    let app = spawn_setup(db, &fake, PUBLIC_URL).await;
    (fake, app)
}

/// A browser: its cookie, once the server set one.
struct Browser<'a> {
    app: &'a TestApp,
    cookie: Option<String>,
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self { app, cookie: None }
    }

    async fn get(&mut self, path_and_query: &str) -> (u16, String) {
        let mut req = self
            .app
            .client
            .get(format!("{}{path_and_query}", self.app.base_url))
            .header(ACCEPT, HTML);
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, c);
        }
        let response = req.send().await.expect("get");
        if let Some(set) = response.headers().get(SET_COOKIE) {
            let set = set.to_str().expect("ascii");
            assert!(
                set.contains("HttpOnly") && set.contains("SameSite=Lax"),
                "{set}"
            );
            self.cookie = Some(set.split(';').next().expect("pair").to_owned());
        }
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// Come back from GitHub to the setup callback with `code` and `state`.
    async fn callback(&mut self, code: &str, state: &str) -> (u16, String) {
        self.get(&format!("/setup/callback?code={code}&state={state}"))
            .await
    }

    /// Open the setup page with the setup code and take the `state` from its form.
    async fn start_with_code(&mut self) -> String {
        self.start(&format!("?code={CODE}")).await
    }

    /// Open the setup page (with the code if given) and take the `state` from its form.
    async fn start(&mut self, query: &str) -> String {
        let (status, html) = self.get(&format!("/setup{query}")).await;
        assert_eq!(status, 200, "{html}");
        state_of(&html)
    }
}

fn state_of(html: &str) -> String {
    let marker = "settings/apps/new?state=";
    let start = html.find(marker).expect("form action") + marker.len();
    let state: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    assert_eq!(state.len(), 32, "{html}");
    state
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
}

async fn manifest_flow_writes_credentials_once(db: TestDb) {
    let fake = FakeGithub::start().await;
    fake.add_manifest_code("gh-code-1", |_| {});
    let app = spawn_setup(&db, &fake, PUBLIC_URL).await;
    let mut browser = Browser::new(&app);

    let (status, html) = browser.get(&format!("/setup?code={CODE}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("https://labtrail.example.edu/webhooks/github"),
        "{html}"
    );
    assert!(
        !html.contains("Warning"),
        "an https public URL is not warned about: {html}"
    );
    let state = state_of(&html);
    assert!(
        browser.cookie.is_some(),
        "the first valid use binds the browser"
    );
    // The bound browser needs no code any more; an organisation's page too.
    let (status, org) = browser.get("/setup?org=my-course").await;
    assert_eq!(status, 200);
    assert!(org.contains("https://github.example/organizations/my-course/settings/apps/new"));
    let (status, _) = browser.get("/setup?org=a/b").await;
    assert_eq!(status, 400);

    let (status, html) = browser.callback("gh-code-1", &state).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        !html.contains(&setup_dir(&db).display().to_string()),
        "no absolute path: {html}"
    );
    let env = std::fs::read_to_string(setup_dir(&db).join(".env")).expect(".env written");
    for line in [
        "GITHUB_APP_ID=4242\n",
        "GITHUB_WEBHOOK_SECRET=whsec-from-github\n",
        "GITHUB_CLIENT_ID=Iv23liLabtrailTest\n",
        "GITHUB_CLIENT_SECRET=0123456789abcdef0123456789abcdef01234567\n",
        "LABTRAIL_PUBLIC_URL=https://labtrail.example.edu/\n",
    ] {
        assert!(env.contains(line), "{line} in {env}");
    }
    let key = setup_dir(&db).join("labtrail-app.pem");
    assert_eq!(
        std::fs::read_to_string(&key).expect("key"),
        crate::fake_github::app_key_pem()
    );
    assert!(
        env.contains(&format!("GITHUB_PRIVATE_KEY_PATH={}\n", key.display())),
        "{env}"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&setup_dir(&db).join(".env")), 0o600);
    }
    // Written once: the state is used, and setup is over until `serve` restarts.
    let (status, _) = browser.callback("gh-code-1", &state).await;
    assert_ne!(status, 200);
    let (status, html) = browser.get("/setup").await;
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("restart"), "{html}");
    assert_eq!(fake.count(Route::ConvertManifest), 1);
}

/// `html` is a page that mentions `needle` and offers no way on to GitHub's App form.
fn assert_page_without_form(html: &str, needle: &str) {
    assert!(
        html.starts_with("<!doctype html>") && html.contains(needle),
        "{html}"
    );
    assert!(
        !html.contains("settings/apps/new"),
        "no way to GitHub: {html}"
    );
}

async fn setup_opens_only_with_the_code_once(db: TestDb) {
    let fake = FakeGithub::start().await;
    let app = spawn_setup(&db, &fake, PUBLIC_URL).await;
    let mut stranger = Browser::new(&app);
    let (status, html) = stranger.get("/setup").await;
    assert_eq!(status, 403);
    assert_page_without_form(&html, "setup?code=");
    let (status, _) = stranger
        .get("/setup?code=0123456789abcdef0123456789abcdee")
        .await;
    assert_eq!(status, 403, "a wrong code");
    // Not a browser: the same refusal as JSON.
    let json = app
        .client
        .get(format!("{}/setup", app.base_url))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .expect("get");
    assert_eq!(json.status().as_u16(), 403);
    assert!(json.json::<serde_json::Value>().await.expect("json")["error"].is_string());

    let mut owner = Browser::new(&app);
    owner.start_with_code().await;
    let (status, _) = stranger.get(&format!("/setup?code={CODE}")).await;
    assert_eq!(status, 403, "the code works once");
    assert!(stranger.cookie.is_none());
}

async fn another_browser_cannot_redeem_a_state(db: TestDb) {
    let fake = FakeGithub::start().await;
    fake.add_manifest_code("their-app", |_| {});
    fake.add_manifest_code("our-app", |app| app["webhook_secret"] = "ours".into());
    let app = spawn_setup(&db, &fake, PUBLIC_URL).await;
    let mut owner = Browser::new(&app);
    let state = owner.start_with_code().await;

    // The attacker learned the state (it travels through GitHub) and redeems it with their own App.
    let mut attacker = Browser::new(&app);
    let (status, html) = attacker.callback("their-app", &state).await;
    assert_eq!(status, 403, "{html}");
    attacker.cookie = Some("labtrail_setup=forged".into());
    let (status, _) = attacker.callback("their-app", &state).await;
    assert_eq!(status, 403);
    assert_eq!(
        fake.count(Route::ConvertManifest),
        0,
        "their code was never exchanged"
    );
    assert!(!setup_dir(&db).join(".env").exists());

    // The owner's state is still good, once.
    let (status, html) = owner.callback("our-app", &state).await;
    assert_eq!(status, 200, "{html}");
    let env = std::fs::read_to_string(setup_dir(&db).join(".env")).expect(".env");
    assert!(env.contains("GITHUB_WEBHOOK_SECRET=ours\n"), "{env}");
}

async fn others_cannot_flush_a_pending_state(db: TestDb) {
    let (_fake, app) = setup_converting_gh_code(&db, |_| {}).await;
    let mut owner = Browser::new(&app);
    let state = owner.start_with_code().await;
    let mut flooder = Browser::new(&app);
    for i in 0..200 {
        let query = if i % 2 == 0 {
            String::new()
        } else {
            format!("?code={CODE}")
        };
        let (status, _) = flooder.get(&format!("/setup{query}")).await;
        assert_eq!(status, 403);
    }
    // The owner's own reloads drop only its own oldest states, never beyond its share.
    for _ in 0..5 {
        owner.start("").await;
    }
    let (status, html) = owner.callback("gh-code", &state).await;
    assert_eq!(status, 200, "{html}");
}

async fn an_existing_env_is_merged(db: TestDb) {
    let env_path = setup_dir(&db).join(".env");
    std::fs::write(
        &env_path,
        "# my settings\nDATABASE_URL=postgres://db/labtrail\nGITHUB_APP_ID=1\nGITHUB_PRIVATE_KEY=\"-----BEGIN\nold\n-----END\"\nRUST_LOG=info\n",
    )
    .expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&env_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let (_fake, app) = setup_converting_gh_code(&db, |_| {}).await;
    let mut owner = Browser::new(&app);
    let state = owner.start_with_code().await;
    let (status, html) = owner.callback("gh-code", &state).await;
    assert_eq!(status, 200, "{html}");
    let env = std::fs::read_to_string(&env_path).expect(".env");
    assert!(
        env.starts_with("# my settings\nDATABASE_URL=postgres://db/labtrail\nRUST_LOG=info\n"),
        "{env}"
    );
    assert!(
        env.contains("GITHUB_APP_ID=4242\n") && !env.contains("GITHUB_APP_ID=1\n"),
        "{env}"
    );
    assert!(
        !env.contains("GITHUB_PRIVATE_KEY=") && !env.contains("old"),
        "{env}"
    );
    let parsed: Vec<(String, String)> = dotenvy::from_path_iter(&env_path)
        .expect("parse")
        .collect::<Result<_, _>>()
        .expect("parse");
    assert_eq!(
        parsed.iter().filter(|(k, _)| k == "GITHUB_APP_ID").count(),
        1
    );
    #[cfg(unix)]
    assert_eq!(mode(&env_path), 0o600);
}

async fn an_unwritable_env_is_refused_before_github(db: TestDb) {
    let fake = FakeGithub::start().await;
    // A directory where `.env` should be: nothing can be merged into it.
    std::fs::create_dir_all(setup_dir(&db).join(".env")).expect("dir");
    let app = spawn_setup(&db, &fake, PUBLIC_URL).await;
    let mut owner = Browser::new(&app);
    let (status, html) = owner.get(&format!("/setup?code={CODE}")).await;
    assert_eq!(status, 409, "{html}");
    assert_page_without_form(&html, ".env");
    assert!(
        !html.contains(&setup_dir(&db).display().to_string()),
        "no absolute path: {html}"
    );
    assert_eq!(fake.count(Route::ConvertManifest), 0);
}

async fn credentials_are_shown_once_when_writing_fails(db: TestDb) {
    let (fake, app) = setup_converting_gh_code(&db, |_| {}).await;
    let mut owner = Browser::new(&app);
    let state = owner.start_with_code().await;
    // The directory disappears while GitHub converts the code: the write fails after the only exchange.
    let dir = setup_dir(&db);
    fake.on_conversion(move || std::fs::remove_dir_all(&dir).expect("remove"));
    let (status, html) = owner.callback("gh-code", &state).await;
    assert_eq!(status, 500, "{html}");
    assert!(
        html.contains("GITHUB_WEBHOOK_SECRET=whsec-from-github"),
        "{html}"
    );
    assert!(
        html.contains("GITHUB_CLIENT_SECRET=0123456789abcdef0123456789abcdef01234567"),
        "{html}"
    );
    assert!(
        html.contains("-----BEGIN") && html.contains("chmod 600"),
        "{html}"
    );
    assert!(!db.scratch_dir().join("setup").exists());
    let (status, again) = owner.callback("gh-code", &state).await;
    assert_ne!(status, 200);
    assert!(!again.contains("whsec-from-github"), "shown once: {again}");
}

async fn a_newline_in_a_value_is_refused(db: TestDb) {
    let (_fake, app) = setup_converting_gh_code(&db, |app| {
        app["webhook_secret"] = "s\nGITHUB_API_URL=https://evil.example".into()
    })
    .await;
    let mut owner = Browser::new(&app);
    let state = owner.start_with_code().await;
    let (status, html) = owner.callback("gh-code", &state).await;
    assert_eq!(status, 502, "{html}");
    assert!(
        html.contains("webhook_secret") && html.contains("Nothing was written"),
        "{html}"
    );
    assert!(!html.contains("evil.example"), "{html}");
    assert!(!setup_dir(&db).join(".env").exists());
    assert!(!setup_dir(&db).join("labtrail-app.pem").exists());
}

async fn local_and_plain_http_urls_are_warned_about(db: TestDb) {
    let fake = FakeGithub::start().await;
    let app = spawn_setup(&db, &fake, "http://localhost:3000").await;
    let mut owner = Browser::new(&app);
    let (status, html) = owner.get(&format!("/setup?code={CODE}")).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("is local: GitHub cannot reach it"), "{html}");
    assert!(html.contains("is not https"), "{html}");
    for hint in ["LABTRAIL_PUBLIC_URL", "cloudflared", "ngrok", "smee.io"] {
        assert!(html.contains(hint), "{hint}: {html}");
    }
}

backend_tests!(
    manifest_flow_writes_credentials_once,
    setup_opens_only_with_the_code_once,
    another_browser_cannot_redeem_a_state,
    others_cannot_flush_a_pending_state,
    an_existing_env_is_merged,
    an_unwritable_env_is_refused_before_github,
    credentials_are_shown_once_when_writing_fails,
    a_newline_in_a_value_is_refused,
    local_and_plain_http_urls_are_warned_about,
    setup_pages_carry_the_security_headers,
);

/// Every `/setup` answer (the form, a refusal, the callback) has the web view's headers; its CSP lets the
/// manifest form post to GitHub's web origin and nowhere else.
async fn setup_pages_carry_the_security_headers(db: TestDb) {
    let fake = FakeGithub::start().await;
    let app = spawn_setup(&db, &fake, PUBLIC_URL).await;
    for (path, status) in [
        ("/setup".to_owned(), 403),
        (format!("/setup?code={CODE}"), 200),
        ("/setup/callback?code=x&state=y".to_owned(), 403),
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.base_url))
            .header(ACCEPT, HTML)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status().as_u16(), status, "{path}");
        let h = response.headers();
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' \
             https://github.example; frame-ancestors 'none'; base-uri 'none'",
            "{path}"
        );
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
    }
    // Once configured, /setup is a 404 with the same headers.
    let configured = spawn_app(&db).await;
    let response = configured.get("/setup").await;
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
}

/// The real binary in setup mode prints the one-time link in its log (at `warn`, so `RUST_LOG=warn` shows
/// it), with the public URL's warnings; the link opens the setup page once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_a_one_time_setup_link() {
    run(Backend::Sqlite, |db| async move {
        let mut command = serve_command(&db);
        // The port is the system's pick: the link carries the public URL, the test opens it on the port.
        command
            .env("LABTRAIL_PUBLIC_URL", "http://127.0.0.1:9")
            .env_remove("GITHUB_WEBHOOK_SECRET");
        let (mut serve, log) = spawn_serve_until_logged(command, "setup?code=");
        // The link is logged before the accept loop runs: wait until the server answers at all.
        serve.wait_until_answers("/healthz").await;
        let marker = "http://127.0.0.1:9/setup?code=";
        let start = log
            .find(marker)
            .unwrap_or_else(|| panic!("no setup link in {log}"))
            + marker.len();
        let code: String = log[start..]
            .chars()
            .take_while(|c| c.is_ascii_hexdigit())
            .collect();
        assert_eq!(code.len(), 32, "{log}");
        let client = reqwest::Client::new();
        let link = format!("{}/setup?code={code}", serve.base_url);
        let first = client.get(&link).send().await.expect("get");
        let second = client.get(&link).send().await.expect("get");
        drop(serve);
        assert_eq!(first.status().as_u16(), 200);
        assert!(first.headers().get("set-cookie").is_some());
        assert!(first
            .text()
            .await
            .expect("html")
            .contains("settings/apps/new?state="));
        assert_eq!(second.status().as_u16(), 403, "the code works once");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_is_closed_once_configured() {
    run(Backend::Sqlite, |db| async move {
        let app = spawn_app(&db).await;
        let page = app.get("/setup").await;
        assert_eq!(page.status().as_u16(), 404);
    })
    .await
}
