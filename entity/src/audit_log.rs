//! One entry of the append-only, hash-chained audit log.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// 0-based, contiguous.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    #[sea_orm(unique)]
    pub entry_id: String,
    pub occurred_at_us: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// RFC 8785 canonical JSON of the details.
    pub details: String,
    /// The exact canonical bytes that were hashed into the leaf.
    pub canonical: Vec<u8>,
    /// Hex SHA-256.
    pub prev_hash: String,
    /// Hex SHA-256.
    pub entry_hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
