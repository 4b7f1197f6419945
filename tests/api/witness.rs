//! Witnesses (issue 26): two labtrail instances witness each other, each with an in-process
//! `witness serve` (the same router `labtrail witness serve` runs) on the other's database. Each
//! checkpoint of A carries B's `cosignature/v1`, which an independent verifier accepts: the
//! `signed_note` crate's note verification with a `cosignature/v1` verifier written here from
//! c2sp.org/tlog-cosignature, not labtrail's code. A's log rewritten with A's key is refused by B
//! (`409`), and `audit verify --witness` names its checkpoint; `check-proof --witness` needs the
//! cosignature and the quorum.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::Verifier as _;
use labtrail::audit::checkpoint::{self, AuditKey};
use labtrail::audit::witness::{AddCheckpoint, CosignerKey, Witness, WitnessVerifier};
use labtrail::witness::WitnessState;
use sha2::{Digest, Sha256};
use signed_note::{Note, VerifierList};

use crate::audit_support::more;
use crate::helpers::{
    run, run_cli, run_cli_with, spawn_app_with, AppOptions, Backend, TestApp, TestDb,
};

/// A `cosignature/v1` verifier straight from c2sp.org/tlog-cosignature, for `signed_note`.
struct CosignatureV1 {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl CosignatureV1 {
    /// From a vkey `<name>+<hex id>+<base64(0x04 ‖ key)>`.
    fn new(vkey: &str) -> Self {
        let mut parts = vkey.trim().splitn(3, '+');
        let name = parts.next().expect("name").to_owned();
        let _id = parts.next().expect("id");
        let raw = B64.decode(parts.next().expect("key")).expect("base64");
        assert_eq!(raw[0], 0x04, "signature type 0x04");
        let pk: [u8; 32] = raw[1..].try_into().expect("32 bytes");
        // SHA-256(<name> || "\n" || 0x04 || public key)[:4]
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update([0x04]);
        h.update(pk);
        let d = h.finalize();
        Self {
            name,
            id: u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
            key: ed25519_dalek::VerifyingKey::from_bytes(&pk).expect("point"),
        }
    }
}

impl signed_note::Verifier for CosignatureV1 {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        // timestamped_signature: u64 timestamp (big-endian) ‖ 64-byte Ed25519 signature over
        // "cosignature/v1\ntime <timestamp>\n" ‖ the checkpoint body.
        if sig.len() != 72 {
            return false;
        }
        let ts = u64::from_be_bytes(sig[..8].try_into().expect("8"));
        let mut message = format!("cosignature/v1\ntime {ts}\n").into_bytes();
        message.extend_from_slice(msg);
        let Ok(s) = ed25519_dalek::Signature::from_slice(&sig[8..]) else {
            return false;
        };
        self.key.verify(&message, &s).is_ok()
    }
}

/// The independent check: `signed_note` verifies `witness`'s cosignature on `note`.
fn independently_cosigned(note: &str, witness_vkey: &str) -> bool {
    let Ok(parsed) = Note::from_bytes(note.as_bytes()) else {
        return false;
    };
    let list = VerifierList::new(vec![Box::new(CosignatureV1::new(witness_vkey))]);
    parsed.verify(&list).is_ok_and(|(ok, _)| ok.len() == 1)
}

/// An in-process witness on `db` (its own database), for `logs`; its URL.
async fn start_witness(db: &TestDb, key: CosignerKey, logs: Vec<checkpoint::Verifier>) -> String {
    let conn = db.connect().await;
    let (listener, addr) = labtrail::witness::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let state = WitnessState::new(key, logs, conn);
    tokio::spawn(labtrail::witness::run(
        listener,
        state,
        std::future::pending(),
    ));
    format!("http://{addr}")
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The newest stored checkpoint note of `app`.
async fn newest(app: &TestApp) -> (i64, String) {
    let cp = checkpoint::latest(&app.db)
        .await
        .expect("db")
        .expect("a checkpoint");
    (cp.size, cp.note)
}

/// Wait until `app`'s newest checkpoint has at least `size` entries and carries `witness`'s cosignature.
async fn wait_cosigned(app: &TestApp, size: i64, witness: &str) -> String {
    wait_for("a cosigned checkpoint", || async {
        let Ok(Some(cp)) = checkpoint::latest(&app.db).await else {
            return false;
        };
        cp.size >= size && independently_cosigned(&cp.note, witness)
    })
    .await;
    newest(app).await.1
}

fn keygen_cli(db: &TestDb, name: &str) -> (CosignerKey, String) {
    let path = db.scratch_dir().join("witness.key");
    let out = run_cli(
        db,
        &[
            "witness",
            "keygen",
            "--name",
            name,
            "--out",
            path.to_str().expect("utf-8"),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let public = std::fs::read_to_string(db.scratch_dir().join("witness.key.pub")).expect("pub");
    assert_eq!(public.trim(), printed);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    (CosignerKey::load(&path).expect("load"), printed)
}

fn options(witness: &WitnessVerifier, url: &str) -> AppOptions {
    AppOptions {
        checkpoint_interval: Some(Duration::from_secs(1)),
        witnesses: vec![Witness {
            verifier: witness.clone(),
            url: url::Url::parse(url).expect("url"),
        }],
        ..AppOptions::default()
    }
}

fn cli_in(db: &TestDb, args: &[&str]) -> (i32, String) {
    let out = run_cli(db, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

async fn two_instances_witness_each_other(backend: Backend) {
    run(backend, |a_db| async move {
        run(backend, |b_db| async move {
            run(backend, |forged_db| async move {
                witnessed(a_db, b_db, forged_db).await;
            })
            .await;
        })
        .await;
    })
    .await;
}

async fn witnessed(a_db: TestDb, b_db: TestDb, forged_db: TestDb) {
    // Keys: each log's own (note type 0x01), each witness's (type 0x04, made by `witness keygen`).
    let a_key = AuditKey::create(&a_db.key_path(), crate::helpers::ORIGIN).expect("A's key");
    let b_key = AuditKey::create(&b_db.key_path(), crate::helpers::ORIGIN).expect("B's key");
    let (wa, wa_vkey) = keygen_cli(&a_db, "witness-a.test/w");
    let (wb, wb_vkey) = keygen_cli(&b_db, "witness-b.test/w");
    let (wa_v, wb_v) = (wa.verifier(), wb.verifier());
    // B's witness (on B's database) witnesses A's log, and A's witnesses B's.
    let wb_url = start_witness(&b_db, wb, vec![a_key.verifier()]).await;
    let wa_url = start_witness(&a_db, wa, vec![b_key.verifier()]).await;
    let a = spawn_app_with(&a_db, options(&wb_v, &wb_url)).await;
    let b = spawn_app_with(&b_db, options(&wa_v, &wa_url)).await;

    a.create_lab1_session().await;
    more(&a, 0, 2).await;
    b.create_lab1_session().await;
    let first = wait_cosigned(&a, 3, &wb_vkey).await;
    wait_cosigned(&b, 1, &wa_vkey).await;
    // The log's own signature is still there, and the cosignature is the first-line of B's key.
    assert!(checkpoint::open_note(&first, &a_key.verifier()).is_ok());
    // More entries: the next checkpoint goes with a consistency proof from the size B cosigned.
    more(&a, 2, 3).await;
    let attempts = a.attempts().await;
    let last = attempts.last().expect("an attempt");
    let size = a.audit_head().await.size;
    let note = wait_cosigned(&a, size, &wb_vkey).await;
    assert!(independently_cosigned(&note, &wb_vkey));
    assert!(
        !independently_cosigned(&note, &wa_vkey),
        "A's witness does not witness A"
    );
    // The checkpoint file holds the cosigned note too.
    let file = std::fs::read_to_string(a_db.checkpoint_file()).expect("checkpoint file");
    assert!(file.contains(&note), "{file}");
    let (code, text) = cli_in(&a_db, &["audit", "verify", "--witness", &wb_vkey]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("cosigned by witness-b.test/w"), "{text}");
    let metrics = a.metrics().await;
    assert!(
        metrics.contains(
            "labtrail_witness_submissions_total{witness=\"witness-b.test/w\",result=\"cosigned\"}"
        ),
        "{metrics}"
    );

    // check-proof: the proof served from then on carries the cosignature.
    let proof_path = a_db.scratch_dir().join("proof.json");
    let id = last.id.to_string();
    let (code, text) = cli_in(
        &a_db,
        &[
            "audit",
            "prove",
            "--attempt",
            &id,
            "--out",
            proof_path.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let a_pub = a_key.verifier().to_vkey();
    let check = |proof: &str, extra: &[&str]| {
        let path = a_db.scratch_dir().join("proof-checked.json");
        std::fs::write(&path, proof).expect("write");
        let mut args = vec![
            "audit",
            "check-proof",
            path.to_str().expect("utf-8"),
            "--public-key",
            &a_pub,
        ];
        args.extend_from_slice(extra);
        let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        cli_in(&a_db, &refs)
    };
    let proof = std::fs::read_to_string(&proof_path).expect("proof");
    let (code, text) = check(&proof, &["--witness", &wb_vkey]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("cosigned by 1 of 1 witnesses"), "{text}");
    let parsed: serde_json::Value = serde_json::from_str(&proof).expect("json");
    let cp = parsed["checkpoint"]
        .as_str()
        .expect("checkpoint")
        .to_owned();
    let line = cp
        .lines()
        .find(|l| l.starts_with("\u{2014} witness-b.test/w "))
        .expect("B's cosignature line")
        .to_owned();
    let with_checkpoint = |new_cp: String| {
        let mut p = parsed.clone();
        p["checkpoint"] = serde_json::Value::String(new_cp);
        serde_json::to_string(&p).expect("json")
    };
    // The line removed.
    let removed = with_checkpoint(cp.replace(&format!("{line}\n"), ""));
    let (code, text) = check(&removed, &["--witness", &wb_vkey]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("INVALID"), "{text}");
    // Still valid without witnesses: the log's own signature is untouched.
    assert_eq!(check(&removed, &[]).0, 0);
    // The line altered (one byte of its signature).
    let (name_part, sig) = line.rsplit_once(' ').expect("line");
    let mut raw = B64.decode(sig).expect("b64");
    let last_byte = raw.len() - 1;
    raw[last_byte] ^= 1;
    let altered = with_checkpoint(cp.replace(&line, &format!("{name_part} {}", B64.encode(raw))));
    let (code, text) = check(&altered, &["--witness", &wb_vkey]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("does not verify"), "{text}");
    // A quorum of two: A's witness never cosigned A's log.
    let both = |quorum| {
        [
            "--witness",
            &wb_vkey,
            "--witness",
            &wa_vkey,
            "--quorum",
            quorum,
        ]
    };
    let (code, text) = check(&proof, &both("2"));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("1 valid witness cosignatures, 2 required"),
        "{text}"
    );
    let (code, _) = check(&proof, &both("1"));
    assert_eq!(code, 0);

    // A's log rewritten with A's key (a fresh database: fewer entries, another history), re-signed.
    std::fs::copy(a_db.key_path(), forged_db.key_path()).expect("copy the key");
    let forged = spawn_app_with(&forged_db, options(&wb_v, &wb_url)).await;
    forged.create_lab1_session().await;
    wait_for("the forged log's checkpoint", || async {
        checkpoint::latest(&forged.db)
            .await
            .ok()
            .flatten()
            .is_some()
    })
    .await;
    let (_, forged_note) = newest(&forged).await;
    assert!(checkpoint::open_note(&forged_note, &a_key.verifier()).is_ok());
    // B refuses it: its size for A is not 0 (409 with B's size), and never cosigns it.
    let answer = reqwest::Client::new()
        .post(format!("{wb_url}/add-checkpoint"))
        .body(
            AddCheckpoint {
                old: 0,
                proof: vec![],
                note: forged_note.clone(),
            }
            .encode(),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(answer.status().as_u16(), 409);
    assert_eq!(
        answer.headers()["content-type"].to_str().expect("ascii"),
        "text/x.tlog.size"
    );
    let b_conn = b_db.connect().await;
    let (held, _) = labtrail::db::witness::state(&b_conn, crate::helpers::ORIGIN)
        .await
        .expect("B's state");
    assert!(held >= u64::try_from(size).expect("size"));
    assert_eq!(answer.text().await.expect("body"), format!("{held}\n"));
    // The forged instance's own client was refused too: counted, never cosigned.
    wait_for("the refusal counted", || async {
        let m = forged.metrics().await;
        let failed =
            "labtrail_witness_submissions_total{witness=\"witness-b.test/w\",result=\"failed\"} ";
        m.contains(failed) && !m.contains(&format!("{failed}0"))
    })
    .await;
    assert!(!independently_cosigned(&newest(&forged).await.1, &wb_vkey));
    let (code, text) = cli_in(&forged_db, &["audit", "verify", "--witness", &wb_vkey]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("database checkpoint #1 (size 1)"), "{text}");
    assert!(
        text.contains("0 valid witness cosignatures, 1 required"),
        "{text}"
    );

    // doctor names the witness that does not cosign, and the one that does.
    let doctor = |db: &TestDb| {
        let file = db.scratch_dir().join("witnesses");
        std::fs::write(&file, format!("witness {wb_vkey} {wb_url}\n")).expect("witnesses file");
        let out = run_cli_with(
            db,
            &["doctor"],
            &[
                ("LABTRAIL_WITNESSES", file.to_str().expect("utf-8")),
                ("LABTRAIL_CHECKPOINT_INTERVAL", "1"),
            ],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = doctor(&forged_db);
        if text.contains("\u{2717} witness witness-b.test/w has never cosigned this log") {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let text = doctor(&a_db);
    assert!(
        text.contains("\u{2713} witness witness-b.test/w cosigned the newest checkpoint"),
        "{text}"
    );

    forged.stop().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_witness_each_other_sqlite() {
    two_instances_witness_each_other(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_witness_each_other_postgres() {
    two_instances_witness_each_other(Backend::Postgres).await;
}
