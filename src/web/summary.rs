//! The session page's statuses: their labels, filter and sort order. The rows are `db::summary`'s
//! per-student summaries (roster, matching, final attempt, status: decided there, never here).

pub use crate::domain::summary::Status;

/// What a status badge says.
pub fn label(status: Status) -> &'static str {
    match status {
        Status::OnTime => "On time",
        Status::LateOnly => "Late only",
        Status::Missing => "Missing",
    }
}

/// A status from its name (`?status=late_only`).
pub fn parse(s: &str) -> Option<Status> {
    ALL.into_iter().find(|st| st.as_str() == s)
}

/// Every status, in the order of the filter and of sorting by status (`db::student_state`'s order).
pub const ALL: [Status; 3] = [Status::OnTime, Status::LateOnly, Status::Missing];
