//! A GitHub App installation on an account (usually a course's organisation).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "installation")]
pub struct Model {
    /// GitHub's installation id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    /// The account's login (usually the course's organisation).
    pub account_login: String,
    /// GitHub's id of the account.
    pub account_id: i64,
    /// The account's type, as GitHub reports it (`Organization`, `User`).
    pub account_type: String,
    /// `all` or `selected`.
    pub repository_selection: Option<String>,
    /// When the installation was suspended.
    pub suspended_at: Option<DateTimeUtc>,
    /// When it was uninstalled.
    pub deleted_at: Option<DateTimeUtc>,
    /// First seen.
    pub created_at: DateTimeUtc,
    /// Time of the newest event applied.
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
