//! One changed path of an attempt, with its net status over the push.

use sea_orm::entity::prelude::*;

pub use crate::states::FileStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lab_attempt_file")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub attempt_id: i64,
    pub path: String,
    pub status: FileStatus,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::lab_attempt::Entity",
        from = "Column::AttemptId",
        to = "super::lab_attempt::Column::Id"
    )]
    LabAttempt,
}

impl Related<super::lab_attempt::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::LabAttempt.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
