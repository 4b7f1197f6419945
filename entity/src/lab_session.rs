//! A lab session: which repositories of an organisation belong to one lab, and its deadline.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lab_session")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Organisation (account) login, stored lower-case.
    pub org: String,
    pub slug: String,
    pub title: String,
    pub repo_pattern: String,
    /// `all`, `default` or a glob on the branch name.
    pub branch_policy: String,
    pub opens_at: DateTimeUtc,
    pub closes_at: DateTimeUtc,
    pub archived_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    /// IANA time zone local times are shown in (`UTC` by default).
    pub timezone: String,
    /// The name of the check run whose `Points X/Y` is a score (`Autograding Tests` by default).
    pub score_check: String,
}

/// Relations are declared on the child side only (`lab_attempt` belongs to its session), so the entity
/// modules do not import each other in a circle; the foreign keys are in the migrations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
