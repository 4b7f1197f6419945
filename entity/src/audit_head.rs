//! The single row that serialises audit appends: the log's size and head hash.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_head")]
pub struct Model {
    /// Always 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// Number of entries ever appended (the next seq).
    pub size: i64,
    /// Hex entry hash of entry `size - 1`; `None` while the log is empty.
    pub head_hash: Option<String>,
    /// The origin the chain was started with.
    pub origin: Option<String>,
    /// Entries with `seq < archived_upto` were archived and may be deleted.
    pub archived_upto: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
