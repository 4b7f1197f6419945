//! The class roster (issue 9): one row per student of an organisation, as GitHub Classroom exports it
//! (`identifier,github_username,github_id,name`), unique per (org, identifier). `github_username` is empty
//! for a student not linked to a GitHub account yet.

use sea_orm_migration::prelude::*;

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

fn time<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RosterStudent::Table)
                    .col(
                        ColumnDef::new(RosterStudent::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RosterStudent::Org).text().not_null())
                    .col(ColumnDef::new(RosterStudent::Identifier).text().not_null())
                    .col(
                        ColumnDef::new(RosterStudent::GithubUsername)
                            .text()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RosterStudent::GithubId).big_integer().null())
                    .col(ColumnDef::new(RosterStudent::Name).text().not_null())
                    .col(time(RosterStudent::CreatedAt))
                    .col(time(RosterStudent::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_roster_student_org_identifier")
                    .table(RosterStudent::Table)
                    .col(RosterStudent::Org)
                    .col(RosterStudent::Identifier)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RosterStudent::Table).to_owned())
            .await
    }
}
