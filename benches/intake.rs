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
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use labtrail::app::{App, Settings};
use sea_orm::DatabaseConnection;
use secrecy::SecretString;

mod common;
#[path = "common/serve.rs"]
mod serve;
use common::ORIGIN;
use serve::{env_usize, fresh_postgres, recorded, send, until_recorded, Delivery, Server, SECRET};

/// Delivery `i`: its own student repository (GitHub ids are global), one push of 5 changed files.
fn delivery(i: usize) -> Delivery {
    let after = format!("{:040x}", i + 1);
    let before = format!("{:040x}", i + 10_000_000);
    let files: Vec<String> = (0..5).map(|f| format!("src/file{f}.rs")).collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main", "before": before, "after": after,
        "created": false, "deleted": false, "forced": false,
        "commits": [{"id": after, "added": [], "removed": [], "modified": files}],
        "repository": {"id": 10_000 + i, "name": format!("lab1-s{i}"),
            "full_name": format!("course/lab1-s{i}"), "owner": {"login": "course"},
            "default_branch": "main", "pushed_at": 1_767_225_600 + i},
        "pusher": {"name": format!("s{i}")}, "sender": {"id": i, "login": format!("s{i}")},
        "installation": {"id": 1}, "organization": {"login": "course"},
    }))
    .unwrap_or_default();
    (format!("bench-{i}"), body)
}

async fn prepare(url: &str) -> DatabaseConnection {
    let t = |d| {
        Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0)
            .single()
            .expect("date")
    };
    common::prepare(url, t(1), t(20)).await.0
}

fn pct(all: &[Duration], p: f64) -> f64 {
    let i = ((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1));
    all.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

async fn live(label: &str, url: &str, dir: &Path, n: usize, k: usize) {
    let conn = prepare(url).await;
    let mut server = Server::start(url, dir, &[]).await;
    let start = Instant::now();
    let (lat, accepted_in) = send(&server.addr, n, k, delivery).await;
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
    let (_, accepted_in) = send(&addr, n, k, delivery).await;
    let _ = stop.send(());
    let _ = filler.await;
    assert_eq!(
        recorded(&conn).await,
        0,
        "nothing recorded before the drain"
    );
    let mut server = Server::start(url, dir, &[]).await;
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
