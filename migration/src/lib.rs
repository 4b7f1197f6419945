//! Database migrations of labtrail, the same on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod util;

/// Declares each migration's module and lists it in [`Migrator`], in the order given (oldest first), so
/// that a migration is named once.
macro_rules! migrations {
    ($($module:ident),* $(,)?) => {
        $(mod $module;)*

        /// All migrations, oldest first.
        pub struct Migrator;

        #[async_trait::async_trait]
        impl MigratorTrait for Migrator {
            fn migrations() -> Vec<Box<dyn MigrationTrait>> {
                vec![$(Box::new($module::Migration)),*]
            }
        }
    };
}

migrations!(
    m20261127_000001_initial,
    m20261127_000002_github,
    m20261127_000003_audit_guards,
    m20261127_000004_archive_guard,
    m20261129_000010_merkle_tree,
    m20261129_000011_graded_row_guards,
    m20261130_000020_roster,
    m20261130_000030_audit_subject_seq_index,
    m20261130_000050_web_session,
    m20261130_000070_session_rules,
    m20261130_000080_claim_index,
    m20261130_000090_batched_append,
    m20261201_000100_graded_facts,
    m20261201_000110_scores,
    m20261203_000300_student_view,
    m20261202_000010_witnesses,
    m20261205_000110_removals,
    m20261208_000100_student_state,
    m20261208_000200_invitations,
    m20261208_000400_attempt_session_order,
);
