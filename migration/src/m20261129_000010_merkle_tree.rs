//! The audit log's RFC 6962 Merkle tree: `audit_tree_hash` holds, at tlog's dense storage index, each
//! leaf hash and the hash of every complete subtree, written in the transaction that appends the entry.
//! Append-only like the log: UPDATE, DELETE and TRUNCATE are refused. Existing logs are backfilled by
//! the application (`audit::merkle_store::catch_up`) from the stored entries' canonical bytes.

use sea_orm_migration::prelude::*;

use crate::util::{append_only, drop_tables, execute_per_backend, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

table! {
    AuditTreeHash {
        Idx: bigint.primary_key(),
        Hash: blob,
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        AuditTreeHash::create(manager).await?;
        let (postgres, sqlite) = append_only("audit_tree_hash");
        execute_per_backend(manager, &postgres, &sqlite).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Dropping the table drops its triggers on both backends.
        drop_tables!(manager, AuditTreeHash).await
    }
}
