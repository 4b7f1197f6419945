//! Pure decision logic, no I/O: changed-file folding, session matching, the retry schedule.

pub mod backoff;
pub mod files;
pub mod session;
