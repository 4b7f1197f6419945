//! The class roster: importing a Classroom roster file (added, updated, unchanged; audited in the same
//! transaction) and listing it.

use chrono::Utc;
use entity::roster_student::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};

use crate::audit::{self, entries, AuditError};
pub use crate::domain::roster::ImportCounts;
use crate::domain::roster::{self, RosterEntry, RosterError};

/// Why a roster could not be imported (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("invalid organisation login {0:?}")]
    Org(String),
    #[error(transparent)]
    File(#[from] RosterError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

audit::db_error_via_audit!(ImportError);

/// Import a roster file for `org`: students are keyed by identifier; a known one is updated in place,
/// students absent from the file are kept. One transaction with its `roster.imported` entry, whose
/// details hold counts and digests only (the file holds names and logins).
pub async fn import(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    org: &str,
    file: &[u8],
) -> Result<ImportCounts, ImportError> {
    if !roster::valid_login(org) {
        return Err(ImportError::Org(org.to_owned()));
    }
    let org = org.to_ascii_lowercase();
    let students = roster::parse(file)?;
    audit::write(db, origin, async |txn, log| {
        let mut counts = ImportCounts::default();
        for student in &students {
            upsert(txn, &org, student, &mut counts).await?;
        }
        log.append(entries::roster_imported(
            actor,
            &org,
            file,
            students.len(),
            counts,
        )?)
        .await?;
        Ok(counts)
    })
    .await
}

async fn upsert(
    db: &impl ConnectionTrait,
    org: &str,
    entry: &RosterEntry,
    counts: &mut ImportCounts,
) -> Result<(), DbErr> {
    let now = Utc::now();
    let existing = Entity::find()
        .filter(Column::Org.eq(org))
        .filter(Column::Identifier.eq(&entry.identifier))
        .one(db)
        .await?;
    match existing {
        None => {
            roster_student::ActiveModel {
                org: Set(org.to_owned()),
                identifier: Set(entry.identifier.clone()),
                github_username: Set(entry.github_username.clone()),
                github_id: Set(entry.github_id),
                name: Set(entry.name.clone()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?;
            counts.added += 1;
        }
        Some(s)
            if s.github_username == entry.github_username
                && s.github_id == entry.github_id
                && s.name == entry.name =>
        {
            counts.unchanged += 1;
        }
        Some(s) => {
            let mut active: roster_student::ActiveModel = s.into();
            active.github_username = Set(entry.github_username.clone());
            active.github_id = Set(entry.github_id);
            active.name = Set(entry.name.clone());
            active.updated_at = Set(now);
            active.update(db).await?;
            counts.updated += 1;
        }
    }
    Ok(())
}

/// An organisation's roster, by identifier.
pub async fn list(
    db: &impl ConnectionTrait,
    org: &str,
) -> Result<Vec<roster_student::Model>, DbErr> {
    Entity::find()
        .filter(Column::Org.eq(org.to_ascii_lowercase()))
        .order_by_asc(Column::Identifier)
        .all(db)
        .await
}
