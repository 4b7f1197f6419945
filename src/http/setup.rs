//! `GET /setup` and `GET /setup/callback`: create the GitHub App from the manifest (setup mode only).
//!
//! `/setup` opens only with the one-time setup code `serve` prints in its log; its first valid use binds
//! the browser with an HttpOnly cookie, and only that browser gets `state` values. A `state` is paired
//! with the hash of the browser's cookie secret, expires, and is redeemed once, by that browser only.
//! docs/security.md has the threat model.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::github::app_setup::{self as setup, Credentials, SetupConfig, SetupError};

/// The cookie binding the browser that used the setup code.
const COOKIE: &str = "labtrail_setup";
/// Pending `state` values one browser may hold; its oldest is dropped for a new one.
const MAX_PENDING_PER_BROWSER: usize = 8;
/// Pending `state` values in all; past it new ones are refused (503), nobody's are dropped.
const MAX_PENDING: usize = 64;
/// How long a `state` stays good (GitHub's manifest code lives one hour).
const STATE_TTL: Duration = Duration::from_secs(3600);

type Digest32 = [u8; 32];

fn sha256(s: &str) -> Digest32 {
    Sha256::digest(s.as_bytes()).into()
}

#[derive(Debug)]
struct Pending {
    browser: Digest32,
    issued: Instant,
}

#[derive(Debug)]
struct Inner {
    /// The setup code's hash until its first valid use.
    code: Option<Digest32>,
    /// Hashes of the cookie secrets of bound browsers.
    browsers: HashSet<Digest32>,
    pending: HashMap<String, Pending>,
    /// An App was created (its credentials written or shown): nothing more to set up until `serve`
    /// restarts.
    done: bool,
}

/// The flow's settings, the setup code and the browser-bound `state` values.
#[derive(Debug)]
pub struct SetupState {
    pub cfg: SetupConfig,
    inner: Mutex<Inner>,
}

/// A refusal: an HTML page for browsers, JSON for the rest.
#[derive(Debug)]
pub struct SetupRefusal {
    status: StatusCode,
    title: &'static str,
    message: String,
    html: bool,
}

impl IntoResponse for SetupRefusal {
    fn into_response(self) -> Response {
        let mut response = if self.html {
            (
                self.status,
                page(self.title, html! { p { (self.message) } }),
            )
                .into_response()
        } else {
            let body = axum::Json(serde_json::json!({ "error": self.message }));
            (self.status, body).into_response()
        };
        no_store(&mut response);
        response
    }
}

fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Why a browser's `state` is not redeemed.
#[derive(Debug, PartialEq, Eq)]
enum Redeem {
    Ok,
    Unknown,
}

impl SetupState {
    pub fn new(cfg: SetupConfig) -> Self {
        let code = sha256(cfg.code.expose_secret());
        Self {
            cfg,
            inner: Mutex::new(Inner {
                code: Some(code),
                browsers: HashSet::new(),
                pending: HashMap::new(),
                done: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The bound browser presenting `secret`, if any.
    fn browser(&self, secret: Option<&str>) -> Option<Digest32> {
        let hash = sha256(secret?);
        self.lock().browsers.contains(&hash).then_some(hash)
    }

    /// Use the setup code (constant-time comparison): a new browser secret, or `None` when the code is
    /// wrong or was used already.
    fn bind(&self, code: &str) -> Option<String> {
        let mut inner = self.lock();
        let stored = inner.code?;
        if !bool::from(stored.ct_eq(&sha256(code))) {
            return None;
        }
        inner.code = None;
        let secret = hex::encode(crate::secrets::random_or_panic::<32>().as_slice());
        inner.browsers.insert(sha256(&secret));
        Some(secret)
    }

    /// A new `state` for `browser`, or `None` when the server holds its maximum.
    fn issue(&self, browser: Digest32) -> Option<String> {
        let mut inner = self.lock();
        inner.pending.retain(|_, p| p.issued.elapsed() < STATE_TTL);
        let own: Vec<(String, Instant)> = inner
            .pending
            .iter()
            .filter(|(_, p)| p.browser == browser)
            .map(|(s, p)| (s.clone(), p.issued))
            .collect();
        if own.len() >= MAX_PENDING_PER_BROWSER {
            if let Some((oldest, _)) = own.iter().min_by_key(|(_, t)| *t) {
                inner.pending.remove(oldest);
            }
        }
        if inner.pending.len() >= MAX_PENDING {
            return None;
        }
        let state = hex::encode(crate::secrets::random_or_panic::<16>().as_slice());
        inner.pending.insert(
            state.clone(),
            Pending {
                browser,
                issued: Instant::now(),
            },
        );
        Some(state)
    }

    /// Redeem `state` for `browser`: once, before it expires, only by the browser it was issued to
    /// (another browser's attempt leaves it pending).
    fn redeem(&self, browser: Digest32, state: &str) -> Redeem {
        let mut inner = self.lock();
        match inner.pending.get(state) {
            Some(p) if p.browser == browser && p.issued.elapsed() < STATE_TTL => {
                inner.pending.remove(state);
                Redeem::Ok
            }
            _ => Redeem::Unknown,
        }
    }

    fn is_done(&self) -> bool {
        self.lock().done
    }

    fn set_done(&self) {
        let mut inner = self.lock();
        inner.done = true;
        inner.pending.clear();
    }
}

/// The security headers of the web view's pages ([`crate::http::pages::set_page_headers`]) on every
/// `/setup` answer; its CSP lets the manifest form post to GitHub's web origin as well.
pub async fn page_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let github = state
        .setup
        .as_ref()
        .map_or(&state.github_web_url, |s| &s.cfg.github_web_url);
    let csp = super::pages::csp_with_form_action(&github.origin().ascii_serialization());
    let mut response = next.run(req).await;
    let value = HeaderValue::from_str(&csp).unwrap_or(HeaderValue::from_static(super::pages::CSP));
    super::pages::set_page_headers(response.headers_mut(), value);
    response
}

/// A setup page (maud: the template escapes every value).
fn page(title: &str, body: Markup) -> axum::response::Html<String> {
    let page = html! {
        (PreEscaped("<!doctype html>"))
        html {
            head { meta charset="utf-8"; title { "labtrail setup" } }
            body { h1 { (title) } (body) }
        }
    };
    axum::response::Html(page.into_string())
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// The value of the setup cookie, if the request carries it.
fn cookie(headers: &HeaderMap) -> Option<String> {
    super::pages::request_cookie(headers, COOKIE)
}

/// The `Set-Cookie` value binding a browser (`Secure` when the public URL is https).
fn set_cookie(secret: &str, cfg: &SetupConfig) -> Option<HeaderValue> {
    let secure = if cfg.public_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={secret}; HttpOnly; SameSite=Lax; Path=/setup; Max-Age=86400{secure}"
    ))
    .ok()
}

/// Builds refusals in the format the client asked for.
struct Refuse {
    html: bool,
}

impl Refuse {
    fn new(headers: &HeaderMap) -> Self {
        Self {
            html: wants_html(headers),
        }
    }

    fn with(
        &self,
        status: StatusCode,
        title: &'static str,
        message: impl Into<String>,
    ) -> SetupRefusal {
        SetupRefusal {
            status,
            title,
            message: message.into(),
            html: self.html,
        }
    }

    fn setup_error(&self, e: &SetupError) -> SetupRefusal {
        let status = match e {
            SetupError::Org => StatusCode::BAD_REQUEST,
            SetupError::Conversion(_) | SetupError::Invalid(_) => StatusCode::BAD_GATEWAY,
            SetupError::EnvUnmergeable(_) | SetupError::NotWritable(_) => StatusCode::CONFLICT,
            SetupError::Template(_) | SetupError::Write(..) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        self.with(status, "Setup cannot continue", e.to_string())
    }
}

fn setup_state<'a>(state: &'a AppState, refuse: &Refuse) -> Result<&'a SetupState, SetupRefusal> {
    match (&state.secrets, &state.setup) {
        (None, Some(setup)) if !setup.is_done() => Ok(setup),
        (None, Some(_)) => Err(refuse.with(
            StatusCode::CONFLICT,
            "Setup is complete",
            "The GitHub App was created and setup has finished: restart labtrail serve to load its \
             credentials from .env (or, if they could not be saved, from where you put the ones the setup \
             page showed).",
        )),
        _ => Err(refuse.with(
            StatusCode::NOT_FOUND,
            "Not found",
            "setup is only available before a webhook secret is configured",
        )),
    }
}

/// `?code=` is the setup code from `serve`'s log; `?org=` creates the App under an organisation.
#[derive(Debug, Deserialize)]
pub struct SetupQuery {
    code: Option<String>,
    org: Option<String>,
}

const NO_CODE: &str = "Open the link labtrail serve printed in its log when it started \
     (…/setup?code=…). The code works once, in one browser; restart labtrail serve for a new one.";

/// The page with the manifest form that posts to GitHub.
pub async fn page_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<SetupQuery>,
) -> Result<Response, SetupRefusal> {
    let refuse = Refuse::new(&headers);
    let setup = setup_state(&state, &refuse)?;
    let (browser, new_secret) = match setup.browser(cookie(&headers).as_deref()) {
        Some(b) => (b, None),
        None => {
            let secret = q
                .code
                .as_deref()
                .and_then(|c| setup.bind(c))
                .ok_or_else(|| {
                    refuse.with(StatusCode::FORBIDDEN, "Setup code required", NO_CODE)
                })?;
            (sha256(&secret), Some(secret))
        }
    };
    // Checked before the browser goes to GitHub: GitHub shows the new App's secrets once.
    setup::check_writable(&setup.cfg).map_err(|e| refuse.setup_error(&e))?;
    let manifest = setup::manifest(&setup.cfg.public_url).map_err(|e| refuse.setup_error(&e))?;
    let st = setup.issue(browser).ok_or_else(|| {
        refuse.with(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many setups in progress",
            "Too many setups are in progress; finish one or try again in an hour.",
        )
    })?;
    let action = setup::form_action(&setup.cfg, q.org.as_deref(), &st)
        .map_err(|e| refuse.setup_error(&e))?;
    let mut response = page(
        "Create the labtrail GitHub App",
        form_body(&setup.cfg, &manifest, &action),
    )
    .into_response();
    if let Some(value) = new_secret.and_then(|s| set_cookie(&s, &setup.cfg)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    no_store(&mut response);
    Ok(response)
}

fn form_body(cfg: &SetupConfig, manifest: &serde_json::Value, action: &str) -> Markup {
    let warnings = setup::public_url_warnings(&cfg.public_url);
    let hook = manifest["hook_attributes"]["url"]
        .as_str()
        .unwrap_or_default();
    html! {
        @for w in &warnings {
            p class="warning" { strong { "Warning:" } " " (w) }
        }
        @if !warnings.is_empty() {
            p {
                "GitHub must reach this server over https. While developing, expose it with a tunnel \
                 (for example " code { "cloudflared tunnel --url http://localhost:3000" } ", "
                code { "ngrok http 3000" } ", or a " a href="https://smee.io" { "smee.io" } " channel), set "
                code { "LABTRAIL_PUBLIC_URL" } " to the tunnel's https URL, restart " code { "labtrail serve" }
                " and open the new setup link. In production, put labtrail behind a reverse proxy with TLS \
                 (docs/security.md)."
            }
        }
        p {
            "GitHub will create an App that receives push events at " code { (hook) } " with read access to \
             contents and metadata and write access to checks. Afterwards labtrail merges its credentials into "
            code { ".env" } " (other settings there are kept) and writes its key to " code { (setup::KEY_FILE) }
            "; restart " code { "labtrail serve" } " to use them."
        }
        form action=(action) method="post" {
            input type="hidden" name="manifest" value=(manifest.to_string());
            button type="submit" { "Create GitHub App" }
        }
        p { "For an organisation, open " code { "/setup?org=ORG" } "." }
    }
}

/// GitHub's redirect after the App was created.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
}

/// Exchange the code for the App's credentials, check them and write them, or show them once.
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, SetupRefusal> {
    let refuse = Refuse::new(&headers);
    let setup = setup_state(&state, &refuse)?;
    let browser = setup.browser(cookie(&headers).as_deref()).ok_or_else(|| {
        refuse.with(
            StatusCode::FORBIDDEN,
            "Not this browser",
            "This browser did not start the setup: finish it in the browser that opened the setup link.",
        )
    })?;
    let (Some(code), Some(st)) = (q.code, q.state) else {
        return Err(refuse.with(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "missing code or state",
        ));
    };
    if setup.redeem(browser, &st) != Redeem::Ok {
        return Err(refuse.with(
            StatusCode::BAD_REQUEST,
            "Unknown state",
            "Unknown, used or expired state: start again at /setup.",
        ));
    }
    // Once more right before the one exchange GitHub allows.
    setup::check_writable(&setup.cfg).map_err(|e| refuse.setup_error(&e))?;
    let app = setup::convert(&setup.cfg, &code)
        .await
        .map_err(|e| refuse.setup_error(&e))?;
    let html_url = app.html_url.clone();
    let creds = Credentials::check(app).map_err(|e| {
        tracing::error!(error = %e, "refused the converted App's credentials; nothing written");
        let mut message = format!("{e}. Nothing was written.");
        if let Some(url) = &html_url {
            message.push_str(&format!(" Delete the new App at {url} and start again."));
        }
        refuse.with(StatusCode::BAD_GATEWAY, "Setup cannot continue", message)
    })?;
    let written = setup::write_credentials(&setup.cfg, &creds);
    setup.set_done();
    let mut response = match written {
        Ok(()) => {
            tracing::info!(
                app_id = creds.app_id,
                "GitHub App created; credentials written to .env"
            );
            page("GitHub App created", written_body(&creds)).into_response()
        }
        Err(e) => {
            tracing::error!(app_id = creds.app_id, error = %e, "cannot write the App's credentials; shown once on the setup page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                page(
                    "Save these credentials now",
                    shown_once_body(&creds, &setup.cfg, &e),
                ),
            )
                .into_response()
        }
    };
    no_store(&mut response);
    Ok(response)
}

fn install_link(creds: &Credentials) -> Markup {
    let link = creds
        .html_url
        .as_deref()
        .map(|u| format!("{}/installations/new", u.trim_end_matches('/')));
    html! {
        @if let Some(link) = link {
            p { "Then install the App on your course organisation: " a href=(link) { (link) } }
        }
    }
}

fn written_body(creds: &Credentials) -> Markup {
    html! {
        p {
            "GitHub App " (creds.app_id) " was created. Its credentials were merged into " code { ".env" }
            " and its key written to " code { (setup::KEY_FILE) } " (both mode 0600). Restart "
            code { "labtrail serve" } ", then run " code { "labtrail doctor" } "."
        }
        (install_link(creds))
    }
}

fn shown_once_body(creds: &Credentials, cfg: &SetupConfig, e: &SetupError) -> Markup {
    let key_path = cfg.dir.join(setup::KEY_FILE);
    let env: String = creds
        .env_lines(&cfg.public_url, &key_path)
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    let key = setup::KEY_FILE;
    html! {
        p {
            strong { "GitHub App " (creds.app_id) " was created, but labtrail could not save its credentials" }
            " (" (e) "). GitHub shows them only once and this page will not show them again: copy them now."
        }
        ol {
            li {
                "Save the private key below as " code { (key) } " in labtrail's working directory and run "
                code { "chmod 600 " (key) } "."
            }
            li {
                "Add these lines to " code { ".env" } " (mode 0600) in the same directory, replacing any with \
                 the same names."
            }
            li { "Restart " code { "labtrail serve" } "." }
        }
        h2 { ".env" }
        pre { (env) }
        h2 { (key) }
        pre { (creds.pem.expose_secret()) }
        (install_link(creds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> SetupState {
        let url = |u: &str| url::Url::parse(u).expect("url");
        SetupState::new(SetupConfig {
            public_url: url("https://labtrail.example.edu"),
            github_web_url: url("https://github.example"),
            github_api_url: url("https://api.github.example"),
            dir: std::env::temp_dir(),
            code: "the-code".to_owned().into(),
        })
    }

    #[test]
    fn the_code_binds_one_browser_once() {
        let s = state();
        assert!(s.bind("the-cod").is_none());
        let secret = s.bind("the-code").expect("bound");
        assert!(s.bind("the-code").is_none(), "used");
        assert_eq!(s.browser(Some(&secret)), Some(sha256(&secret)));
        assert_eq!(s.browser(Some("guess")), None);
    }

    #[test]
    fn a_state_is_redeemed_once_and_only_by_its_browser() {
        let s = state();
        let (a, b) = (sha256("a"), sha256("b"));
        let st = s.issue(a).expect("issued");
        assert_eq!(s.redeem(b, &st), Redeem::Unknown);
        assert_eq!(s.redeem(a, &st), Redeem::Ok, "b's attempt left it pending");
        assert_eq!(s.redeem(a, &st), Redeem::Unknown);
    }

    #[test]
    fn pending_states_are_bounded_without_evicting_other_browsers() {
        let s = state();
        let first = s.issue(sha256("a")).expect("issued");
        let others: Vec<_> = (0..MAX_PENDING * 2)
            .map(|i| s.issue(sha256(&format!("b{i}"))))
            .collect();
        assert!(others.iter().any(Option::is_none), "full: refused");
        assert_eq!(s.redeem(sha256("a"), &first), Redeem::Ok);
        let s = state();
        let own: Vec<_> = (0..MAX_PENDING_PER_BROWSER + 1)
            .map(|_| s.issue(sha256("c")))
            .collect();
        let oldest = own[0].clone().expect("issued");
        let newest = own[MAX_PENDING_PER_BROWSER].clone().expect("issued");
        assert_eq!(
            s.redeem(sha256("c"), &oldest),
            Redeem::Unknown,
            "its own oldest made room"
        );
        assert_eq!(s.redeem(sha256("c"), &newest), Redeem::Ok);
    }
}
