//! The App webhook's deliveries as GitHub recorded them: list them (newest first, cursor pages) and ask
//! for a redelivery. Both calls authenticate as the App (JWT), not as an installation.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{GithubApp, GithubError};

/// Deliveries per page (GitHub's maximum).
const PER_PAGE: u32 = 100;

/// One delivery attempt as `GET /app/hook/deliveries` lists it. A redelivery is another entry with the
/// same `guid` (the `X-GitHub-Delivery` header) and `redelivery: true`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookDelivery {
    /// This attempt's id: what a redelivery request names.
    pub id: i64,
    /// The event's GUID, shared by all attempts to deliver it.
    pub guid: String,
    pub delivered_at: DateTime<Utc>,
    pub redelivery: bool,
    /// GitHub's description of the answer (`OK`, `failed to connect`, …).
    pub status: String,
    /// The HTTP status our endpoint answered; 0 when there was no answer.
    pub status_code: i64,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub repository_id: Option<i64>,
}

impl HookDelivery {
    /// Our endpoint answered 2xx: the delivery is on our disk (docs/design.md §3).
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}

/// The deliveries of a time window.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Deliveries at or after the cutoff, newest first.
    pub deliveries: Vec<HookDelivery>,
    /// Pages read.
    pub pages: usize,
    /// `false` when the page limit stopped the listing before the cutoff was reached.
    pub complete: bool,
}

/// The deliveries made at or after `since`, reading at most `max_pages` pages. GitHub lists newest first,
/// so the listing stops at the first page that reaches back past `since`.
#[tracing::instrument(skip(app))]
pub async fn list_since(
    app: &GithubApp,
    since: DateTime<Utc>,
    max_pages: usize,
) -> Result<Listing, GithubError> {
    let mut listing = Listing::default();
    let mut next = Some(format!("/app/hook/deliveries?per_page={PER_PAGE}"));
    while let Some(path) = next.take() {
        if listing.pages >= max_pages {
            return Ok(listing);
        }
        let response = app.app_get(&path).await?;
        let page: Vec<HookDelivery> = response.json(&path)?;
        listing.pages += 1;
        let reached_cutoff = page.iter().any(|d| d.delivered_at < since);
        listing
            .deliveries
            .extend(page.into_iter().filter(|d| d.delivered_at >= since));
        if !reached_cutoff {
            next = app.next_page(&response)?;
        }
    }
    listing.complete = true;
    Ok(listing)
}

/// `POST /app/hook/deliveries/{id}/attempts`: GitHub accepts (202) and delivers again later, with the
/// same GUID.
#[tracing::instrument(skip(app))]
pub async fn request_redelivery(app: &GithubApp, delivery_id: i64) -> Result<(), GithubError> {
    let path = format!("/app/hook/deliveries/{delivery_id}/attempts");
    // Repeating the request is harmless: a second redelivery carries the same GUID, which intake
    // stores once.
    app.app_post(&path, &serde_json::json!({}), true).await?;
    Ok(())
}
