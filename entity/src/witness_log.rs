//! For `labtrail witness serve`: the newest checkpoint cosigned for one witnessed log.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "witness_log")]
pub struct Model {
    /// The log's origin (its key's name).
    #[sea_orm(primary_key, auto_increment = false)]
    pub origin: String,
    pub size: i64,
    /// Base64 of the Merkle root cosigned at `size`.
    pub root_hash: String,
    /// The log's signed note that was cosigned.
    pub note: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
