//! What the benches that run the release `labtrail serve` share: the server in its own process, signed
//! deliveries sent over real HTTP from K connections, counts read through a separate connection, and the
//! scratch PostgreSQL databases. Declared by those benches only (`#[path]`), so `verify` compiles without
//! it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use labtrail::webhook::signature;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use secrecy::SecretString;

use crate::common::{self, ORIGIN};

/// The webhook secret the benches' servers and deliveries share.
pub const SECRET: &str = "bench-secret";

/// The first of `names` set to a number, else `default`.
pub fn env_usize(names: &[&str], default: usize) -> usize {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One push delivery: its GUID and its body.
pub type Delivery = (String, Vec<u8>);

/// Send deliveries `0..n` (`delivery(i)` builds each) from `k` connections to the server at `addr`; the
/// answer times, and the wall time of it all. Every delivery must be accepted (202).
pub async fn send<F>(addr: &str, n: usize, k: usize, delivery: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Delivery + Clone,
{
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(k)
        .build()
        .expect("client");
    let endpoint = format!("http://{addr}/webhooks/github");
    let secret = SecretString::from(SECRET.to_owned());
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let per_connection = join_all((0..k).map(|_| {
        let (client, endpoint, secret, next, delivery) = (
            client.clone(),
            endpoint.clone(),
            secret.clone(),
            next.clone(),
            delivery.clone(),
        );
        async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return lat;
                }
                let (guid, body) = delivery(i);
                let t0 = Instant::now();
                let resp = client
                    .post(&endpoint)
                    .header("content-type", "application/json")
                    .header("x-github-event", "push")
                    .header("x-github-delivery", guid)
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

/// How many attempts are recorded.
pub async fn recorded(conn: &DatabaseConnection) -> usize {
    count(conn, "SELECT COUNT(*) FROM lab_attempt").await
}

/// The audit log's size: O(1) where `COUNT(*)` reads a whole index, which at 50,000 attempts every 20 ms
/// took a noticeable share of the cores the server runs on.
pub async fn log_size(conn: &DatabaseConnection) -> usize {
    count(conn, "SELECT size FROM audit_head WHERE id = 1").await
}

/// The one integer `sql` selects.
pub async fn count(conn: &DatabaseConnection, sql: &str) -> usize {
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
/// recorded attempt appends one entry; what else is logged meanwhile, `base`, was there before), and the
/// end is confirmed by counting the attempts themselves.
pub async fn until_recorded(
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

/// A command of the release binary with what every bench run sets: the database, the webhook secret, the
/// audit origin, key and checkpoint file in `dir`.
pub fn labtrail(url: &str, dir: &Path) -> Command {
    with_env(Command::new(env!("CARGO_BIN_EXE_labtrail")), url, dir)
}

/// `cmd` (the release binary, or a program that runs it) with the settings of [`labtrail`].
pub fn with_env(mut cmd: Command, url: &str, dir: &Path) -> Command {
    cmd.env("DATABASE_URL", url)
        .env("GITHUB_WEBHOOK_SECRET", SECRET)
        .env("LABTRAIL_AUDIT_ORIGIN", ORIGIN)
        .env("LABTRAIL_AUDIT_KEY_PATH", dir.join("audit.key"))
        .env("LABTRAIL_CHECKPOINT_FILE", dir.join("checkpoints.log"))
        .current_dir(dir);
    cmd
}

/// `labtrail serve` in its own process.
pub struct Server {
    child: Child,
    pub addr: String,
    peak_rss_kb: u64,
}

impl Server {
    /// Start `labtrail serve` (4 workers) on `url` with `envs` besides the benches' own settings, and wait
    /// until it answers its readiness probe.
    pub async fn start(url: &str, dir: &Path, envs: &[(&str, &str)]) -> Self {
        let mut child = labtrail(url, dir)
            .arg("serve")
            // A port the system picks; the server prints the address it bound.
            .env("LABTRAIL_BIND", "127.0.0.1:0")
            .env("LABTRAIL_WORKERS", "4")
            // Without BENCH_BATCH the server's own default applies.
            .envs(std::env::var("BENCH_BATCH").map(|b| ("LABTRAIL_WORKER_BATCH", b)))
            .envs(envs.iter().copied())
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
    pub fn sample_rss(&mut self) {
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

    /// Stop the server: its peak resident set in KB.
    pub fn stop(mut self) -> u64 {
        self.sample_rss();
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.peak_rss_kb
    }
}

/// A bench that fails a check (a panic) does not leave its server running.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh PostgreSQL database next to `admin_url`: the admin connection, its name and URL; dropped with
/// [`common::drop_database`].
pub async fn fresh_postgres(admin_url: &str) -> (DatabaseConnection, String, String) {
    let admin = Database::connect(admin_url).await.expect("postgres");
    let name = common::database_name();
    common::create_database(&admin, &name).await;
    let url = common::database_url(admin_url, &name);
    (admin, name, url)
}
