//! GitHub App integration: the check-run outbox on `lab_attempt` (tries, next try, last error), and the
//! schedule of attempts whose file list is to be completed later (GitHub was down when they were recorded).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LabAttempt {
    Table,
    CheckRunId,
    CheckRunTries,
    CheckRunNextAt,
    CheckRunError,
    FilesRetryAt,
    FilesTries,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        for col in [
            ColumnDef::new(LabAttempt::CheckRunTries)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(LabAttempt::CheckRunNextAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(LabAttempt::CheckRunError)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(LabAttempt::FilesRetryAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(LabAttempt::FilesTries)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
        ] {
            let mut col = col;
            manager
                .alter_table(
                    Table::alter()
                        .table(LabAttempt::Table)
                        .add_column(&mut col)
                        .to_owned(),
                )
                .await?;
        }
        // The sweep looks for attempts still without a check run.
        manager
            .create_index(
                Index::create()
                    .name("ix_lab_attempt_check_run_pending")
                    .table(LabAttempt::Table)
                    .col(LabAttempt::CheckRunId)
                    .col(LabAttempt::CheckRunNextAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_lab_attempt_check_run_pending")
                    .table(LabAttempt::Table)
                    .to_owned(),
            )
            .await?;
        for col in [
            LabAttempt::FilesTries,
            LabAttempt::FilesRetryAt,
            LabAttempt::CheckRunError,
            LabAttempt::CheckRunNextAt,
            LabAttempt::CheckRunTries,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(LabAttempt::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
