//! Points from autograding (issue 22), on both backends.
//!
//! - `lab_session.score_check`: the name of the check run whose result is a score (`Autograding Tests`,
//!   the name GitHub Classroom's autograding workflows report under, for existing sessions).
//! - `lab_attempt_score`: a completed score check run on an attempt's head commit (points and points
//!   available as decimal text, or neither; the run's id, App, conclusion and completion time), one row per
//!   (attempt, run, completion), each written with its `lab_attempt.scored` audit entry. A re-run adds a row;
//!   the grades use the newest (`completed_at`, then `check_run_id`).
//! - `pending_score`: a completed score run on a commit that no attempt has yet (its push not processed
//!   yet), kept by (repository, commit) and applied when the attempt is recorded. Not audited: nothing is
//!   graded from it until it becomes a `lab_attempt_score` row.

use sea_orm_migration::prelude::*;

use crate::util::{add_column, drop_tables, table, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LabSession {
    Table,
    ScoreCheck,
}

#[derive(DeriveIden)]
enum LabAttempt {
    Table,
    Id,
}

table! {
    LabAttemptScore {
        Id: id_auto,
        AttemptId: bigint,
        CheckRunId: bigint,
        AppId: bigint_null,
        AppSlug: text_null,
        Points: text_null,
        PointsAvailable: text_null,
        Conclusion: text_null,
        CompletedAt: time,
        DeliveryId: text_null,
        RecordedAt: time,
        AuditSeq: bigint,
    }
    foreign_keys: [("fk_lab_attempt_score_attempt", AttemptId, LabAttempt::Id)],
    indexes: [
        ("ux_lab_attempt_score_run", [AttemptId, CheckRunId, CompletedAt], true),
    ],
}

table! {
    PendingScore {
        Id: id_auto,
        RepositoryId: bigint,
        HeadSha: text,
        Name: text,
        CheckRunId: bigint,
        AppId: bigint_null,
        AppSlug: text_null,
        Points: text_null,
        PointsAvailable: text_null,
        Conclusion: text_null,
        CompletedAt: time,
        DeliveryId: text_null,
        ReceivedAt: time,
    }
    indexes: [
        ("ux_pending_score_run", [RepositoryId, HeadSha, CheckRunId, CompletedAt], true),
    ],
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            LabSession::Table,
            text(LabSession::ScoreCheck)
                .default("Autograding Tests")
                .to_owned(),
        )
        .await?;
        LabAttemptScore::create(manager).await?;
        PendingScore::create(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables!(manager, PendingScore, LabAttemptScore).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(LabSession::Table)
                    .drop_column(LabSession::ScoreCheck)
                    .to_owned(),
            )
            .await
    }
}
