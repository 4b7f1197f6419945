//! The instructor web view's sign-ins: `web_session` (a browser's session: the SHA-256 of its random
//! cookie, who signed in and how, which organisations it may see, its expiry and CSRF secret) and
//! `web_login_state` (the SHA-256 of a pending OAuth `state`, single use, expiring).

use sea_orm_migration::prelude::*;

use crate::util::{bigint_null, create_index, id_auto, text, text_null, time, time_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebSession {
    Table,
    Id,
    IdSha256,
    Method,
    ApiTokenId,
    GithubUserId,
    GithubLogin,
    Role,
    Orgs,
    CsrfSecret,
    CreatedAt,
    ExpiresAt,
    CheckedAt,
    EndedAt,
}

#[derive(DeriveIden)]
enum WebLoginState {
    Table,
    Id,
    StateSha256,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(WebSession::Table)
                .col(id_auto(WebSession::Id))
                .col(text(WebSession::IdSha256))
                .col(text(WebSession::Method))
                .col(bigint_null(WebSession::ApiTokenId))
                .col(bigint_null(WebSession::GithubUserId))
                .col(text_null(WebSession::GithubLogin))
                .col(text(WebSession::Role))
                .col(text_null(WebSession::Orgs))
                .col(text(WebSession::CsrfSecret))
                .col(time(WebSession::CreatedAt))
                .col(time(WebSession::ExpiresAt))
                .col(time(WebSession::CheckedAt))
                .col(time_null(WebSession::EndedAt))
                .to_owned(),
        )
        .await?;
        create_index(
            m,
            "ux_web_session_id_sha256",
            WebSession::Table,
            [WebSession::IdSha256],
            true,
        )
        .await?;
        m.create_table(
            Table::create()
                .table(WebLoginState::Table)
                .col(id_auto(WebLoginState::Id))
                .col(text(WebLoginState::StateSha256))
                .col(time(WebLoginState::CreatedAt))
                .col(time(WebLoginState::ExpiresAt))
                .to_owned(),
        )
        .await?;
        create_index(
            m,
            "ux_web_login_state_sha256",
            WebLoginState::Table,
            [WebLoginState::StateSha256],
            true,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(WebLoginState::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(WebSession::Table).to_owned())
            .await
    }
}
