//! Invitations (issue 25): a session's template and invitation code (stored as its SHA-256), and the
//! repositories made for the students who accept, recorded as an intent before GitHub is called and
//! marked `provisioned` once, under one `repository.provisioned` entry.

use chrono::Utc;
use entity::states::ProvisionState;
use entity::{lab_session, provisioned_repository, session_invitation};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use sha2::{Digest, Sha256};

use crate::audit::{self, entries, AuditError};
use crate::db::sessions::{self, SessionError};

/// Why an invitation could not be set (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    #[error("invalid template {0:?}: give OWNER/REPO")]
    Template(String),
    #[error("invalid repository prefix {0:?}: letters, digits, '.', '_' and '-' only, at most 60")]
    Prefix(String),
    #[error("session {slug} has no template: give --template OWNER/REPO first")]
    NoTemplate { slug: String },
    #[error("nothing to change")]
    NoChange,
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<DbErr> for InvitationError {
    fn from(e: DbErr) -> Self {
        Self::Audit(AuditError::Db(e))
    }
}

/// What `session create|edit` sets of a session's invitation; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct InvitationSettings {
    pub template: Option<String>,
    pub repo_prefix: Option<String>,
    pub private: Option<bool>,
    pub open: Option<bool>,
}

impl InvitationSettings {
    /// Nothing to set.
    pub fn is_empty(&self) -> bool {
        self.template.is_none()
            && self.repo_prefix.is_none()
            && self.private.is_none()
            && self.open.is_none()
    }
}

/// `OWNER/REPO`, checked.
pub fn parse_template(s: &str) -> Result<(String, String), InvitationError> {
    let bad = || InvitationError::Template(s.to_owned());
    let (owner, repo) = s.trim().split_once('/').ok_or_else(bad)?;
    let ok_owner = !owner.is_empty()
        && owner.len() <= 39
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok_owner || !valid_repo_name(repo) {
        return Err(bad());
    }
    Ok((owner.to_owned(), repo.to_owned()))
}

/// A repository name (or prefix) GitHub accepts.
fn valid_repo_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 60
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The `--repos` pattern of a session with a template: `PREFIX-*`.
pub fn repo_pattern(prefix: &str) -> String {
    format!("{prefix}-*")
}

/// A new invitation code: 32 random bytes (256 bits) from the OS, base64url. Shown once, stored as
/// [`code_sha256`].
pub fn new_code() -> Result<zeroize::Zeroizing<String>, crate::secrets::RandomError> {
    use base64::Engine as _;
    let bytes = crate::secrets::random::<32>()?;
    Ok(zeroize::Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()),
    ))
}

/// The SHA-256 (hex) an invitation code is stored as.
pub fn code_sha256(code: &str) -> String {
    hex::encode(Sha256::digest(code.as_bytes()))
}

/// A session's invitation, if it has one.
pub async fn of_session(
    db: &impl ConnectionTrait,
    session_id: i64,
) -> Result<Option<session_invitation::Model>, DbErr> {
    session_invitation::Entity::find_by_id(session_id)
        .one(db)
        .await
}

/// Set the invitation settings of session `slug` (made with the first `--template`), audited as
/// `invitation.edited` in one transaction.
pub async fn configure(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    slug: &str,
    org: Option<&str>,
    set: InvitationSettings,
) -> Result<session_invitation::Model, InvitationError> {
    if let Some(t) = &set.template {
        parse_template(t)?;
    }
    if let Some(p) = set.repo_prefix.as_deref().filter(|p| !valid_repo_name(p)) {
        return Err(InvitationError::Prefix(p.to_owned()));
    }
    audit::write(db, origin, async |txn, log| {
        let session = sessions::find_by_slug(txn, slug, org).await?;
        let old = of_session(txn, session.id).await?;
        let now = Utc::now();
        let base = match &old {
            Some(o) => o.clone(),
            None => session_invitation::Model {
                session_id: session.id,
                template: set
                    .template
                    .clone()
                    .ok_or_else(|| InvitationError::NoTemplate {
                        slug: session.slug.clone(),
                    })?,
                repo_prefix: session.slug.clone(),
                private: true,
                open: true,
                code_sha256: None,
                created_at: now,
                updated_at: now,
            },
        };
        let new = session_invitation::Model {
            template: set.template.clone().unwrap_or(base.template.clone()),
            repo_prefix: set.repo_prefix.clone().unwrap_or(base.repo_prefix.clone()),
            private: set.private.unwrap_or(base.private),
            open: set.open.unwrap_or(base.open),
            updated_at: now,
            ..base
        };
        if old.as_ref().is_some_and(|o| same_settings(o, &new)) {
            return Err(InvitationError::NoChange);
        }
        log.append(entries::invitation_set(actor, &new, false)?)
            .await?;
        save(txn, &new, old.is_none()).await?;
        Ok(new)
    })
    .await
}

fn same_settings(a: &session_invitation::Model, b: &session_invitation::Model) -> bool {
    a.template == b.template
        && a.repo_prefix == b.repo_prefix
        && a.private == b.private
        && a.open == b.open
}

async fn save(
    db: &impl ConnectionTrait,
    i: &session_invitation::Model,
    is_new: bool,
) -> Result<(), DbErr> {
    let mut active = session_invitation::ActiveModel {
        session_id: Set(i.session_id),
        template: Set(i.template.clone()),
        repo_prefix: Set(i.repo_prefix.clone()),
        private: Set(i.private),
        open: Set(i.open),
        code_sha256: Set(i.code_sha256.clone()),
        created_at: Set(i.created_at),
        updated_at: Set(i.updated_at),
    };
    if is_new {
        active.insert(db).await?;
    } else {
        active.session_id = sea_orm::ActiveValue::Unchanged(i.session_id);
        active.created_at = sea_orm::ActiveValue::NotSet;
        active.update(db).await?;
    }
    Ok(())
}

/// Give session `slug`'s invitation the code whose SHA-256 is `code_sha256` (replacing the old one,
/// which stops working), audited as `invitation.rotated`. The caller made the code and shows it once.
pub async fn rotate(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    slug: &str,
    org: Option<&str>,
    code_sha256: String,
) -> Result<(lab_session::Model, session_invitation::Model), InvitationError> {
    audit::write(db, origin, async |txn, log| {
        let session = sessions::find_by_slug(txn, slug, org).await?;
        let old =
            of_session(txn, session.id)
                .await?
                .ok_or_else(|| InvitationError::NoTemplate {
                    slug: session.slug.clone(),
                })?;
        let new = session_invitation::Model {
            code_sha256: Some(code_sha256),
            updated_at: Utc::now(),
            ..old
        };
        log.append(entries::invitation_set(actor, &new, true)?)
            .await?;
        save(txn, &new, false).await?;
        Ok((session, new))
    })
    .await
}

/// The open invitation whose code is `code`, with its session (`None`: unknown, rotated or closed).
pub async fn find_open(
    db: &impl ConnectionTrait,
    code: &str,
) -> Result<Option<(lab_session::Model, session_invitation::Model)>, DbErr> {
    let Some(inv) = session_invitation::Entity::find()
        .filter(session_invitation::Column::CodeSha256.eq(code_sha256(code)))
        .filter(session_invitation::Column::Open.eq(true))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(sessions::get(db, inv.session_id)
        .await?
        .filter(|s| s.archived_at.is_none())
        .map(|s| (s, inv)))
}

/// A student's accept, as recorded before GitHub is called.
#[derive(Debug, Clone)]
pub struct Intent {
    pub session_id: i64,
    pub github_user_id: i64,
    pub github_login: String,
    pub roster_student_id: Option<i64>,
    /// `org/{prefix}-{login}`.
    pub repository_name: String,
}

/// Record the intent of `intent` (or find the one an earlier or concurrent accept recorded: one row per
/// session and student).
pub async fn begin(
    db: &impl ConnectionTrait,
    intent: &Intent,
) -> Result<provisioned_repository::Model, DbErr> {
    if let Some(row) = provision_of(db, intent.session_id, intent.github_user_id).await? {
        return Ok(row);
    }
    let now = Utc::now();
    let inserted = provisioned_repository::ActiveModel {
        session_id: Set(intent.session_id),
        github_user_id: Set(intent.github_user_id),
        github_login: Set(intent.github_login.clone()),
        roster_student_id: Set(intent.roster_student_id),
        repository_name: Set(intent.repository_name.clone()),
        repository_id: Set(None),
        state: Set(ProvisionState::Pending),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    match inserted {
        Ok(row) => Ok(row),
        // A concurrent accept recorded it first.
        Err(e) if crate::db::is_unique_violation(&e) => {
            provision_of(db, intent.session_id, intent.github_user_id)
                .await?
                .ok_or(e)
        }
        Err(e) => Err(e),
    }
}

/// The repository row of a student in a session.
pub async fn provision_of(
    db: &impl ConnectionTrait,
    session_id: i64,
    github_user_id: i64,
) -> Result<Option<provisioned_repository::Model>, DbErr> {
    provisioned_repository::Entity::find()
        .filter(provisioned_repository::Column::SessionId.eq(session_id))
        .filter(provisioned_repository::Column::GithubUserId.eq(github_user_id))
        .one(db)
        .await
}

/// Mark row `id` provisioned with GitHub's `repository_id`, under its one `repository.provisioned`
/// entry; a row already provisioned (by a concurrent accept) is returned as it is, with no entry.
pub async fn finish(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    id: i64,
    repository_id: i64,
    template: &str,
) -> Result<provisioned_repository::Model, AuditError> {
    audit::write(db, origin, async |txn, log| {
        let row = provisioned_repository::Entity::find_by_id(id)
            .one(txn)
            .await?
            .ok_or_else(|| AuditError::Db(DbErr::RecordNotFound(format!("provision {id}"))))?;
        if row.state == ProvisionState::Provisioned {
            return Ok(row);
        }
        let new = provisioned_repository::Model {
            repository_id: Some(repository_id),
            state: ProvisionState::Provisioned,
            updated_at: Utc::now(),
            ..row
        };
        log.append(entries::repository_provisioned(actor, &new, template)?)
            .await?;
        provisioned_repository::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(new.id),
            repository_id: Set(new.repository_id),
            state: Set(new.state),
            updated_at: Set(new.updated_at),
            ..Default::default()
        }
        .update(txn)
        .await?;
        Ok(new)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_owner_and_repository() {
        assert_eq!(
            parse_template("my-course/lab3-template").ok(),
            Some(("my-course".to_owned(), "lab3-template".to_owned()))
        );
        for bad in ["lab3", "/lab3", "a/", "a/b/c", "a b/c", "a/..", "-x/y?z"] {
            assert!(parse_template(bad).is_err(), "{bad}");
        }
        assert_eq!(repo_pattern("lab3"), "lab3-*");
    }

    #[test]
    fn codes_are_random_and_stored_as_their_digest() {
        let (a, b) = (new_code().expect("code"), new_code().expect("code"));
        assert_ne!(a.as_str(), b.as_str());
        assert!(a.len() >= 43, "256 bits in base64url");
        assert_eq!(code_sha256(&a).len(), 64);
        assert_ne!(code_sha256(&a), code_sha256(&b));
    }
}
