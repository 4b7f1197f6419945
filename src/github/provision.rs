//! Accepting an invitation (issue 25): link the student's roster entry, record the intent, make
//! `PREFIX-<login>` from the session's template (or adopt the one an earlier try made), add the student
//! as a collaborator with `push`, then mark the repository provisioned under one audit entry. Every step
//! is safe to repeat, so a retry after any failure finishes what the first try began.

use entity::{lab_session, roster_student, session_invitation};
use serde::Deserialize;
use serde_json::json;

use super::{GithubApp, GithubError};
use crate::audit::AuditError;
use crate::db;
use crate::db::invitations::{self, Intent};
use crate::db::roster::{LinkError, RosterAccount};

/// Why an accept stopped; each says what the student (or the instructor) can do.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// The organisation has a roster and the student is not on it yet: they pick an entry.
    #[error("pick your name from the roster")]
    NeedsPick(Vec<roster_student::Model>),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("this server has no GitHub App configured: ask your instructor")]
    NoApp,
    #[error("the labtrail App is not installed on {0}: ask your instructor to install it")]
    NoInstallation(String),
    #[error(
        "a repository {0} already exists and was not made from this assignment's template for you: ask \
         your instructor to rename or delete it, then open the invitation again"
    )]
    NameTaken(String),
    #[error(
        "the labtrail App may not create repositories in {org} ({message}): ask your instructor to \
         accept the App's new permissions (administration: write), then open the invitation again"
    )]
    Permission { org: String, message: String },
    #[error("GitHub is rate limiting labtrail: open the invitation again after {0}")]
    RateLimited(chrono::DateTime<chrono::Utc>),
    #[error("GitHub is not answering right now ({0}): open the invitation again in a few minutes")]
    Unavailable(String),
    #[error("GitHub refused: {0}")]
    Github(GithubError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<sea_orm::DbErr> for AcceptError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Audit(AuditError::Db(e))
    }
}

/// A repository made (or adopted) for the student.
#[derive(Debug, Clone)]
pub struct ProvisionedRepo {
    /// `org/name`.
    pub repository: String,
    pub repository_id: i64,
    /// The roster entry linked to the student, if the organisation has a roster.
    pub roster_identifier: Option<String>,
}

/// What an accept is about.
#[derive(Debug, Clone, Copy)]
pub struct Acceptance<'a> {
    pub session: &'a lab_session::Model,
    pub invitation: &'a session_invitation::Model,
    pub account: &'a RosterAccount,
    pub github_user_id: i64,
    /// The roster identifier the student picked, if they were asked.
    pub pick: Option<&'a str>,
}

/// The roster entry of the student in the session's organisation: theirs already, the one they pick
/// now (linked, audited), or `None` when the organisation has no roster.
async fn roster_entry(
    db: &db::Pool,
    origin: &str,
    actor: &str,
    a: Acceptance<'_>,
) -> Result<Option<roster_student::Model>, AcceptError> {
    let org = &a.session.org;
    if db::roster::list(db, org).await?.is_empty() {
        return Ok(None);
    }
    if let Some(mine) = db::roster::entry_of(db, org, a.account).await? {
        // Linked by login only (an imported roster): record the id too.
        if mine.github_id.is_none() {
            let linked =
                db::roster::link(db, origin, actor, org, &mine.identifier, a.account).await?;
            return Ok(Some(linked));
        }
        return Ok(Some(mine));
    }
    match a.pick {
        Some(identifier) => Ok(Some(
            db::roster::link(db, origin, actor, org, identifier, a.account).await?,
        )),
        None => Err(AcceptError::NeedsPick(db::roster::unlinked(db, org).await?)),
    }
}

/// Accept an invitation (see the module): idempotent, and safe to run twice at once.
pub async fn accept(
    db: &db::Pool,
    app: Option<&GithubApp>,
    origin: &str,
    actor: &str,
    a: Acceptance<'_>,
) -> Result<ProvisionedRepo, AcceptError> {
    if !crate::domain::roster::valid_login(&a.account.login) {
        return Err(LinkError::Login(a.account.login.clone()).into());
    }
    let entry = roster_entry(db, origin, actor, a).await?;
    let org = a.session.org.clone();
    let name = format!("{}-{}", a.invitation.repo_prefix, a.account.login);
    let full = format!("{org}/{name}");
    let row = invitations::begin(
        db,
        &Intent {
            session_id: a.session.id,
            github_user_id: a.github_user_id,
            github_login: a.account.login.clone(),
            roster_student_id: entry.as_ref().map(|e| e.id),
            repository_name: full.clone(),
        },
    )
    .await?;
    let accepted = |repository_id| ProvisionedRepo {
        repository: row.repository_name.clone(),
        repository_id,
        roster_identifier: entry.as_ref().map(|e| e.identifier.clone()),
    };
    if let (entity::states::ProvisionState::Provisioned, Some(id)) = (row.state, row.repository_id)
    {
        return Ok(accepted(id));
    }
    let app = app.ok_or(AcceptError::NoApp)?;
    let installation = db::installations::of_account(db, &org)
        .await?
        .ok_or_else(|| AcceptError::NoInstallation(org.clone()))?;
    let github = Github {
        app,
        installation: installation.id,
        org: &org,
    };
    // The row's own name: a login renamed since the intent keeps its first repository.
    let (_, name) = row.repository_name.split_once('/').unwrap_or((&org, &name));
    let id = github.repository(name, a.invitation).await?;
    github.add_collaborator(name, &a.account.login).await?;
    invitations::finish(db, origin, actor, row.id, id, &a.invitation.template).await?;
    tracing::info!(
        session_id = a.session.id,
        repository_id = id,
        "invitation accepted: repository provisioned"
    );
    Ok(accepted(id))
}

#[derive(Deserialize)]
struct Repo {
    id: i64,
    full_name: String,
    template_repository: Option<Box<TemplateOf>>,
}

#[derive(Deserialize)]
struct TemplateOf {
    full_name: String,
}

/// GitHub as the App's installation on the organisation.
struct Github<'a> {
    app: &'a GithubApp,
    installation: i64,
    org: &'a str,
}

impl Github<'_> {
    /// The id of repository `name` of the organisation: adopted when it exists and was generated from
    /// the template (a repository named `PREFIX-<login>` from this template is this student's: an earlier
    /// or concurrent accept made it), created from the template when it does not exist.
    async fn repository(
        &self,
        name: &str,
        inv: &session_invitation::Model,
    ) -> Result<i64, AcceptError> {
        if let Some(id) = self.existing(name, &inv.template).await? {
            return Ok(id);
        }
        let path = format!("/repos/{}/generate", inv.template);
        let body = json!({
            "owner": self.org, "name": name, "private": inv.private,
            "include_all_branches": false,
        });
        match self
            .app
            .post_json::<Repo>(self.installation, &path, &body)
            .await
        {
            Ok(repo) => Ok(repo.id),
            // Taken meanwhile (a concurrent accept): adopt it if it is from the template.
            Err(GithubError::Status { status: 422, .. }) => self
                .existing(name, &inv.template)
                .await?
                .ok_or_else(|| AcceptError::NameTaken(format!("{}/{name}", self.org))),
            Err(e) => Err(self.explain(e)),
        }
    }

    /// `Some(id)` when `name` exists from `template`; `None` when it does not exist; an error naming it
    /// when it exists from elsewhere.
    async fn existing(&self, name: &str, template: &str) -> Result<Option<i64>, AcceptError> {
        let path = format!("/repos/{}/{name}", self.org);
        match self.app.get_json::<Repo>(self.installation, &path).await {
            Ok((repo, _)) => {
                let from_template = repo
                    .template_repository
                    .is_some_and(|t| t.full_name.eq_ignore_ascii_case(template));
                if from_template {
                    Ok(Some(repo.id))
                } else {
                    Err(AcceptError::NameTaken(repo.full_name))
                }
            }
            Err(GithubError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(self.explain(e)),
        }
    }

    /// `PUT /repos/{org}/{name}/collaborators/{login}` with `push` (`201`: invited, `204`: already one).
    async fn add_collaborator(&self, name: &str, login: &str) -> Result<(), AcceptError> {
        let path = format!("/repos/{}/{name}/collaborators/{login}", self.org);
        self.app
            .put(self.installation, &path, &json!({ "permission": "push" }))
            .await
            .map(|_| ())
            .map_err(|e| self.explain(e))
    }

    /// What a failed call means to the student.
    fn explain(&self, e: GithubError) -> AcceptError {
        match e {
            GithubError::RateLimited { until, .. } => AcceptError::RateLimited(until),
            GithubError::Status {
                status: 403,
                message,
                ..
            } => AcceptError::Permission {
                org: self.org.to_owned(),
                message,
            },
            GithubError::Status { status, .. } if status >= 500 => {
                AcceptError::Unavailable(format!("it answered {status}"))
            }
            GithubError::Transport { .. } => AcceptError::Unavailable("no answer".into()),
            other => AcceptError::Github(other),
        }
    }
}

/// What the invitation page shows before the student accepts.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Their repository exists already.
    Done(entity::provisioned_repository::Model),
    /// They pick their roster entry among these (not linked to anyone), then accept.
    Pick(Vec<roster_student::Model>),
    /// They accept (on the roster already, or the organisation has none).
    Ready,
}

/// Where the student stands on an invitation (no GitHub call, nothing written).
pub async fn prepare(
    db: &db::Pool,
    session: &lab_session::Model,
    account: &RosterAccount,
    github_user_id: i64,
) -> Result<Prepared, sea_orm::DbErr> {
    if let Some(row) = invitations::provision_of(db, session.id, github_user_id).await? {
        if row.state == entity::states::ProvisionState::Provisioned {
            return Ok(Prepared::Done(row));
        }
    }
    let org = &session.org;
    if db::roster::list(db, org).await?.is_empty()
        || db::roster::entry_of(db, org, account).await?.is_some()
    {
        return Ok(Prepared::Ready);
    }
    Ok(Prepared::Pick(db::roster::unlinked(db, org).await?))
}
