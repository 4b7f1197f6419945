//! The PostgreSQL role setup of docs/security.md works as documented (issue 20 item 3; PostgreSQL only).
//! The test reads the SQL blocks of that section from the document itself, so the document and the test
//! cannot drift, runs them with unique role and database names (the server is shared), migrates as the
//! owner, then runs `labtrail serve` (a signed push) and every command that opens the database as the
//! restricted `labtrail_app` role, and checks what that role is refused: editing extensions, the roster and
//! whose attempt it is, deleting guarded rows, dropping triggers. Last, with a migration pending, the app
//! role's error names who must migrate.

use std::path::{Path, PathBuf};
use std::process::Output;

use futures::FutureExt as _;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use crate::helpers::{
    alice_push_body, code_and_output, output_of, run, session_create_args, Backend, ServeProcess,
    TestDb, JANUARY_2026, ORIGIN, SECRET,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_role_runs_serve_and_every_command() {
    run(Backend::Postgres, documented_role).await;
}

/// The SQL blocks of docs/security.md's "PostgreSQL roles" section, in order.
fn documented_sql() -> Vec<String> {
    let doc = include_str!("../../docs/security.md");
    let start = doc.find("## PostgreSQL roles").expect("the section");
    let section = &doc[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```sql\n") {
        let body = &rest[open + 7..];
        let close = body.find("```").expect("a closed block");
        blocks.push(body[..close].to_owned());
        rest = &body[close..];
    }
    blocks
}

/// A block's statements: comments dropped, split at `;`.
fn statements(block: &str) -> Vec<String> {
    let text: String = block
        .lines()
        .map(|l| l.find("--").map_or(l, |c| &l[..c]))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The names this run uses instead of the document's.
struct Names {
    owner: String,
    app: String,
    database: String,
    password: String,
}

impl Names {
    fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            owner: format!("lt_owner_{}", &id[..12]),
            app: format!("lt_app_{}", &id[..12]),
            database: format!("lt_role_{}", &id[..12]),
            password: format!("pw{}", &id[12..]),
        }
    }

    /// The document's SQL with these names.
    fn apply(&self, sql: &str) -> String {
        sql.replace("labtrail_owner", &self.owner)
            .replace("labtrail_app", &self.app)
            .replace(
                "DATABASE labtrail ",
                &format!("DATABASE {} ", self.database),
            )
            .replace("'…'", &format!("'{}'", self.password))
    }

    fn url(&self, admin_url: &str, role: &str) -> String {
        let mut url = url::Url::parse(admin_url).expect("URL");
        url.set_username(role).expect("user");
        url.set_password(Some(&self.password)).expect("password");
        url.set_path(&format!("/{}", self.database));
        url.to_string()
    }
}

async fn exec_all(db: &DatabaseConnection, sqls: &[String]) {
    for sql in sqls {
        db.execute_unprepared(sql).await.expect(sql);
    }
}

/// `labtrail ARGS…` with `DATABASE_URL` = `url`, in `dir`.
fn labtrail(url: &str, dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out: Output = output_of(
        std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"))
            .args(args)
            .env("DATABASE_URL", url)
            .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
            .env("RUST_LOG", "warn")
            .env_remove("GITHUB_WEBHOOK_SECRET")
            .current_dir(dir),
    );
    code_and_output(&out)
}

/// [`labtrail`], which must exit 0 and never meet a missing privilege.
fn ok(url: &str, dir: &Path, args: &[&str]) -> String {
    let (code, out) = labtrail(url, dir, args);
    assert_eq!(code, Some(0), "{args:?}: {out}");
    assert!(!out.contains("permission denied"), "{args:?}: {out}");
    out
}

async fn documented_role(db: TestDb) {
    let names = Names::new();
    let admin = Database::connect(&db.url).await.expect("admin");
    let dir: PathBuf = db.scratch_dir();
    let result = std::panic::AssertUnwindSafe(with_roles(&db.url, &admin, &names, &dir))
        .catch_unwind()
        .await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", names.database),
        format!("DROP ROLE IF EXISTS {}", names.app),
        format!("DROP ROLE IF EXISTS {}", names.owner),
    ] {
        let _ = admin.execute_unprepared(&sql).await;
    }
    admin.close().await.ok();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn with_roles(admin_url: &str, admin: &DatabaseConnection, names: &Names, dir: &Path) {
    let blocks = documented_sql();
    assert_eq!(
        blocks.len(),
        2,
        "docs/security.md: the superuser block and the owner's grants"
    );
    let (superuser, grants) = (
        statements(&names.apply(&blocks[0])),
        statements(&names.apply(&blocks[1])),
    );
    assert!(
        superuser.iter().any(|s| s.contains(&names.database)),
        "{superuser:?}"
    );
    exec_all(admin, &superuser).await;

    // The owner migrates and grants.
    let owner_url = names.url(admin_url, &names.owner);
    let app_url = names.url(admin_url, &names.app);
    ok(&owner_url, dir, &["migrate"]);
    let owner = Database::connect(&owner_url).await.expect("owner");
    exec_all(&owner, &grants).await;

    // The app role: `serve` with a signed push, then every command that opens the database.
    let (opens, closes) = JANUARY_2026;
    ok(
        &app_url,
        dir,
        &session_create_args("course", "lab1", "Lab 1", "lab1-*", (opens, closes), &[]),
    );
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_labtrail"));
    command
        .arg("serve")
        .env("DATABASE_URL", &app_url)
        .env("LABTRAIL_BIND", "127.0.0.1:0")
        .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .current_dir(dir)
        .stderr(std::process::Stdio::null());
    let mut serve = ServeProcess::start(command).await;
    let resp = serve
        .deliver("push", "role-1", &alice_push_body(), SECRET)
        .await;
    assert_eq!(resp.status().as_u16(), 202);
    let app = Database::connect(&app_url).await.expect("app role");
    let mut recorded = false;
    for _ in 0..600 {
        let row = app
            .query_one(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT COUNT(*) FROM lab_attempt",
            ))
            .await
            .expect("count");
        let n: i64 = row.map_or(0, |r| r.try_get_by_index(0).unwrap_or(0));
        if n == 1 {
            recorded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(recorded, "the push was not recorded as the app role");
    assert!(serve.stop(), "serve exits 0");

    let roster = dir.join("roster.csv");
    std::fs::write(
        &roster,
        "identifier,github_username,github_id,name\nalice@uni.test,alice,101,Alice A\n",
    )
    .expect("roster");
    let roster = roster.display().to_string();
    let bob = dir.join("bob.csv");
    std::fs::write(&bob, "identifier,github_username\nbob@uni.test,bob\n").expect("roster");
    let bob = bob.display().to_string();
    let alice_extension = |tail: &[&'static str]| {
        [
            &["session", "extend", "--slug", "lab1", "--student", "alice"][..],
            tail,
        ]
        .concat()
    };
    let extend_to_3rd = alice_extension(&["--closes", "2026-02-03T00:00:00Z"]);
    let extend_to_4th = alice_extension(&["--closes", "2026-02-04T00:00:00Z"]);
    let remove_extension = alice_extension(&["--remove"]);
    for args in [
        &["session", "edit", "--slug", "lab1", "--title", "Lab one"][..],
        &["roster", "import", "--org", "course", &roster],
        &["roster", "import", "--org", "course", &roster],
        &["roster", "import", "--org", "course", &bob],
        &["roster", "remove", "--org", "course", "bob@uni.test"],
        &extend_to_3rd,
        &extend_to_4th,
        &remove_extension,
        &extend_to_4th,
        &["session", "list"],
        &["attempts", "list", "--session", "lab1"],
        &["attempts", "show", "1"],
        &["attempts", "summary", "--session", "lab1"],
        &["grades", "export", "--session", "lab1"],
        &["audit", "checkpoint", "--write"],
        &["audit", "checkpoint"],
        &["audit", "prove", "--attempt", "1"],
        &["audit", "export"],
        &["token", "create", "--name", "ta", "--role", "auditor"],
        &["token", "list"],
        &["token", "revoke", "ta"],
        &["retention", "run", "--dry-run"],
        &["deliveries", "list"],
        &["deliveries", "show", "role-1"],
        &["session", "archive", "--org", "course", "--slug", "lab1"],
        &["session", "unarchive", "--slug", "lab1"],
        &["audit", "verify"],
    ] {
        ok(&app_url, dir, args);
    }
    let out = ok(&app_url, dir, &["audit", "verify"]);
    assert!(
        out.contains("records match the log: 1 attempt, 1 session, 0 installations, 1 extension, 1 roster student"),
        "{out}"
    );
    // `doctor` finds no GitHub App here; the database check passes.
    let (_, out) = labtrail(&app_url, dir, &["doctor"]);
    assert!(
        out.contains("✓ database reachable (PostgreSQL), schema current"),
        "{out}"
    );
    assert!(!out.contains("permission denied"), "{out}");

    // What the app role cannot do, triggers or not.
    for (sql, needle) in [
        (
            "UPDATE lab_attempt SET sender_id = 666",
            "permission denied for table lab_attempt",
        ),
        (
            "UPDATE lab_attempt SET repository_full_name = 'course/lab1-mallory'",
            "permission denied for table lab_attempt",
        ),
        (
            "UPDATE lab_attempt SET late = NOT late",
            "permission denied for table lab_attempt",
        ),
        (
            "UPDATE session_extension SET student = 'mallory'",
            "permission denied for table session_extension",
        ),
        (
            "UPDATE session_extension SET closes_at = closes_at + INTERVAL '1 day'",
            "session_extension: UPDATE refused",
        ),
        ("DELETE FROM session_extension", "session_extension"),
        (
            "UPDATE roster_student SET identifier = 'mallory@uni.test'",
            "permission denied for table roster_student",
        ),
        (
            "UPDATE roster_student SET github_username = 'mallory'",
            "roster_student: UPDATE refused",
        ),
        ("DELETE FROM roster_student", "roster_student"),
        (
            "UPDATE lab_session SET repo_pattern = '*'",
            "permission denied for table lab_session",
        ),
        ("DELETE FROM lab_attempt", "lab_attempt: DELETE refused"),
        ("UPDATE audit_log SET actor = 'x'", "permission denied"),
        ("DELETE FROM audit_tree_hash", "permission denied"),
        ("TRUNCATE audit_log", "permission denied"),
        (
            "DROP TRIGGER session_extension_guard ON session_extension",
            "must be owner",
        ),
        (
            "ALTER TABLE roster_student DISABLE TRIGGER ALL",
            "must be owner",
        ),
    ] {
        let err = app.execute_unprepared(sql).await.expect_err(sql);
        assert!(err.to_string().contains(needle), "{sql}: {err}");
    }
    let out = ok(&app_url, dir, &["audit", "verify"]);
    assert!(out.contains("records match the log"), "{out}");

    // A pending migration: the app role may not apply it, and says who must.
    let last: String = owner
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT version FROM seaql_migrations ORDER BY version DESC LIMIT 1",
        ))
        .await
        .expect("read")
        .expect("a migration")
        .try_get_by_index(0)
        .expect("version");
    owner
        .execute_unprepared(&format!(
            "CREATE TABLE saved_migration AS SELECT * FROM seaql_migrations WHERE version = '{last}'; \
             DELETE FROM seaql_migrations WHERE version = '{last}'"
        ))
        .await
        .expect("pretend a migration is pending");
    let (code, out) = labtrail(&app_url, dir, &["session", "list"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("1 migration(s) pending ({last})"))
            && out.contains("run `labtrail migrate` as the role that owns the tables"),
        "{out}"
    );
    assert!(!out.contains("Cannot apply migrations"), "{out}");
    owner
        .execute_unprepared(
            "INSERT INTO seaql_migrations SELECT * FROM saved_migration; DROP TABLE saved_migration",
        )
        .await
        .expect("restore");
    ok(&app_url, dir, &["session", "list"]);
    app.close().await.ok();
    owner.close().await.ok();
}
