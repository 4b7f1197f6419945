//! The third security review's web findings (issue 20, item 4): a page number past any offset is a 404
//! and the server keeps answering (the panic catcher lets answers through); the GitHub sign-in's state is
//! a signed, expiring cookie (no row per visitor; tampered or expired is refused) and GitHub's error is
//! shown in fixed words after the state is checked; the sign-in form's CSRF token is the server's MAC
//! (an attacker's chosen cookie and form pair is refused); cookies are `__Host-` over https.

use chrono::Utc;
use labtrail::web::signed::{CookieKey, KeySource};

use crate::backend_tests;
use crate::helpers::{run_cli, serve_command, spawn_app, ServeProcess, TestDb};
use crate::tokens::create_token;
use crate::web::{
    app_with_oauth, class, instructor_browser, through_github, Browser, CLIENT_SECRET,
};

backend_tests!(
    a_page_number_past_any_offset_is_404_and_the_server_answers,
    github_sign_in_state_is_a_signed_expiring_cookie,
    a_chosen_login_csrf_pair_is_refused,
    cookies_are_host_prefixed_over_https_only,
);

async fn a_page_number_past_any_offset_is_404_and_the_server_answers(db: TestDb) {
    let app = spawn_app(&db).await;
    class(&app).await;
    let (_, mut b) = instructor_browser(&app).await;
    let attempt = app.attempts().await[0].id;
    for page in ["18446744073709551615", "9223372036854775807", "1000000"] {
        let answer = b.get(&format!("/attempts/{attempt}?page={page}")).await;
        assert_eq!(answer.status, 404, "page {page}: {}", answer.body);
        answer.assert_contains("No page");
    }
    // The same browser (and connection pool) still gets its pages: nothing panicked.
    let fine = b.get(&format!("/attempts/{attempt}")).await;
    assert_eq!(fine.status, 200);
    // A normal answer passes through the panic catcher untouched: no request id.
    assert!(fine.headers.get("x-request-id").is_none());
    assert_eq!(b.get("/").await.status, 200);
}

async fn github_sign_in_state_is_a_signed_expiring_cookie(db: TestDb) {
    let (app, fake) = app_with_oauth(&db).await;
    // Anonymous visitors write nothing.
    for _ in 0..50 {
        let mut visitor = Browser::new(&app.base_url);
        let start = visitor.get("/login/github").await;
        assert_eq!(start.status, 303);
        let cookie = start.set_cookie("lt_oauth_state").expect("a state cookie");
        for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
            assert!(cookie.contains(flag), "{cookie}");
        }
    }
    assert_eq!(
        app.count(entity::web_login_state::Entity).await,
        0,
        "no row per anonymous visit"
    );

    // The flow through the fake GitHub still signs in.
    fake.sign_in_browser(501, "prof");
    fake.set_org_role("course", "prof", "admin");
    let mut b = Browser::new(&app.base_url);
    let (done, _) = through_github(&mut b).await;
    assert_eq!((done.status, done.location()), (303, "/"), "{}", done.body);
    assert_eq!(b.get("/").await.status, 200);

    // A tampered cookie (one character of its MAC, or its expiry moved): refused before GitHub is asked.
    let calls = fake.oauth_seen().len();
    let mut t = Browser::new(&app.base_url);
    let start = t.get("/login/github").await;
    let at_github = t.get(start.location()).await;
    let callback = at_github.location().to_owned();
    let genuine = t.cookies["lt_oauth_state"].clone();
    let (body, mac) = genuine.rsplit_once('.').expect("state.expires.mac");
    let flipped = if mac.starts_with('A') { "B" } else { "A" };
    let (state, expires) = body.split_once('.').expect("state.expires");
    let later: i64 = expires.parse::<i64>().expect("expiry") + 3600;
    for forged in [
        format!("{body}.{flipped}{}", &mac[1..]),
        format!("{state}.{later}.{mac}"),
        state.to_owned(),
    ] {
        t.cookies.insert("lt_oauth_state".into(), forged.clone());
        let refused = t.get(&callback).await;
        assert_eq!(refused.status, 403, "{forged}: {}", refused.body);
        refused.assert_contains("not valid any more");
    }
    assert_eq!(
        fake.oauth_seen().len(),
        calls + 1,
        "only the authorize call"
    );

    // Signed with the server's key (derived from GITHUB_CLIENT_SECRET, as documented) but expired.
    let key = CookieKey::derive(CLIENT_SECRET.as_bytes(), KeySource::ClientSecret);
    let now = Utc::now().timestamp();
    let mut e = Browser::new(&app.base_url);
    e.cookies.insert(
        "lt_oauth_state".into(),
        key.state_cookie("nonce-1", now - 1),
    );
    let expired = e.get("/login/callback?state=nonce-1&code=c").await;
    expired.assert_shows(403, "not valid any more");
    // The same, unexpired, passes the state check (and GitHub refuses the made-up code): the key above is
    // the server's, so the expiry alone refused the one before.
    e.cookies.insert(
        "lt_oauth_state".into(),
        key.state_cookie("nonce-1", now + 600),
    );
    let passed = e.get("/login/callback?state=nonce-1&code=c").await;
    assert!(
        !passed.body.contains("not valid any more"),
        "{}",
        passed.body
    );

    // GitHub's error: the state first, then fixed words, never the query's.
    let words = "Your+account+is+locked%3A+call+%2B1-555-0100+now";
    let mut x = Browser::new(&app.base_url);
    let foreign = x
        .get(&format!(
            "/login/callback?error=access_denied&error_description={words}&state=nope"
        ))
        .await;
    foreign.assert_shows(403, "not valid any more");
    x.cookies.insert(
        "lt_oauth_state".into(),
        key.state_cookie("nonce-2", now + 600),
    );
    for error in [
        "access_denied",
        "Your+account+is+locked%3A+call+%2B1-555-0100",
    ] {
        let denied = x
            .get(&format!(
                "/login/callback?error={error}&error_description={words}&state=nonce-2"
            ))
            .await;
        denied.assert_shows(403, "GitHub did not sign you in");
        for echoed in ["locked", "555", "access_denied"] {
            assert!(
                !denied.body.contains(echoed),
                "{echoed} echoed: {}",
                denied.body
            );
        }
    }
    assert_eq!(app.count(entity::web_login_state::Entity).await, 0);
}

async fn a_chosen_login_csrf_pair_is_refused(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = create_token(&app, "teach", "admin", None);
    let mut b = Browser::new(&app.base_url);
    // The attacker plants a cookie and submits the same value (the double submit of old): refused.
    let chosen = "a".repeat(43);
    b.cookies.insert("lt_login_csrf".into(), chosen.clone());
    let refused = b
        .post("/login", &[("token", &token), ("csrf", &chosen)])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    // The form the server made for that cookie is its MAC, not the cookie, and it works.
    let form = b.get("/login").await.field("csrf");
    assert_ne!(form, chosen);
    assert!(!form.is_empty());
    let signed_in = b
        .post("/login", &[("token", &token), ("csrf", &form)])
        .await;
    assert_eq!(
        (signed_in.status, signed_in.location()),
        (303, "/"),
        "{}",
        signed_in.body
    );
}

/// A token sign-in through a real `serve` at `public_url`: the names of the cookies it set.
async fn sign_in_cookie_names(db: &TestDb, public_url: &str, token: &str) -> Vec<String> {
    let mut command = serve_command(db);
    command.env("LABTRAIL_PUBLIC_URL", public_url);
    let serve = ServeProcess::start(command).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let login = client
        .get(format!("{}/login", serve.base_url))
        .send()
        .await
        .expect("login page");
    let set = login.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let (pair, _) = set.split_once(';').expect("attributes");
    let page = login.text().await.expect("page");
    let key = "name=\"csrf\" value=\"";
    let at = page.find(key).expect("the csrf field") + key.len();
    let csrf = page[at..].split('"').next().expect("value").to_owned();
    let mut names = vec![set.clone()];
    // The sign-in form posted with `cookie`.
    let sign_in = async |cookie: &str| {
        client
            .post(format!("{}/login", serve.base_url))
            .header("cookie", cookie)
            .form(&[("token", token), ("csrf", &csrf)])
            .send()
            .await
            .expect("sign in")
    };
    let signed_in = sign_in(pair).await;
    assert_eq!(signed_in.status().as_u16(), 303);
    names.extend(
        signed_in
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().expect("ascii").to_owned()),
    );
    // Over https the plain name is not read: the same pair under it is refused.
    if let Some(plain) = pair.strip_prefix("__Host-") {
        let refused = sign_in(plain).await;
        assert_eq!(refused.status().as_u16(), 403);
    }
    names
}

async fn cookies_are_host_prefixed_over_https_only(db: TestDb) {
    let out = run_cli(
        &db,
        &["token", "create", "--name", "boss", "--role", "admin"],
    );
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("the token")
        .trim()
        .to_owned();
    let https = sign_in_cookie_names(&db, "https://labtrail.example.edu", &token).await;
    assert_eq!(https.len(), 3, "{https:?}");
    for set in &https {
        assert!(set.starts_with("__Host-lt_"), "{set}");
        for flag in ["Secure", "Path=/", "HttpOnly"] {
            assert!(set.contains(flag), "{set}");
        }
        assert!(!set.contains("Domain"), "{set}");
    }
    let http = sign_in_cookie_names(&db, "http://127.0.0.1:3000", &token).await;
    assert_eq!(http.len(), 3, "{http:?}");
    for set in &http {
        assert!(set.starts_with("lt_") && !set.contains("Secure"), "{set}");
    }
}
