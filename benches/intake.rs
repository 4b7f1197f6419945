//! Load generator: N distinct signed push deliveries over real HTTP from K connections into the release
//! `labtrail serve` process (4 workers, as in production), then the time until every one is recorded.
//!
//! ```sh
//! cargo bench --bench intake                                     # SQLite, N = 2000, K = 32, both modes
//! BENCH_BACKEND=postgres LABTRAIL_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench intake
//! BENCH_DELIVERIES=50000 BENCH_CONNECTIONS=32 BENCH_MODE=drain cargo bench --bench intake
//! ```
//!
//! Knobs: `BENCH_DELIVERIES` (N, default 2000), `BENCH_CONNECTIONS` (K, default 32; `BENCH_SENDERS` is
//! the old name), `BENCH_BACKEND` (`sqlite`, `postgres`, `both`; default `sqlite`, or `both` when
//! `LABTRAIL_TEST_POSTGRES_URL` is set), `BENCH_MODE`:
//! - `live`: the deliveries go to a running server whose workers record while the edge accepts: accepted
//!   per second, answer p50/p99, time until all are recorded (end to end), and the server's peak RSS;
//! - `drain`: the deliveries are accepted first by a server without workers, then `labtrail serve` starts
//!   on that backlog: the drain rate overall, for the first and the second half of the backlog (a cost
//!   that grew with the backlog would show as a faster second half), and peak RSS; what the workers recorded
//!   before the server answered its readiness probe is left out of both the count and the time;
//! - `both` (default).
//!
//! `BENCH_BATCH` sets the server's `LABTRAIL_WORKER_BATCH` (unset: the server's default, 64).
//!
//! `LABTRAIL_BENCH_TINY=1` makes the defaults N = 300, K = 8 (what CI runs, in the test profile:
//! `cargo test --bench intake -- --bench`): the same server and checks, each delivery recorded once.
//!
//! The server is the release binary in its own process (`CARGO_BIN_EXE_labtrail`), its log discarded;
//! recorded attempts are counted through a separate connection every 20 ms.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use futures::future::join_all;
use labtrail::app::{App, Settings};
use labtrail::webhook::signature;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use secrecy::SecretString;

mod common;
use common::ORIGIN;

const SECRET: &str = "bench-secret";

fn env_usize(names: &[&str], default: usize) -> usize {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Delivery `i`: its own student repository (GitHub ids are global), one push of 5 changed files.
fn payload(i: usize) -> Vec<u8> {
    let after = format!("{:040x}", i + 1);
    let before = format!("{:040x}", i + 10_000_000);
    let files: Vec<String> = (0..5).map(|f| format!("src/file{f}.rs")).collect();
    serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main", "before": before, "after": after,
        "created": false, "deleted": false, "forced": false,
        "commits": [{"id": after, "added": [], "removed": [], "modified": files}],
        "repository": {"id": 10_000 + i, "name": format!("lab1-s{i}"),
            "full_name": format!("course/lab1-s{i}"), "owner": {"login": "course"},
            "default_branch": "main", "pushed_at": 1_767_225_600 + i},
        "pusher": {"name": format!("s{i}")}, "sender": {"id": i, "login": format!("s{i}")},
        "installation": {"id": 1}, "organization": {"login": "course"},
    }))
    .unwrap_or_default()
}

async fn prepare(url: &str) -> DatabaseConnection {
    let t = |d| {
        Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0)
            .single()
            .expect("date")
    };
    common::prepare(url, t(1), t(20)).await.0
}

/// Send deliveries `0..n` from `k` connections; the answer times, and the wall time of it all.
async fn send(addr: &str, n: usize, k: usize) -> (Vec<Duration>, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(k)
        .build()
        .expect("client");
    let endpoint = format!("http://{addr}/webhooks/github");
    let secret = SecretString::from(SECRET.to_owned());
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let per_connection = join_all((0..k).map(|_| {
        let (client, endpoint, secret, next) = (
            client.clone(),
            endpoint.clone(),
            secret.clone(),
            next.clone(),
        );
        async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return lat;
                }
                let body = payload(i);
                let t0 = Instant::now();
                let resp = client
                    .post(&endpoint)
                    .header("content-type", "application/json")
                    .header("x-github-event", "push")
                    .header("x-github-delivery", format!("bench-{i}"))
                    .header("x-hub-signature-256", signature::sign(&secret, &body))
                    .body(body)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(resp.status().as_u16(), 202, "delivery {i}");
                lat.push(t0.elapsed());
            }
        }
    }))
    .await;
    let elapsed = start.elapsed();
    let mut all: Vec<Duration> = per_connection.into_iter().flatten().collect();
    all.sort();
    (all, elapsed)
}

async fn recorded(conn: &DatabaseConnection) -> usize {
    count(conn, "SELECT COUNT(*) FROM lab_attempt").await
}

/// The audit log's size: O(1) where `COUNT(*)` reads a whole index, which at 50,000 attempts every 20 ms
/// took a noticeable share of the cores the server runs on.
async fn log_size(conn: &DatabaseConnection) -> usize {
    count(conn, "SELECT size FROM audit_head WHERE id = 1").await
}

async fn count(conn: &DatabaseConnection, sql: &str) -> usize {
    let row = conn
        .query_one(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect("count")
        .expect("row");
    let n: i64 = row.try_get_by_index(0).expect("int");
    usize::try_from(n).unwrap_or(0)
}

/// Wait until `n` attempts are recorded; the time it took from `start`, and when half of those recorded
/// after `from` were (`from`: how many were recorded at `start`). Progress is read from the log's size (each
/// recorded attempt appends one entry; nothing else is logged meanwhile), and the end is confirmed by
/// counting the attempts themselves.
async fn until_recorded(
    conn: &DatabaseConnection,
    n: usize,
    from: usize,
    start: Instant,
    server: &mut Server,
) -> (Duration, Duration) {
    let base = log_size(conn).await.saturating_sub(recorded(conn).await);
    let halfway = from + n.saturating_sub(from) / 2;
    let mut half = None;
    loop {
        let done = log_size(conn).await.saturating_sub(base);
        server.sample_rss();
        if half.is_none() && done >= halfway {
            half = Some(start.elapsed());
        }
        if done >= n && recorded(conn).await >= n {
            let all = start.elapsed();
            return (half.unwrap_or(all), all);
        }
        let limit = Duration::from_secs(if common::tiny() { 300 } else { 3600 });
        assert!(
            start.elapsed() < limit,
            "recording did not finish within {limit:?}: {done} of {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `labtrail listening on http://ADDR` line `serve` prints on standard output: ADDR. Standard output
/// is read to its end by another thread afterwards.
fn listening_address(child: &mut Child) -> String {
    use std::io::BufRead as _;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("labtrail listening on http://")
                .map(|a| a.trim().to_owned())
        })
        .expect("labtrail serve exited without printing the address it listens on");
    std::thread::spawn(move || lines.for_each(drop));
    addr
}

/// `labtrail serve` in its own process.
struct Server {
    child: Child,
    addr: String,
    peak_rss_kb: u64,
}

impl Server {
    async fn start(url: &str, dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_labtrail"))
            .arg("serve")
            .env("DATABASE_URL", url)
            // A port the system picks; the server prints the address it bound.
            .env("LABTRAIL_BIND", "127.0.0.1:0")
            .env("GITHUB_WEBHOOK_SECRET", SECRET)
            .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
            .env("LABTRAIL_AUDIT_KEY_PATH", dir.join("audit.key"))
            .env("LABTRAIL_CHECKPOINT_FILE", dir.join("checkpoints.log"))
            .env("LABTRAIL_WORKERS", "4")
            // Without BENCH_BATCH the server's own default applies.
            .envs(std::env::var("BENCH_BATCH").map(|b| ("LABTRAIL_WORKER_BATCH", b)))
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn labtrail serve");
        let addr = listening_address(&mut child);
        let server = Self {
            child,
            addr,
            peak_rss_kb: 0,
        };
        let client = reqwest::Client::new();
        let ready = format!("http://{}/readyz", server.addr);
        for _ in 0..600 {
            if client
                .get(&ready)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("labtrail serve did not get ready");
    }

    /// The process's peak resident set so far (`VmHWM`).
    fn sample_rss(&mut self) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        if let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            self.peak_rss_kb = self.peak_rss_kb.max(kb);
        }
    }

    fn stop(mut self) -> u64 {
        self.sample_rss();
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.peak_rss_kb
    }
}

fn pct(all: &[Duration], p: f64) -> f64 {
    let i = ((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1));
    all.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

async fn live(label: &str, url: &str, dir: &Path, n: usize, k: usize) {
    let conn = prepare(url).await;
    let mut server = Server::start(url, dir).await;
    let start = Instant::now();
    let (lat, accepted_in) = send(&server.addr, n, k).await;
    let (_, all) = until_recorded(&conn, n, 0, start, &mut server).await;
    let rss = server.stop();
    assert_eq!(recorded(&conn).await, n, "each delivery recorded once");
    println!(
        "{label} live: N={n} K={k}: accepted {:.0}/s (p50 {:.1} ms, p99 {:.1} ms); all recorded after \
         {:.2} s ({:.0} attempts/s end to end); server peak RSS {:.1} MB",
        n as f64 / accepted_in.as_secs_f64(),
        pct(&lat, 0.50),
        pct(&lat, 0.99),
        all.as_secs_f64(),
        n as f64 / all.as_secs_f64(),
        rss as f64 / 1024.0,
    );
}

async fn drain(label: &str, url: &str, dir: &Path, n: usize, k: usize) {
    let conn = prepare(url).await;
    // The backlog: accepted by an in-process server without workers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut settings = Settings::new(url, ORIGIN);
    settings.webhook_secrets = vec![SecretString::from(SECRET.to_owned())];
    settings.workers = 0;
    let app = App::build(settings).await.expect("build the app");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let filler = tokio::spawn(app.run(listener, async {
        let _ = stopped.await;
    }));
    let (_, accepted_in) = send(&addr, n, k).await;
    let _ = stop.send(());
    let _ = filler.await;
    assert_eq!(
        recorded(&conn).await,
        0,
        "nothing recorded before the drain"
    );
    let mut server = Server::start(url, dir).await;
    // The workers start before the server answers its readiness probe: what they recorded by then is left
    // out of both the count and the time, or a small backlog would look faster than it drains.
    let start = Instant::now();
    let from = recorded(&conn).await.min(n);
    let (half, all) = until_recorded(&conn, n, from, start, &mut server).await;
    let rss = server.stop();
    assert_eq!(recorded(&conn).await, n, "each delivery recorded once");
    let measured = n - from;
    let first = (measured / 2) as f64 / half.as_secs_f64();
    let second = (measured - measured / 2) as f64 / (all - half).as_secs_f64().max(1e-9);
    println!(
        "{label} drain: backlog N={n} (accepted in {:.1} s; {from} recorded before the clock started): \
         the other {measured} recorded in {:.2} s: {:.0} attempts/s (first half {first:.0}/s, second half \
         {second:.0}/s); server peak RSS {:.1} MB",
        accepted_in.as_secs_f64(),
        all.as_secs_f64(),
        measured as f64 / all.as_secs_f64(),
        rss as f64 / 1024.0,
    );
}

/// A fresh PostgreSQL database next to `admin_url`: the admin connection, its name and URL; dropped with
/// [`common::drop_database`].
async fn fresh_postgres(admin_url: &str) -> (DatabaseConnection, String, String) {
    let admin = Database::connect(admin_url).await.expect("postgres");
    let name = common::database_name();
    common::create_database(&admin, &name).await;
    let url = common::database_url(admin_url, &name);
    (admin, name, url)
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs this without `--bench`; only measure under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let tiny = common::tiny();
    let n = env_usize(&["BENCH_DELIVERIES"], if tiny { 300 } else { 2000 }).max(1);
    let k = env_usize(
        &["BENCH_CONNECTIONS", "BENCH_SENDERS"],
        if tiny { 8 } else { 32 },
    )
    .max(1);
    let pg_url = std::env::var("LABTRAIL_TEST_POSTGRES_URL").ok();
    let backend = std::env::var("BENCH_BACKEND")
        .unwrap_or_else(|_| if pg_url.is_some() { "both" } else { "sqlite" }.to_owned());
    let mode = std::env::var("BENCH_MODE").unwrap_or_else(|_| "both".to_owned());
    assert!(
        matches!(mode.as_str(), "live" | "drain" | "both"),
        "BENCH_MODE is live, drain or both"
    );
    let modes: Vec<&str> = match mode.as_str() {
        "both" => vec!["live", "drain"],
        m => vec![m],
    };
    for m in modes {
        if backend == "sqlite" || backend == "both" {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            );
            if m == "live" {
                live("sqlite", &url, dir.path(), n, k).await;
            } else {
                drain("sqlite", &url, dir.path(), n, k).await;
            }
        }
        if backend == "postgres" || backend == "both" {
            let admin_url = pg_url
                .as_deref()
                .expect("BENCH_BACKEND=postgres needs LABTRAIL_TEST_POSTGRES_URL");
            let dir = tempfile::tempdir().expect("tempdir");
            let (admin, name, url) = fresh_postgres(admin_url).await;
            if m == "live" {
                live("postgres", &url, dir.path(), n, k).await;
            } else {
                drain("postgres", &url, dir.path(), n, k).await;
            }
            common::drop_database(&admin, &name).await;
        }
    }
}
