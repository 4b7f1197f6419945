//! The class roster (issue 9): one row per student of an organisation, as GitHub Classroom exports it
//! (`identifier,github_username,github_id,name`), unique per (org, identifier). `github_username` is empty
//! for a student not linked to a GitHub account yet.

use sea_orm_migration::prelude::*;

use crate::util::{bigint_null, create_index, id_auto, text, time};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RosterStudent {
    Table,
    Id,
    Org,
    Identifier,
    GithubUsername,
    GithubId,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RosterStudent::Table)
                    .col(id_auto(RosterStudent::Id))
                    .col(text(RosterStudent::Org))
                    .col(text(RosterStudent::Identifier))
                    .col(text(RosterStudent::GithubUsername))
                    .col(bigint_null(RosterStudent::GithubId))
                    .col(text(RosterStudent::Name))
                    .col(time(RosterStudent::CreatedAt))
                    .col(time(RosterStudent::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        create_index(
            manager,
            "ux_roster_student_org_identifier",
            RosterStudent::Table,
            [RosterStudent::Org, RosterStudent::Identifier],
            true,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RosterStudent::Table).to_owned())
            .await
    }
}
