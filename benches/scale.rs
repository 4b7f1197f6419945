//! The scale of a year of labs (issue 24), measured from outside: a 2,000-student roster imported with the
//! CLI, then N sessions × 2,000 student repositories × 25 pushes sent as signed webhook deliveries over
//! real HTTP (32 connections) into the release `labtrail serve` (4 workers), and for each N:
//! - the ingest rate (deliveries of the sessions added for this N, from the first sent until all are
//!   recorded);
//! - the median of 5 requests of `/` signed in as an instructor (the web view's token sign-in), of the
//!   session page `/sessions/lab1` (first page), `?q=` search and `?page=2`;
//! - the median of 5 runs (whole process) of `labtrail attempts summary --session lab1` and
//!   `labtrail grades export --session lab1`;
//! - the attempts CSV download of `lab1` (API, bearer token; and the web view's), in rows/s (median of 3);
//! - the median of 5 requests of the inclusion proof of one attempt (API);
//! - `labtrail audit verify`: wall time and peak RSS (`/usr/bin/time -v`).
//!
//! The data grows from one N to the next (N = 1, 4, 20 sends 1, then 3, then 16 more sessions), so the
//! largest N costs its own deliveries only.
//!
//! ```sh
//! cargo bench --bench scale                                   # N = 1,4,20, SQLite (and PostgreSQL when
//!                                                             # LABTRAIL_TEST_POSTGRES_URL is set)
//! LABTRAIL_SCALE_N=1 BENCH_BACKEND=sqlite cargo bench --bench scale
//! ```
//!
//! Knobs: `LABTRAIL_SCALE_N` (comma-separated session counts, default `1,4,20`), `BENCH_BACKEND`
//! (`sqlite`, `postgres`, `both`; default `sqlite`, or `both` when `LABTRAIL_TEST_POSTGRES_URL` is set),
//! `BENCH_STUDENTS` (2000), `BENCH_PUSHES` (25 a repository), `BENCH_CONNECTIONS` (32), `BENCH_KEEP=DIR`
//! (SQLite: build in DIR, a new directory, and leave the database there).
//!
//! `LABTRAIL_BENCH_TINY=1`: N = 1, 20 repositories × 3 pushes (what CI runs, in the test profile:
//! `cargo test --bench scale -- --bench`), with the checks: each delivery recorded once, every page and
//! download answers 200, the CSV has one line per attempt, the proof answers, the commands and
//! `audit verify` exit 0.
//!
//! `?q=` and `?page=` are sent whether or not the server reads them (a server that ignores them answers
//! the whole session page). On PostgreSQL the bench runs `ANALYZE` after each ingest (autovacuum would, on
//! a database in use).

use std::collections::HashMap;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

mod common;
#[path = "common/serve.rs"]
mod serve;
use serve::{
    env_usize, fresh_postgres, labtrail, recorded, send, until_recorded, Delivery, Server,
};

/// The shape of a run.
#[derive(Clone, Copy)]
struct Shape {
    students: usize,
    pushes: usize,
    connections: usize,
}

/// Session `k` (from 1): `course/lab{k}`, a week from 2026-01-01 + 7(k−1) days.
fn window(k: usize) -> (i64, i64) {
    let opens = 1_767_225_600 + (k as i64 - 1) * 7 * 86_400;
    (opens, opens + 7 * 86_400)
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Push `p` (from 0) of student `s` to session `k`: GUID and signed body. Pushes are spread over the
/// week; every tenth student's last push comes an hour after the deadline, and every twentieth student
/// pushes only after it (late only).
fn delivery(shape: Shape, k: usize, p: usize, s: usize) -> Delivery {
    let (opens, closes) = window(k);
    let step = (closes - opens - 3600) / shape.pushes as i64;
    let pushed_at = if s % 20 == 19 || (s % 10 == 9 && p + 1 == shape.pushes) {
        closes + 3600 + p as i64 * 60 + s as i64
    } else {
        opens + 60 + p as i64 * step + s as i64
    };
    let sha = |p: usize| format!("{:08x}{:08x}{:024x}", k, s, p + 1);
    let before = if p == 0 { "0".repeat(40) } else { sha(p - 1) };
    let after = sha(p);
    let files: Vec<String> = (0..5).map(|f| format!("src/file{f}.rs")).collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main", "before": before, "after": after,
        "created": p == 0, "deleted": false, "forced": false,
        "commits": [{"id": after, "added": [], "removed": [], "modified": files}],
        "repository": {"id": k * 100_000 + s, "name": format!("lab{k}-s{s}"),
            "full_name": format!("course/lab{k}-s{s}"), "owner": {"login": "course"},
            "default_branch": "main", "pushed_at": pushed_at},
        "pusher": {"name": format!("s{s}")},
        "sender": {"id": 1_000_000 + s, "login": format!("s{s}")},
        "installation": {"id": 1}, "organization": {"login": "course"},
    }))
    .unwrap_or_default();
    (format!("scale-{k}-{s}-{p}"), body)
}

/// Run a command of the release binary to its end: its output and wall time; it must exit 0.
fn run(url: &str, dir: &Path, args: &[&str]) -> (Output, Duration) {
    let t0 = Instant::now();
    let out = labtrail(url, dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run labtrail");
    let took = t0.elapsed();
    assert!(
        out.status.success(),
        "labtrail {args:?}: {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, took)
}

/// The median of `runs` times of `f`.
async fn median<F, Fut>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Duration>,
{
    let mut all = Vec::with_capacity(runs);
    for _ in 0..runs {
        all.push(f().await);
    }
    all.sort();
    all[all.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A signed-in instructor on the web view, and an API token.
struct Instructor {
    http: reqwest::Client,
    base: String,
    token: String,
    cookies: HashMap<String, String>,
}

impl Instructor {
    /// Create an instructor token of `course` with the CLI and sign in with it through the web form (its
    /// CSRF field), keeping the cookies.
    async fn sign_in(url: &str, dir: &Path, addr: &str) -> Self {
        let (out, _) = run(
            url,
            dir,
            &[
                "token",
                "create",
                "--name",
                "bench",
                "--role",
                "instructor",
                "--org",
                "course",
            ],
        );
        let token = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("a token line")
            .trim()
            .to_owned();
        let mut me = Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: format!("http://{addr}"),
            token,
            cookies: HashMap::new(),
        };
        let (status, login) = me.get("/login").await;
        assert_eq!(status, 200, "GET /login");
        let key = "name=\"csrf\" value=\"";
        let start = login.find(key).expect("the CSRF field") + key.len();
        let csrf = login[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_owned();
        let token = me.token.clone();
        let response = me
            .http
            .post(format!("{}/login", me.base))
            .header("cookie", me.cookie_header())
            .form(&[("token", token.as_str()), ("csrf", csrf.as_str())])
            .send()
            .await
            .expect("POST /login");
        assert_eq!(response.status().as_u16(), 303, "signed in");
        me.keep(&response);
        assert!(me.cookies.contains_key("lt_session"), "a session cookie");
        me
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &reqwest::Response) {
        for v in response.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap_or_default();
            if let Some((k, val)) = v.split(';').next().and_then(|p| p.split_once('=')) {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    /// GET a web path with the cookies: status and body.
    async fn get(&mut self, path: &str) -> (u16, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.keep(&response);
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// GET an API path with the token: status and body.
    async fn api(&self, path: &str) -> (u16, Vec<u8>) {
        let response = self
            .http
            .get(format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.bytes().await.expect("body").to_vec())
    }

    /// The median time of 5 GETs of a web page, each answering 200.
    async fn page(&mut self, path: &str) -> Duration {
        let mut all = Vec::new();
        for _ in 0..5 {
            let t0 = Instant::now();
            let (status, body) = self.get(path).await;
            all.push(t0.elapsed());
            assert_eq!(status, 200, "GET {path}: {body}");
        }
        all.sort();
        all[2]
    }
}

/// A CSV download of `rows` attempts: one line each after the header (no cell of these holds a line
/// break); rows per second of the median of 3.
async fn csv_rate<F, Fut>(rows: usize, mut download: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (u16, Vec<u8>)>,
{
    let took = median(3, || {
        let fut = download();
        async move {
            let t0 = Instant::now();
            let (status, body) = fut.await;
            let took = t0.elapsed();
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let lines = body.iter().filter(|b| **b == b'\n').count();
            assert_eq!(lines, rows + 1, "a header and one line per attempt");
            took
        }
    })
    .await;
    rows as f64 / took.as_secs_f64()
}

/// `labtrail audit verify` under `/usr/bin/time -v`: it exits 0; its wall time and peak RSS (KB).
fn verify(url: &str, dir: &Path) -> (Duration, u64) {
    let mut time = std::process::Command::new("/usr/bin/time");
    time.args(["-v", env!("CARGO_BIN_EXE_labtrail"), "audit", "verify"])
        .env("RUST_LOG", "warn");
    let t0 = Instant::now();
    let out = serve::with_env(time, url, dir)
        .output()
        .expect("run /usr/bin/time");
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "audit verify:\n{}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    let rss = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (took, rss)
}

/// The data for `n` sessions (sessions `from+1..=n` are added now) and every figure of this N.
async fn step(
    label: &str,
    (url, dir): (&str, &Path),
    conn: &DatabaseConnection,
    server: &mut Server,
    who: &mut Instructor,
    (from, n): (usize, usize),
    shape: Shape,
) {
    for k in (from + 1).max(2)..=n {
        let (opens, closes) = window(k);
        let (slug, title, repos) = (format!("lab{k}"), format!("Lab {k}"), format!("lab{k}-*"));
        run(
            url,
            dir,
            &[
                "session",
                "create",
                "--org",
                "course",
                "--slug",
                &slug,
                "--title",
                &title,
                "--repos",
                &repos,
                "--opens",
                &rfc3339(opens),
                "--closes",
                &rfc3339(closes),
            ],
        );
    }
    // Session-major, then push-major: a repository's pushes arrive in order, 2,000 deliveries apart.
    let per_session = shape.students * shape.pushes;
    let count = (n - from) * per_session;
    let before = recorded(conn).await;
    let start = Instant::now();
    send(&server.addr, count, shape.connections, move |i| {
        let k = from + 1 + i / per_session;
        let j = i % per_session;
        delivery(shape, k, j / shape.students, j % shape.students)
    })
    .await;
    let (_, took) = until_recorded(conn, before + count, before, start, server).await;
    assert_eq!(
        recorded(conn).await,
        n * per_session,
        "each delivery recorded once"
    );
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared("ANALYZE").await.expect("analyze");
    }
    let ingest = count as f64 / took.as_secs_f64();

    let index = who.page("/").await;
    let session = who.page("/sessions/lab1").await;
    let search = who.page("/sessions/lab1?q=s1").await;
    // The second page of 100 students (the first again when the roster has no second, as in the tiny run).
    let page2 = if shape.students > 100 {
        who.page("/sessions/lab1?page=2").await
    } else {
        who.page("/sessions/lab1?page=1").await
    };
    let summary = median(5, || async {
        run(url, dir, &["attempts", "summary", "--session", "lab1"]).1
    })
    .await;
    let grades = median(5, || async {
        run(url, dir, &["grades", "export", "--session", "lab1"]).1
    })
    .await;
    let api_csv = csv_rate(per_session, || {
        who.api("/sessions/lab1/attempts?format=csv")
    })
    .await;
    let web_csv = {
        let (http, base, cookie) = (who.http.clone(), who.base.clone(), who.cookie_header());
        csv_rate(per_session, move || {
            let request = http
                .get(format!("{base}/sessions/lab1/attempts.csv"))
                .header("cookie", cookie.clone());
            async move {
                let response = request.send().await.expect("GET");
                let status = response.status().as_u16();
                (status, response.bytes().await.expect("body").to_vec())
            }
        })
        .await
    };
    // The newest attempt of lab1, once a checkpoint covers it (one a second).
    let newest = serve::count(conn, "SELECT MAX(id) FROM lab_attempt WHERE session_id = (SELECT id FROM lab_session WHERE slug = 'lab1')").await;
    let proof_path = format!("/attempts/{newest}/proof");
    let covered = Instant::now();
    while who.api(&proof_path).await.0 != 200 {
        assert!(
            covered.elapsed() < Duration::from_secs(120),
            "a checkpoint covers the attempt"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let proof = median(5, || async {
        let t0 = Instant::now();
        let (status, body) = who.api(&proof_path).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        t0.elapsed()
    })
    .await;
    server.sample_rss();
    let (verify_took, verify_rss) = verify(url, dir);

    let attempts = n * per_session;
    println!(
        "{label} N={n} ({attempts} attempts, {} students): ingest {ingest:.0}/s; / {:.1} ms; \
         /sessions/lab1 {:.1} ms, ?q= {:.1} ms, ?page=2 {:.1} ms; attempts summary {:.0} ms; grades export \
         {:.0} ms; attempts CSV {api_csv:.0} rows/s (web {web_csv:.0}); proof {:.1} ms; audit verify \
         {:.2} s, {:.1} MB",
        shape.students,
        ms(index),
        ms(session),
        ms(search),
        ms(page2),
        ms(summary),
        ms(grades),
        ms(proof),
        verify_took.as_secs_f64(),
        verify_rss as f64 / 1024.0,
    );
    println!(
        "| {label} | {n} | {attempts} | {ingest:.0}/s | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} ms | {:.0} ms | \
         {api_csv:.0} | {:.1} ms | {:.2} s, {:.0} MB |",
        ms(index),
        ms(session),
        ms(search),
        ms(summary),
        ms(grades),
        ms(proof),
        verify_took.as_secs_f64(),
        verify_rss as f64 / 1024.0,
    );
}

/// Every N of `ns` on one backend at `url`.
async fn backend(label: &str, url: &str, dir: &Path, ns: &[usize], shape: Shape) {
    // Migrated, with session 1 (the others are created with the CLI as they come).
    let t = |at| chrono::DateTime::from_timestamp(at, 0).expect("time");
    let (conn, _) = common::prepare(url, t(window(1).0), t(window(1).1)).await;
    let mut server = Server::start(url, dir, &[("LABTRAIL_CHECKPOINT_INTERVAL", "1")]).await;
    let roster = dir.join("roster.csv");
    let mut csv = String::from("identifier,github_username,github_id,name\n");
    for s in 0..shape.students {
        csv.push_str(&format!("id-{s:05},s{s},{},Student {s}\n", 1_000_000 + s));
    }
    std::fs::write(&roster, csv).expect("write the roster");
    let roster = roster.display().to_string();
    run(url, dir, &["roster", "import", "--org", "course", &roster]);
    let mut who = Instructor::sign_in(url, dir, &server.addr).await;
    let mut from = 0;
    for &n in ns {
        step(
            label,
            (url, dir),
            &conn,
            &mut server,
            &mut who,
            (from, n),
            shape,
        )
        .await;
        from = n;
    }
    let rss = server.stop();
    println!("{label}: server peak RSS {:.1} MB", rss as f64 / 1024.0);
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs this without `--bench`; only measure under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let tiny = common::tiny();
    let mut ns: Vec<usize> = if tiny {
        vec![1]
    } else {
        std::env::var("LABTRAIL_SCALE_N")
            .unwrap_or_else(|_| "1,4,20".to_owned())
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("LABTRAIL_SCALE_N: numbers, comma-separated")
            })
            .collect()
    };
    ns.sort_unstable();
    ns.dedup();
    ns.retain(|&n| n > 0);
    let shape = Shape {
        students: env_usize(&["BENCH_STUDENTS"], if tiny { 20 } else { 2000 }).max(1),
        pushes: env_usize(&["BENCH_PUSHES"], if tiny { 3 } else { 25 }).max(1),
        connections: env_usize(&["BENCH_CONNECTIONS"], if tiny { 8 } else { 32 }).max(1),
    };
    let pg_url = std::env::var("LABTRAIL_TEST_POSTGRES_URL").ok();
    let which = std::env::var("BENCH_BACKEND")
        .unwrap_or_else(|_| if pg_url.is_some() { "both" } else { "sqlite" }.to_owned());
    println!(
        "| backend | N | attempts | ingest | `/` | `/sessions/lab1` | `?q=` | attempts summary | grades export | \
         CSV rows/s | proof | audit verify |"
    );
    if which == "sqlite" || which == "both" {
        let dir = tempfile::tempdir().expect("tempdir");
        // BENCH_KEEP=DIR: the SQLite database, audit key and checkpoints are left in DIR (a new one).
        let dir = match std::env::var("BENCH_KEEP") {
            Ok(keep) => {
                std::fs::create_dir(&keep)
                    .expect("BENCH_KEEP: a directory that does not exist yet");
                std::path::PathBuf::from(keep)
            }
            Err(_) => dir.path().to_owned(),
        };
        let url = format!("sqlite://{}?mode=rwc", dir.join("scale.db").display());
        backend("sqlite", &url, &dir, &ns, shape).await;
    }
    if which == "postgres" || which == "both" {
        let admin_url = pg_url
            .as_deref()
            .expect("BENCH_BACKEND=postgres needs LABTRAIL_TEST_POSTGRES_URL");
        let dir = tempfile::tempdir().expect("tempdir");
        let (admin, name, url) = fresh_postgres(admin_url).await;
        backend("postgres", &url, dir.path(), &ns, shape).await;
        common::drop_database(&admin, &name).await;
    }
}
