//! `labtrail audit verify|checkpoint|export|archive|keygen|prove|check-proof|public-key`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};

use super::{cli_actor, open};
use crate::app::{load_or_create_key, public_key_path, write_public_key};
use crate::audit::checkpoint::{self, AuditKey, CheckpointConfig, Verifier};
use crate::audit::proof::{self, Proof, ProofError};
use crate::audit::verify::{verify_with, Evidence, Verdict, VerifyReport};
use crate::audit::witness::WitnessVerifier;
use crate::cli::config::{GlobalArgs, VerifyArgs};
use crate::db;

pub(super) fn keygen(g: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let path = &g.audit_key_path;
    let key = AuditKey::create(path, &g.origin())
        .with_context(|| format!("Cannot create the audit key {}", path.display()))?;
    let vkey = key.verifier().to_vkey();
    let pub_path = write_public_key(path, &key)
        .with_context(|| format!("Cannot write {}", public_key_path(path).display()))?;
    eprintln!(
        "created {} (mode 0600; keep it secret) and {}",
        path.display(),
        pub_path.display()
    );
    println!("{vkey}");
    Ok(ExitCode::SUCCESS)
}

/// `audit public-key`: the verifier key of the signing key at LABTRAIL_AUDIT_KEY_PATH.
pub(super) fn public_key(g: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let path = &g.audit_key_path;
    let key = AuditKey::load(path)
        .with_context(|| format!("Cannot load the audit key {}", path.display()))?;
    println!("{}", key.verifier().to_vkey());
    Ok(ExitCode::SUCCESS)
}

/// `audit prove`: the proof JSON of one attempt, to a file or standard output.
pub(super) async fn prove(
    g: &GlobalArgs,
    attempt: i64,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let proof = proof::build(&db, attempt)
        .await
        .with_context(|| format!("Cannot prove attempt {attempt}"))?;
    let mut json = serde_json::to_string_pretty(&proof)?;
    json.push('\n');
    match out {
        Some(path) => {
            std::fs::write(path, json)
                .with_context(|| format!("Cannot write {}", path.display()))?;
            eprintln!(
                "wrote the proof of attempt {attempt} (leaf {} of a tree of {}) to {}",
                proof.leaf_index,
                proof.tree_size,
                path.display()
            );
        }
        None => print!("{json}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A file holding a key, or the key itself.
fn key_text(arg: &str) -> Result<String, String> {
    match std::fs::read_to_string(arg) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(_) if !Path::new(arg).exists() => Ok(arg.trim().to_owned()),
        Err(e) => Err(format!("cannot read {arg}: {e}")),
    }
}

/// The witnesses' verifier keys of `--witness` and the quorum (default: all of them).
pub(super) fn witness_policy(
    args: &[String],
    quorum: Option<usize>,
) -> Result<(Vec<WitnessVerifier>, usize), String> {
    let keys = args
        .iter()
        .map(|a| {
            WitnessVerifier::parse(&key_text(a)?).map_err(|e| format!("the witness key {a}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let quorum = quorum.unwrap_or(keys.len());
    if !keys.is_empty() && (quorum == 0 || quorum > keys.len()) {
        return Err(format!(
            "--quorum {quorum} must be between 1 and the {} witnesses given",
            keys.len()
        ));
    }
    Ok((keys, quorum))
}

/// `audit check-proof`: exit 0 valid, 1 invalid, 2 unusable input. Reads only its inputs.
pub(super) fn check_proof(
    file: &Path,
    public_key: &str,
    witnesses: &[String],
    quorum: Option<usize>,
) -> ExitCode {
    let unusable = |why: String| {
        println!("cannot check: {why}");
        ExitCode::from(2)
    };
    let key_text = match key_text(public_key) {
        Ok(text) => text,
        Err(e) => return unusable(e),
    };
    let (witnesses, quorum) = match witness_policy(witnesses, quorum) {
        Ok(p) => p,
        Err(e) => return unusable(e),
    };
    let verifier = match Verifier::parse(key_text.trim()) {
        Ok(v) => v,
        Err(e) => return unusable(format!("the public key: {e}")),
    };
    let text = match std::fs::read(file) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return unusable(format!("cannot read {}: {e}", file.display())),
    };
    let checked = Proof::from_json(&text).and_then(|p| {
        let v = p.verify(&verifier)?;
        let cosigners = p.verify_cosigned(&witnesses, quorum)?;
        Ok((v, cosigners))
    });
    match checked {
        Ok((v, cosigners)) => {
            println!(
                "valid: attempt entry (seq {}, action {}) is leaf {} of the {} entries signed by {} ({})",
                v.leaf_index,
                v.entry["action"].as_str().unwrap_or("?"),
                v.leaf_index,
                v.tree_size,
                v.origin,
                verifier.to_vkey()
            );
            if !witnesses.is_empty() {
                println!(
                    "cosigned by {} of {} witnesses (quorum {quorum}): {}",
                    cosigners.valid.len(),
                    witnesses.len(),
                    cosigners.valid.join(", ")
                );
            }
            println!("{}", v.entry);
            if let Some((leaf, entry)) = &v.score {
                println!(
                    "valid: score entry (seq {leaf}, action {}) is leaf {leaf} of the same {} entries",
                    entry["action"].as_str().unwrap_or("?"),
                    v.tree_size,
                );
                println!("{entry}");
            }
            ExitCode::SUCCESS
        }
        Err(ProofError::Invalid(why)) => {
            println!("INVALID: {why}");
            ExitCode::from(1)
        }
        Err(ProofError::Unusable(why)) => unusable(why),
    }
}

pub(super) async fn checkpoint(g: &GlobalArgs, write: bool) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    if write {
        let cfg = CheckpointConfig {
            key: Arc::new(load_or_create_key(&db, &g.audit_key_path, &g.origin()).await?),
            origin: g.origin(),
            file: g.checkpoint_file.clone(),
            interval: Duration::ZERO,
        };
        checkpoint::write_if_due(&db, &cfg, Duration::ZERO)
            .await
            .context("Cannot write a checkpoint")?;
    }
    let Some(latest) = checkpoint::latest(&db)
        .await
        .context("Cannot read checkpoints")?
    else {
        bail!("No checkpoint has been written yet (run `labtrail audit checkpoint --write`)");
    };
    print!("{}", latest.note);
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn export(
    g: &GlobalArgs,
    after_seq: Option<i64>,
    limit: Option<u64>,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let mut after = after_seq;
    let mut left = limit.unwrap_or(u64::MAX);
    while left > 0 {
        let rows = crate::audit::entries(&db, after, left.min(1000))
            .await
            .context("Cannot read the audit log")?;
        let Some(last) = rows.last() else { break };
        after = Some(last.seq);
        left -= rows.len() as u64;
        for r in &rows {
            println!("{}", crate::audit::entry_json(r));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn archive(g: &GlobalArgs, upto: i64, out: &Path) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let key = load_or_create_key(&db, &g.audit_key_path, &g.origin()).await?;
    let done = crate::audit::archive::archive(
        &db,
        &g.origin(),
        &cli_actor(),
        &key,
        &g.checkpoint_file,
        upto,
        out,
    )
    .await
    .context("Cannot archive")?;
    let m = &done.manifest;
    println!(
        "archived seq {}..{} to {} (sha256 {}), manifest {}",
        m.first_seq,
        m.last_seq,
        done.segment_path.display(),
        m.file_sha256,
        done.manifest_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The trusted public key: `--public-key FILE`, else derived from the signing key file when present.
fn verifier_for(g: &GlobalArgs, args: &VerifyArgs) -> Result<Option<Verifier>, String> {
    if let Some(path) = &args.public_key {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return Verifier::parse(&text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()));
    }
    if g.audit_key_path.exists() {
        return AuditKey::load(&g.audit_key_path)
            .map(|k| Some(k.verifier()))
            .map_err(|e| crate::error::Chain(&e).to_string());
    }
    Ok(None)
}

/// The notes of the external checkpoint file: `--checkpoints FILE`, else the configured file if present.
fn external_notes(g: &GlobalArgs, args: &VerifyArgs) -> Result<Vec<(String, String)>, String> {
    let path = match &args.checkpoints {
        Some(p) => p.clone(),
        None if g.checkpoint_file.exists() => g.checkpoint_file.clone(),
        None => return Ok(Vec::new()),
    };
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(checkpoint::split_notes(&text)
        .into_iter()
        .enumerate()
        .map(|(i, note)| (format!("note #{} of {}", i + 1, path.display()), note))
        .collect())
}

/// Exit 0 intact, 1 tampered, 2 cannot verify.
pub(super) async fn verify(g: &GlobalArgs, args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let cannot = |why: String| {
        eprintln!("cannot verify: {why}");
        Ok(ExitCode::from(2))
    };
    let (witnesses, quorum) = match witness_policy(&args.witness, args.quorum) {
        Ok(p) => p,
        Err(e) => return cannot(e),
    };
    let evidence = Evidence {
        verifier: match verifier_for(g, &args) {
            Ok(v) => v,
            Err(e) => return cannot(e),
        },
        external_notes: match external_notes(g, &args) {
            Ok(n) => n,
            Err(e) => return cannot(e),
        },
        archive_dir: args.archive.clone(),
        witnesses,
        quorum,
    };
    // Three readers: the chain walk, the records check and the kept state's recomputation run side by
    // side (each its own task and, on SQLite, its own connection).
    let db = match db::connect_for_reading(&g.database_url, 3).await {
        Ok(db) => db,
        Err(e) => return cannot(format!("cannot open the database: {e}")),
    };
    let state_db = db.clone();
    let state = tokio::spawn(async move { db::student_state::check_all(&state_db).await });
    let report = match verify_with(&db, &g.origin(), &evidence).await {
        Ok(report) => report,
        Err(e) => return cannot(crate::error::Chain(&e).to_string()),
    };
    let state = match state.await {
        Ok(Ok(state)) => state,
        Ok(Err(e)) => return cannot(format!("cannot check the kept student state: {e}")),
        Err(e) => return cannot(format!("the kept student state's check stopped: {e}")),
    };
    let code = print_report(&report);
    Ok(if print_state(&state) {
        code
    } else {
        ExitCode::from(1)
    })
}

/// Print the kept state's check (issue 24); `false` when a row differs from the attempts.
fn print_state(s: &db::student_state::StateCheck) -> bool {
    if s.differences.is_empty() {
        println!(
            "student state matches the attempts: {} rows of {} sessions",
            s.rows, s.sessions
        );
        return true;
    }
    println!(
        "student state TAMPERED: {} differences from a recomputation from the attempts",
        s.differences.len()
    );
    for (session, d) in &s.differences {
        println!("  session {session}: {}: {}", d.row, d.field);
    }
    false
}

fn print_report(r: &VerifyReport) -> ExitCode {
    let code = match &r.verdict {
        Verdict::Intact {
            size,
            head_hash,
            first_seq,
        } => {
            println!(
                "audit log intact: {size} entries (seq {first_seq}..{}), head {}",
                size - 1,
                head_hash.map_or_else(|| "(empty)".to_owned(), |h| h.to_string())
            );
            ExitCode::SUCCESS
        }
        Verdict::Tampered { seq, reason } => {
            println!("audit log TAMPERED at seq {seq}: {reason}");
            ExitCode::from(1)
        }
        Verdict::BadEvidence { what, reason } => {
            println!("audit log TAMPERED: {what}: {reason}");
            ExitCode::from(1)
        }
    };
    println!("checkpoints checked: {}", r.checkpoints_checked);
    if let Some((size, witnesses)) = &r.witnessed {
        println!(
            "witnessed: the newest checkpoint (size {size}) is cosigned by {}",
            witnesses.join(", ")
        );
    }
    match r.external_size {
        Some(e) if e >= r.size => println!("unsigned tail: none (an external checkpoint covers all {} entries)", r.size),
        Some(e) => println!(
            "unsigned tail: seq {e}..{} ({} entries) after the newest external checkpoint (size {e})",
            r.size - 1,
            r.size - e
        ),
        None => println!(
            "unsigned tail: all {} entries (no external checkpoint given)",
            r.size
        ),
    }
    for note in &r.notes {
        println!("note: {note}");
    }
    match &r.records {
        Some(rec) if rec.problem_count() == 0 => {
            use crate::report::plural;
            println!(
                "records match the log: {}, {}, {}, {}, {}, {}",
                plural(rec.attempts, "attempt", "attempts"),
                plural(rec.sessions, "session", "sessions"),
                plural(rec.installations, "installation", "installations"),
                plural(rec.extensions, "extension", "extensions"),
                plural(rec.roster_students, "roster student", "roster students"),
                plural(rec.scores, "score", "scores"),
            );
            code
        }
        Some(rec) => {
            println!(
                "records TAMPERED: {} differences from the log ({} attempts, {} sessions, {} \
                 installations, {} extensions, {} roster students, {} scores checked)",
                rec.problem_count(),
                rec.attempts,
                rec.sessions,
                rec.installations,
                rec.extensions,
                rec.roster_students,
                rec.scores
            );
            for p in &rec.problems {
                println!("{p}");
            }
            if rec.more_problems > 0 {
                println!("… and {} more", rec.more_problems);
            }
            ExitCode::from(1)
        }
        None => code,
    }
}
