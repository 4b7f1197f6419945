//! Witnesses (issue 26). `audit_cosignature`: each C2SP `cosignature/v1` a witness returned for one of
//! this log's checkpoints (the signature line as received, the witness's name and key id, the size it
//! covers and its timestamp). `witness_log`: when labtrail itself runs as a witness (`labtrail witness
//! serve`, its own database), the newest checkpoint it cosigned for each log it witnesses (one row per
//! origin: the size and root it holds the log to, and the note it verified).

use sea_orm_migration::prelude::*;

use crate::util::{drop_tables, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

table! {
    AuditCosignature {
        Id: id_auto,
        CheckpointId: bigint,
        Size: bigint,
        Witness: text,
        KeyId: text,
        SignatureLine: text,
        CosignedAt: time,
        CreatedAt: time,
    }
    indexes: [
        ("ix_audit_cosignature_witness_size", [Witness, Size], false),
        ("ux_audit_cosignature_checkpoint_witness", [CheckpointId, Witness, KeyId], true),
    ],
}

table! {
    WitnessLog {
        Origin: text.primary_key(),
        Size: bigint,
        RootHash: text,
        Note: text,
        UpdatedAt: time,
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        AuditCosignature::create(m).await?;
        WitnessLog::create(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_tables!(m, WitnessLog, AuditCosignature).await
    }
}
