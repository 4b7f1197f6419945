//! One recorded push to a repository that belongs to a lab session.

use sea_orm::entity::prelude::*;

pub use crate::states::FilesSource;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lab_attempt")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub session_id: i64,
    pub installation_id: i64,
    pub repository_id: i64,
    pub repository_full_name: String,
    pub git_ref: String,
    pub before_sha: String,
    pub after_sha: String,
    pub forced: bool,
    pub created_branch: bool,
    pub pusher_login: Option<String>,
    pub sender_id: Option<i64>,
    pub pushed_at: DateTimeUtc,
    pub received_at: DateTimeUtc,
    #[sea_orm(unique)]
    pub delivery_id: String,
    pub attempt_number: i32,
    pub late: bool,
    pub file_count: i32,
    pub files_source: FilesSource,
    pub files_complete: bool,
    pub check_run_id: Option<i64>,
    pub audit_seq: i64,
    /// Failed tries to create the check run (the outbox of docs/design.md §1 step 4).
    pub check_run_tries: i32,
    /// When the next try may start; also the lease of a try under way.
    pub check_run_next_at: Option<DateTimeUtc>,
    /// Why the last try failed.
    pub check_run_error: Option<String>,
    /// When to try again to complete a file list GitHub could not give at recording time; `None`: not
    /// scheduled.
    pub files_retry_at: Option<DateTimeUtc>,
    pub files_tries: i32,
    /// Pushed before the session opened (never final, never on time).
    pub early: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::lab_session::Entity",
        from = "Column::SessionId",
        to = "super::lab_session::Column::Id"
    )]
    LabSession,
}

impl Related<super::lab_session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::LabSession.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
