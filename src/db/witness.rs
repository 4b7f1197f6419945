//! The state of `labtrail witness serve`: per witnessed log (origin), the newest size and root it
//! cosigned. Checking the client's old size against it and recording the new checkpoint happen in one
//! conditional write, so two concurrent requests can never roll the state back (c2sp.org/tlog-witness).

use chrono::Utc;
use entity::witness_log;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set, SqlErr,
};

/// What the witness holds for a log: (size, base64 root); `(0, None)` when it never cosigned it.
pub async fn state(
    db: &impl ConnectionTrait,
    origin: &str,
) -> Result<(u64, Option<String>), DbErr> {
    let row = witness_log::Entity::find_by_id(origin.to_owned())
        .one(db)
        .await?;
    Ok(match row {
        Some(r) => (u64::try_from(r.size).unwrap_or(0), Some(r.root_hash)),
        None => (0, None),
    })
}

/// Move the log from `from` (the state read before checking the proof) to `size`/`root`. `Ok(false)`:
/// the state changed in between (another request won), nothing was written.
pub async fn advance(
    db: &impl ConnectionTrait,
    origin: &str,
    from: &(u64, Option<String>),
    size: u64,
    root: &str,
    note: &str,
) -> Result<bool, DbErr> {
    let size = i64::try_from(size).map_err(|_| DbErr::Custom("size out of range".into()))?;
    match &from.1 {
        None => {
            let inserted = witness_log::ActiveModel {
                origin: Set(origin.to_owned()),
                size: Set(size),
                root_hash: Set(root.to_owned()),
                note: Set(note.to_owned()),
                updated_at: Set(Utc::now()),
            }
            .insert(db)
            .await;
            match inserted {
                Ok(_) => Ok(true),
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    Ok(false)
                }
                Err(e) => Err(e),
            }
        }
        Some(old_root) => {
            let old_size = i64::try_from(from.0).unwrap_or(i64::MAX);
            let done = witness_log::Entity::update_many()
                .col_expr(witness_log::Column::Size, Expr::value(size))
                .col_expr(witness_log::Column::RootHash, Expr::value(root))
                .col_expr(witness_log::Column::Note, Expr::value(note))
                .col_expr(witness_log::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(witness_log::Column::Origin.eq(origin))
                .filter(witness_log::Column::Size.eq(old_size))
                .filter(witness_log::Column::RootHash.eq(old_root.as_str()))
                .exec(db)
                .await?;
            Ok(done.rows_affected == 1)
        }
    }
}
