//! The initial schema: every table of docs/design.md §5 with the constraints that make recording idempotent.

use sea_orm_migration::prelude::*;

use crate::util::{
    bigint, bigint_null, boolean, create_index, id_auto, integer, text, text_null, time, time_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Installation {
    Table,
    Id,
    AccountLogin,
    AccountId,
    AccountType,
    RepositorySelection,
    SuspendedAt,
    DeletedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum InstallationRepository {
    Table,
    InstallationId,
    RepositoryId,
    FullName,
    AddedAt,
}

#[derive(DeriveIden)]
enum LabSession {
    Table,
    Id,
    Org,
    Slug,
    Title,
    RepoPattern,
    BranchPolicy,
    OpensAt,
    ClosesAt,
    ArchivedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LabAttempt {
    Table,
    Id,
    SessionId,
    InstallationId,
    RepositoryId,
    RepositoryFullName,
    GitRef,
    BeforeSha,
    AfterSha,
    Forced,
    CreatedBranch,
    PusherLogin,
    SenderId,
    PushedAt,
    ReceivedAt,
    DeliveryId,
    AttemptNumber,
    Late,
    FileCount,
    FilesSource,
    FilesComplete,
    CheckRunId,
    AuditSeq,
}

#[derive(DeriveIden)]
enum LabAttemptFile {
    Table,
    Id,
    AttemptId,
    Path,
    Status,
}

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    Guid,
    Event,
    Action,
    InstallationId,
    Payload,
    PayloadSha256,
    Status,
    Attempts,
    Claims,
    NextAttemptAt,
    LockedUntil,
    LastError,
    ReceivedAt,
    ProcessedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Seq,
    EntryId,
    OccurredAtUs,
    Actor,
    Action,
    Subject,
    Details,
    Canonical,
    PrevHash,
    EntryHash,
}

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Id,
    Size,
    HeadHash,
    Origin,
    ArchivedUpto,
}

#[derive(DeriveIden)]
enum AuditCheckpoint {
    Table,
    Id,
    Size,
    HeadHash,
    Note,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiToken {
    Table,
    Id,
    Name,
    Role,
    Org,
    TokenSha256,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

impl Migration {
    async fn create_installations(&self, m: &SchemaManager<'_>) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Installation::Table)
                .col(bigint(Installation::Id).primary_key())
                .col(text(Installation::AccountLogin))
                .col(bigint(Installation::AccountId))
                .col(text(Installation::AccountType))
                .col(text_null(Installation::RepositorySelection))
                .col(time_null(Installation::SuspendedAt))
                .col(time_null(Installation::DeletedAt))
                .col(time(Installation::CreatedAt))
                .col(time(Installation::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(InstallationRepository::Table)
                .col(bigint(InstallationRepository::InstallationId))
                .col(bigint(InstallationRepository::RepositoryId))
                .col(text(InstallationRepository::FullName))
                .col(time(InstallationRepository::AddedAt))
                .primary_key(
                    Index::create()
                        .col(InstallationRepository::InstallationId)
                        .col(InstallationRepository::RepositoryId),
                )
                .to_owned(),
        )
        .await
    }

    async fn create_sessions_and_attempts(&self, m: &SchemaManager<'_>) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(LabSession::Table)
                .col(id_auto(LabSession::Id))
                .col(text(LabSession::Org))
                .col(text(LabSession::Slug))
                .col(text(LabSession::Title))
                .col(text(LabSession::RepoPattern))
                .col(text(LabSession::BranchPolicy))
                .col(time(LabSession::OpensAt))
                .col(time(LabSession::ClosesAt))
                .col(time_null(LabSession::ArchivedAt))
                .col(time(LabSession::CreatedAt))
                .to_owned(),
        )
        .await?;
        create_index(
            m,
            "ux_lab_session_org_slug",
            LabSession::Table,
            [LabSession::Org, LabSession::Slug],
            true,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LabAttempt::Table)
                .col(id_auto(LabAttempt::Id))
                .col(bigint(LabAttempt::SessionId))
                .col(bigint(LabAttempt::InstallationId))
                .col(bigint(LabAttempt::RepositoryId))
                .col(text(LabAttempt::RepositoryFullName))
                .col(text(LabAttempt::GitRef))
                .col(text(LabAttempt::BeforeSha))
                .col(text(LabAttempt::AfterSha))
                .col(boolean(LabAttempt::Forced))
                .col(boolean(LabAttempt::CreatedBranch))
                .col(text_null(LabAttempt::PusherLogin))
                .col(bigint_null(LabAttempt::SenderId))
                .col(time(LabAttempt::PushedAt))
                .col(time(LabAttempt::ReceivedAt))
                .col(text(LabAttempt::DeliveryId))
                .col(integer(LabAttempt::AttemptNumber))
                .col(boolean(LabAttempt::Late))
                .col(integer(LabAttempt::FileCount))
                .col(text(LabAttempt::FilesSource))
                .col(boolean(LabAttempt::FilesComplete))
                .col(bigint_null(LabAttempt::CheckRunId))
                .col(bigint(LabAttempt::AuditSeq))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_lab_attempt_session")
                        .from(LabAttempt::Table, LabAttempt::SessionId)
                        .to(LabSession::Table, LabSession::Id),
                )
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            ("ux_lab_attempt_delivery", vec![LabAttempt::DeliveryId]),
            (
                "ux_lab_attempt_push",
                vec![
                    LabAttempt::RepositoryId,
                    LabAttempt::GitRef,
                    LabAttempt::BeforeSha,
                    LabAttempt::AfterSha,
                    LabAttempt::PushedAt,
                ],
            ),
            (
                "ux_lab_attempt_number",
                vec![
                    LabAttempt::SessionId,
                    LabAttempt::RepositoryId,
                    LabAttempt::AttemptNumber,
                ],
            ),
        ] {
            create_index(m, name, LabAttempt::Table, cols, true).await?;
        }
        m.create_table(
            Table::create()
                .table(LabAttemptFile::Table)
                .col(id_auto(LabAttemptFile::Id))
                .col(bigint(LabAttemptFile::AttemptId))
                .col(text(LabAttemptFile::Path))
                .col(text(LabAttemptFile::Status))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_lab_attempt_file_attempt")
                        .from(LabAttemptFile::Table, LabAttemptFile::AttemptId)
                        .to(LabAttempt::Table, LabAttempt::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        create_index(
            m,
            "ux_lab_attempt_file_path",
            LabAttemptFile::Table,
            [LabAttemptFile::AttemptId, LabAttemptFile::Path],
            true,
        )
        .await
    }

    async fn create_deliveries(&self, m: &SchemaManager<'_>) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(WebhookDelivery::Table)
                .col(text(WebhookDelivery::Guid).primary_key())
                .col(text(WebhookDelivery::Event))
                .col(text_null(WebhookDelivery::Action))
                .col(bigint_null(WebhookDelivery::InstallationId))
                .col(ColumnDef::new(WebhookDelivery::Payload).blob().null())
                .col(text(WebhookDelivery::PayloadSha256))
                .col(text(WebhookDelivery::Status))
                .col(integer(WebhookDelivery::Attempts).default(0))
                .col(integer(WebhookDelivery::Claims).default(0))
                .col(time(WebhookDelivery::NextAttemptAt))
                .col(time_null(WebhookDelivery::LockedUntil))
                .col(text_null(WebhookDelivery::LastError))
                .col(time(WebhookDelivery::ReceivedAt))
                .col(time_null(WebhookDelivery::ProcessedAt))
                .to_owned(),
        )
        .await?;
        create_index(
            m,
            "ix_webhook_delivery_due",
            WebhookDelivery::Table,
            [WebhookDelivery::Status, WebhookDelivery::NextAttemptAt],
            false,
        )
        .await
    }

    async fn create_audit(&self, m: &SchemaManager<'_>) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(bigint(AuditLog::Seq).primary_key())
                .col(text(AuditLog::EntryId))
                .col(bigint(AuditLog::OccurredAtUs))
                .col(text(AuditLog::Actor))
                .col(text(AuditLog::Action))
                .col(text(AuditLog::Subject))
                .col(text(AuditLog::Details))
                .col(ColumnDef::new(AuditLog::Canonical).blob().not_null())
                .col(text(AuditLog::PrevHash))
                .col(text(AuditLog::EntryHash))
                .to_owned(),
        )
        .await?;
        create_index(
            m,
            "ux_audit_log_entry_id",
            AuditLog::Table,
            [AuditLog::EntryId],
            true,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AuditHead::Table)
                .col(integer(AuditHead::Id).primary_key())
                .col(bigint(AuditHead::Size))
                .col(text_null(AuditHead::HeadHash))
                .col(text_null(AuditHead::Origin))
                .col(bigint(AuditHead::ArchivedUpto).default(0))
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(AuditHead::Table)
                .columns([AuditHead::Id, AuditHead::Size, AuditHead::ArchivedUpto])
                .values_panic([1.into(), 0i64.into(), 0i64.into()])
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AuditCheckpoint::Table)
                .col(id_auto(AuditCheckpoint::Id))
                .col(bigint(AuditCheckpoint::Size))
                .col(text(AuditCheckpoint::HeadHash))
                .col(text(AuditCheckpoint::Note))
                .col(time(AuditCheckpoint::CreatedAt))
                .to_owned(),
        )
        .await
    }

    async fn create_tokens(&self, m: &SchemaManager<'_>) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ApiToken::Table)
                .col(id_auto(ApiToken::Id))
                .col(text(ApiToken::Name))
                .col(text(ApiToken::Role))
                .col(text_null(ApiToken::Org))
                .col(text(ApiToken::TokenSha256))
                .col(time(ApiToken::CreatedAt))
                .col(time_null(ApiToken::LastUsedAt))
                .col(time_null(ApiToken::RevokedAt))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("ux_api_token_name", ApiToken::Name),
            ("ux_api_token_sha256", ApiToken::TokenSha256),
        ] {
            create_index(m, name, ApiToken::Table, [col], true).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        self.create_installations(manager).await?;
        self.create_sessions_and_attempts(manager).await?;
        self.create_deliveries(manager).await?;
        self.create_audit(manager).await?;
        self.create_tokens(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ApiToken::Table.into_iden(),
            AuditCheckpoint::Table.into_iden(),
            AuditHead::Table.into_iden(),
            AuditLog::Table.into_iden(),
            WebhookDelivery::Table.into_iden(),
            LabAttemptFile::Table.into_iden(),
            LabAttempt::Table.into_iden(),
            LabSession::Table.into_iden(),
            InstallationRepository::Table.into_iden(),
            Installation::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
