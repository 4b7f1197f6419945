//! The class roster (issue 9): one row per student of an organisation, as GitHub Classroom exports it
//! (`identifier,github_username,github_id,name`), unique per (org, identifier). `github_username` is empty
//! for a student not linked to a GitHub account yet.

use sea_orm_migration::prelude::*;

use crate::util::{drop_tables, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

table! {
    RosterStudent {
        Id: id_auto,
        Org: text,
        Identifier: text,
        GithubUsername: text,
        GithubId: bigint_null,
        Name: text,
        CreatedAt: time,
        UpdatedAt: time,
    }
    indexes: [("ux_roster_student_org_identifier", [Org, Identifier], true)],
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        RosterStudent::create(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables!(manager, RosterStudent).await
    }
}
