//! The witness client (c2sp.org/tlog-witness): after each checkpoint, every witness of
//! `LABTRAIL_WITNESSES` is sent `POST <url>/add-checkpoint` with the consistency proof from the size it
//! last cosigned; on `409` the request is made again from the size the witness reports. Each returned
//! `cosignature/v1` is checked against the witness's key and kept with the checkpoint
//! (`audit::witness::store_cosignatures`). A witness that fails (unreachable, refusing, or answering
//! an invalid cosignature) never holds recording back: it is counted in `/metrics`, logged, and tried
//! again after a backoff (`domain::backoff`), on the next run of this periodic job.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, DbErr};

use crate::audit::checkpoint::{self, parse_note, resolve_stored, Checkpoint, CheckpointError};
use crate::audit::merkle_store::{self, StoreError};
use crate::audit::witness::{
    self, parse_conflict, AddCheckpoint, Returned, Witness, WitnessVerifier,
};
use crate::domain::backoff::Backoff;
use crate::metrics::Metrics;

/// Retries of a failing witness: 10 s, doubling, at most an hour, jittered.
const RETRY: Backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(3600)).jittered();
/// One `add-checkpoint` call's deadline.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Per witness key id: failures in a row and the earliest next try.
type Failures = HashMap<[u8; 4], (u32, Instant)>;

/// The witnesses and where cosigned checkpoints go.
#[derive(Clone)]
pub struct WitnessConfig {
    pub witnesses: Arc<Vec<Witness>>,
    pub origin: String,
    /// The checkpoint file (the cosigned note is appended to it).
    pub file: PathBuf,
    /// How often the job looks for a checkpoint to submit.
    pub interval: Duration,
    pub metrics: Arc<Metrics>,
    client: reqwest::Client,
    /// Per witness (key id): failures in a row and the earliest next try.
    failures: Arc<Mutex<Failures>>,
}

impl WitnessConfig {
    pub fn new(
        witnesses: Vec<Witness>,
        origin: String,
        file: PathBuf,
        interval: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            witnesses: Arc::new(witnesses),
            origin,
            file,
            interval,
            metrics,
            client,
            failures: Arc::default(),
        }
    }

    fn due(&self, w: &WitnessVerifier) -> bool {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures
            .get(&w.id)
            .is_none_or(|(_, next)| Instant::now() >= *next)
    }

    fn settle(&self, w: &WitnessVerifier, ok: bool) {
        self.metrics.witness_submission(&w.name, ok);
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if ok {
            failures.remove(&w.id);
        } else {
            let n = failures.get(&w.id).map_or(0, |(n, _)| *n);
            failures.insert(w.id, (n + 1, Instant::now() + RETRY.delay(n)));
        }
    }
}

/// Why one witness did not cosign.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("cannot reach the witness: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("the witness answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error(
        "the witness has cosigned size {witness} of this log, more than the {ours} entries of our \
         newest checkpoint: was the log rolled back?"
    )]
    Ahead { witness: u64, ours: u64 },
    #[error("the witness answered no valid cosignature by its key: {0}")]
    NoCosignature(String),
    #[error("cannot read the stored tree")]
    Tree(#[from] StoreError),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Why a run could not look at the newest checkpoint or keep cosignatures.
#[derive(Debug, thiserror::Error)]
pub enum WitnessJobError {
    #[error("cannot read the newest checkpoint")]
    Db(#[from] DbErr),
    #[error("cannot keep the cosignatures")]
    Store(#[from] CheckpointError),
    #[error("{failed} of {total} witnesses did not cosign the checkpoint of size {size}")]
    Failed {
        failed: usize,
        total: usize,
        size: i64,
    },
}

/// One run: the newest checkpoint (with a Merkle root) to every due witness that has not cosigned it.
pub async fn once(db: DatabaseConnection, cfg: WitnessConfig) -> Result<(), WitnessJobError> {
    let Some(newest) = checkpoint::latest(&db).await? else {
        return Ok(());
    };
    let Some(body) = parse_note(&newest.note).ok().map(|n| n.text) else {
        return Ok(());
    };
    let Ok(parsed) = Checkpoint::parse_body(&body) else {
        return Ok(());
    };
    // A legacy chain-only checkpoint signs no root: witnesses cannot check it.
    let resolved = resolve_stored(&db, parsed).await?;
    let (Some(_), Ok(size)) = (resolved.root(), u64::try_from(resolved.size)) else {
        return Ok(());
    };
    let mut returned = Vec::new();
    let mut failed = 0;
    for w in cfg.witnesses.iter() {
        let signed = w.verifier.find_in(&newest.note).ok().flatten().is_some();
        if signed || !cfg.due(&w.verifier) {
            continue;
        }
        match submit(&db, &cfg, w, &newest.note, &body, size).await {
            Ok(r) => {
                tracing::info!(witness = %w.verifier.name, size, "checkpoint cosigned");
                cfg.settle(&w.verifier, true);
                returned.push(r);
            }
            Err(e) => {
                let error = crate::error::Chain(&e);
                tracing::warn!(witness = %w.verifier.name, url = %w.url, size, %error, "witness did not cosign; retrying later");
                cfg.settle(&w.verifier, false);
                failed += 1;
            }
        }
    }
    witness::store_cosignatures(&db, &cfg.origin, &newest, &returned, &cfg.file).await?;
    if failed > 0 {
        return Err(WitnessJobError::Failed {
            failed,
            total: cfg.witnesses.len(),
            size: newest.size,
        });
    }
    Ok(())
}

fn endpoint(url: &url::Url) -> String {
    format!("{}/add-checkpoint", url.as_str().trim_end_matches('/'))
}

/// Send the checkpoint to one witness (again from the size it reports on `409`, once).
async fn submit(
    db: &DatabaseConnection,
    cfg: &WitnessConfig,
    w: &Witness,
    note: &str,
    body: &str,
    size: u64,
) -> Result<Returned, SubmitError> {
    let mut old = witness::last_cosigned_size(db, &w.verifier)
        .await?
        .min(size);
    for _ in 0..2 {
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            merkle_store::consistency_proof(db, old, size).await?
        };
        let request = AddCheckpoint {
            old,
            proof,
            note: note.to_owned(),
        };
        let answer = cfg
            .client
            .post(endpoint(&w.url))
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(request.encode())
            .send()
            .await?;
        let status = answer.status().as_u16();
        let text = answer.text().await?;
        match status {
            200 => return cosignature_in(&w.verifier, body, &text),
            409 => match parse_conflict(&text) {
                Some(theirs) if theirs > size => {
                    return Err(SubmitError::Ahead {
                        witness: theirs,
                        ours: size,
                    })
                }
                Some(theirs) if theirs != old => old = theirs,
                _ => return Err(refused(status, &text)),
            },
            _ => return Err(refused(status, &text)),
        }
    }
    Err(SubmitError::Refused {
        status: 409,
        body: "the witness's size changed while we retried".into(),
    })
}

fn refused(status: u16, body: &str) -> SubmitError {
    SubmitError::Refused {
        status,
        body: body.chars().take(200).collect::<String>().trim().to_owned(),
    }
}

/// The witness's valid cosignature among the answered signature lines (others are ignored, as the spec
/// asks of clients).
fn cosignature_in(w: &WitnessVerifier, body: &str, answer: &str) -> Result<Returned, SubmitError> {
    let note = format!("{body}\n{answer}");
    match w.find_in(&note) {
        Ok(Some((timestamp, line))) => Ok(Returned {
            witness: w.clone(),
            timestamp,
            line,
        }),
        Ok(None) => Err(SubmitError::NoCosignature(
            "no line by its name and key id verifies".into(),
        )),
        Err(e) => Err(SubmitError::NoCosignature(e.to_string())),
    }
}
