//! GitHub App integration: the check-run outbox on `lab_attempt` (tries, next try, last error), and the
//! schedule of attempts whose file list is to be completed later (GitHub was down when they were recorded).

use sea_orm_migration::prelude::*;

use crate::util::{add_column, create_index, integer, text_null, time_null};

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
        for col in [
            integer(LabAttempt::CheckRunTries).default(0).to_owned(),
            time_null(LabAttempt::CheckRunNextAt),
            text_null(LabAttempt::CheckRunError),
            time_null(LabAttempt::FilesRetryAt),
            integer(LabAttempt::FilesTries).default(0).to_owned(),
        ] {
            add_column(manager, LabAttempt::Table, col).await?;
        }
        // The sweep looks for attempts still without a check run.
        create_index(
            manager,
            "ix_lab_attempt_check_run_pending",
            LabAttempt::Table,
            [LabAttempt::CheckRunId, LabAttempt::CheckRunNextAt],
            false,
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
