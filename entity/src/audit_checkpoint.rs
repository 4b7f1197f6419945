//! A signed checkpoint (C2SP signed note) of the audit log.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_checkpoint")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub size: i64,
    pub head_hash: String,
    pub note: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
