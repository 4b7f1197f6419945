//! Database migrations of labtrail, the same on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_initial;
mod m20261127_000002_github;
mod m20261127_000003_audit_guards;
mod m20261127_000004_archive_guard;
mod m20261129_000010_merkle_tree;
mod m20261129_000011_graded_row_guards;
mod m20261130_000020_roster;
mod m20261130_000030_audit_subject_seq_index;
mod m20261130_000050_web_session;
mod m20261130_000070_session_rules;
mod m20261130_000080_claim_index;
mod m20261130_000090_batched_append;
mod util;

/// All migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_initial::Migration),
            Box::new(m20261127_000002_github::Migration),
            Box::new(m20261127_000003_audit_guards::Migration),
            Box::new(m20261127_000004_archive_guard::Migration),
            Box::new(m20261129_000010_merkle_tree::Migration),
            Box::new(m20261129_000011_graded_row_guards::Migration),
            Box::new(m20261130_000020_roster::Migration),
            Box::new(m20261130_000030_audit_subject_seq_index::Migration),
            Box::new(m20261130_000050_web_session::Migration),
            Box::new(m20261130_000070_session_rules::Migration),
            Box::new(m20261130_000080_claim_index::Migration),
            Box::new(m20261130_000090_batched_append::Migration),
        ]
    }
}
