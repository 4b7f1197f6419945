//! Pure decision logic, no I/O: changed-file folding, session matching, the retry schedule, roster files
//! the per-student summary and
//! autograding points.

pub mod backoff;
pub mod files;
pub mod roster;
pub mod score;
pub mod session;
pub mod suggest;
pub mod summary;
