//! The instructor web view's sign-ins: `web_session` (a browser's session: the SHA-256 of its random
//! cookie, who signed in and how, which organisations it may see, its expiry and CSRF secret) and
//! `web_login_state` (the SHA-256 of a pending OAuth `state`, single use, expiring).

use sea_orm_migration::prelude::*;

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

fn time<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn text<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
}

fn id_auto<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
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
                .col(ColumnDef::new(WebSession::ApiTokenId).big_integer().null())
                .col(
                    ColumnDef::new(WebSession::GithubUserId)
                        .big_integer()
                        .null(),
                )
                .col(ColumnDef::new(WebSession::GithubLogin).text().null())
                .col(text(WebSession::Role))
                .col(ColumnDef::new(WebSession::Orgs).text().null())
                .col(text(WebSession::CsrfSecret))
                .col(time(WebSession::CreatedAt))
                .col(time(WebSession::ExpiresAt))
                .col(time(WebSession::CheckedAt))
                .col(
                    ColumnDef::new(WebSession::EndedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_web_session_id_sha256")
                .table(WebSession::Table)
                .col(WebSession::IdSha256)
                .unique()
                .to_owned(),
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
        m.create_index(
            Index::create()
                .name("ux_web_login_state_sha256")
                .table(WebLoginState::Table)
                .col(WebLoginState::StateSha256)
                .unique()
                .to_owned(),
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
