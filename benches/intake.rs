//! Load benchmark: signed push deliveries from concurrent senders into a running server.
//!
//! `cargo bench --bench intake` (SQLite temp file; PostgreSQL too when `LABTRAIL_TEST_POSTGRES_URL`
//! is set). Knobs: `BENCH_DELIVERIES` (default 2000), `BENCH_SENDERS` (default 16).
//! Reports accepted deliveries per second at the edge, answer latency percentiles, and the time until
//! every delivery was recorded as an attempt.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use futures::future::join_all;
use labtrail::app::{App, CheckpointSettings, Settings};
use labtrail::db;
use labtrail::webhook::signature;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use secrecy::SecretString;

const SECRET: &str = "bench-secret";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn payload(student: usize, n: usize) -> Vec<u8> {
    let after = format!("{:040x}", student * 1_000_000 + n + 1);
    let before = format!("{:040x}", student * 1_000_000 + n);
    let files: Vec<String> = (0..5).map(|i| format!("src/file{i}.rs")).collect();
    serde_json::to_vec(&serde_json::json!({
        "ref": "refs/heads/main", "before": before, "after": after,
        "created": false, "deleted": false, "forced": false,
        "commits": [{"id": after, "added": [], "removed": [], "modified": files}],
        "repository": {"id": 10_000 + student, "name": format!("lab1-s{student}"),
            "full_name": format!("course/lab1-s{student}"), "owner": {"login": "course"},
            "default_branch": "main", "pushed_at": 1_767_225_600 + n},
        "pusher": {"name": format!("s{student}")}, "sender": {"id": student, "login": format!("s{student}")},
        "installation": {"id": 1}, "organization": {"login": "course"},
    }))
    .unwrap_or_default()
}

async fn run(label: &str, url: &str, dir: &Path, deliveries: usize, senders: usize) {
    let conn = db::connect(url).await.expect("connect");
    db::migrate(&conn).await.expect("migrate");
    let t = |d| {
        Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0)
            .single()
            .expect("date")
    };
    db::sessions::create(
        &conn,
        "bench",
        "cli:bench",
        db::sessions::NewSession {
            org: "course".into(),
            slug: "lab1".into(),
            title: "Lab 1".into(),
            repo_pattern: "lab1-*".into(),
            branch_policy: "all".into(),
            opens_at: t(1),
            closes_at: t(20),
            timezone: "UTC".into(),
            allow_overlap: false,
        },
    )
    .await
    .expect("session");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut settings = Settings::new(url, "bench");
    settings.webhook_secrets = vec![SecretString::from(SECRET.to_owned())];
    // As `serve` does: the checkpoint key is loaded (created here) and checkpoints are written.
    settings.checkpoints = Some(CheckpointSettings {
        key_path: dir.join("labtrail-audit.key"),
        file: dir.join(format!("labtrail-checkpoints-{label}.log")),
        interval: Duration::from_secs(60),
    });
    let app = App::build(settings).await.expect("build the app");
    tokio::spawn(app.run(listener, std::future::pending()));

    let client = reqwest::Client::new();
    let endpoint = format!("http://{addr}/webhooks/github");
    let secret = SecretString::from(SECRET.to_owned());
    let per_sender = deliveries / senders;
    let start = Instant::now();
    let latencies: Vec<Vec<Duration>> = join_all((0..senders).map(|s| {
        let (client, endpoint, secret) = (client.clone(), endpoint.clone(), secret.clone());
        async move {
            let mut lat = Vec::with_capacity(per_sender);
            for n in 0..per_sender {
                let body = payload(s, n);
                let t0 = Instant::now();
                let resp = client
                    .post(&endpoint)
                    .header("content-type", "application/json")
                    .header("x-github-event", "push")
                    .header("x-github-delivery", format!("bench-{s}-{n}"))
                    .header("x-hub-signature-256", signature::sign(&secret, &body))
                    .body(body)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(resp.status().as_u16(), 202);
                lat.push(t0.elapsed());
            }
            lat
        }
    }))
    .await;
    let accepted_in = start.elapsed();
    let total = per_sender * senders;
    let backend = conn.get_database_backend();
    loop {
        let row = conn
            .query_one(Statement::from_string(
                backend,
                "SELECT COUNT(*) FROM lab_attempt",
            ))
            .await
            .expect("count")
            .expect("row");
        let n: i64 = row.try_get_by_index(0).expect("int");
        if n as usize >= total {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "processing did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recorded_in = start.elapsed();
    let mut all: Vec<Duration> = latencies.into_iter().flatten().collect();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{label}: {total} deliveries, {senders} senders: accepted {:.0}/s (p50 {:.1} ms, p99 {:.1} ms); \
         all recorded after {:.2} s ({:.0} attempts/s end to end)",
        total as f64 / accepted_in.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        recorded_in.as_secs_f64(),
        total as f64 / recorded_in.as_secs_f64(),
    );
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs this with `--bench`-less args; only measure under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let deliveries = env_usize("BENCH_DELIVERIES", 2000);
    let senders = env_usize("BENCH_SENDERS", 16).max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    run("sqlite", &url, dir.path(), deliveries, senders).await;

    if let Ok(admin_url) = std::env::var("LABTRAIL_TEST_POSTGRES_URL") {
        let admin = Database::connect(&admin_url).await.expect("postgres");
        let name = format!("labtrail_bench_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute(Statement::from_string(
                DbBackend::Postgres,
                format!("CREATE DATABASE {name}"),
            ))
            .await
            .expect("create db");
        let mut url = url::Url::parse(&admin_url).expect("url");
        url.set_path(&format!("/{name}"));
        run("postgres", url.as_str(), dir.path(), deliveries, senders).await;
        let _ = admin
            .execute(Statement::from_string(
                DbBackend::Postgres,
                format!("DROP DATABASE {name} WITH (FORCE)"),
            ))
            .await;
    }
}
