//! Web sessions: the `lt_session` cookie (HttpOnly, `SameSite=Lax`, `Secure` over https) naming a
//! `web_session` row by the SHA-256 of its value, CSRF tokens on every form, the sign-in with an API
//! token and the sign-out. A page without a live session redirects to `/login`.

use axum::extract::{Form, FromRequestParts, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use cookie::{Cookie, SameSite};
use entity::states::SignInMethod;
use entity::web_session;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use super::{views, WebApp, WebConfig};
use crate::audit::AuditError;
use crate::db::tokens::{self, Role};
use crate::db::web_sessions::{self, SignIn, WebSessionError};
use crate::db::DbErr;
use crate::metrics::SignInFailure;
use crate::reads::{ReadError, Viewer};

/// The session cookie (`__Host-lt_session` over https: [`WebConfig::cookie_name`]).
pub const SESSION_COOKIE: &str = "lt_session";
/// The sign-in form's CSRF cookie: a random value; the form's hidden `csrf` must be the server's MAC of
/// it ([`super::signed::CookieKey::login_csrf`]).
pub const LOGIN_CSRF_COOKIE: &str = "lt_login_csrf";

/// An error of a web page: a redirect to the sign-in, or a small HTML page with the status.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("sign in first")]
    SignIn,
    /// No live session on a page: sign in, then come back to this same-origin path.
    #[error("sign in first")]
    SignInFor(String),
    /// The session's GitHub access is due for its re-check: through GitHub again.
    #[error("sign in again")]
    Recheck,
    /// The re-check, then back to this same-origin path.
    #[error("sign in again")]
    RecheckFor(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// GitHub refused or failed the sign-in.
    #[error("GitHub sign-in failed: {0}")]
    Github(String),
    #[error("the database is unavailable, try again shortly")]
    Unavailable(#[source] DbErr),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl WebError {
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }
}

impl From<DbErr> for WebError {
    fn from(e: DbErr) -> Self {
        Self::Unavailable(e)
    }
}

impl From<AuditError> for WebError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Db(e) => Self::Unavailable(e),
            other => Self::internal(other),
        }
    }
}

/// The web view's wording of a read that gave nothing.
impl From<ReadError> for WebError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NoSession(slug) => Self::NotFound(format!("No session {slug:?}.")),
            ReadError::AmbiguousSlug(slug) => Self::BadRequest(format!(
                "Several organisations have a session {slug:?}: add ?org= to the address."
            )),
            ReadError::NoStudent(name) => {
                Self::NotFound(format!("No student {name:?} in this session."))
            }
            ReadError::NoAttempt(id) => Self::NotFound(format!("No attempt {id}.")),
            ReadError::NoPage(page) => Self::NotFound(format!("No page {page} of files.")),
            ReadError::NoRowsPage(page) => Self::NotFound(format!("No page {page} of students.")),
            ReadError::NotCovered {
                message,
                retry_after_secs,
            } => Self::NotFound(format!(
                "{message}: the proof is ready once the next checkpoint is signed (within \
                 {retry_after_secs} s)."
            )),
            ReadError::Archived(message) | ReadError::BadRange(message) => Self::NotFound(message),
            e @ ReadError::NoCheckpoint => Self::NotFound(e.to_string()),
            ReadError::NeedsAuditRole => {
                Self::Forbidden("The audit page needs an auditor or admin sign-in.".into())
            }
            e @ ReadError::OtherOrg => Self::Forbidden(e.to_string()),
            ReadError::Db(e) => Self::Unavailable(e),
            ReadError::Audit(e) => Self::internal(e),
            ReadError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<WebSessionError> for WebError {
    fn from(e: WebSessionError) -> Self {
        match e {
            WebSessionError::Audit(e) => e.into(),
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::SignIn => return Redirect::to("/login").into_response(),
            Self::SignInFor(next) => {
                return Redirect::to(&with_next("/login", next)).into_response()
            }
            Self::Recheck => return Redirect::to("/login/github").into_response(),
            Self::RecheckFor(next) => {
                return Redirect::to(&with_next("/login/github", next)).into_response()
            }
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Github(e) => {
                tracing::warn!(error = %e, "web: GitHub sign-in failed");
                StatusCode::BAD_GATEWAY
            }
            Self::Unavailable(e) => {
                tracing::error!(error = %e, "web: database unavailable");
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, "web: internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (
            status,
            Html(views::error_page(status, &self.to_string()).into_string()),
        )
            .into_response()
    }
}

/// A return path a browser may be sent back to after signing in: a path of this site only (`/…`, not
/// `//host…` nor `/\\host…`, no control characters, at most 1000 bytes), never the sign-in pages
/// themselves; anything else is ignored (`None`).
pub fn same_origin_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 1000
        && !next.chars().any(char::is_control)
        && !next.starts_with("/login")
        && !next.starts_with("/logout");
    ok.then_some(next)
}

/// `path?next=<next>` (URL-encoded), or `path` when `next` is not a same-origin path or is `/`.
pub fn with_next(path: &str, next: &str) -> String {
    match same_origin_path(next).filter(|n| *n != "/") {
        Some(n) => format!(
            "{path}?next={}",
            url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => path.to_owned(),
    }
}

/// The path and query a GET asked for, to come back to after signing in (`None` for other methods).
fn asked_for(parts: &Parts) -> Option<String> {
    (parts.method == axum::http::Method::GET)
        .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
        .flatten()
}

/// The value of cookie `name` (as [`WebConfig::cookie_name`] names it: `__Host-` over https) from the
/// request's `Cookie` headers.
pub fn cookie_value(cfg: &WebConfig, headers: &HeaderMap, name: &str) -> Option<String> {
    crate::http::pages::request_cookie(headers, &cfg.cookie_name(name))
}

/// A `Set-Cookie` value: HttpOnly, `SameSite=Lax`, path `/`, no `Domain`, and over https `Secure` and the
/// `__Host-` name ([`WebConfig::cookie_name`]); `max_age` `None` removes it.
pub fn set_cookie(cfg: &WebConfig, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = Cookie::build((cfg.cookie_name(name), value.to_owned()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(cfg.secure_cookies())
        .path("/");
    c = match max_age {
        Some(secs) => c.max_age(cookie::time::Duration::seconds(secs)),
        None => c.max_age(cookie::time::Duration::ZERO),
    };
    HeaderValue::from_str(&c.build().to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// Append to `response` the `Set-Cookie` that removes cookie `name`.
pub fn remove_cookie(response: &mut Response, cfg: &WebConfig, name: &str) {
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(cfg, name, "", None));
}

/// Constant-time equality of a presented secret and the expected one.
pub fn same_secret(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// A signed-in browser: its session, role and the organisations it may see.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub session: web_session::Model,
    pub role: Role,
    /// `None`: every organisation.
    orgs: Option<Vec<String>>,
}

impl FromRequestParts<WebApp> for WebUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &WebApp) -> Result<Self, WebError> {
        let sign_in = || asked_for(parts).map_or(WebError::SignIn, WebError::SignInFor);
        let cookie =
            cookie_value(&state.web.cfg, &parts.headers, SESSION_COOKIE).ok_or_else(sign_in)?;
        let now = Utc::now();
        let session = web_sessions::find(&state.app.db, &cookie, now)
            .await?
            .ok_or_else(sign_in)?;
        match session.method {
            // A revoked token ends its web sessions too.
            SignInMethod::Token => {
                let active = match session.api_token_id {
                    Some(id) => tokens::is_active(&state.app.db, id).await?,
                    None => false,
                };
                if !active {
                    web_sessions::end(&state.app.db, &state.app.origin, &session, "token_revoked")
                        .await?;
                    return Err(WebError::SignIn);
                }
            }
            SignInMethod::Github => {
                let stale = chrono::Duration::from_std(state.web.cfg.recheck_after)
                    .map_or(true, |d| session.checked_at + d <= now);
                if stale {
                    web_sessions::end(&state.app.db, &state.app.origin, &session, "recheck")
                        .await?;
                    return Err(asked_for(parts).map_or(WebError::Recheck, WebError::RecheckFor));
                }
            }
        }
        let role = session.role;
        let orgs = session.orgs.as_ref().map(|o| {
            o.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        });
        Ok(Self {
            session,
            role,
            orgs,
        })
    }
}

impl WebUser {
    /// May this browser see `org`'s sessions and attempts?
    pub fn may_see(&self, org: &str) -> bool {
        self.orgs
            .as_ref()
            .is_none_or(|orgs| orgs.iter().any(|o| o == org))
    }

    /// This browser as a reader (`reads`): a student by their GitHub id, staff by role and organisations.
    pub fn viewer(&self) -> Viewer {
        match (self.role, self.session.github_user_id) {
            (Role::Student, Some(github_id)) => Viewer::student_with_login(
                self.session.id,
                github_id,
                self.session.github_login.clone(),
            ),
            // A student row without its GitHub id sees nothing: staff of no organisation.
            (Role::Student, None) => Viewer::web(self.session.id, self.role, Some(Vec::new())),
            (role, _) => Viewer::web(self.session.id, role, self.orgs.clone()),
        }
    }

    /// Signed in as a student (GitHub, no organisation owned or taught).
    pub fn is_student(&self) -> bool {
        self.role == Role::Student
    }

    /// Who is shown as signed in (a GitHub login, or the kind of token).
    pub fn label(&self) -> String {
        match &self.session.github_login {
            Some(login) => login.clone(),
            None => format!("{} token", self.role),
        }
    }

    /// The CSRF token of this session's forms.
    pub fn csrf(&self) -> &str {
        &self.session.csrf_secret
    }

    /// Refuse a form whose `csrf` is not this session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), WebError> {
        if same_secret(presented, &self.session.csrf_secret) {
            Ok(())
        } else {
            Err(WebError::Forbidden(
                "this form has expired or was not sent by labtrail: reload the page and try again"
                    .into(),
            ))
        }
    }
}

/// `?next=`: where to go after signing in (a same-origin path; anything else is ignored).
#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

impl NextQuery {
    /// The return path, when it is a same-origin path.
    pub fn path(&self) -> Option<&str> {
        self.next.as_deref().and_then(same_origin_path)
    }
}

/// `GET /login`: the sign-in page (a fresh CSRF cookie for its form); `?next=` goes on to GitHub's.
pub async fn login_page(
    State(state): State<WebApp>,
    headers: HeaderMap,
    axum::extract::Query(next): axum::extract::Query<NextQuery>,
) -> Response {
    login_form_to(&state, &headers, StatusCode::OK, None, next.path())
}

fn login_form(
    state: &WebApp,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    login_form_to(state, headers, status, error, None)
}

fn login_form_to(
    state: &WebApp,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
    next: Option<&str>,
) -> Response {
    let existing =
        cookie_value(&state.web.cfg, headers, LOGIN_CSRF_COOKIE).filter(|c| c.len() >= 32);
    let (cookie, fresh) = match existing {
        Some(c) => (c, false),
        None => match web_sessions::random_secret() {
            Ok(s) => (s.to_string(), true),
            Err(e) => return WebError::from(e).into_response(),
        },
    };
    // The form carries the server's MAC of the cookie, not the cookie itself.
    let csrf = state.web.cookie_key.login_csrf(&cookie);
    let github = state
        .web
        .cfg
        .oauth
        .is_some()
        .then(|| with_next("/login/github", next.unwrap_or("/")));
    let page = views::login(github.as_deref(), &csrf, error);
    let mut response = (status, Html(page.into_string())).into_response();
    if fresh {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(&state.web.cfg, LOGIN_CSRF_COOKIE, &cookie, Some(3600)),
        );
    }
    response
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /login`: sign in with an API token (the form's `csrf` must be the server's MAC of its cookie).
pub async fn login_with_token(
    State(state): State<WebApp>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Result<Response, WebError> {
    let cookie = cookie_value(&state.web.cfg, &headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if !state.web.cookie_key.check_login_csrf(&cookie, &form.csrf) {
        state.app.metrics.sign_in_failed(SignInFailure::LoginForm);
        return Err(WebError::Forbidden(
            "the sign-in form has expired or was not sent by labtrail: reload it and try again"
                .into(),
        ));
    }
    let presented = form.token.trim();
    let token = match presented {
        "" => None,
        t => tokens::authenticate(&state.app.db, t).await?,
    };
    let Some(token) = token else {
        // Counted, not logged a line each (`jobs::refusals` logs a summary).
        state.app.metrics.sign_in_failed(SignInFailure::WebToken);
        return Ok(login_form(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("That token is unknown or revoked."),
        ));
    };
    start_session(&state, &SignIn::Token(token)).await
}

/// Create the session, set its cookie and go to the session list.
pub async fn start_session(state: &WebApp, sign_in: &SignIn) -> Result<Response, WebError> {
    start_session_to(state, sign_in, None).await
}

/// Create the session, set its cookie and go to `next` (a same-origin path) or the front page.
pub async fn start_session_to(
    state: &WebApp,
    sign_in: &SignIn,
    next: Option<&str>,
) -> Result<Response, WebError> {
    let cfg = &state.web.cfg;
    let lifetime = chrono::Duration::from_std(cfg.session_lifetime)
        .unwrap_or_else(|_| chrono::Duration::hours(8));
    let (_, cookie) =
        web_sessions::create(&state.app.db, &state.app.origin, sign_in, lifetime).await?;
    let to = next.and_then(same_origin_path).unwrap_or("/");
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(cfg, SESSION_COOKIE, &cookie, Some(lifetime.num_seconds())),
    );
    remove_cookie(&mut response, cfg, LOGIN_CSRF_COOKIE);
    Ok(response)
}

/// A form carrying only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`: end the session (with its CSRF token) and clear the cookie.
pub async fn logout(
    State(state): State<WebApp>,
    user: WebUser,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    user.check_csrf(&form.csrf)?;
    web_sessions::end(&state.app.db, &state.app.origin, &user.session, "sign_out").await?;
    let mut response = Redirect::to("/login").into_response();
    remove_cookie(&mut response, &state.web.cfg, SESSION_COOKIE);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> WebConfig {
        WebConfig::new(url::Url::parse(url).expect("url"))
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_over_https() {
        let https = set_cookie(
            &cfg("https://labtrail.example.edu/"),
            SESSION_COOKIE,
            "v",
            Some(60),
        );
        let https = https.to_str().expect("ascii");
        for flag in [
            "lt_session=v",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(https.contains(flag), "{https}");
        }
        assert!(https.starts_with("__Host-lt_session=v"), "{https}");
        assert!(!https.contains("Domain"), "{https}");
        let http = set_cookie(&cfg("http://localhost:3000"), SESSION_COOKIE, "v", Some(60));
        let http = http.to_str().expect("ascii");
        assert!(
            http.starts_with("lt_session=v") && !http.contains("Secure"),
            "{http}"
        );
        let gone = set_cookie(&cfg("http://localhost:3000"), SESSION_COOKIE, "", None);
        assert!(gone.to_str().expect("ascii").contains("Max-Age=0"));
    }

    #[test]
    fn over_https_only_the_host_prefixed_cookie_is_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("lt_session=planted; __Host-lt_session=mine"),
        );
        let https = cfg("https://labtrail.example.edu/");
        let http = cfg("http://127.0.0.1:3000/");
        assert_eq!(
            cookie_value(&https, &headers, SESSION_COOKIE).as_deref(),
            Some("mine")
        );
        assert_eq!(
            cookie_value(&http, &headers, SESSION_COOKIE).as_deref(),
            Some("planted")
        );
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("lt_session=planted"),
        );
        assert_eq!(cookie_value(&https, &headers, SESSION_COOKIE), None);
    }

    #[test]
    fn only_same_origin_paths_are_return_paths() {
        for ok in ["/attempts/98", "/me", "/attempts/3?page=2#files", "/"] {
            assert_eq!(same_origin_path(ok), Some(ok), "{ok}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "/\\/evil.example",
            "evil",
            "",
            "/login/github",
            "/logout",
            "/a\nb",
            "javascript:alert(1)",
        ] {
            assert_eq!(same_origin_path(bad), None, "{bad:?}");
        }
        assert_eq!(
            with_next("/login", "/attempts/9"),
            "/login?next=%2Fattempts%2F9"
        );
        assert_eq!(with_next("/login", "//evil"), "/login");
        assert_eq!(with_next("/login", "/"), "/login");
    }

    #[test]
    fn secrets_compare_whole_and_never_empty() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", ""));
    }
}
