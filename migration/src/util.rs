//! Helpers shared by the migrations: column definitions, indexes, raw SQL per backend and the text of
//! guard triggers. Each helper emits exactly the SQL its callers wrote out before it existed (SQLite keeps
//! a trigger's text and PostgreSQL a function's body verbatim), so a schema migrated in the field and a
//! new one stay the same.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// `BIGINT NOT NULL` auto-increment primary key.
pub fn id_auto<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

/// Declares the column helpers `name(col)`: `ColumnDef::new(col).kind().nullability()`.
macro_rules! columns {
    ($($(#[$doc:meta])* $name:ident: $kind:ident $nullability:ident;)+) => {
        $(
            $(#[$doc])*
            pub fn $name<T: IntoIden>(col: T) -> ColumnDef {
                ColumnDef::new(col).$kind().$nullability().to_owned()
            }
        )+
    };
}

columns! {
    /// `TEXT NOT NULL`.
    text: text not_null;
    /// `TEXT NULL`.
    text_null: text null;
    /// `BIGINT NOT NULL`.
    bigint: big_integer not_null;
    /// `BIGINT NULL`.
    bigint_null: big_integer null;
    /// `INTEGER NOT NULL`.
    integer: integer not_null;
    /// A `NOT NULL` timestamp with time zone.
    time: timestamp_with_time_zone not_null;
    /// A `NULL` timestamp with time zone.
    time_null: timestamp_with_time_zone null;
    /// `BOOLEAN NOT NULL`.
    boolean: boolean not_null;
    /// `BLOB NOT NULL`.
    blob: blob not_null;
    /// `BLOB NULL`.
    blob_null: blob null;
    /// `DOUBLE NULL` (`REAL` on SQLite, `DOUBLE PRECISION` on PostgreSQL).
    double_null: double null;
}

/// Declares a table a migration creates, naming each column once: the `DeriveIden` enum `$table` (its
/// `Table` and its columns, in the order given) and `$table::create(m)`, which creates the table and then
/// its indexes, in the order given.
///
/// - `Column: helper.call(args)…`: the column `helper(Self::Column).call(args)…` (`text`, `time`, … of
///   this module, then any further [`ColumnDef`] calls, such as `primary_key()` or `default(0)`).
/// - `primary_key: [A, B]`: a primary key over several columns.
/// - `foreign_keys: [("fk_name", Column, Other::Id, Cascade)]`: `Column` references `Other::Id`, with
///   the `ON DELETE` action if one is given.
/// - `indexes: [("ix_name", [A, B], true)]`: [`create_index`] after the table, unique if `true`.
macro_rules! table {
    (
        $table:ident {
            $($col:ident: $def:ident $(.$call:ident($($arg:expr),*))*,)+
        }
        $(primary_key: [$($pk:ident),+],)?
        $(foreign_keys: [$(($fk:literal, $from:ident, $to_table:ident::$to_col:ident $(, $on_delete:ident)?)),+ $(,)?],)?
        $(indexes: [$(($ix:literal, [$($ix_col:ident),+], $unique:literal)),+ $(,)?],)?
    ) => {
        #[derive(DeriveIden)]
        enum $table {
            Table,
            $($col,)+
        }

        impl $table {
            async fn create(m: &SchemaManager<'_>) -> Result<(), DbErr> {
                m.create_table(
                    Table::create()
                        .table(Self::Table)
                        $(.col($crate::util::$def(Self::$col)$(.$call($($arg),*))*))+
                        $(.primary_key(Index::create()$(.col(Self::$pk))+))?
                        $($(.foreign_key(
                            ForeignKey::create()
                                .name($fk)
                                .from(Self::Table, Self::$from)
                                .to($to_table::Table, $to_table::$to_col)
                                $(.on_delete(ForeignKeyAction::$on_delete))?,
                        ))+)?
                        .to_owned(),
                )
                .await?;
                $($($crate::util::create_index(m, $ix, Self::Table, [$(Self::$ix_col),+], $unique).await?;)+)?
                Ok(())
            }
        }
    };
}
pub(crate) use table;

/// Drops the tables `$table…` (each a `DeriveIden` enum with a `Table`, such as one [`table!`] declares), in
/// the order given.
macro_rules! drop_tables {
    ($m:expr, $($table:ident),+ $(,)?) => {
        async {
            for table in [$($table::Table.into_iden()),+] {
                $m.drop_table(Table::drop().table(table).to_owned()).await?;
            }
            Ok::<(), DbErr>(())
        }
    };
}
pub(crate) use drop_tables;

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

/// Runs the statements written for the connection's backend.
pub async fn execute_per_backend<P: AsRef<str>, S: AsRef<str>>(
    m: &SchemaManager<'_>,
    postgres: &[P],
    sqlite: &[S],
) -> Result<(), DbErr> {
    match m.get_database_backend() {
        DbBackend::Postgres => execute_all(m, postgres).await,
        DbBackend::Sqlite => execute_all(m, sqlite).await,
        DbBackend::MySql => Err(DbErr::Migration(
            "labtrail supports SQLite and PostgreSQL only".into(),
        )),
    }
}

/// The statement dropping what `created` (a `CREATE TRIGGER`, `CREATE OR REPLACE FUNCTION` or
/// `CREATE INDEX IF NOT EXISTS` statement of this crate) created. `on_table`: name a trigger's table, as
/// PostgreSQL requires (SQLite's trigger names are unique per schema, and it takes no table).
fn drop_statement(created: &str, on_table: bool) -> Result<String, DbErr> {
    let words: Vec<&str> = created.split_whitespace().collect();
    match words[..] {
        ["CREATE", "TRIGGER", name, ref rest @ ..] if on_table => {
            match rest.iter().position(|w| *w == "ON") {
                Some(on) if on + 1 < rest.len() => {
                    Ok(format!("DROP TRIGGER IF EXISTS {name} ON {}", rest[on + 1]))
                }
                _ => Err(DbErr::Migration(format!("no table in: {created}"))),
            }
        }
        ["CREATE", "TRIGGER", name, ..] => Ok(format!("DROP TRIGGER IF EXISTS {name}")),
        ["CREATE", "OR", "REPLACE", "FUNCTION", function, ..] => {
            Ok(format!("DROP FUNCTION IF EXISTS {function}"))
        }
        ["CREATE", "INDEX", "IF", "NOT", "EXISTS", name, ..] => {
            Ok(format!("DROP INDEX IF EXISTS {name}"))
        }
        _ => Err(DbErr::Migration(format!("cannot undo: {created}"))),
    }
}

/// The statements dropping what the statements `created` created, newest first (see [`drop_statement`]).
pub fn drops<S: AsRef<str>>(created: &[S], on_table: bool) -> Result<Vec<String>, DbErr> {
    created
        .iter()
        .rev()
        .map(|sql| drop_statement(sql.as_ref(), on_table))
        .collect()
}

/// Undoes statements run by [`execute_per_backend`]: drops, newest first, what the statements written
/// for the connection's backend created.
pub async fn undo_per_backend<P: AsRef<str>, S: AsRef<str>>(
    m: &SchemaManager<'_>,
    postgres: &[P],
    sqlite: &[S],
) -> Result<(), DbErr> {
    execute_per_backend(m, &drops(postgres, true)?, &drops(sqlite, false)?).await
}

/// `impl MigrationTrait for Migration` of a migration that only runs raw statements per backend, the
/// PostgreSQL list `$postgres` or the SQLite list `$sqlite`: `up` runs them, `down` drops what they
/// created ([`undo_per_backend`]).
macro_rules! per_backend_migration {
    ($postgres:expr, $sqlite:expr) => {
        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::util::execute_per_backend(manager, &$postgres, &$sqlite).await
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::util::undo_per_backend(manager, &$postgres, &$sqlite).await
            }
        }
    };
}
pub(crate) use per_backend_migration;

/// `NEW.c <distinct> OLD.c OR …` over `cols` (`distinct`: the backend's "is distinct from").
pub fn changed(cols: &[&str], distinct: &str) -> String {
    cols.iter()
        .map(|c| format!("NEW.{c} {distinct} OLD.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// PostgreSQL: the row trigger `name` running `function()` before `events` (`UPDATE OR DELETE`, …).
pub fn pg_row_trigger(name: &str, events: &str, table: &str, function: &str) -> String {
    format!("CREATE TRIGGER {name} BEFORE {events} ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()")
}

/// PostgreSQL: the trigger `name` refusing TRUNCATE of `table`.
pub fn pg_no_truncate(name: &str, table: &str) -> String {
    format!(
        "CREATE TRIGGER {name} BEFORE TRUNCATE ON {table} \
         FOR EACH STATEMENT EXECUTE FUNCTION labtrail_append_only()"
    )
}

/// SQLite: the trigger `name` refusing `event` on `table` with `message`, when `when` holds (always if
/// `None`).
pub fn sqlite_guard(
    name: &str,
    event: &str,
    table: &str,
    when: Option<&str>,
    message: &str,
) -> String {
    let when = when.map(|w| format!("WHEN {w} ")).unwrap_or_default();
    format!(
        "CREATE TRIGGER {name} BEFORE {event} ON {table} {when}BEGIN \
         SELECT RAISE(ABORT, '{message}'); END"
    )
}

/// An append-only table: the PostgreSQL and SQLite statements refusing its UPDATE, DELETE and TRUNCATE
/// (on SQLite, `DELETE` without `WHERE` runs the DELETE trigger, so it covers truncation).
pub fn append_only(table: &str) -> (Vec<String>, Vec<String>) {
    let postgres = vec![
        pg_row_trigger(
            &format!("{table}_guard"),
            "UPDATE OR DELETE",
            table,
            "labtrail_append_only",
        ),
        pg_no_truncate(&format!("{table}_no_truncate"), table),
    ];
    let sqlite = ["UPDATE", "DELETE"]
        .map(|op| {
            sqlite_guard(
                &format!("{table}_no_{}", op.to_lowercase()),
                op,
                table,
                None,
                &format!("{table}: {op} refused (append-only)"),
            )
        })
        .to_vec();
    (postgres, sqlite)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The helpers must keep emitting the text the migrations first ran: SQLite stores it as written.
    #[test]
    fn append_only_emits_the_original_statements() {
        let (postgres, sqlite) = append_only("audit_tree_hash");
        assert_eq!(
            postgres,
            [
                "CREATE TRIGGER audit_tree_hash_guard BEFORE UPDATE OR DELETE ON audit_tree_hash \
                 FOR EACH ROW EXECUTE FUNCTION labtrail_append_only()",
                "CREATE TRIGGER audit_tree_hash_no_truncate BEFORE TRUNCATE ON audit_tree_hash \
                 FOR EACH STATEMENT EXECUTE FUNCTION labtrail_append_only()",
            ]
        );
        assert_eq!(
            sqlite,
            [
                "CREATE TRIGGER audit_tree_hash_no_update BEFORE UPDATE ON audit_tree_hash BEGIN \
                 SELECT RAISE(ABORT, 'audit_tree_hash: UPDATE refused (append-only)'); END",
                "CREATE TRIGGER audit_tree_hash_no_delete BEFORE DELETE ON audit_tree_hash BEGIN \
                 SELECT RAISE(ABORT, 'audit_tree_hash: DELETE refused (append-only)'); END",
            ]
        );
    }

    /// `down` drops what `up` created, newest first, naming a trigger's table on PostgreSQL only.
    #[test]
    fn drops_undo_the_created_objects_newest_first() {
        let created = [
            "CREATE INDEX IF NOT EXISTS ix_t_a ON t (a)".to_owned(),
            "CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN END $$"
                .to_owned(),
            pg_row_trigger("t_guard", "UPDATE OR DELETE", "t", "f"),
            sqlite_guard(
                "t_no_update",
                "UPDATE OF a",
                "t",
                Some("NEW.a > 1"),
                "t: no",
            ),
        ];
        assert_eq!(
            drops(&created, true).unwrap(),
            [
                "DROP TRIGGER IF EXISTS t_no_update ON t",
                "DROP TRIGGER IF EXISTS t_guard ON t",
                "DROP FUNCTION IF EXISTS f()",
                "DROP INDEX IF EXISTS ix_t_a",
            ]
        );
        assert_eq!(
            drops(&created[3..], false).unwrap(),
            ["DROP TRIGGER IF EXISTS t_no_update"]
        );
        assert!(drops(&["INSERT INTO t VALUES (1)"], false).is_err());
    }

    #[test]
    fn sqlite_guard_with_a_condition() {
        assert_eq!(
            sqlite_guard("t_no_delete", "DELETE", "t", Some("OLD.a > 1"), "t: no"),
            "CREATE TRIGGER t_no_delete BEFORE DELETE ON t WHEN OLD.a > 1 BEGIN \
             SELECT RAISE(ABORT, 't: no'); END"
        );
        assert_eq!(
            changed(&["a", "b"], "IS NOT"),
            "NEW.a IS NOT OLD.a OR NEW.b IS NOT OLD.b"
        );
    }
}
