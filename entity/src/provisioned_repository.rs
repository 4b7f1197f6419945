//! A student's repository made from a session's template (issue 25): recorded as an intent before GitHub
//! is called, then `provisioned` with GitHub's repository id.

use sea_orm::entity::prelude::*;

use crate::states::ProvisionState;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provisioned_repository")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub session_id: i64,
    /// The student's GitHub user id.
    pub github_user_id: i64,
    /// The student's GitHub login when they accepted.
    pub github_login: String,
    /// The roster entry linked to the student, if the organisation has a roster.
    pub roster_student_id: Option<i64>,
    /// `org/{prefix}-{login}`.
    pub repository_name: String,
    /// GitHub's id of the repository, once it exists.
    pub repository_id: Option<i64>,
    /// `pending` or `provisioned` (stored as those strings).
    pub state: ProvisionState,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
