//! A repository an installation has access to.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "installation_repository")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub installation_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub repository_id: i64,
    pub full_name: String,
    pub added_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
