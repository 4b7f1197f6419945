//! Webhook input: signature checks, the axum extractor, and typed event parsing.

pub mod event;
pub mod extract;
pub mod signature;
