//! A witness's cosignature (C2SP `cosignature/v1`) of one of this log's checkpoints.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_cosignature")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The `audit_checkpoint` row the witness was sent (the log's own note).
    pub checkpoint_id: i64,
    pub size: i64,
    /// The witness's key name.
    pub witness: String,
    /// The witness's key id, 8 hex digits.
    pub key_id: String,
    /// `— <name> <base64(key id ‖ timestamp ‖ signature)>`, without the newline.
    pub signature_line: String,
    /// The cosignature's timestamp.
    pub cosigned_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
