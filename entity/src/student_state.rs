//! The kept state of one summary row of a session (issue 24): a student repository, or a roster student
//! no repository matched (`missing`). Derived from the attempts, roster, deadlines and scores.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "student_state")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub session_id: i64,
    /// GitHub's repository id; `None` for a missing roster student.
    pub repository_id: Option<i64>,
    /// `owner/name` of the newest attempt.
    pub repository_full_name: Option<String>,
    /// The matched `roster_student`.
    pub roster_student_id: Option<i64>,
    /// The roster student's identifier and name (copied for sorting and search).
    pub identifier: Option<String>,
    pub student_name: Option<String>,
    /// What the summary shows: the roster's login, else the pushers' logins separated by spaces.
    pub github_username: String,
    /// Distinct pusher logins, sorted, separated by spaces.
    pub pusher_logins: String,
    /// Distinct sender ids, sorted, separated by spaces.
    pub pusher_ids: String,
    /// The deadline that applies (extensions included).
    pub deadline: DateTimeUtc,
    pub attempts: i64,
    pub first_pushed_at: Option<DateTimeUtc>,
    pub last_pushed_at: Option<DateTimeUtc>,
    pub final_attempt_id: Option<i64>,
    pub final_number: Option<i64>,
    pub final_sha: Option<String>,
    pub final_ref: Option<String>,
    pub final_pushed_at: Option<DateTimeUtc>,
    pub late_attempts: i64,
    pub early_attempts: i64,
    pub forced_attempts: i64,
    /// `on_time`, `late_only` or `missing`.
    pub status: String,
    /// The final attempt's newest `lab_attempt_score`.
    pub score_id: Option<i64>,
    /// Its points, for sorting.
    pub score_points: Option<f64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
