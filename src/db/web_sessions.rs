//! Sign-ins to the instructor web view: sessions (random id, stored as SHA-256; audited when created and
//! ended). A pending "Sign in with GitHub" stores nothing: its `state` is in a signed cookie
//! (`web::signed`); the `web_login_state` table is no longer written.

use chrono::{DateTime, Utc};
use entity::states::{Role, SignInMethod};
use entity::{api_token, web_session};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};
use zeroize::Zeroizing;

use crate::audit::{self, entries, AuditError};
use crate::db::tokens::token_hash;

/// Why a sign-in could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum WebSessionError {
    #[error(transparent)]
    Random(#[from] crate::secrets::RandomError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

audit::db_error_via_audit!(WebSessionError);

/// 32 random bytes, URL-safe base64: session ids, CSRF secrets, OAuth states.
pub fn random_secret() -> Result<Zeroizing<String>, WebSessionError> {
    use base64::Engine as _;
    let bytes = crate::secrets::random::<32>()?;
    Ok(Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_ref()),
    ))
}

/// Who signed in and what they may see.
#[derive(Debug, Clone)]
pub enum SignIn {
    /// With a read-API token: its role and organisation.
    Token(api_token::Model),
    /// With GitHub: the user, and the organisations they own or teach (checked just now).
    Github {
        user_id: i64,
        login: String,
        orgs: Vec<String>,
    },
    /// With GitHub, owning and teaching none of the organisations: a student, who sees their own
    /// attempts only (`reads::me`).
    Student { user_id: i64, login: String },
}

/// Create a session (audited as `web_session.created`); returns the row and the cookie value, which is
/// never stored.
pub async fn create(
    db: &impl TransactionTrait,
    origin: &str,
    sign_in: &SignIn,
    lifetime: chrono::Duration,
) -> Result<(web_session::Model, Zeroizing<String>), WebSessionError> {
    let id = random_secret()?;
    let csrf = random_secret()?;
    let now = Utc::now();
    let mut row = web_session::ActiveModel {
        id_sha256: Set(token_hash(&id)),
        csrf_secret: Set(csrf.to_string()),
        created_at: Set(now),
        expires_at: Set(now + lifetime),
        checked_at: Set(now),
        ended_at: Set(None),
        ..Default::default()
    };
    match sign_in {
        SignIn::Token(token) => {
            row.method = Set(SignInMethod::Token);
            row.api_token_id = Set(Some(token.id));
            row.role = Set(token.role);
            row.orgs = Set(token.org.clone());
        }
        SignIn::Github {
            user_id,
            login,
            orgs,
        } => {
            row.method = Set(SignInMethod::Github);
            row.github_user_id = Set(Some(*user_id));
            row.github_login = Set(Some(login.clone()));
            row.role = Set(Role::Instructor);
            row.orgs = Set(Some(orgs.join(",")));
        }
        SignIn::Student { user_id, login } => {
            row.method = Set(SignInMethod::Github);
            row.github_user_id = Set(Some(*user_id));
            row.github_login = Set(Some(login.clone()));
            row.role = Set(Role::Student);
            // No organisation: a student's reads are scoped by their GitHub id, never by org.
            row.orgs = Set(Some(String::new()));
        }
    }
    audit::write(db, origin, async |txn, log| {
        let row = row.insert(txn).await?;
        let entry = match sign_in {
            SignIn::Token(token) => entries::web_session_by_token(row.id, token)?,
            SignIn::Github { user_id, orgs, .. } => {
                entries::web_session_by_github(row.id, *user_id, orgs.len())?
            }
            SignIn::Student { user_id, .. } => {
                entries::web_session_by_github_student(row.id, *user_id)?
            }
        };
        log.append(entry).await?;
        Ok((row, id))
    })
    .await
}

/// The live session a cookie value names: not ended, not expired.
pub async fn find(
    db: &impl ConnectionTrait,
    cookie: &str,
    now: DateTime<Utc>,
) -> Result<Option<web_session::Model>, DbErr> {
    web_session::Entity::find()
        .filter(web_session::Column::IdSha256.eq(token_hash(cookie)))
        .filter(web_session::Column::EndedAt.is_null())
        .filter(web_session::Column::ExpiresAt.gt(now))
        .one(db)
        .await
}

/// End a session (sign-out), audited as `web_session.ended`; `false` when it had ended already.
pub async fn end(
    db: &impl TransactionTrait,
    origin: &str,
    session: &web_session::Model,
    reason: &str,
) -> Result<bool, WebSessionError> {
    audit::write(db, origin, async |txn, log| {
        let changed = web_session::Entity::update_many()
            .col_expr(
                web_session::Column::EndedAt,
                sea_orm::sea_query::Expr::value(Utc::now()),
            )
            .filter(web_session::Column::Id.eq(session.id))
            .filter(web_session::Column::EndedAt.is_null())
            .exec(txn)
            .await?
            .rows_affected
            == 1;
        if changed {
            log.append(entries::web_session_ended(session.id, reason)?)
                .await?;
        }
        Ok(changed)
    })
    .await
}
