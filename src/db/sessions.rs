//! Lab sessions: creation (audited), listing, and lookup by organisation.

use chrono::{DateTime, Utc};
use entity::lab_session::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};

use crate::audit::{self, entries, AuditError};
use crate::domain::session::{repo_matcher, BranchPolicy, RuleError};

/// Why a session could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("invalid organisation login {0:?}")]
    Org(String),
    #[error("invalid slug {0:?}: use lower-case letters, digits, '.', '_' and '-' (at most 64)")]
    Slug(String),
    #[error("the title must not be empty")]
    Title,
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error("the session must close after it opens")]
    Window,
    #[error("organisation {org} already has a session {slug:?}")]
    Exists { org: String, slug: String },
    #[error("organisation {org} has no session {slug:?}")]
    NotFound { org: String, slug: String },
    #[error("no session {0:?}")]
    NoSlug(String),
    #[error("several organisations have a session {0:?}: pass --org")]
    Ambiguous(String),
    #[error("session {slug:?} of {org} was archived already")]
    Archived { org: String, slug: String },
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// A session to create, as given by an instructor.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub org: String,
    pub slug: String,
    pub title: String,
    pub repo_pattern: String,
    pub branch_policy: String,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
}

fn valid_login(s: &str) -> bool {
    !s.is_empty() && s.len() <= 39 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_slug(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 64
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

impl NewSession {
    fn validate(&self) -> Result<(), SessionError> {
        if !valid_login(&self.org) {
            return Err(SessionError::Org(self.org.clone()));
        }
        if !valid_slug(&self.slug) {
            return Err(SessionError::Slug(self.slug.clone()));
        }
        if self.title.trim().is_empty() {
            return Err(SessionError::Title);
        }
        repo_matcher(&self.repo_pattern)?;
        BranchPolicy::parse(&self.branch_policy)?;
        if self.closes_at <= self.opens_at {
            return Err(SessionError::Window);
        }
        Ok(())
    }
}

/// Create a session and its `lab_session.created` audit entry in one transaction.
pub async fn create(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    new: NewSession,
) -> Result<lab_session::Model, SessionError> {
    new.validate()?;
    let org = new.org.to_ascii_lowercase();
    audit::write(db, origin, async |txn, log| {
        let exists = Entity::find()
            .filter(Column::Org.eq(&org))
            .filter(Column::Slug.eq(&new.slug))
            .one(txn)
            .await?;
        if exists.is_some() {
            return Err(SessionError::Exists {
                org,
                slug: new.slug,
            });
        }
        let session = lab_session::ActiveModel {
            org: Set(org),
            slug: Set(new.slug),
            title: Set(new.title.trim().to_owned()),
            repo_pattern: Set(new.repo_pattern.trim().to_owned()),
            branch_policy: Set(new.branch_policy.trim().to_owned()),
            opens_at: Set(new.opens_at),
            closes_at: Set(new.closes_at),
            archived_at: Set(None),
            created_at: Set(Utc::now()),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        log.append(entries::session_created(actor, &session)?)
            .await?;
        Ok(session)
    })
    .await
}

/// Archive a session (it matches no push any more) and audit that, in one transaction.
pub async fn archive(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    org: &str,
    slug: &str,
) -> Result<lab_session::Model, SessionError> {
    let org = org.to_ascii_lowercase();
    audit::write(db, origin, async |txn, log| {
        let Some(session) = Entity::find()
            .filter(Column::Org.eq(&org))
            .filter(Column::Slug.eq(slug))
            .one(txn)
            .await?
        else {
            return Err(SessionError::NotFound {
                org,
                slug: slug.to_owned(),
            });
        };
        if session.archived_at.is_some() {
            return Err(SessionError::Archived {
                org,
                slug: slug.to_owned(),
            });
        }
        let now = Utc::now();
        let mut active: lab_session::ActiveModel = session.into();
        active.archived_at = Set(Some(now));
        let session = active.update(txn).await?;
        log.append(entries::session_archived(actor, session.id, now)?)
            .await?;
        Ok(session)
    })
    .await
}

/// Sessions, optionally of one organisation, by org then slug.
pub async fn list(
    db: &impl ConnectionTrait,
    org: Option<&str>,
) -> Result<Vec<lab_session::Model>, DbErr> {
    let mut q = Entity::find();
    if let Some(org) = org {
        q = q.filter(Column::Org.eq(org.to_ascii_lowercase()));
    }
    q.order_by_asc(Column::Org)
        .order_by_asc(Column::Slug)
        .all(db)
        .await
}

/// Unarchived sessions of an organisation (login compared case-insensitively).
pub async fn active_for_org(
    db: &impl ConnectionTrait,
    org: &str,
) -> Result<Vec<lab_session::Model>, DbErr> {
    Entity::find()
        .filter(Column::Org.eq(org.to_ascii_lowercase()))
        .filter(Column::ArchivedAt.is_null())
        .all(db)
        .await
}

/// The one session `slug` names, within `org` when given.
pub async fn find_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
    org: Option<&str>,
) -> Result<lab_session::Model, SessionError> {
    let mut q = Entity::find().filter(Column::Slug.eq(slug));
    if let Some(org) = org {
        q = q.filter(Column::Org.eq(org.to_ascii_lowercase()));
    }
    let mut found = q.limit(2).all(db).await?;
    match found.len() {
        0 => Err(SessionError::NoSlug(slug.to_owned())),
        1 => Ok(found.remove(0)),
        _ => Err(SessionError::Ambiguous(slug.to_owned())),
    }
}
