//! A student of an organisation's class roster (GitHub Classroom's roster export).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "roster_student")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Organisation (account) login, stored lower-case.
    pub org: String,
    /// The roster identifier (e-mail address, student number…), unique per organisation.
    pub identifier: String,
    /// The linked GitHub login; empty while the student has not linked an account.
    pub github_username: String,
    pub github_id: Option<i64>,
    pub name: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
