//! The instructor web view (docs/design.md §3a): server-rendered pages behind a sign-in (an API token, or
//! GitHub's OAuth web flow), org-scoped and audited like the read API, with strict security headers.
//!
//! - [`auth`]: sessions (cookie, CSRF), the sign-in with a token and the sign-out;
//! - [`oauth`]: "Sign in with GitHub" and the org/team check;
//! - [`pages`]: the handlers; [`views`]: the HTML (maud); [`chart`]: the pushes-over-time SVG.

pub mod auth;
pub mod chart;
pub mod join;
pub mod oauth;
pub mod pages;
pub mod signed;
mod summary;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use secrecy::{ExposeSecret as _, SecretString};

use self::signed::{CookieKey, KeySource};

use crate::http::AppState;

/// The Content-Security-Policy of every page: no script at all, styles and images from here only.
pub use crate::http::pages::CSP;

/// The one stylesheet, shipped in the binary.
const STYLESHEET: &str = include_str!("style.css");

/// The App's OAuth client (`GITHUB_CLIENT_ID` / `GITHUB_CLIENT_SECRET`); `Debug` shows the id only.
#[derive(Clone)]
pub struct OauthClient {
    pub client_id: String,
    pub client_secret: SecretString,
}

impl std::fmt::Debug for OauthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OauthClient")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// What the web view needs to know about its deployment.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Where browsers reach labtrail (links, the OAuth callback, `Secure` cookies when https).
    pub public_url: url::Url,
    /// GitHub's web (`GITHUB_WEB_URL`): commit links, the OAuth endpoints, repository links in grades
    /// exports.
    pub github_web_url: url::Url,
    /// GitHub's REST API (the user and membership checks).
    pub github_api_url: url::Url,
    /// "Sign in with GitHub" when set.
    pub oauth: Option<OauthClient>,
    /// `org/team-slug` whose members may see `org` (besides its owners).
    pub instructor_team: Option<(String, String)>,
    /// How long a sign-in lasts.
    pub session_lifetime: Duration,
    /// How long a GitHub sign-in's org access holds before GitHub is asked again.
    pub recheck_after: Duration,
    /// `LABTRAIL_COOKIE_KEY`: the secret the signing key of the login CSRF token and the OAuth state
    /// cookie is derived from; `None`: `GITHUB_CLIENT_SECRET`, else the webhook secret ([`signed`]).
    pub cookie_secret: Option<SecretString>,
}

impl WebConfig {
    /// Defaults for `public_url`: github.com, no OAuth, no team, 8-hour sessions re-checked hourly.
    pub fn new(public_url: url::Url) -> Self {
        Self {
            public_url,
            github_web_url: url::Url::parse("https://github.com").expect("a valid URL"),
            github_api_url: url::Url::parse("https://api.github.com").expect("a valid URL"),
            oauth: None,
            instructor_team: None,
            session_lifetime: Duration::from_secs(8 * 3600),
            recheck_after: Duration::from_secs(3600),
            cookie_secret: None,
        }
    }

    /// The name of cookie `name` as set and read: `__Host-{name}` when the public URL is https (the
    /// browser then keeps it only if it is `Secure`, has `Path=/` and no `Domain`, so no sibling host can
    /// set or shadow it), `name` as is over plain http (local development: browsers refuse `__Host-`
    /// cookies without `Secure`).
    pub fn cookie_name(&self, name: &str) -> String {
        if self.secure_cookies() {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        }
    }

    /// The key of the signed cookie values: from `LABTRAIL_COOKIE_KEY`, else `GITHUB_CLIENT_SECRET`, else
    /// `webhook_secret`, else (setup mode, nothing configured) random to this process.
    pub fn cookie_key(&self, webhook_secret: Option<&SecretString>) -> CookieKey {
        let configured = [
            (self.cookie_secret.as_ref(), KeySource::CookieKey),
            (
                self.oauth.as_ref().map(|o| &o.client_secret),
                KeySource::ClientSecret,
            ),
            (webhook_secret, KeySource::WebhookSecret),
        ];
        configured
            .into_iter()
            .find_map(|(secret, source)| {
                let secret = secret?.expose_secret();
                (!secret.is_empty()).then(|| CookieKey::derive(secret.as_bytes(), source))
            })
            .unwrap_or_else(CookieKey::random)
    }

    /// Cookies get `Secure` when browsers reach us over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The public URL without its trailing slash, to append paths to.
    pub fn base(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// GitHub's web URL without its trailing slash.
    pub fn github_web(&self) -> &str {
        self.github_web_url.as_str().trim_end_matches('/')
    }
}

/// Parse `LABTRAIL_INSTRUCTOR_TEAM` (`org/team-slug`).
pub fn parse_team(s: &str) -> Option<(String, String)> {
    let (org, team) = s.trim().split_once('/')?;
    let ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 100
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    (ok(org) && ok(team)).then(|| (org.to_ascii_lowercase(), team.to_ascii_lowercase()))
}

/// The web view's shared state.
pub struct WebState {
    pub cfg: WebConfig,
    /// The audit checkpoint key's verifier (`labtrail audit public-key`), when this instance signs.
    pub verifier_key: Option<String>,
    /// The client of the OAuth calls.
    pub http: reqwest::Client,
    /// Signs the login CSRF token and the OAuth state cookie.
    pub cookie_key: CookieKey,
}

impl WebState {
    /// The web view's state; its cookie key from `cfg` ([`WebConfig::cookie_key`]) or `webhook_secret`.
    pub fn new(
        cfg: WebConfig,
        verifier_key: Option<String>,
        webhook_secret: Option<&SecretString>,
    ) -> Self {
        let cookie_key = cfg.cookie_key(webhook_secret);
        if cookie_key.source == KeySource::Random {
            tracing::warn!(
                "no LABTRAIL_COOKIE_KEY, GITHUB_CLIENT_SECRET or webhook secret: the web view signs its \
                 sign-in forms with a key of this process, so several instances behind one address \
                 would refuse each other's forms"
            );
        }
        let http = reqwest::Client::builder()
            .user_agent("labtrail")
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        Self {
            cfg,
            verifier_key,
            http,
            cookie_key,
        }
    }
}

/// The state of the web view's handlers: the app's shared state and the web view's own.
#[derive(Clone)]
pub struct WebApp {
    pub app: AppState,
    pub web: Arc<WebState>,
}

/// The web view's routes on `state`, to be merged into the app's router; each answer carries the security
/// headers.
pub fn router(state: WebApp) -> Router {
    Router::new()
        .route("/", get(pages::index))
        .route("/login", get(auth::login_page).post(auth::login_with_token))
        .route("/logout", post(auth::logout))
        .route("/login/github", get(oauth::start))
        .route("/login/callback", get(oauth::callback))
        .route("/sessions/{slug}", get(pages::session))
        .route("/sessions/{slug}/grades.csv", get(pages::grades_csv))
        .route("/sessions/{slug}/students/{name}", get(pages::student))
        .route("/sessions/{slug}/extensions", post(pages::extension))
        .route("/sessions/{slug}/invitation", post(join::rotate))
        .route("/sessions/{slug}/attempts.csv", get(pages::attempts_csv))
        .route("/orgs/{org}/gradebook.csv", get(pages::gradebook_csv))
        .route("/attempts/{id}", get(pages::attempt))
        .route("/attempts/{id}/proof.json", get(pages::proof))
        .route("/audit", get(pages::audit))
        .route("/audit/public-key", get(pages::public_key))
        .route("/me", get(pages::me))
        .route("/join/{code}", get(join::page).post(join::accept))
        .route("/static/style.css", get(stylesheet))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// CSP, no framing, no sniffing, no referrer to GitHub, and no caching of pages (they are personal).
async fn security_headers(req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    crate::http::pages::set_page_headers(h, HeaderValue::from_static(CSP));
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
