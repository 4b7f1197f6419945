//! `/join/<code>`: a student accepts a session's invitation (issue 25). Signed in with GitHub, they pick
//! their roster entry when the organisation has a roster and they are not on it yet, then labtrail makes
//! their repository from the template ([`crate::github::provision`]). A closed, replaced or unknown code
//! is 404; the code is never logged (the request span shows `/join/…`).

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use entity::{lab_session, roster_student};
use maud::{html, Markup};
use serde::Deserialize;

use super::auth::{with_next, WebError, WebUser};
use super::views::{self, local, Header};
use super::WebApp;
use crate::db;
use crate::db::roster::RosterAccount;
use crate::db::tokens::Role;
use crate::github::provision::{self, AcceptError, Acceptance, Prepared};

/// The invitation and the GitHub account of the signed-in user, or why the page cannot go on.
async fn context(
    state: &WebApp,
    code: &str,
    user: Result<WebUser, WebError>,
) -> Result<
    (
        lab_session::Model,
        entity::session_invitation::Model,
        WebUser,
        RosterAccount,
        i64,
    ),
    Response,
> {
    let found = db::invitations::find_open(&state.app.db, code)
        .await
        .map_err(|e| WebError::from(e).into_response())?;
    let Some((session, invitation)) = found else {
        return Err(WebError::NotFound(
            "This invitation link does not work (any more): it was closed or replaced. Ask your \
             instructor for the current link."
                .into(),
        )
        .into_response());
    };
    let user = match user {
        Ok(user) => user,
        Err(
            WebError::SignIn | WebError::SignInFor(_) | WebError::Recheck | WebError::RecheckFor(_),
        ) => {
            let next = format!("/join/{code}");
            return Err(Redirect::to(&with_next("/login/github", &next)).into_response());
        }
        Err(e) => return Err(e.into_response()),
    };
    let (Some(id), Some(login)) = (
        user.session.github_user_id,
        user.session.github_login.clone(),
    ) else {
        return Err(WebError::Forbidden(
            "Sign out, then open the invitation again and sign in with GitHub: your repository is made \
             for your GitHub account."
                .into(),
        )
        .into_response());
    };
    let account = RosterAccount {
        login,
        github_id: Some(id),
    };
    Ok((session, invitation, user, account, id))
}

fn header(user: &WebUser) -> Header<'_> {
    Header {
        label: user.label(),
        csrf: user.csrf(),
        auditor: user.viewer().reads_audit(),
        student: user.is_student(),
    }
}

/// `GET /join/{code}`: sign in with GitHub first; then the roster choice or the accept button, or the
/// repository when it exists.
pub async fn page(
    State(state): State<WebApp>,
    Path(code): Path<String>,
    user: Result<WebUser, WebError>,
) -> Response {
    let (session, _, user, account, id) = match context(&state, &code, user).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let prepared = match provision::prepare(&state.app.db, &session, &account, id).await {
        Ok(p) => p,
        Err(e) => return WebError::from(e).into_response(),
    };
    let body = match prepared {
        Prepared::Done(row) => done(&state, &session, &row.repository_name),
        Prepared::Pick(entries) => form(&session, &code, user.csrf(), Some(&entries), None),
        Prepared::Ready => form(&session, &code, user.csrf(), None, None),
    };
    Html(views::layout(&session.title, Some(&header(&user)), body).into_string()).into_response()
}

/// The accept form.
#[derive(Deserialize)]
pub struct AcceptForm {
    csrf: String,
    /// The roster identifier picked, when asked.
    identifier: Option<String>,
}

/// `POST /join/{code}`: accept (see [`provision::accept`]); an error page says what to do.
pub async fn accept(
    State(state): State<WebApp>,
    Path(code): Path<String>,
    user: Result<WebUser, WebError>,
    Form(f): Form<AcceptForm>,
) -> Response {
    let (session, invitation, user, account, id) = match context(&state, &code, user).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    if let Err(e) = user.check_csrf(&f.csrf) {
        return e.into_response();
    }
    let actor = format!("web_session:{}", user.session.id);
    let acceptance = Acceptance {
        session: &session,
        invitation: &invitation,
        account: &account,
        github_user_id: id,
        pick: f.identifier.as_deref().filter(|s| !s.is_empty()),
    };
    let outcome = provision::accept(
        &state.app.db,
        state.app.github.as_ref(),
        &state.app.origin,
        &actor,
        acceptance,
    )
    .await;
    let (status, body) = match outcome {
        Ok(a) => (StatusCode::OK, done(&state, &session, &a.repository)),
        Err(AcceptError::NeedsPick(entries)) => (
            StatusCode::BAD_REQUEST,
            form(
                &session,
                &code,
                user.csrf(),
                Some(&entries),
                Some("Pick your name first."),
            ),
        ),
        Err(e) => {
            let status = status_of(&e);
            if status.is_server_error() {
                tracing::warn!(session_id = session.id, error = %crate::error::Chain(&e), "invitation: accept failed");
            }
            let message = e.to_string();
            (
                status,
                form(&session, &code, user.csrf(), None, Some(&message)),
            )
        }
    };
    let page = views::layout(&session.title, Some(&header(&user)), body);
    (status, Html(page.into_string())).into_response()
}

/// The status of a failed accept.
fn status_of(e: &AcceptError) -> StatusCode {
    match e {
        AcceptError::NeedsPick(_) | AcceptError::Link(_) => StatusCode::CONFLICT,
        AcceptError::NameTaken(_) => StatusCode::CONFLICT,
        AcceptError::Github(_) => StatusCode::BAD_GATEWAY,
        AcceptError::NoApp
        | AcceptError::NoInstallation(_)
        | AcceptError::Permission { .. }
        | AcceptError::RateLimited(_)
        | AcceptError::Unavailable(_)
        | AcceptError::Audit(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn deadline(session: &lab_session::Model) -> Markup {
    let at: DateTime<Utc> = session.closes_at;
    html! { time datetime=(at.to_rfc3339()) { (local(at, &session.timezone)) } " (" (session.timezone) ")" }
}

/// The accept form: the roster choice when asked, and `error` above it.
fn form(
    session: &lab_session::Model,
    code: &str,
    csrf: &str,
    entries: Option<&[roster_student::Model]>,
    error: Option<&str>,
) -> Markup {
    html! {
        h1 { "Join " (session.title) }
        p { "Deadline: " (deadline(session)) }
        @if let Some(message) = error { p.error role="alert" { (message) } }
        form method="post" action={ "/join/" (code) } {
            input type="hidden" name="csrf" value=(csrf);
            @if let Some(entries) = entries {
                @if entries.is_empty() {
                    p { "Every name on the roster is taken: ask your instructor to link you with " code { "labtrail roster link" } "." }
                } @else {
                    label for="identifier" { "Who are you on the class roster?" }
                    select id="identifier" name="identifier" required {
                        option value="" { "Pick your name" }
                        @for e in entries {
                            option value=(e.identifier) { (e.identifier) @if !e.name.is_empty() { " — " (e.name) } }
                        }
                    }
                }
            }
            button type="submit" { "Create my repository" }
        }
    }
}

/// The repository made for the student.
fn done(state: &WebApp, session: &lab_session::Model, repository: &str) -> Markup {
    let url = format!("{}/{repository}", state.web.cfg.github_web());
    html! {
        h1 { "Your repository for " (session.title) }
        p { "Your repository: " a id="repository" href=(url) { (repository) } }
        p { "GitHub sends you an invitation to it: accept it at " a href={ (url) "/invitations" } { (url) "/invitations" } ", then push your work there." }
        p { "Deadline: " (deadline(session)) }
    }
}

/// The session page's invitation section for staff: the template and how repositories are named,
/// open or closed, and a form that makes a new link (shown once: only its SHA-256 is stored).
pub async fn section(
    state: &WebApp,
    user: &WebUser,
    session: &lab_session::Model,
) -> Result<Option<Markup>, WebError> {
    if user.is_student() {
        return Ok(None);
    }
    let Some(inv) = db::invitations::of_session(&state.app.db, session.id).await? else {
        return Ok(None);
    };
    let may_change = matches!(user.role, Role::Admin | Role::Instructor);
    Ok(Some(html! {
        section.invitation aria-labelledby="invitation" {
            h2 id="invitation" { "Invitation" }
            p {
                "Students open the invitation link, sign in with GitHub, pick their roster entry and get "
                code { (session.org) "/" (inv.repo_prefix) "-<login>" } " from the template "
                code { (inv.template) } " (" @if inv.private { "private" } @else { "public" } "). "
                "The invitation is " strong { @if inv.open { "open" } @else { "closed" } } "."
            }
            @if inv.code_sha256.is_some() {
                p { "A link was made; labtrail keeps only its SHA-256, so it was shown once. Making a new one stops the old one." }
            } @else {
                p { "No link yet." }
            }
            @if may_change {
                form method="post" action={ "/sessions/" (session.slug) "/invitation" } {
                    input type="hidden" name="csrf" value=(user.csrf());
                    input type="hidden" name="org" value=(session.org);
                    button type="submit" { "Make a new invitation link" }
                }
            }
        }
    }))
}

/// The new-link form.
#[derive(Deserialize)]
pub struct RotateForm {
    csrf: String,
    org: String,
}

/// `POST /sessions/{slug}/invitation`: a new invitation code (`session invite --rotate`), audited with the
/// web session as the actor; the page shows the link once.
pub async fn rotate(
    State(state): State<WebApp>,
    user: WebUser,
    Path(slug): Path<String>,
    Form(f): Form<RotateForm>,
) -> Result<Response, WebError> {
    let session = super::pages::staff_form(
        &state,
        &user,
        (&slug, &f.org),
        &f.csrf,
        "Invitation links are made by an instructor or admin.",
    )
    .await?;
    let code = db::invitations::new_code().map_err(WebError::internal)?;
    let actor = format!("web_session:{}", user.session.id);
    db::invitations::rotate(
        &state.app.db,
        &state.app.origin,
        &actor,
        &session.slug,
        Some(&session.org),
        db::invitations::code_sha256(&code),
    )
    .await
    .map_err(|e| match e {
        db::invitations::InvitationError::Audit(e) => WebError::from(e),
        other => WebError::BadRequest(other.to_string()),
    })?;
    let link = format!("{}/join/{}", state.web.cfg.base(), code.as_str());
    let body = html! {
        h1 { "Invitation link of " (session.title) }
        p { "Send this link to your students. It is shown only now (labtrail keeps its SHA-256); the previous link no longer works." }
        p { input #link name="link" value=(link) type="text" readonly size="80"; }
        p { a href={ "/sessions/" (session.slug) "?org=" (session.org) } { "Back to the session" } }
    };
    Ok(
        Html(views::layout(&session.title, Some(&header(&user)), body).into_string())
            .into_response(),
    )
}
