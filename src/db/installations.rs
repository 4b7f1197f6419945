//! Installations and their repositories, kept current from `installation` and
//! `installation_repositories` events; every change audited in its own transaction.

use chrono::{DateTime, Utc};
use entity::{installation, installation_repository};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
    TransactionTrait,
};

use crate::audit::{self, entries, Receipt};
use crate::db::attempts::RecordError;
use crate::db::deliveries::{self, Status};
use crate::webhook::event::{InstallationChange, InstallationEvent};

/// Is this installation usable for API calls? Unknown installations are (they may predate labtrail).
pub async fn is_active(db: &impl ConnectionTrait, installation_id: i64) -> Result<bool, DbErr> {
    let row = installation::Entity::find_by_id(installation_id)
        .one(db)
        .await?;
    Ok(row.is_none_or(|i| i.suspended_at.is_none() && i.deleted_at.is_none()))
}

/// Apply an installation event: update the tables, append its audit entry and mark the delivery
/// processed, in one transaction.
///
/// `event_at` orders events (the delivery's receive time): workers and retries may process them out of
/// order, so a suspend/unsuspend/delete/create older than the state already applied leaves the state
/// (`suspended_at`, `deleted_at`) alone; everything else it says still applies.
///
/// `github_now`: the suspension state GitHub reported just before (`GET /app/installations/{id}`, when
/// the App is configured); it wins over the event's, since events can come late (a redelivery days after)
/// or be applied out of order.
///
/// `claim`: the worker's claim on the delivery (its `claims` count); when another worker has claimed it
/// since, nothing is applied and `None` comes back (that worker applies it, audited once).
pub struct ApplyContext<'a> {
    pub delivery_guid: &'a str,
    pub event_at: DateTime<Utc>,
    pub github_now: Option<Option<DateTime<Utc>>>,
    pub claim: Option<i32>,
}

/// See [`ApplyContext`].
pub async fn apply(
    db: &impl TransactionTrait,
    origin: &str,
    ev: &InstallationEvent,
    how: ApplyContext<'_>,
) -> Result<Option<Receipt>, RecordError> {
    let ApplyContext {
        delivery_guid,
        event_at,
        github_now,
        claim,
    } = how;
    let now = Utc::now();
    audit::write(db, origin, async |txn, log| {
        let stored = installation::Entity::find_by_id(ev.installation_id)
            .one(txn)
            .await?;
        let state_is_newer = stored.is_some_and(|row| row.updated_at > event_at);
        if state_is_newer {
            tracing::info!(
                installation_id = ev.installation_id,
                "an older installation event: its state change is not applied"
            );
        }
        upsert(txn, ev, now, event_at, !state_is_newer).await?;
        if let Some(suspended_at) = github_now {
            set_suspended(txn, ev.installation_id, suspended_at).await?;
        }
        apply_repositories(txn, ev, now, state_is_newer).await?;
        let receipt = log
            .append(entries::installation_changed(delivery_guid, ev)?)
            .await?;
        if !deliveries::settle_for_claim(txn, delivery_guid, claim, Status::Processed).await? {
            // Another worker claimed the delivery since: it applies the event.
            log.roll_back();
            return Ok(None);
        }
        Ok(Some(receipt))
    })
    .await
}

/// The repository list as the event changes it.
async fn apply_repositories(
    txn: &impl ConnectionTrait,
    ev: &InstallationEvent,
    now: DateTime<Utc>,
    state_is_newer: bool,
) -> Result<(), DbErr> {
    match ev.change {
        // The payload lists what the installation could reach then: only a current event replaces
        // the list (an older one would undo newer repository events).
        InstallationChange::Created if !state_is_newer => {
            remove_all_repositories(txn, ev.installation_id).await?;
            add_repositories(txn, ev, now).await
        }
        InstallationChange::Created => Ok(()),
        InstallationChange::RepositoriesAdded => add_repositories(txn, ev, now).await,
        InstallationChange::RepositoriesRemoved => {
            let ids: Vec<i64> = ev.removed.iter().map(|r| r.id).collect();
            installation_repository::Entity::delete_many()
                .filter(installation_repository::Column::InstallationId.eq(ev.installation_id))
                .filter(installation_repository::Column::RepositoryId.is_in(ids))
                .exec(txn)
                .await?;
            Ok(())
        }
        InstallationChange::Deleted => remove_all_repositories(txn, ev.installation_id).await,
        InstallationChange::Suspended
        | InstallationChange::Unsuspended
        | InstallationChange::PermissionsAccepted => Ok(()),
    }
}

/// Store the suspension state GitHub reports now.
async fn set_suspended(
    db: &impl ConnectionTrait,
    installation_id: i64,
    suspended_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    installation::Entity::update_many()
        .set(installation::ActiveModel {
            suspended_at: Set(suspended_at),
            ..Default::default()
        })
        .filter(installation::Column::Id.eq(installation_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Insert or update the installation row as the event says; `apply_state`: the event is newer than
/// the stored state, so its suspend/delete change applies (and `updated_at` becomes its time).
async fn upsert(
    db: &impl ConnectionTrait,
    ev: &InstallationEvent,
    now: DateTime<Utc>,
    event_at: DateTime<Utc>,
    apply_state: bool,
) -> Result<(), DbErr> {
    use installation::Column as C;
    let (suspended_at, deleted_at) = match ev.change {
        _ if !apply_state => (NotSet, NotSet),
        InstallationChange::Suspended => (Set(Some(ev.suspended_at.unwrap_or(event_at))), NotSet),
        InstallationChange::Unsuspended => (Set(None), NotSet),
        InstallationChange::Deleted => (NotSet, Set(Some(event_at))),
        InstallationChange::Created => (Set(ev.suspended_at), Set(None)),
        _ => (NotSet, NotSet),
    };
    let mut update = vec![C::AccountLogin, C::AccountId, C::AccountType];
    if suspended_at.is_set() || deleted_at.is_set() {
        update.push(C::UpdatedAt);
    }
    if ev.repository_selection.is_some() {
        update.push(C::RepositorySelection);
    }
    if suspended_at.is_set() {
        update.push(C::SuspendedAt);
    }
    if deleted_at.is_set() {
        update.push(C::DeletedAt);
    }
    let row = installation::ActiveModel {
        id: Set(ev.installation_id),
        account_login: Set(ev.account_login.clone()),
        account_id: Set(ev.account_id),
        account_type: Set(ev.account_type.clone()),
        repository_selection: Set(ev.repository_selection.clone()),
        suspended_at: if suspended_at.is_set() {
            suspended_at
        } else {
            Set(None)
        },
        deleted_at: if deleted_at.is_set() {
            deleted_at
        } else {
            Set(None)
        },
        created_at: Set(now),
        updated_at: Set(event_at),
    };
    installation::Entity::insert(row)
        .on_conflict(OnConflict::column(C::Id).update_columns(update).to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

async fn add_repositories(
    db: &impl ConnectionTrait,
    ev: &InstallationEvent,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use installation_repository::Column as C;
    for chunk in ev.repositories.chunks(500) {
        let rows = chunk.iter().map(|r| installation_repository::ActiveModel {
            installation_id: Set(ev.installation_id),
            repository_id: Set(r.id),
            full_name: Set(r.full_name.clone()),
            added_at: Set(now),
        });
        installation_repository::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([C::InstallationId, C::RepositoryId])
                    .update_column(C::FullName)
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

async fn remove_all_repositories(
    db: &impl ConnectionTrait,
    installation_id: i64,
) -> Result<(), DbErr> {
    installation_repository::Entity::delete_many()
        .filter(installation_repository::Column::InstallationId.eq(installation_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The repositories an installation can reach, by full name.
pub async fn repositories(
    db: &impl ConnectionTrait,
    installation_id: i64,
) -> Result<Vec<installation_repository::Model>, DbErr> {
    use sea_orm::QueryOrder;
    installation_repository::Entity::find()
        .filter(installation_repository::Column::InstallationId.eq(installation_id))
        .order_by_asc(installation_repository::Column::FullName)
        .all(db)
        .await
}

/// The active (neither deleted nor suspended) installation on account `login`, if any.
pub async fn of_account(
    db: &impl ConnectionTrait,
    login: &str,
) -> Result<Option<installation::Model>, DbErr> {
    Ok(installation::Entity::find()
        .filter(installation::Column::DeletedAt.is_null())
        .filter(installation::Column::SuspendedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .find(|i| i.account_login.eq_ignore_ascii_case(login)))
}
