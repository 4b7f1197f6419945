//! One recorded push to a repository that belongs to a lab session.

use sea_orm::entity::prelude::*;

pub use crate::states::FilesSource;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lab_attempt")]
pub struct Model {
    /// The attempt id (`lab_attempt:<id>` in the log).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The `lab_session` it belongs to.
    pub session_id: i64,
    /// The GitHub App installation that delivered it.
    pub installation_id: i64,
    /// GitHub's repository id.
    pub repository_id: i64,
    /// `owner/name` at push time.
    pub repository_full_name: String,
    /// The pushed ref (`refs/heads/main`).
    pub git_ref: String,
    /// The commit the ref pointed to before the push.
    pub before_sha: String,
    /// The commit the ref points to after the push.
    pub after_sha: String,
    /// A force push.
    pub forced: bool,
    /// The push created the branch.
    pub created_branch: bool,
    /// Who pushed (GitHub login).
    pub pusher_login: Option<String>,
    /// GitHub's user id of the sender.
    pub sender_id: Option<i64>,
    /// GitHub's push time (what lateness is judged on).
    pub pushed_at: DateTimeUtc,
    /// When labtrail received the delivery.
    pub received_at: DateTimeUtc,
    /// The `X-GitHub-Delivery` GUID.
    #[sea_orm(unique)]
    pub delivery_id: String,
    /// 1, 2, … per session and repository.
    pub attempt_number: i32,
    /// `pushed_at` after the session's `closes_at`.
    pub late: bool,
    /// Rows in `lab_attempt_file`.
    pub file_count: i32,
    /// Where the file list came from: the webhook payload or GitHub's API later.
    pub files_source: FilesSource,
    /// The file list is complete (GitHub's payload caps it).
    pub files_complete: bool,
    /// The GitHub check run showing the receipt.
    pub check_run_id: Option<i64>,
    /// The seq of its `lab_attempt.recorded` entry.
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
    /// Tries so far to complete the file list through GitHub.
    pub files_tries: i32,
    /// Pushed before the session opened (never final, never on time).
    pub early: bool,
    /// When its existing check run is due to be rewritten (a session edit or extension changed its
    /// verdict); `None`: nothing to rewrite.
    pub check_run_refresh_at: Option<DateTimeUtc>,
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
