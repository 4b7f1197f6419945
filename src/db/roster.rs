//! The class roster: importing a Classroom roster file (added, updated, unchanged, and with `--replace`
//! removed; audited in the same transaction), removing students, and listing it.

use chrono::Utc;
use entity::roster_student::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};

use crate::audit::{self, entries, AuditError};
use crate::domain::roster::{self, RosterError};
pub use crate::domain::roster::{Diff, ImportCounts};

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

/// How `roster import` treats the students absent from the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportMode {
    /// Remove them: the roster becomes the file (`--replace`).
    pub replace: bool,
    /// Change nothing, only say what would change (`--dry-run`).
    pub dry_run: bool,
}

/// Import a roster file for `org`: students are keyed by identifier; a known one is updated in place;
/// students absent from the file are kept, or removed with `mode.replace`. One transaction: the
/// `roster.removed` entry (when some are removed) and the deletions, then the `roster.imported` entry,
/// whose details hold counts and digests only (the file holds names and logins), and the writes. With
/// `mode.dry_run` nothing is written and the diff is what would change.
pub async fn import(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    org: &str,
    file: &[u8],
    mode: ImportMode,
) -> Result<Diff, ImportError> {
    if !roster::valid_login(org) {
        return Err(ImportError::Org(org.to_owned()));
    }
    let org = org.to_ascii_lowercase();
    let students = roster::parse(file)?;
    if mode.dry_run {
        let txn = db.begin().await?;
        let d = roster::diff(list(&txn, &org).await?, &students, mode.replace)?;
        txn.rollback().await?;
        return Ok(d);
    }
    audit::write(db, origin, async |txn, log| {
        let d = roster::diff(list(txn, &org).await?, &students, mode.replace)?;
        if !d.removed.is_empty() {
            // The entry first, naming each row it removes: the database guard lets a row go only under it.
            log.append(entries::roster_removed(actor, &org, &d.removed)?)
                .await?;
            delete(txn, &d.removed).await?;
        }
        let plan = plan(txn, &org, &d).await?;
        // The entry first, naming each row it adds or changes (new rows by reserved ids): the database
        // guard lets roster rows change only under it.
        log.append(entries::roster_imported(
            actor,
            &org,
            file,
            students.len(),
            d.counts(),
            &plan.rows,
        )?)
        .await?;
        for (row, is_new) in plan.rows.into_iter().zip(plan.new) {
            write(txn, row, is_new).await?;
        }
        crate::db::student_state::rebuild_org(txn, &org).await?;
        Ok(d)
    })
    .await
}

/// Why students could not be removed (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("invalid organisation login {0:?}")]
    Org(String),
    #[error("the roster of {org} has no identifier {identifier:?}{hint}")]
    Unknown {
        org: String,
        identifier: String,
        /// ` (did you mean "…"?)` or empty.
        hint: String,
    },
    #[error("give at least one roster identifier")]
    Nothing,
    #[error(transparent)]
    Audit(#[from] AuditError),
}

audit::db_error_via_audit!(RemoveError);

/// Remove the roster students of `org` with these identifiers (exact; all or none), audited as
/// `roster.removed` in one transaction; returns the rows removed.
pub async fn remove(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    org: &str,
    identifiers: &[String],
) -> Result<Vec<roster_student::Model>, RemoveError> {
    if !roster::valid_login(org) {
        return Err(RemoveError::Org(org.to_owned()));
    }
    if identifiers.is_empty() {
        return Err(RemoveError::Nothing);
    }
    let org = org.to_ascii_lowercase();
    audit::write(db, origin, async |txn, log| {
        let roster = list(txn, &org).await?;
        let mut rows = Vec::new();
        for identifier in identifiers {
            match roster.iter().find(|s| &s.identifier == identifier) {
                Some(s) if !rows.iter().any(|r: &roster_student::Model| r.id == s.id) => {
                    rows.push(s.clone());
                }
                Some(_) => {}
                None => {
                    let hint = crate::domain::suggest::closest(
                        identifier,
                        roster.iter().map(|s| s.identifier.as_str()),
                    )
                    .map(|c| format!(" (did you mean {c:?}?)"))
                    .unwrap_or_default();
                    return Err(RemoveError::Unknown {
                        org: org.clone(),
                        identifier: identifier.clone(),
                        hint,
                    });
                }
            }
        }
        log.append(entries::roster_removed(actor, &org, &rows)?)
            .await?;
        delete(txn, &rows).await?;
        crate::db::student_state::rebuild_org(txn, &org).await?;
        Ok(rows)
    })
    .await
}

/// Delete these rows (their `roster.removed` entry is the newest).
async fn delete(db: &impl ConnectionTrait, rows: &[roster_student::Model]) -> Result<(), DbErr> {
    Entity::delete_many()
        .filter(Column::Id.is_in(rows.iter().map(|r| r.id)))
        .exec(db)
        .await?;
    Ok(())
}

/// What an import writes: the rows it adds or changes, as they will be (`new`: added).
struct Plan {
    rows: Vec<roster_student::Model>,
    new: Vec<bool>,
}

async fn plan(db: &impl ConnectionTrait, org: &str, d: &Diff) -> Result<Plan, DbErr> {
    let now = Utc::now();
    let mut plan = Plan {
        rows: Vec::new(),
        new: Vec::new(),
    };
    for (s, entry) in &d.updated {
        plan.rows.push(roster_student::Model {
            github_username: entry.github_username.clone(),
            github_id: entry.github_id,
            name: entry.name.clone(),
            updated_at: now,
            ..s.clone()
        });
        plan.new.push(false);
    }
    let ids = crate::db::reserve_ids(db, crate::db::IdTable::RosterStudent, d.added.len()).await?;
    for (entry, id) in d.added.iter().zip(ids) {
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
    }
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

/// Why a roster entry could not be linked or unlinked (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("invalid organisation login {0:?}")]
    Org(String),
    #[error("invalid GitHub login {0:?}")]
    Login(String),
    #[error("the roster of {org} has no identifier {identifier:?}{hint}")]
    Unknown {
        org: String,
        identifier: String,
        /// ` (did you mean "…"?)` or empty.
        hint: String,
    },
    #[error("roster entry {identifier:?} is already linked to another GitHub account")]
    TakenEntry { identifier: String },
    #[error("this GitHub account is already linked to roster entry {identifier:?} of {org}")]
    AlreadyLinked { org: String, identifier: String },
    #[error("roster entry {identifier:?} is not linked to a GitHub account")]
    NotLinked { identifier: String },
    #[error(transparent)]
    Audit(#[from] AuditError),
}

audit::db_error_via_audit!(LinkError);

/// A GitHub account as the roster links it: its login and, when known, GitHub's user id.
#[derive(Debug, Clone)]
pub struct RosterAccount {
    pub login: String,
    pub github_id: Option<i64>,
}

impl RosterAccount {
    /// Is `s` linked to this account (by id when both have one, else by login, any case)?
    pub fn owns(&self, s: &roster_student::Model) -> bool {
        match (s.github_id, self.github_id) {
            (Some(a), Some(b)) => a == b,
            _ => {
                !s.github_username.is_empty() && s.github_username.eq_ignore_ascii_case(&self.login)
            }
        }
    }

    /// Is `s` linked to some other account?
    fn is_other(&self, s: &roster_student::Model) -> bool {
        (s.github_id.is_some() || !s.github_username.is_empty()) && !self.owns(s)
    }
}

/// The roster entry of `org` linked to `account`, if any.
pub async fn entry_of(
    db: &impl ConnectionTrait,
    org: &str,
    account: &RosterAccount,
) -> Result<Option<roster_student::Model>, DbErr> {
    Ok(list(db, org).await?.into_iter().find(|s| account.owns(s)))
}

/// The entries of `org` not linked to anyone (what a student may pick).
pub async fn unlinked(
    db: &impl ConnectionTrait,
    org: &str,
) -> Result<Vec<roster_student::Model>, DbErr> {
    Ok(list(db, org)
        .await?
        .into_iter()
        .filter(|s| s.github_id.is_none() && s.github_username.is_empty())
        .collect())
}

/// Link roster entry `identifier` of `org` to `account` (`roster link`, a student's pick of an invitation),
/// audited as `roster.linked` in one transaction. Refused when the entry is linked to another account or
/// the account to another entry; linking the same pair again changes nothing and appends nothing.
pub async fn link(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    org: &str,
    identifier: &str,
    account: &RosterAccount,
) -> Result<roster_student::Model, LinkError> {
    if !roster::valid_login(org) {
        return Err(LinkError::Org(org.to_owned()));
    }
    if !roster::valid_login(&account.login) {
        return Err(LinkError::Login(account.login.clone()));
    }
    let org = org.to_ascii_lowercase();
    audit::write(db, origin, async |txn, log| {
        let roster = list(txn, &org).await?;
        let row = find_entry(&org, &roster, identifier)?;
        if account.is_other(row) {
            return Err(LinkError::TakenEntry {
                identifier: row.identifier.clone(),
            });
        }
        if let Some(other) = roster.iter().find(|s| s.id != row.id && account.owns(s)) {
            return Err(LinkError::AlreadyLinked {
                org,
                identifier: other.identifier.clone(),
            });
        }
        let new = roster_student::Model {
            github_username: account.login.clone(),
            github_id: account.github_id.or(row.github_id),
            updated_at: Utc::now(),
            ..row.clone()
        };
        if new.github_username == row.github_username && new.github_id == row.github_id {
            return Ok(row.clone());
        }
        set_link(txn, log, actor, new, true).await
    })
    .await
}

/// Remove the GitHub account link of roster entry `identifier` of `org` (`roster unlink`), audited as
/// `roster.unlinked`; the student may pick an entry again.
pub async fn unlink(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    org: &str,
    identifier: &str,
) -> Result<roster_student::Model, LinkError> {
    if !roster::valid_login(org) {
        return Err(LinkError::Org(org.to_owned()));
    }
    let org = org.to_ascii_lowercase();
    audit::write(db, origin, async |txn, log| {
        let roster = list(txn, &org).await?;
        let row = find_entry(&org, &roster, identifier)?;
        if row.github_id.is_none() && row.github_username.is_empty() {
            return Err(LinkError::NotLinked {
                identifier: row.identifier.clone(),
            });
        }
        let new = roster_student::Model {
            github_username: String::new(),
            github_id: None,
            updated_at: Utc::now(),
            ..row.clone()
        };
        set_link(txn, log, actor, new, false).await
    })
    .await
}

fn find_entry<'a>(
    org: &str,
    roster: &'a [roster_student::Model],
    identifier: &str,
) -> Result<&'a roster_student::Model, LinkError> {
    roster
        .iter()
        .find(|s| s.identifier == identifier)
        .ok_or_else(|| LinkError::Unknown {
            org: org.to_owned(),
            identifier: identifier.to_owned(),
            hint: crate::domain::suggest::closest(
                identifier,
                roster.iter().map(|s| s.identifier.as_str()),
            )
            .map(|c| format!(" (did you mean {c:?}?)"))
            .unwrap_or_default(),
        })
}

/// The one write of a roster link change (`linked`) or unlink: the entry first (the database guard lets
/// the row change only under it), then the row. Whatever derives from roster links is rebuilt here.
async fn set_link(
    txn: &sea_orm::DatabaseTransaction,
    log: &mut audit::Log<'_>,
    actor: &str,
    new: roster_student::Model,
    linked: bool,
) -> Result<roster_student::Model, LinkError> {
    let github_id = if linked {
        new.github_id
    } else {
        Entity::find_by_id(new.id)
            .one(txn)
            .await?
            .and_then(|old| old.github_id)
    };
    log.append(entries::roster_link(actor, &new, github_id, linked)?)
        .await?;
    write(txn, new.clone(), false).await?;
    // A link changes which repositories match this entry: the org's kept state follows in this txn.
    crate::db::student_state::rebuild_org(txn, &new.org).await?;
    Ok(new)
}
