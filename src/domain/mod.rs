//! Pure decision logic, no I/O: changed-file folding and session matching.

pub mod files;
pub mod session;
