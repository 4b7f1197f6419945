//! The HTTP edge under hostile clients, over raw sockets: slow headers and bodies are cut off at their
//! timeouts while `/healthz` answers, oversized or unsigned requests are refused before their body,
//! `/metrics` can require a token and does not
//! count the table per scrape, and SIGTERM ends `labtrail serve` within its shutdown deadline.

use std::time::Duration;

use labtrail::http::edge::EdgeLimits;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::backend_tests;
use crate::helpers::{
    alice_push_body, cli_create_lab1_session, count, fixture, run_cli, serve_command,
    spawn_app_with, AppOptions, ServeProcess, TestApp, TestDb, SECRET,
};

backend_tests!(
    slow_clients_are_cut_off_while_healthz_answers,
    refused_before_the_body,
    metrics_token_and_cached_counts,
    sigterm_with_a_partial_request_exits_within_the_deadline,
);

pub const MIB: usize = 1024 * 1024;

/// The head of a webhook request whose signature header is well-formed (its body is never completed,
/// so it is never checked).
pub fn webhook_head(guid: &str, content_length: usize) -> String {
    format!(
        "POST /webhooks/github HTTP/1.1\r\nhost: labtrail.test\r\ncontent-type: application/json\r\n\
         x-github-event: push\r\nx-github-delivery: {guid}\r\nx-hub-signature-256: sha256={}\r\n\
         content-length: {content_length}\r\n\r\n",
        "0".repeat(64)
    )
}

/// Read until the server closes the connection (or resets it), at most `limit`; what was received and
/// when it ended. Panics if the connection is still open after `limit`.
async fn read_until_closed(stream: &mut (impl AsyncReadExt + Unpin), limit: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server kept the connection open past {limit:?}"
    );
    received
}

/// Read a response's head (up to its blank line, or until the connection ends), at most `limit`.
pub async fn read_head(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 1024];
        while !received.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within {limit:?}");
    received
}

/// The status code of a raw response, if any arrived.
pub fn status_of(response: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(response);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Send `bytes` one at a time every 100 ms until the server stops taking them.
fn trickle(mut writer: tokio::net::tcp::OwnedWriteHalf, bytes: Vec<u8>) {
    tokio::spawn(async move {
        for b in bytes {
            if writer.write_all(&[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// `/healthz` on a new connection (a pooled one may just have been closed by the header timeout, which
/// also ends idle keep-alive connections).
async fn healthz(app: &TestApp) -> u16 {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
        .get(format!("{}/healthz", app.base_url))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("healthz")
        .status()
        .as_u16()
}

/// Headers trickled, a body trickled, and a silent connection: each is closed by its 1 s timeout, long
/// before the trickles end (a per-read timeout would never fire on them), while `/healthz` answers.
async fn slow_clients_are_cut_off_while_healthz_answers(db: TestDb) {
    let limits = EdgeLimits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        ..EdgeLimits::default()
    };
    let app = app_with_limits(&db, limits).await;
    let (mut slow_head, writer) = TcpStream::connect(app.addr)
        .await
        .expect("connect")
        .into_split();
    // About 900 bytes at 10 a second: the head would take 90 s to arrive, far past the wait below.
    let padded = webhook_head("slow-head", 10).replacen(
        "\r\n",
        &format!("\r\nx-padding: {}\r\n", "p".repeat(600)),
        1,
    );
    trickle(writer, padded.into_bytes());
    let (mut slow_body, mut writer) = TcpStream::connect(app.addr)
        .await
        .expect("connect")
        .into_split();
    writer
        .write_all(webhook_head("slow-body", 10_000).as_bytes())
        .await
        .expect("head");
    trickle(writer, vec![b' '; 10_000]);
    let mut silent = TcpStream::connect(app.addr).await.expect("connect");
    assert_eq!(
        healthz(&app).await,
        200,
        "/healthz answers beside slow clients"
    );

    // 20 times the timeouts, and far less than the trickles would take to end on their own (the head
    // 90 s, the body 1,000 s): only the timeouts close these connections in time.
    let limit = Duration::from_secs(20);
    read_until_closed(&mut slow_head, limit).await;
    let body_answer = read_until_closed(&mut slow_body, limit).await;
    read_until_closed(&mut silent, limit).await;
    assert!(
        matches!(status_of(&body_answer), None | Some(400 | 408)),
        "{}",
        String::from_utf8_lossy(&body_answer)
    );
    assert_eq!(healthz(&app).await, 200);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM webhook_delivery").await, 0);
}

/// A declared 100 MiB body gets 413, and requests without a signature or event header get 401/400,
/// all before a single body byte is sent; nothing is stored.
async fn refused_before_the_body(db: TestDb) {
    let app = spawn_app_with(&db, AppOptions::default()).await;
    let before = app.counts().await;
    let unsigned =
        "POST /webhooks/github HTTP/1.1\r\nhost: labtrail.test\r\nx-github-event: push\r\n\
                    x-github-delivery: d-2\r\ncontent-length: 5000\r\n\r\n"
            .to_owned();
    let no_event = webhook_head("d-3", 5000).replace("x-github-event: push\r\n", "");
    let bad_length =
        webhook_head("d-4", 5000).replace("content-length: 5000", "content-length: 5e3");
    for (name, head, want) in [
        ("100 MiB declared", webhook_head("d-1", 100 * MIB), 413),
        ("no signature", unsigned, 401),
        ("no event", no_event, 400),
        ("bad content-length", bad_length, 400),
    ] {
        let mut stream = TcpStream::connect(app.addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("head");
        let answer = read_head(&mut stream, Duration::from_secs(30)).await;
        assert_eq!(
            status_of(&answer),
            Some(want),
            "{name}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert_eq!(app.counts().await, before, "refused requests store nothing");
}

/// With `LABTRAIL_METRICS_TOKEN` set, `/metrics` needs it as a bearer token; the stored deliveries'
/// counts are reused within the cache interval instead of being counted per scrape.
async fn metrics_token_and_cached_counts(db: TestDb) {
    let limits = EdgeLimits {
        metrics_token: Some(SecretString::from("scrape-token")),
        metrics_cache_ttl: Duration::from_secs(3600),
        ..EdgeLimits::default()
    };
    let app = app_with_limits(&db, limits).await;
    let url = format!("{}/metrics", app.base_url);
    let scrape = |auth: Option<&'static str>| {
        let mut req = app.client.get(&url);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        async move {
            let resp = req.send().await.expect("metrics");
            (resp.status().as_u16(), resp.text().await.expect("text"))
        }
    };
    assert_eq!(scrape(None).await.0, 401);
    assert_eq!(scrape(Some("Bearer wrong")).await.0, 401);
    assert_eq!(scrape(Some("scrape-token")).await.0, 401);
    let body = fixture("octokit-webhooks/ping/with-app_id.payload.json");
    assert_eq!(app.deliver_status("ping", "ping-1", &body).await, 202);
    app.drain().await;
    let (status, text) = scrape(Some("Bearer scrape-token")).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("labtrail_deliveries{status=\"ignored\"} 1"),
        "{text}"
    );
    assert_eq!(app.deliver_status("ping", "ping-2", &body).await, 202);
    app.drain().await;
    let (_, text) = scrape(Some("Bearer scrape-token")).await;
    assert!(
        text.contains("labtrail_deliveries{status=\"ignored\"} 1"),
        "counts come from the cache: {text}"
    );
    assert!(
        text.contains("labtrail_webhook_requests_total{result=\"queued\"} 2"),
        "counters are live: {text}"
    );
}

/// `labtrail serve` with a 1 s shutdown deadline and 5 min read timeouts: SIGTERM while one request's
/// body and another's headers are incomplete; the process exits 0 by the deadline (waited for 30 s, where
/// only the read timeouts would end it after 5 min) and its final checkpoint covers the push it recorded.
async fn sigterm_with_a_partial_request_exits_within_the_deadline(db: TestDb) {
    let mut command = serve_command(&db);
    command
        .env("LABTRAIL_CHECKPOINT_INTERVAL", "3600")
        .env("LABTRAIL_HEADER_TIMEOUT", "300")
        .env("LABTRAIL_BODY_TIMEOUT", "300")
        .env("LABTRAIL_SHUTDOWN_TIMEOUT", "1");
    let mut serve = ServeProcess::start(command).await;
    let addr = serve.addr;
    let base = serve.base_url.clone();
    let client = reqwest::Client::new();
    cli_create_lab1_session(&db, "course");
    let body = alice_push_body();
    let resp = serve.deliver("push", "term-1", &body, SECRET).await;
    assert_eq!(resp.status().as_u16(), 202);
    let conn = db.connect().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count(&conn, "SELECT COUNT(*) FROM lab_attempt").await != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the push was not recorded within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A body that will never finish, and headers that will never finish.
    let mut partial_body = TcpStream::connect(addr).await.expect("connect");
    partial_body
        .write_all(webhook_head("term-2", 10_000).as_bytes())
        .await
        .expect("head");
    partial_body
        .write_all(b"{\"zen\":")
        .await
        .expect("some body");
    let mut partial_head = TcpStream::connect(addr).await.expect("connect");
    partial_head
        .write_all(b"POST /webhooks/github HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("part of a head");
    // The server has taken both connections when another request is answered after them.
    assert!(client.get(format!("{base}/healthz")).send().await.is_ok());

    serve.terminate();
    // Fails the test, the process killed, if it is still running 30 s after SIGTERM.
    let status = serve.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "exit status {status:?}");
    // Both partial requests were dropped.
    read_until_closed(&mut partial_body, Duration::from_secs(10)).await;
    read_until_closed(&mut partial_head, Duration::from_secs(10)).await;
    let verify = run_cli(&db, &["audit", "verify"]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(0), "{text}");
    assert!(
        text.contains("unsigned tail: none"),
        "final checkpoint: {text}"
    );
}

/// An app whose HTTP edge has these limits.
async fn app_with_limits(db: &TestDb, limits: EdgeLimits) -> TestApp {
    spawn_app_with(
        db,
        AppOptions {
            edge: limits,
            ..AppOptions::default()
        },
    )
    .await
}
