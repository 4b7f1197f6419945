//! Webhook input: signature checks and typed event parsing (the axum extractor is `http::extract`).

pub mod check_run;
pub mod event;
pub mod signature;
