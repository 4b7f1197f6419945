//! Shared steps of the audit tests: recording pushes, running `labtrail audit …`, and forging rows the
//! way an attacker with write access to the database (and the guards dropped) would.

use labtrail::audit::{canonical_bytes, chain_hash, leaf_hash, Hash};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value as SqlValue};
use serde_json::Value;

use crate::helpers::{push_payload, sha, spawn_app, TestApp, TestDb};

/// A session and `n` recorded pushes: the log then holds `n + 1` entries.
pub async fn record(app: &TestApp, n: u64) {
    app.create_lab1_session().await;
    more(app, 0, n).await;
}

/// A fresh app with [`record`]ed `n` pushes, its audit guards then dropped: the attacker's view.
pub async fn unguarded(db: &TestDb, n: u64) -> TestApp {
    let app = spawn_app(db).await;
    record(&app, n).await;
    app.drop_audit_guards().await;
    app
}

/// `n` more pushes, numbered from `from`.
pub async fn more(app: &TestApp, from: u64, n: u64) {
    for i in from..from + n {
        let p = push_payload(
            "course",
            "lab1-alice",
            7,
            &sha(i + 1),
            1767225600 + i as i64,
        );
        app.deliver_push(&format!("push-{i}"), &p).await;
    }
    app.drain().await;
}

/// Run the CLI; exit code and stdout + stderr.
pub fn cli(app: &TestApp, args: &[&str]) -> (Option<i32>, String) {
    let out = app.cli(args);
    crate::helpers::code_and_output(&out)
}

/// Run the CLI, which must exit 0; its stdout + stderr.
pub fn cli_ok(app: &TestApp, args: &[&str]) -> String {
    let (code, out) = cli(app, args);
    assert_eq!(code, Some(0), "{args:?}: {out}");
    out
}

/// `labtrail session archive` of organisation `course`'s session `slug`; it must succeed.
pub fn archive(app: &TestApp, slug: &str) {
    cli_ok(
        app,
        &["session", "archive", "--org", "course", "--slug", slug],
    );
}

/// `labtrail retention run` with both windows at zero days (erases the archived sessions' attempts);
/// it must succeed.
pub fn retention_run_now(app: &TestApp) {
    cli_ok(
        app,
        &[
            "retention",
            "run",
            "--payload-days",
            "0",
            "--attempt-days",
            "0",
        ],
    );
}

/// `labtrail audit verify ARGS…`.
pub fn verify(app: &TestApp, args: &[&str]) -> (Option<i32>, String) {
    let mut full = vec!["audit", "verify"];
    full.extend_from_slice(args);
    cli(app, &full)
}

/// `labtrail audit verify ARGS…`, which must exit 0; its stdout + stderr.
pub fn verify_ok(app: &TestApp, args: &[&str]) -> String {
    let (code, out) = verify(app, args);
    assert_eq!(code, Some(0), "audit verify {args:?}: {out}");
    out
}

/// Sign a checkpoint of the current head now (`audit checkpoint --write`); returns the printed note.
pub fn checkpoint(app: &TestApp) -> String {
    cli_ok(app, &["audit", "checkpoint", "--write"])
}

/// Raw SQL with values; `$n` placeholders (rewritten to `?` for SQLite).
pub async fn exec_with(app: &TestApp, sql: &str, values: Vec<SqlValue>) {
    let backend = app.db.get_database_backend();
    let sql = if backend == DbBackend::Sqlite {
        let mut s = sql.to_owned();
        for i in (1..=values.len()).rev() {
            s = s.replace(&format!("${i}"), "?");
        }
        s
    } else {
        sql.to_owned()
    };
    app.db
        .execute(Statement::from_sql_and_values(backend, sql, values))
        .await
        .expect("forged write");
}

/// The stored (canonical bytes, prev hash) of rows `from..=through`, by seq.
async fn rows(app: &TestApp, from: i64, through: i64) -> Vec<(i64, Vec<u8>, String)> {
    let stmt = Statement::from_string(
        app.db.get_database_backend(),
        format!(
            "SELECT seq, canonical, prev_hash FROM audit_log WHERE seq >= {from} AND seq <= {through} ORDER BY seq"
        ),
    );
    app.db
        .query_all(stmt)
        .await
        .expect("read rows")
        .iter()
        .map(|r| {
            (
                r.try_get_by_index(0).expect("seq"),
                r.try_get_by_index(1).expect("canonical"),
                r.try_get_by_index(2).expect("prev"),
            )
        })
        .collect()
}

/// Rewrite rows `from..=through` as a forger without the signing key: `edit` changes each entry's
/// document, then every column, the canonical bytes and both hashes are recomputed so each rewritten row
/// is self-consistent and chains from its predecessor. With `fix_head`, `audit_head` follows.
pub async fn forge(
    app: &TestApp,
    from: i64,
    through: i64,
    fix_head: bool,
    mut edit: impl FnMut(i64, &mut Value),
) {
    let rows = rows(app, from, through).await;
    let mut prev = Hash::from_hex(&rows[0].2).expect("prev hash");
    for (seq, canonical, _) in rows {
        let mut doc: Value = serde_json::from_slice(&canonical).expect("json");
        edit(seq, &mut doc);
        let canonical = canonical_bytes(&doc).expect("canonical");
        let details =
            String::from_utf8(canonical_bytes(&doc["details"]).expect("details")).expect("utf8");
        let hash = chain_hash(&prev, &leaf_hash(&canonical));
        exec_with(
            app,
            "UPDATE audit_log SET actor = $1, action = $2, subject = $3, details = $4, canonical = $5, \
             prev_hash = $6, entry_hash = $7 WHERE seq = $8",
            vec![
                doc["actor"].as_str().unwrap_or_default().into(),
                doc["action"].as_str().unwrap_or_default().into(),
                doc["subject"].as_str().unwrap_or_default().into(),
                details.into(),
                canonical.into(),
                prev.to_string().into(),
                hash.to_string().into(),
                seq.into(),
            ],
        )
        .await;
        prev = hash;
    }
    if fix_head {
        exec_with(
            app,
            "UPDATE audit_head SET head_hash = $1 WHERE id = 1",
            vec![prev.to_string().into()],
        )
        .await;
    }
}

/// The stored entry hash of `seq`.
pub async fn entry_hash(app: &TestApp, seq: i64) -> String {
    let stmt = Statement::from_string(
        app.db.get_database_backend(),
        format!("SELECT entry_hash FROM audit_log WHERE seq = {seq}"),
    );
    let row = app.db.query_one(stmt).await.expect("query").expect("row");
    row.try_get_by_index(0).expect("hash")
}

/// Flip one bit of byte `at` of a file.
pub fn flip_byte(path: &std::path::Path, at: usize) {
    let mut bytes = std::fs::read(path).expect("read");
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).expect("write");
}
