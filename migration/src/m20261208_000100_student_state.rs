//! The kept per-student state of a session (issue 24), on both backends.
//!
//! `student_state` is derived data: one row per summary row of a session (a student repository, or a
//! roster student of the session's organisation no repository matched, `missing`), kept current by
//! every writer in the same transaction as its change, recomputed and compared by `audit verify`, and
//! rebuilt by `labtrail reindex`.
//!
//! This migration creates the table empty: the rows are built by the library's own fold (the matching
//! and deadline rules live in the main crate, which migrations cannot import). `labtrail migrate` and
//! `labtrail serve` build, with progress, every session that has no row yet (docs/schema.md).

use sea_orm_migration::prelude::*;

use crate::util::{drop_tables, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LabSession {
    Table,
    Id,
}

table! {
    StudentState {
        Id: id_auto,
        SessionId: bigint,
        RepositoryId: bigint_null,
        RepositoryFullName: text_null,
        RosterStudentId: bigint_null,
        Identifier: text_null,
        StudentName: text_null,
        GithubUsername: text,
        PusherLogins: text,
        PusherIds: text,
        Deadline: time,
        Attempts: bigint,
        FirstPushedAt: time_null,
        LastPushedAt: time_null,
        FinalAttemptId: bigint_null,
        FinalNumber: bigint_null,
        FinalSha: text_null,
        FinalRef: text_null,
        FinalPushedAt: time_null,
        LateAttempts: bigint,
        EarlyAttempts: bigint,
        ForcedAttempts: bigint,
        Status: text,
        ScoreId: bigint_null,
        ScorePoints: double_null,
    }
    foreign_keys: [("fk_student_state_session", SessionId, LabSession::Id, Cascade)],
    indexes: [
        ("ux_student_state_repository", [SessionId, RepositoryId], true),
        ("ix_student_state_identifier", [SessionId, Identifier], false),
        ("ix_student_state_status", [SessionId, Status], false),
        ("ix_student_state_roster", [SessionId, RosterStudentId], false),
        ("ix_student_state_final", [FinalAttemptId], false),
    ],
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        StudentState::create(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_tables!(m, StudentState).await
    }
}
