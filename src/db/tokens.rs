//! Read-API bearer tokens: created at random and shown once, stored as SHA-256, found by that hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use chrono::Utc;
use entity::api_token::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::audit::{self, entries, AuditError};

/// What a token may read.
pub use entity::states::Role;

/// May this role read the audit log and checkpoints?
pub fn reads_audit(role: Role) -> bool {
    matches!(role, Role::Admin | Role::Auditor)
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid token name {0:?}: use letters, digits, '.', '_' and '-' (at most 64)")]
    Name(String),
    #[error("invalid organisation login {0:?}")]
    Org(String),
    #[error("an instructor token must be limited to one organisation (--org)")]
    InstructorNeedsOrg,
    #[error("a token named {0:?} exists already")]
    Exists(String),
    #[error("no active token named {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Random(#[from] crate::secrets::RandomError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

audit::db_error_via_audit!(TokenError);

/// Prefix of every token, so a leaked one is recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "lt_";

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Hex SHA-256 of a presented token: the only form that is stored and looked up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> Result<Zeroizing<String>, TokenError> {
    let bytes = crate::secrets::random::<32>()?;
    Ok(Zeroizing::new(format!(
        "{TOKEN_PREFIX}{}",
        B64URL.encode(bytes.as_ref())
    )))
}

/// Create a token (audited); returns the stored row and the token, which is never stored.
pub async fn create(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    name: &str,
    role: Role,
    org: Option<&str>,
) -> Result<(api_token::Model, Zeroizing<String>), TokenError> {
    if !valid_name(name) {
        return Err(TokenError::Name(name.to_owned()));
    }
    let org = org.map(str::to_ascii_lowercase);
    if let Some(o) = &org {
        if o.is_empty() || o.len() > 39 || !o.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(TokenError::Org(o.clone()));
        }
    }
    if role == Role::Instructor && org.is_none() {
        return Err(TokenError::InstructorNeedsOrg);
    }
    let token = new_token()?;
    let row = audit::write(db, origin, async |txn, log| {
        if Entity::find()
            .filter(Column::Name.eq(name))
            .one(txn)
            .await?
            .is_some()
        {
            return Err(TokenError::Exists(name.to_owned()));
        }
        let row = api_token::ActiveModel {
            name: Set(name.to_owned()),
            role: Set(role),
            org: Set(org),
            token_sha256: Set(token_hash(&token)),
            created_at: Set(Utc::now()),
            last_used_at: Set(None),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        log.append(entries::token_created(actor, &row)?).await?;
        Ok(row)
    })
    .await?;
    Ok((row, token))
}

/// Every token, by name.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<api_token::Model>, DbErr> {
    Entity::find().order_by_asc(Column::Name).all(db).await
}

/// Revoke an active token by name (audited).
pub async fn revoke(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    name: &str,
) -> Result<api_token::Model, TokenError> {
    audit::write(db, origin, async |txn, log| {
        let Some(row) = Entity::find()
            .filter(Column::Name.eq(name))
            .filter(Column::RevokedAt.is_null())
            .one(txn)
            .await?
        else {
            return Err(TokenError::NotFound(name.to_owned()));
        };
        let mut active: api_token::ActiveModel = row.into();
        active.revoked_at = Set(Some(Utc::now()));
        let row = active.update(txn).await?;
        log.append(entries::token_revoked(actor, &row)?).await?;
        Ok(row)
    })
    .await
}

/// Is token `id` still active (not revoked)?
pub async fn is_active(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    Ok(Entity::find_by_id(id)
        .filter(Column::RevokedAt.is_null())
        .one(db)
        .await?
        .is_some())
}

/// The active token whose hash matches the presented one (and note its use); `None` for unknown or
/// revoked tokens. The lookup is by hash, so no comparison ever touches a stored secret.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    presented: &str,
) -> Result<Option<api_token::Model>, DbErr> {
    let Some(row) = Entity::find()
        .filter(Column::TokenSha256.eq(token_hash(presented)))
        .filter(Column::RevokedAt.is_null())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Entity::update_many()
        .col_expr(
            Column::LastUsedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(Column::Id.eq(row.id))
        .exec(db)
        .await?;
    Ok(Some(row))
}
