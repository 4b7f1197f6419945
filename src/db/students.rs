//! What a signed-in student's reads need (issue 21): the roster entries that are theirs, the sessions
//! they pushed to, and the attempts of a session they may see. Scoping and auditing are `reads`'s.

use std::collections::BTreeSet;

use entity::{lab_attempt, roster_student};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

/// The roster entries of every organisation that are this GitHub account's: by `github_id`, or, for an
/// entry without one, by its `github_username` (case-insensitive) equal to the account's current login.
pub async fn roster_entries(
    db: &impl ConnectionTrait,
    github_id: i64,
    login: Option<&str>,
) -> Result<Vec<roster_student::Model>, DbErr> {
    use roster_student::Column as C;
    let mut by = Condition::any().add(C::GithubId.eq(github_id));
    if let Some(login) = login.filter(|l| !l.is_empty()) {
        by =
            by.add(Condition::all().add(C::GithubId.is_null()).add(
                Expr::expr(Func::lower(Expr::col(C::GithubUsername))).eq(login.to_lowercase()),
            ));
    }
    roster_student::Entity::find()
        .filter(by)
        .order_by_asc(C::Org)
        .order_by_asc(C::Id)
        .all(db)
        .await
}

/// The sessions with an attempt this GitHub account sent.
pub async fn sessions_pushed(
    db: &impl ConnectionTrait,
    github_id: i64,
) -> Result<BTreeSet<i64>, DbErr> {
    use lab_attempt::Column as C;
    let ids: Vec<i64> = lab_attempt::Entity::find()
        .select_only()
        .column(C::SessionId)
        .filter(C::SenderId.eq(github_id))
        .distinct()
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().collect())
}

/// The attempts of `session_id` to one of `repositories` or sent by `github_id`, by push time then id.
pub async fn attempts(
    db: &impl ConnectionTrait,
    session_id: i64,
    repositories: &BTreeSet<i64>,
    github_id: i64,
) -> Result<Vec<lab_attempt::Model>, DbErr> {
    use lab_attempt::Column as C;
    let mut whose = Condition::any().add(C::SenderId.eq(github_id));
    if !repositories.is_empty() {
        whose = whose.add(C::RepositoryId.is_in(repositories.iter().copied()));
    }
    lab_attempt::Entity::find()
        .filter(C::SessionId.eq(session_id))
        .filter(whose)
        .order_by_asc(C::PushedAt)
        .order_by_asc(C::Id)
        .all(db)
        .await
}
