//! The class roster: importing a Classroom roster file (added, updated, unchanged; audited in the same
//! transaction) and listing it.

use std::collections::HashMap;

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
        let plan = plan(txn, &org, &students).await?;
        // The entry first, naming each row it adds or changes (new rows by reserved ids): the database
        // guard lets roster rows change only under it.
        log.append(entries::roster_imported(
            actor,
            &org,
            file,
            students.len(),
            plan.counts,
            &plan.rows,
        )?)
        .await?;
        for (row, is_new) in plan.rows.into_iter().zip(plan.new) {
            write(txn, row, is_new).await?;
        }
        Ok(plan.counts)
    })
    .await
}

/// What an import does: the rows it adds or changes, as they will be (`new`: added), and the counts.
struct Plan {
    rows: Vec<roster_student::Model>,
    new: Vec<bool>,
    counts: ImportCounts,
}

async fn plan(
    db: &impl ConnectionTrait,
    org: &str,
    students: &[RosterEntry],
) -> Result<Plan, DbErr> {
    let now = Utc::now();
    let mut existing: HashMap<String, roster_student::Model> = list(db, org)
        .await?
        .into_iter()
        .map(|s| (s.identifier.clone(), s))
        .collect();
    let mut counts = ImportCounts::default();
    let mut plan = Plan {
        rows: Vec::new(),
        new: Vec::new(),
        counts,
    };
    let mut added = Vec::new();
    for entry in students {
        match existing.remove(&entry.identifier) {
            None => added.push(entry),
            Some(s)
                if s.github_username == entry.github_username
                    && s.github_id == entry.github_id
                    && s.name == entry.name =>
            {
                counts.unchanged += 1;
            }
            Some(s) => {
                plan.rows.push(roster_student::Model {
                    github_username: entry.github_username.clone(),
                    github_id: entry.github_id,
                    name: entry.name.clone(),
                    updated_at: now,
                    ..s
                });
                plan.new.push(false);
                counts.updated += 1;
            }
        }
    }
    let ids = crate::db::reserve_ids(db, crate::db::IdTable::RosterStudent, added.len()).await?;
    for (entry, id) in added.into_iter().zip(ids) {
        plan.rows.push(roster_student::Model {
            id,
            org: org.to_owned(),
            identifier: entry.identifier.clone(),
            github_username: entry.github_username.clone(),
            github_id: entry.github_id,
            name: entry.name.clone(),
            created_at: now,
            updated_at: now,
        });
        plan.new.push(true);
        counts.added += 1;
    }
    plan.counts = counts;
    Ok(plan)
}

/// Insert a planned new row (with its reserved id) or update a changed one.
async fn write(
    db: &impl ConnectionTrait,
    s: roster_student::Model,
    is_new: bool,
) -> Result<(), DbErr> {
    if is_new {
        roster_student::ActiveModel {
            id: Set(s.id),
            org: Set(s.org),
            identifier: Set(s.identifier),
            github_username: Set(s.github_username),
            github_id: Set(s.github_id),
            name: Set(s.name),
            created_at: Set(s.created_at),
            updated_at: Set(s.updated_at),
        }
        .insert(db)
        .await?;
    } else {
        roster_student::ActiveModel {
            id: sea_orm::ActiveValue::Unchanged(s.id),
            github_username: Set(s.github_username),
            github_id: Set(s.github_id),
            name: Set(s.name),
            updated_at: Set(s.updated_at),
            ..Default::default()
        }
        .update(db)
        .await?;
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
