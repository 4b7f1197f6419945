//! The sea-orm-migration CLI for labtrail's schema (`cargo run -p migration -- up`).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator).await;
}
