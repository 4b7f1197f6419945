//! The audit log's RFC 6962 Merkle tree: `audit_tree_hash` holds, at tlog's dense storage index, each
//! leaf hash and the hash of every complete subtree, written in the transaction that appends the entry.
//! Append-only like the log: UPDATE, DELETE and TRUNCATE are refused. Existing logs are backfilled by
//! the application (`audit::merkle_store::catch_up`) from the stored entries' canonical bytes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditTreeHash {
    Table,
    Idx,
    Hash,
}

const POSTGRES_UP: &[&str] = &[
    "CREATE TRIGGER audit_tree_hash_guard BEFORE UPDATE OR DELETE ON audit_tree_hash \
     FOR EACH ROW EXECUTE FUNCTION labtrail_append_only()",
    "CREATE TRIGGER audit_tree_hash_no_truncate BEFORE TRUNCATE ON audit_tree_hash \
     FOR EACH STATEMENT EXECUTE FUNCTION labtrail_append_only()",
];

const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER audit_tree_hash_no_update BEFORE UPDATE ON audit_tree_hash BEGIN \
     SELECT RAISE(ABORT, 'audit_tree_hash: UPDATE refused (append-only)'); END",
    "CREATE TRIGGER audit_tree_hash_no_delete BEFORE DELETE ON audit_tree_hash BEGIN \
     SELECT RAISE(ABORT, 'audit_tree_hash: DELETE refused (append-only)'); END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditTreeHash::Table)
                    .col(
                        ColumnDef::new(AuditTreeHash::Idx)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuditTreeHash::Hash).blob().not_null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let statements = match db.get_database_backend() {
            DbBackend::Postgres => POSTGRES_UP,
            _ => SQLITE_UP,
        };
        for sql in statements {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Dropping the table drops its triggers on both backends.
        manager
            .drop_table(Table::drop().table(AuditTreeHash::Table).to_owned())
            .await
    }
}
