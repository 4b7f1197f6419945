//! A GitHub App installation on an account (usually a course's organisation).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "installation")]
pub struct Model {
    /// GitHub's installation id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub account_login: String,
    pub account_id: i64,
    pub account_type: String,
    pub repository_selection: Option<String>,
    pub suspended_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
