//! A completed score run on a commit no attempt had when it arrived, kept until its push is recorded.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pending_score")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub repository_id: i64,
    pub head_sha: String,
    /// The check run's name.
    pub name: String,
    pub check_run_id: i64,
    pub app_id: Option<i64>,
    pub app_slug: Option<String>,
    pub points: Option<String>,
    pub points_available: Option<String>,
    pub conclusion: Option<String>,
    pub completed_at: DateTimeUtc,
    pub delivery_id: Option<String>,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
