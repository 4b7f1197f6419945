//! Later completion of the file lists GitHub could not give when their attempts were recorded (down for
//! all the delivery's tries, or the installation suspended).

use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseConnection;

use super::check_runs;
use crate::db::{attempts, deliveries, installations};
use crate::domain::backoff::Backoff;
use crate::github::files::enrich;
use crate::github::GithubApp;
use crate::webhook::event::Push;

/// Tries before completing a file list is given up (waits double from `base`, at most a day apart).
const COMPLETE_MAX_TRIES: i32 = 12;

/// Complete the file lists of attempts recorded while GitHub could not be asked (down for all the
/// delivery's tries, or the installation suspended): a batch per call; returns how many were completed.
pub async fn complete_later(
    app: &GithubApp,
    db: &DatabaseConnection,
    origin: &str,
    base: Duration,
) -> Result<usize, sea_orm::DbErr> {
    let mut completed = 0;
    for attempt in attempts::files_due(db, Utc::now(), 20).await? {
        // Hold it (another instance sweeping skips it) while GitHub is asked.
        let hold = Utc::now() + chrono::Duration::minutes(10).max(base_delay(base, 0));
        if !attempts::reschedule_files(db, &attempt, Some(hold), attempt.files_tries).await? {
            continue;
        }
        let held = entity::lab_attempt::Model {
            files_retry_at: Some(hold),
            ..attempt
        };
        let tries = held.files_tries + 1;
        let later = Some(Utc::now() + base_delay(base, tries));
        if !installations::is_active(db, held.installation_id).await? {
            attempts::reschedule_files(db, &held, later, held.files_tries).await?;
            continue;
        }
        let push = deliveries::payload_of(db, &held.delivery_id)
            .await?
            .and_then(|bytes| Push::parse(&bytes).ok());
        let Some(push) = push else {
            // Nothing left to ask GitHub about.
            attempts::reschedule_files(db, &held, None, tries).await?;
            continue;
        };
        match enrich(app, &push).await {
            Ok(e) => {
                match attempts::complete_files(db, origin, held.id, &e.files, e.complete).await {
                    Ok(Some(_)) => {
                        completed += 1;
                        if let Err(err) = check_runs::refresh(app, db, held.id).await {
                            tracing::warn!(attempt_id = held.id, error = %err, "check run not updated");
                        }
                    }
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(attempt_id = held.id, error = %err, "cannot store the completed file list")
                    }
                }
            }
            Err(e)
                if (e.is_transient() || e.not_before().is_some()) && tries < COMPLETE_MAX_TRIES =>
            {
                tracing::info!(attempt_id = held.id, error = %e, "file list still incomplete; later");
                attempts::reschedule_files(db, &held, later, tries).await?;
            }
            Err(e) => {
                tracing::warn!(attempt_id = held.id, error = %e, "file list stays incomplete");
                attempts::reschedule_files(db, &held, None, tries).await?;
            }
        }
    }
    Ok(completed)
}

/// `base` doubled `tries` times, at most a day.
fn base_delay(base: Duration, tries: i32) -> chrono::Duration {
    let day = Duration::from_secs(86_400);
    let delay = Backoff::new(base, day).full(u32::try_from(tries).unwrap_or(0));
    chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_base_up_to_a_day() {
        let base = Duration::from_secs(600);
        let mins: Vec<i64> = [0, 1, 2, 7, 8, 12, -1]
            .into_iter()
            .map(|t| base_delay(base, t).num_minutes())
            .collect();
        assert_eq!(mins, [10, 20, 40, 1280, 1440, 1440, 10]);
    }
}
