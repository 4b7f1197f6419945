//! Webhook admission under hostile clients, over raw sockets: bodies that never finish, sent with
//! made-up signatures, hold no place in the concurrency cap, so a genuine signed push is still answered
//! and recorded; one peer's slow connections and bodies do not stop another peer; and a `labtrail
//! serve` process receiving 20 concurrent 24 MiB signed deliveries stays within its body budget plus a
//! margin. No assertion is on elapsed time: every wait has a deadline at least 10× the limits involved.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use labtrail::http::edge::EdgeLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::backend_tests;
use crate::edge::{webhook_head, MIB};
use crate::helpers::{
    alice_push_body, serve_command, sign, spawn_app_with, AppOptions, ServeProcess, TestApp,
    TestDb, SECRET,
};

backend_tests!(
    slow_bodies_do_not_starve_a_signed_push,
    one_peers_slow_bodies_do_not_stop_another_peer,
    full_connection_cap_drops_the_slowest_connection,
    declared_lengths_reserve_nothing,
);

/// A `labtrail serve` child (its own process, so its peak resident memory is its own): budget + 100 MB.
mod memory_of_twenty_large_deliveries_stays_within_budget {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        crate::helpers::run(
            crate::helpers::Backend::Sqlite,
            super::memory_of_twenty_large_deliveries_stays_within_budget,
        )
        .await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        crate::helpers::run(
            crate::helpers::Backend::Postgres,
            super::memory_of_twenty_large_deliveries_stays_within_budget,
        )
        .await
    }
}

/// Timeouts the slow clients must not reach during a test.
const LONG: Duration = Duration::from_secs(120);

/// A connection to `addr` from the loopback address `from`.
async fn connect_from(from: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind");
    socket.connect(addr).await.expect("connect")
}

/// A webhook request whose body has started and will not finish (its socket is kept by the caller).
async fn slow_body(from: IpAddr, addr: SocketAddr, guid: &str) -> TcpStream {
    let mut stream = connect_from(from, addr).await;
    stream
        .write_all(webhook_head(guid, 1000).as_bytes())
        .await
        .expect("head");
    stream.write_all(b"{\"zen\":").await.expect("some body");
    stream
}

/// A gauge's value from `/metrics`.
async fn gauge(app: &TestApp, name: &str) -> i64 {
    let text = app.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Poll `name` until it equals `want` (deadline 20 s).
async fn wait_gauge(app: &TestApp, name: &str, want: i64) {
    let mut last = 0;
    for _ in 0..400 {
        last = gauge(app, name).await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} is {last}, not {want}");
}

/// A signed push from `from`, on a new connection; its status.
async fn signed_push_from(from: IpAddr, app: &TestApp, guid: &str) -> u16 {
    let body = alice_push_body();
    reqwest::Client::builder()
        .local_address(from)
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
        .post(format!("{}/webhooks/github", app.base_url))
        .header("content-type", "application/json")
        .header("x-github-event", "push")
        .header("x-github-delivery", guid)
        .header("x-hub-signature-256", sign(SECRET, &body))
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("signed push")
        .status()
        .as_u16()
}

/// Read a response's status (or `None` when the connection ends without one), at most 30 s.
async fn status_within(stream: &mut TcpStream) -> Option<u16> {
    crate::edge::status_of(&crate::edge::read_head(stream, Duration::from_secs(30)).await)
}

/// Limits under which slow clients are never cut off by a timeout during the test.
fn patient() -> EdgeLimits {
    EdgeLimits {
        header_timeout: LONG,
        new_connection_header_timeout: LONG,
        body_timeout: LONG,
        body_grace: LONG,
        ..EdgeLimits::default()
    }
}

async fn app_with(db: &TestDb, edge: EdgeLimits) -> TestApp {
    spawn_app_with(
        db,
        AppOptions {
            edge,
            ..AppOptions::default()
        },
    )
    .await
}

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// With the cap at 8, eight bodies that never finish (made-up signatures) are being received, yet a
/// genuine signed push is answered 202 and recorded: a body takes a place in the cap only once it has
/// arrived.
async fn slow_bodies_do_not_starve_a_signed_push(db: TestDb) {
    let app = app_with(
        &db,
        EdgeLimits {
            max_webhook_concurrency: 8,
            ..patient()
        },
    )
    .await;
    app.create_lab1_session().await;
    let mut slow = Vec::new();
    for i in 0..8 {
        slow.push(slow_body(LOCAL, app.addr, &format!("slow-{i}")).await);
    }
    wait_gauge(&app, "labtrail_webhook_requests_receiving", 8).await;
    assert_eq!(gauge(&app, "labtrail_webhook_requests_in_flight").await, 0);
    assert_eq!(signed_push_from(LOCAL, &app, "genuine-1").await, 202);
    app.drain().await;
    assert_eq!(app.attempts().await.len(), 1, "the push is recorded");
    assert_eq!(
        gauge(&app, "labtrail_webhook_requests_receiving").await,
        8,
        "the slow bodies are still being received"
    );
    drop(slow);
}

/// One address has its four webhook requests in flight (bodies that trickle and never finish, past the
/// 1 s grace): its fifth drops the slowest of them (`503`, "dropped to make room") rather than being
/// refused, and a signed push from another address is answered 202 and recorded.
async fn one_peers_slow_bodies_do_not_stop_another_peer(db: TestDb) {
    let grace = Duration::from_secs(1);
    let app = app_with(
        &db,
        EdgeLimits {
            max_webhooks_per_peer: 4,
            body_grace: grace,
            // 1 byte a second: the 900 bytes sent keep each slow body within the rate for 15 minutes.
            min_body_rate: 1,
            ..patient()
        },
    )
    .await;
    app.create_lab1_session().await;
    let mut slow = Vec::new();
    for i in 0..4 {
        let mut stream = slow_body(LOCAL, app.addr, &format!("slow-{i}")).await;
        stream.write_all(&[b' '; 900]).await.expect("more body");
        slow.push(stream);
    }
    wait_gauge(&app, "labtrail_webhook_requests_receiving", 4).await;
    // Old enough to be judged: a wait, not a measurement.
    tokio::time::sleep(2 * grace).await;
    let mut fifth = slow_body(LOCAL, app.addr, "slow-5").await;
    let mut dropped = 0;
    for stream in &mut slow {
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await
        {
            if String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 503") {
                dropped += 1;
            }
        }
    }
    assert_eq!(
        dropped, 1,
        "the fifth drops one slow body of its own address"
    );
    assert_eq!(signed_push_from(OTHER, &app, "other-peer-1").await, 202);
    app.drain().await;
    assert_eq!(app.attempts().await.len(), 1, "the push is recorded");
    fifth.shutdown().await.ok();
    drop(slow);
}

/// Eight connections from one address fill the cap of 8, each having sent part of a request head and
/// nothing since; a connection from another address closes the slowest of them instead of waiting, and
/// its signed push is answered 202 and recorded.
async fn full_connection_cap_drops_the_slowest_connection(db: TestDb) {
    let app = app_with(
        &db,
        EdgeLimits {
            max_connections: 8,
            // Connections may be judged (and dropped) at once.
            body_grace: Duration::ZERO,
            header_timeout: LONG,
            new_connection_header_timeout: LONG,
            body_timeout: LONG,
            ..EdgeLimits::default()
        },
    )
    .await;
    app.create_lab1_session().await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        let mut stream = connect_from(LOCAL, app.addr).await;
        stream
            .write_all(b"POST /webhooks/github HTTP/1.1\r\nhost: x\r\n")
            .await
            .expect("part of a head");
        idle.push(stream);
    }
    assert_eq!(signed_push_from(OTHER, &app, "other-peer-2").await, 202);
    app.drain().await;
    assert_eq!(app.attempts().await.len(), 1, "the push is recorded");
    // At least one of the eight was closed to make room (the server closes it, so reading ends).
    let mut closed = 0;
    for stream in &mut idle {
        let mut buf = [0u8; 64];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no slow connection was closed for the new one");
}

/// Twenty clients declare 24 MiB bodies and stall after 1 KiB: nothing is reserved by the declared
/// length (the gauge shows the bytes received), none is refused for memory, and after the grace period
/// (1 s) each is dropped for falling behind the minimum rate.
async fn declared_lengths_reserve_nothing(db: TestDb) {
    let app = app_with(
        &db,
        EdgeLimits {
            body_grace: Duration::from_secs(1),
            header_timeout: LONG,
            new_connection_header_timeout: LONG,
            body_timeout: LONG,
            max_webhooks_per_peer: 32,
            max_body_memory: 100 * MIB,
            ..EdgeLimits::default()
        },
    )
    .await;
    let mut clients = Vec::new();
    for i in 0..20 {
        let mut stream = connect_from(LOCAL, app.addr).await;
        stream
            .write_all(webhook_head(&format!("big-{i}"), 24 * MIB).as_bytes())
            .await
            .expect("head");
        stream.write_all(&[b' '; 1024]).await.expect("first KiB");
        clients.push(stream);
    }
    let mut statuses = Vec::new();
    for stream in &mut clients {
        statuses.push(status_within(stream).await);
    }
    assert!(
        statuses.iter().all(|s| matches!(s, None | Some(400))),
        "each is dropped for its rate, none refused for memory: {statuses:?}"
    );
    assert_eq!(
        gauge(&app, "labtrail_webhook_body_bytes_reserved").await,
        0,
        "released"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM webhook_delivery").await, 0);
}

/// A field of `/proc/<pid>/status`, in kB.
fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

/// A signed 24 MiB ping delivery (its `zen` padded), as GitHub could send.
fn large_ping(i: usize) -> Vec<u8> {
    let pad = 24 * MIB - 64;
    let mut body = Vec::with_capacity(24 * MIB);
    body.extend_from_slice(format!("{{\"hook_id\":{i},\"zen\":\"").as_bytes());
    body.resize(body.len() + pad, b'a');
    body.extend_from_slice(b"\"}");
    body
}

/// `labtrail serve` with a 64 MiB body budget takes 20 concurrent 24 MiB signed deliveries (some are
/// stored, the others answered 503 to retry): its peak resident memory stays below its resident memory
/// before the burst plus the budget plus 100 MB.
async fn memory_of_twenty_large_deliveries_stays_within_budget(db: TestDb) {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("no /proc: the memory test runs on Linux only");
        return;
    }
    let mut command = serve_command(&db);
    command
        .env("LABTRAIL_MAX_BODY_MEMORY", "64")
        .env("LABTRAIL_CHECKPOINT_INTERVAL", "3600")
        .env("LABTRAIL_BODY_TIMEOUT", "120");
    let serve = ServeProcess::start(command).await;
    let pid = serve.child.id();
    let bodies: Vec<(Vec<u8>, String)> = (0..20)
        .map(|i| {
            let body = large_ping(i);
            let signature = sign(SECRET, &body);
            (body, signature)
        })
        .collect();
    // Warm up (one small delivery through the whole path), then the baseline.
    let small = serve
        .deliver("ping", "warm-up", br#"{"zen":"hi","hook_id":1}"#, SECRET)
        .await;
    assert_eq!(small.status().as_u16(), 202);
    let baseline_kb = proc_status_kb(pid, "VmRSS:");
    let client = reqwest::Client::new();
    let url = format!("{}/webhooks/github", serve.base_url);
    let sends: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, (body, signature))| {
            let request = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-github-event", "ping")
                .header("x-github-delivery", format!("large-{i}"))
                .header("x-hub-signature-256", signature)
                .body(body)
                .timeout(Duration::from_secs(120));
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let mut statuses = Vec::new();
    for send in sends {
        statuses.push(send.await.expect("task"));
    }
    let peak_kb = proc_status_kb(pid, "VmHWM:");
    let accepted = statuses.iter().filter(|s| matches!(s, Ok(202))).count();
    eprintln!(
        "memory: baseline VmRSS {baseline_kb} kB, peak VmHWM {peak_kb} kB, {accepted} of 20 \
         accepted, statuses {statuses:?}"
    );
    assert!(
        accepted >= 1,
        "some large deliveries are stored: {statuses:?}"
    );
    let limit_kb = baseline_kb + (64 * MIB as u64) / 1024 + 100_000;
    assert!(
        peak_kb < limit_kb,
        "peak {peak_kb} kB over baseline {baseline_kb} kB + 64 MiB budget + 100 MB"
    );
}
