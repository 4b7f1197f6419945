//! `labtrail token create|list|revoke`.

use std::process::ExitCode;

use anyhow::Context;

use super::{cli_actor, open, print_rows};
use crate::cli::config::{GlobalArgs, TokenCommand, TokenRole};
use crate::db::{self, tokens::Role};
use crate::report::TokenRow;

pub(super) async fn token(g: &GlobalArgs, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    match cmd {
        TokenCommand::Create { name, role, org } => {
            let role = match role {
                TokenRole::Admin => Role::Admin,
                TokenRole::Instructor => Role::Instructor,
                TokenRole::Auditor => Role::Auditor,
            };
            let (row, token) =
                db::tokens::create(&db, &g.origin(), &cli_actor(), &name, role, org.as_deref())
                    .await
                    .context("Cannot create the token")?;
            println!(
                "created token {} (role {}{}); it is shown once, here:",
                row.name,
                row.role,
                row.org
                    .as_deref()
                    .map(|o| format!(", org {o}"))
                    .unwrap_or_default()
            );
            println!("{}", token.as_str());
        }
        TokenCommand::List { format } => {
            let rows: Vec<TokenRow> = db::tokens::list(&db)
                .await
                .context("Cannot list tokens")?
                .iter()
                .map(TokenRow::from)
                .collect();
            print_rows(&rows, format)?;
        }
        TokenCommand::Revoke { name } => {
            db::tokens::revoke(&db, &g.origin(), &cli_actor(), &name)
                .await
                .context("Cannot revoke the token")?;
            println!("revoked token {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
