//! The instructor web view's sign-ins: `web_session` (a browser's session: the SHA-256 of its random
//! cookie, who signed in and how, which organisations it may see, its expiry and CSRF secret) and
//! `web_login_state` (the SHA-256 of a pending OAuth `state`, single use, expiring).

use sea_orm_migration::prelude::*;

use crate::util::{drop_tables, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

table! {
    WebSession {
        Id: id_auto,
        IdSha256: text,
        Method: text,
        ApiTokenId: bigint_null,
        GithubUserId: bigint_null,
        GithubLogin: text_null,
        Role: text,
        Orgs: text_null,
        CsrfSecret: text,
        CreatedAt: time,
        ExpiresAt: time,
        CheckedAt: time,
        EndedAt: time_null,
    }
    indexes: [("ux_web_session_id_sha256", [IdSha256], true)],
}

table! {
    WebLoginState {
        Id: id_auto,
        StateSha256: text,
        CreatedAt: time,
        ExpiresAt: time,
    }
    indexes: [("ux_web_login_state_sha256", [StateSha256], true)],
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        WebSession::create(m).await?;
        WebLoginState::create(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_tables!(m, WebLoginState, WebSession).await
    }
}
