//! A score of an attempt: a completed run of its session's score check on the attempt's head commit.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lab_attempt_score")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub attempt_id: i64,
    pub check_run_id: i64,
    pub app_id: Option<i64>,
    pub app_slug: Option<String>,
    /// Decimal text (`7`, `7.5`); `None` when the run reported no `Points X/Y`.
    pub points: Option<String>,
    pub points_available: Option<String>,
    /// The run's conclusion (`success`, `failure`, …).
    pub conclusion: Option<String>,
    pub completed_at: DateTimeUtc,
    /// The `check_run` delivery it came from (`None`: read from GitHub by `scores sync`).
    pub delivery_id: Option<String>,
    pub recorded_at: DateTimeUtc,
    /// The seq of its `lab_attempt.scored` entry.
    pub audit_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
