//! Helpers shared by the migrations: column definitions, indexes and raw SQL. Each helper emits exactly
//! the SQL its callers wrote out before it existed, so a schema migrated in the field and a new one stay
//! the same.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

/// `BIGINT NOT NULL` auto-increment primary key.
pub fn id_auto<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

/// `TEXT NOT NULL`.
pub fn text<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
}

/// `TEXT NULL`.
pub fn text_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).text().null().to_owned()
}

/// `BIGINT NOT NULL`.
pub fn bigint<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().to_owned()
}

/// `BIGINT NULL`.
pub fn bigint_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().to_owned()
}

/// `INTEGER NOT NULL`.
pub fn integer<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).integer().not_null().to_owned()
}

/// A `NOT NULL` timestamp with time zone.
pub fn time<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// A `NULL` timestamp with time zone.
pub fn time_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

/// `BOOLEAN NOT NULL`.
pub fn boolean<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).boolean().not_null().to_owned()
}

/// Creates the index `name` on `table (cols…)`, unique or not.
pub async fn create_index<T, C>(
    m: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: impl IntoIterator<Item = C>,
    unique: bool,
) -> Result<(), DbErr>
where
    T: IntoIden + 'static,
    C: IntoIndexColumn,
{
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col);
    }
    if unique {
        index.unique();
    }
    m.create_index(index.to_owned()).await
}

/// Adds one column to `table` (SQLite takes one column per ALTER TABLE).
pub async fn add_column<T: IntoIden + 'static>(
    m: &SchemaManager<'_>,
    table: T,
    col: ColumnDef,
) -> Result<(), DbErr> {
    let mut col = col;
    m.alter_table(Table::alter().table(table).add_column(&mut col).to_owned())
        .await
}

/// Runs `statements` in order.
pub async fn execute_all<S: AsRef<str>>(
    m: &SchemaManager<'_>,
    statements: &[S],
) -> Result<(), DbErr> {
    let db = m.get_connection();
    for sql in statements {
        db.execute_unprepared(sql.as_ref()).await?;
    }
    Ok(())
}
