//! The student view (issue 21), on both backends.
//!
//! - `lab_attempt.check_run_refresh_at`: when the attempt's existing check run is due to be rewritten
//!   because `session edit` or `session extend` changed its verdict (`NULL`: nothing to rewrite). The
//!   check-run sweep (`jobs::check_runs`) takes these a batch at a time, like the creation outbox.
//! - `ix_lab_attempt_sender`: a signed-in student's own pushes are found by `sender_id`.
//! - `ix_lab_attempt_check_run_refresh`: the refresh queue.
//!
//! A student's web session needs no column: its `role` is `student` (a stored string, no constraint).

use sea_orm_migration::prelude::*;

use crate::util::{add_column, create_index, time_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LabAttempt {
    Table,
    SenderId,
    CheckRunRefreshAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            m,
            LabAttempt::Table,
            time_null(LabAttempt::CheckRunRefreshAt),
        )
        .await?;
        create_index(
            m,
            "ix_lab_attempt_sender",
            LabAttempt::Table,
            [LabAttempt::SenderId],
            false,
        )
        .await?;
        create_index(
            m,
            "ix_lab_attempt_check_run_refresh",
            LabAttempt::Table,
            [LabAttempt::CheckRunRefreshAt],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "ix_lab_attempt_check_run_refresh",
            "ix_lab_attempt_sender",
        ] {
            m.drop_index(Index::drop().name(name).table(LabAttempt::Table).to_owned())
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(LabAttempt::Table)
                .drop_column(LabAttempt::CheckRunRefreshAt)
                .to_owned(),
        )
        .await
    }
}
