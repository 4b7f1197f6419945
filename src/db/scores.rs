//! Scores (issue 22): completed runs of a session's score check on an attempt's head commit, recorded
//! with their `lab_attempt.scored` entries; runs that arrive before their push, kept as pending scores
//! and applied when the attempt is recorded; and the reads the grades, lists and proofs make.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use entity::{lab_attempt, lab_attempt_score, lab_session, pending_score, webhook_delivery};
use sea_orm::sea_query::{Condition, IntoCondition};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};

use crate::audit::{self, entries, AuditError, Log};
use crate::db::deliveries::{self, Status};
use crate::db::sessions;
use crate::domain::score::score_order;
use crate::domain::session::Candidates;
use crate::webhook::check_run::{CheckRunEvent, CompletedRun};

/// Rows one `IN (…)` query names at most.
const CHUNK: usize = 500;

/// What became of a completed check run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScoreApplied {
    /// Recorded as the score of these attempts (new score ids; empty when all were recorded before).
    Scored { score_ids: Vec<i64>, note: String },
    /// Nothing recorded, and why (a pending score may have been kept: the reason says so).
    Ignored(String),
    /// Another worker holds the delivery now.
    ClaimLost,
}

/// Why a score could not be recorded.
pub type ScoreError = AuditError;

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// The attempts of `repository_id` whose head commit is `sha`, with their sessions.
async fn attempts_at(
    db: &impl ConnectionTrait,
    repository_id: i64,
    sha: &str,
) -> Result<Vec<(lab_attempt::Model, lab_session::Model)>, DbErr> {
    Ok(lab_attempt::Entity::find()
        .find_also_related(lab_session::Entity)
        .filter(lab_attempt::Column::RepositoryId.eq(repository_id))
        .filter(lab_attempt::Column::AfterSha.eq(sha))
        .order_by_asc(lab_attempt::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(a, s)| Some((a, s?)))
        .collect())
}

/// Insert the score of `attempt` from `run` with its entry, unless that run's completion is recorded for
/// it already (`None`).
async fn record_score(
    txn: &impl ConnectionTrait,
    log: &mut Log<'_>,
    attempt_id: i64,
    run: &CompletedRun,
    delivery_id: Option<&str>,
    actor: &str,
) -> Result<Option<lab_attempt_score::Model>, AuditError> {
    use lab_attempt_score::Column as C;
    let known = lab_attempt_score::Entity::find()
        .filter(C::AttemptId.eq(attempt_id))
        .filter(C::CheckRunId.eq(run.check_run_id))
        .filter(C::CompletedAt.eq(run.completed_at))
        .one(txn)
        .await?;
    if known.is_some() {
        return Ok(None);
    }
    let score = lab_attempt_score::ActiveModel {
        attempt_id: Set(attempt_id),
        check_run_id: Set(run.check_run_id),
        app_id: Set(run.app_id),
        app_slug: Set(run.app_slug.clone()),
        points: Set(run.points.as_ref().map(|p| p.awarded.clone())),
        points_available: Set(run.points.as_ref().map(|p| p.available.clone())),
        conclusion: Set(run.conclusion.clone()),
        completed_at: Set(run.completed_at),
        delivery_id: Set(delivery_id.map(str::to_owned)),
        recorded_at: Set(Utc::now()),
        audit_seq: Set(log.head().size),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    log.append(entries::attempt_scored(&score, actor)?).await?;
    crate::db::student_state::refresh_scores(txn, &[attempt_id]).await?;
    Ok(Some(score))
}

/// Record a `check_run` delivery's completed run: the score of every attempt of its repository whose head
/// commit it ran on and whose session's score check it is, with the delivery marked processed, in one
/// transaction. A run of a commit no attempt has yet, in a repository a session takes under that score
/// check, is kept as a pending score (applied when the push is recorded); anything else is ignored with
/// the reason.
pub async fn apply_run(
    db: &(impl TransactionTrait + ConnectionTrait),
    origin: &str,
    ev: &CheckRunEvent,
    delivery: &webhook_delivery::Model,
) -> Result<ScoreApplied, ScoreError> {
    let run = &ev.run;
    let applied = audit::write(db, origin, async |txn, log| {
        let found = attempts_at(txn, ev.repository_id, &run.head_sha).await?;
        if found.is_empty() {
            log.roll_back();
            return Ok::<_, AuditError>(None);
        }
        let scored: Vec<&lab_attempt::Model> = found
            .iter()
            .filter(|(_, s)| s.score_check == run.name)
            .map(|(a, _)| a)
            .collect();
        if scored.is_empty() {
            log.roll_back();
            let mut checks: Vec<&str> = found.iter().map(|(_, s)| s.score_check.as_str()).collect();
            checks.sort_unstable();
            checks.dedup();
            return Ok(Some(ScoreApplied::Ignored(format!(
                "check run {:?} is not the score check ({}) of the session of commit {}",
                run.name,
                checks
                    .iter()
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                short(&run.head_sha),
            ))));
        }
        let mut ids = Vec::new();
        for a in &scored {
            let recorded = record_score(
                txn,
                log,
                a.id,
                run,
                Some(&delivery.guid),
                entries::SYSTEM_ACTOR,
            )
            .await?;
            ids.extend(recorded.map(|s| s.id));
        }
        let attempts: Vec<String> = scored.iter().map(|a| a.id.to_string()).collect();
        let note = if ids.is_empty() {
            format!("score already recorded for attempt {}", attempts.join(", "))
        } else {
            format!(
                "scored attempt {}: {} ({})",
                attempts.join(", "),
                run.points.as_ref().map_or_else(
                    || "no points".to_owned(),
                    |p| format!("{}/{}", p.awarded, p.available)
                ),
                run.conclusion.as_deref().unwrap_or("no conclusion")
            )
        };
        if !deliveries::settle_claimed(txn, delivery, Status::Processed, Some(note.clone()), None)
            .await?
        {
            log.roll_back();
            return Ok(Some(ScoreApplied::ClaimLost));
        }
        Ok(Some(ScoreApplied::Scored {
            score_ids: ids,
            note,
        }))
    })
    .await?;
    match applied {
        Some(applied) => Ok(applied),
        None => keep_pending(db, ev, delivery)
            .await
            .map_err(AuditError::from),
    }
}

/// A run of a commit that is no attempt (yet): kept as a pending score when a session takes the
/// repository under this score check, else ignored; the reason says which.
async fn keep_pending(
    db: &impl ConnectionTrait,
    ev: &CheckRunEvent,
    delivery: &webhook_delivery::Model,
) -> Result<ScoreApplied, DbErr> {
    let run = &ev.run;
    let branch = run
        .head_branch
        .as_deref()
        .or(ev.default_branch.as_deref())
        .unwrap_or_default();
    let candidates = Candidates::new(sessions::active_for_org(db, &ev.owner_login).await?);
    let Some(session) =
        candidates.select(&ev.repository_name, branch, ev.default_branch.as_deref())
    else {
        return Ok(ScoreApplied::Ignored(format!(
            "no active lab session of {} matches {} on {branch}",
            ev.owner_login, ev.repository_name
        )));
    };
    if session.score_check != run.name {
        return Ok(ScoreApplied::Ignored(format!(
            "check run {:?} is not session {}'s score check {:?}",
            run.name, session.slug, session.score_check
        )));
    }
    use pending_score::Column as C;
    let known = pending_score::Entity::find()
        .filter(C::RepositoryId.eq(ev.repository_id))
        .filter(C::HeadSha.eq(&run.head_sha))
        .filter(C::CheckRunId.eq(run.check_run_id))
        .filter(C::CompletedAt.eq(run.completed_at))
        .one(db)
        .await?;
    if known.is_none() {
        pending_score::ActiveModel {
            repository_id: Set(ev.repository_id),
            head_sha: Set(run.head_sha.clone()),
            name: Set(run.name.clone()),
            check_run_id: Set(run.check_run_id),
            app_id: Set(run.app_id),
            app_slug: Set(run.app_slug.clone()),
            points: Set(run.points.as_ref().map(|p| p.awarded.clone())),
            points_available: Set(run.points.as_ref().map(|p| p.available.clone())),
            conclusion: Set(run.conclusion.clone()),
            completed_at: Set(run.completed_at),
            delivery_id: Set(Some(delivery.guid.clone())),
            received_at: Set(delivery.received_at),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(ScoreApplied::Ignored(format!(
        "commit {} is no attempt of {} yet: kept as a pending score, applied when its push is recorded",
        short(&run.head_sha),
        ev.repository_full_name
    )))
}

fn pending_run(p: &pending_score::Model) -> CompletedRun {
    CompletedRun {
        check_run_id: p.check_run_id,
        name: p.name.clone(),
        head_sha: p.head_sha.clone(),
        head_branch: None,
        app_id: p.app_id,
        app_slug: p.app_slug.clone(),
        conclusion: p.conclusion.clone(),
        completed_at: p.completed_at,
        points: p
            .points
            .clone()
            .zip(p.points_available.clone())
            .map(|(awarded, available)| crate::domain::score::Points { awarded, available }),
        annotations_count: 0,
    }
}

/// Apply the pending scores of these just-recorded attempts (same repository and head commit, the
/// session's score check), inside their recording transaction: each becomes a score with its entry.
pub async fn apply_pending(
    txn: &impl ConnectionTrait,
    log: &mut Log<'_>,
    attempts: &[&lab_attempt::Model],
) -> Result<Vec<lab_attempt_score::Model>, AuditError> {
    let mut out = Vec::new();
    for chunk in attempts.chunks(CHUNK / 2) {
        let mut any = Condition::any();
        for a in chunk {
            any = any.add(
                pending_score::Column::RepositoryId
                    .eq(a.repository_id)
                    .and(pending_score::Column::HeadSha.eq(&a.after_sha))
                    .into_condition(),
            );
        }
        let pending = pending_score::Entity::find()
            .filter(any)
            .order_by_asc(pending_score::Column::Id)
            .all(txn)
            .await?;
        if pending.is_empty() {
            continue;
        }
        let session_ids: HashSet<i64> = chunk.iter().map(|a| a.session_id).collect();
        let checks: HashMap<i64, String> = lab_session::Entity::find()
            .filter(lab_session::Column::Id.is_in(session_ids))
            .all(txn)
            .await?
            .into_iter()
            .map(|s| (s.id, s.score_check))
            .collect();
        for a in chunk {
            for p in pending.iter().filter(|p| {
                p.repository_id == a.repository_id
                    && p.head_sha == a.after_sha
                    && checks.get(&a.session_id) == Some(&p.name)
            }) {
                let run = pending_run(p);
                let actor = entries::SYSTEM_ACTOR;
                if let Some(s) =
                    record_score(txn, log, a.id, &run, p.delivery_id.as_deref(), actor).await?
                {
                    out.push(s);
                }
            }
        }
    }
    Ok(out)
}

/// Record runs read from GitHub (`scores sync`, the catch-up) as the score of `attempt`, each with its
/// entry (actor `actor`), skipping completions recorded before; the new scores.
pub async fn record_runs(
    db: &impl TransactionTrait,
    origin: &str,
    actor: &str,
    attempt_id: i64,
    runs: &[CompletedRun],
) -> Result<Vec<lab_attempt_score::Model>, ScoreError> {
    audit::write(db, origin, async |txn, log| {
        let mut out = Vec::new();
        for run in runs {
            out.extend(record_score(txn, log, attempt_id, run, None, actor).await?);
        }
        if out.is_empty() {
            log.roll_back();
        }
        Ok(out)
    })
    .await
}

/// The pending scores kept for this repository's commit, as runs.
pub async fn pending_for(
    db: &impl ConnectionTrait,
    repository_id: i64,
    sha: &str,
    name: &str,
) -> Result<Vec<CompletedRun>, DbErr> {
    use pending_score::Column as C;
    Ok(pending_score::Entity::find()
        .filter(C::RepositoryId.eq(repository_id))
        .filter(C::HeadSha.eq(sha))
        .filter(C::Name.eq(name))
        .order_by_asc(C::Id)
        .all(db)
        .await?
        .iter()
        .map(pending_run)
        .collect())
}

/// Every score of these attempts, oldest first (by completion, then check run id).
pub async fn of_attempts(
    db: &impl ConnectionTrait,
    attempt_ids: &[i64],
) -> Result<HashMap<i64, Vec<lab_attempt_score::Model>>, DbErr> {
    let mut by_attempt: HashMap<i64, Vec<lab_attempt_score::Model>> = HashMap::new();
    for chunk in attempt_ids.chunks(CHUNK) {
        let rows = lab_attempt_score::Entity::find()
            .filter(lab_attempt_score::Column::AttemptId.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        for r in rows {
            by_attempt.entry(r.attempt_id).or_default().push(r);
        }
    }
    for scores in by_attempt.values_mut() {
        scores.sort_by_key(|s| score_order(s.completed_at, s.check_run_id));
    }
    Ok(by_attempt)
}

/// The score that counts of each of these attempts: the newest ([`score_order`]).
pub async fn latest_of(
    db: &impl ConnectionTrait,
    attempt_ids: &[i64],
) -> Result<HashMap<i64, lab_attempt_score::Model>, DbErr> {
    Ok(of_attempts(db, attempt_ids)
        .await?
        .into_iter()
        .filter_map(|(id, mut scores)| Some((id, scores.pop()?)))
        .collect())
}

/// A score's completion time and points as shown: `7/10`, or the conclusion alone.
pub fn describe(s: &lab_attempt_score::Model) -> String {
    match (&s.points, &s.points_available) {
        (Some(p), Some(a)) => format!("{p}/{a}"),
        _ => s.conclusion.clone().unwrap_or_default(),
    }
}

/// The final attempts (the summary's) of `session` that have no score yet: what `scores sync` asks
/// GitHub about.
pub async fn unscored_finals(
    db: &impl ConnectionTrait,
    session: &lab_session::Model,
) -> Result<Vec<lab_attempt::Model>, DbErr> {
    let finals: Vec<i64> = crate::db::summary::summarize(db, session)
        .await?
        .iter()
        .filter_map(|r| r.fold.final_attempt.as_ref().map(|f| f.id))
        .collect();
    let scored = of_attempts(db, &finals).await?;
    let unscored: Vec<i64> = finals
        .into_iter()
        .filter(|id| !scored.contains_key(id))
        .collect();
    let mut out = Vec::with_capacity(unscored.len());
    for chunk in unscored.chunks(CHUNK) {
        out.extend(
            lab_attempt::Entity::find()
                .filter(lab_attempt::Column::Id.is_in(chunk.iter().copied()))
                .order_by_asc(lab_attempt::Column::Id)
                .all(db)
                .await?,
        );
    }
    Ok(out)
}
