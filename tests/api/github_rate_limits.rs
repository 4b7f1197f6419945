//! GitHub's rate limits end to end: labtrail waits as the fake's primary-limit 403 (`x-ratelimit-*`
//! headers) and secondary-limit 403 (`retry-after`, the secondary-limit message) ask, then completes
//! the push — inside the call, not as a delivery retry.

use crate::backend_tests;
use crate::fake_github::{secondary_rate_limited, Route};
use crate::github_files::{
    app_with_small_push, deliver, rate_limited_calls, recorded, INSTALLATION,
};
use crate::helpers::TestDb;

backend_tests!(
    primary_limit_waits_for_the_reset,
    secondary_limit_403_waits_retry_after,
);

async fn primary_limit_waits_for_the_reset(db: TestDb) {
    let (app, fake, _repo, payload, expected) = app_with_small_push(&db).await;
    // The installation's hour is used up; it resets in a second.
    fake.exhaust_rate_limit(INSTALLATION, chrono::Duration::seconds(1));

    let d = deliver(&app, "primary-1", &payload).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    assert_eq!(d.attempts, 1, "waited inside the call");
    let (files, source, complete) = recorded(&app).await;
    assert_eq!(files, expected);
    assert_eq!((source.as_str(), complete), ("api", true));
    let seen = fake.seen();
    let limited: Vec<_> = seen.iter().filter(|s| s.status == 403).collect();
    assert!(!limited.is_empty(), "{seen:?}");
    // The call refused was made again after the reset and answered.
    let refused = limited[0];
    assert!(
        seen.iter()
            .any(|s| s.path == refused.path && s.query == refused.query && s.status == 200),
        "{seen:?}"
    );
    assert!(rate_limited_calls(&app).await.is_some_and(|n| n >= 1));
}

async fn secondary_limit_403_waits_retry_after(db: TestDb) {
    let (app, fake, _repo, payload, expected) = app_with_small_push(&db).await;
    fake.fail_next(Route::Commit, 1, secondary_rate_limited(1));

    let d = deliver(&app, "secondary-1", &payload).await;
    assert_eq!(d.status, "processed", "{:?}", d.last_error);
    assert_eq!(d.attempts, 1, "waited inside the call");
    assert_eq!(recorded(&app).await.0, expected);
    assert_eq!(fake.count(Route::Commit), 2);
    assert_eq!(rate_limited_calls(&app).await, Some(1));
}
