//! A browser's sign-in to the instructor web view; only the SHA-256 of its cookie is stored.

use sea_orm::entity::prelude::*;

use crate::states::{Role, SignInMethod};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "web_session")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// SHA-256 of the session's cookie.
    #[sea_orm(unique)]
    pub id_sha256: String,
    /// `token` or `github` (stored as those strings).
    pub method: SignInMethod,
    /// The API token signed in with (`token`).
    pub api_token_id: Option<i64>,
    /// The GitHub user (`github`).
    pub github_user_id: Option<i64>,
    /// The GitHub login (`github`).
    pub github_login: Option<String>,
    /// `admin`, `instructor` or `auditor` (stored as those strings).
    pub role: Role,
    /// Organisations it may see, comma-separated lower-case logins; `None`: every organisation.
    pub orgs: Option<String>,
    /// The CSRF token of the session's forms.
    pub csrf_secret: String,
    /// When it was signed in.
    pub created_at: DateTimeUtc,
    /// When the session expires.
    pub expires_at: DateTimeUtc,
    /// When the organisation access was last checked with GitHub (`github`).
    pub checked_at: DateTimeUtc,
    /// Signed out.
    pub ended_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
