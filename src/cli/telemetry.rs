//! Tracing initialisation: one subscriber, pretty or JSON, level from `RUST_LOG`.

use tracing_subscriber::{fmt, EnvFilter};

use crate::cli::config::LogFormat;

/// Install the global subscriber (logs go to standard error, keeping standard output for command results).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    // A log line that cannot be written (standard error closed by whoever read it) is dropped: with
    // `log_internal_errors` on, tracing-subscriber would `eprintln!` about it, which panics on the same
    // closed pipe and ended `serve` with exit 101.
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
