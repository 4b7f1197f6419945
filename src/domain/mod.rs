//! Pure decision logic, no I/O: changed-file folding, session matching, the retry schedule, roster files
//! and the per-student summary.

pub mod backoff;
pub mod files;
pub mod roster;
pub mod session;
pub mod suggest;
pub mod summary;
