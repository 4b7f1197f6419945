//! The initial schema: every table of docs/design.md §5 with the constraints that make recording idempotent.

use sea_orm_migration::prelude::*;

use crate::util::{drop_tables, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

table! {
    Installation {
        Id: bigint.primary_key(),
        AccountLogin: text,
        AccountId: bigint,
        AccountType: text,
        RepositorySelection: text_null,
        SuspendedAt: time_null,
        DeletedAt: time_null,
        CreatedAt: time,
        UpdatedAt: time,
    }
}

table! {
    InstallationRepository {
        InstallationId: bigint,
        RepositoryId: bigint,
        FullName: text,
        AddedAt: time,
    }
    primary_key: [InstallationId, RepositoryId],
}

table! {
    LabSession {
        Id: id_auto,
        Org: text,
        Slug: text,
        Title: text,
        RepoPattern: text,
        BranchPolicy: text,
        OpensAt: time,
        ClosesAt: time,
        ArchivedAt: time_null,
        CreatedAt: time,
    }
    indexes: [("ux_lab_session_org_slug", [Org, Slug], true)],
}

table! {
    LabAttempt {
        Id: id_auto,
        SessionId: bigint,
        InstallationId: bigint,
        RepositoryId: bigint,
        RepositoryFullName: text,
        GitRef: text,
        BeforeSha: text,
        AfterSha: text,
        Forced: boolean,
        CreatedBranch: boolean,
        PusherLogin: text_null,
        SenderId: bigint_null,
        PushedAt: time,
        ReceivedAt: time,
        DeliveryId: text,
        AttemptNumber: integer,
        Late: boolean,
        FileCount: integer,
        FilesSource: text,
        FilesComplete: boolean,
        CheckRunId: bigint_null,
        AuditSeq: bigint,
    }
    foreign_keys: [("fk_lab_attempt_session", SessionId, LabSession::Id)],
    indexes: [
        ("ux_lab_attempt_delivery", [DeliveryId], true),
        ("ux_lab_attempt_push", [RepositoryId, GitRef, BeforeSha, AfterSha, PushedAt], true),
        ("ux_lab_attempt_number", [SessionId, RepositoryId, AttemptNumber], true),
    ],
}

table! {
    LabAttemptFile {
        Id: id_auto,
        AttemptId: bigint,
        Path: text,
        Status: text,
    }
    foreign_keys: [("fk_lab_attempt_file_attempt", AttemptId, LabAttempt::Id, Cascade)],
    indexes: [("ux_lab_attempt_file_path", [AttemptId, Path], true)],
}

table! {
    WebhookDelivery {
        Guid: text.primary_key(),
        Event: text,
        Action: text_null,
        InstallationId: bigint_null,
        Payload: blob_null,
        PayloadSha256: text,
        Status: text,
        Attempts: integer.default(0),
        Claims: integer.default(0),
        NextAttemptAt: time,
        LockedUntil: time_null,
        LastError: text_null,
        ReceivedAt: time,
        ProcessedAt: time_null,
    }
    indexes: [("ix_webhook_delivery_due", [Status, NextAttemptAt], false)],
}

table! {
    AuditLog {
        Seq: bigint.primary_key(),
        EntryId: text,
        OccurredAtUs: bigint,
        Actor: text,
        Action: text,
        Subject: text,
        Details: text,
        Canonical: blob,
        PrevHash: text,
        EntryHash: text,
    }
    indexes: [("ux_audit_log_entry_id", [EntryId], true)],
}

table! {
    AuditHead {
        Id: integer.primary_key(),
        Size: bigint,
        HeadHash: text_null,
        Origin: text_null,
        ArchivedUpto: bigint.default(0),
    }
}

table! {
    AuditCheckpoint {
        Id: id_auto,
        Size: bigint,
        HeadHash: text,
        Note: text,
        CreatedAt: time,
    }
}

table! {
    ApiToken {
        Id: id_auto,
        Name: text,
        Role: text,
        Org: text_null,
        TokenSha256: text,
        CreatedAt: time,
        LastUsedAt: time_null,
        RevokedAt: time_null,
    }
    indexes: [
        ("ux_api_token_name", [Name], true),
        ("ux_api_token_sha256", [TokenSha256], true),
    ],
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        Installation::create(manager).await?;
        InstallationRepository::create(manager).await?;
        LabSession::create(manager).await?;
        LabAttempt::create(manager).await?;
        LabAttemptFile::create(manager).await?;
        WebhookDelivery::create(manager).await?;
        AuditLog::create(manager).await?;
        AuditHead::create(manager).await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(AuditHead::Table)
                    .columns([AuditHead::Id, AuditHead::Size, AuditHead::ArchivedUpto])
                    .values_panic([1.into(), 0i64.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        AuditCheckpoint::create(manager).await?;
        ApiToken::create(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables!(
            manager,
            ApiToken,
            AuditCheckpoint,
            AuditHead,
            AuditLog,
            WebhookDelivery,
            LabAttemptFile,
            LabAttempt,
            LabSession,
            InstallationRepository,
            Installation,
        )
        .await
    }
}
