//! A session's invitation (issue 25): its template, the repositories' prefix and visibility, whether it is
//! open, and the SHA-256 of its code (never the code).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_invitation")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: i64,
    /// The template repository, `owner/name`.
    pub template: String,
    /// Students' repositories are named `{repo_prefix}-{login}`.
    pub repo_prefix: String,
    /// Repositories are created private (`--private`, the default) or public.
    pub private: bool,
    /// Whether `/join/<code>` answers (`session edit --invitations open|closed`).
    pub open: bool,
    /// SHA-256 (hex) of the invitation code; `None` until `session invite` makes one.
    #[sea_orm(unique)]
    pub code_sha256: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
