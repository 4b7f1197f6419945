//! The `labtrail` binary: parse the command line, start tracing, run the command, map to an exit code.

use std::process::ExitCode;

use labtrail::cli::config::{AuditCommand, Cli, Command};

/// mimalloc: `audit verify` and the workers allocate and free a row's worth of small values at a time,
/// where glibc's allocator spent a quarter of `audit verify`'s time (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal; a broken one is worth saying.
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("warning: cannot read .env: {e}");
        }
    }
    let cli: Cli = labtrail::cli::help::parse();
    labtrail::cli::telemetry::init(cli.global.log_format);
    // `audit verify` promises exit 2 whenever it cannot verify.
    let failure = if matches!(cli.command, Command::Audit(AuditCommand::Verify(_))) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    };
    match labtrail::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", labtrail::error::Chain(e.as_ref()));
            // A database or a session that does not exist is a configuration error, like a bad flag.
            let unknown_session = matches!(
                e.downcast_ref::<labtrail::db::sessions::SessionError>(),
                Some(
                    labtrail::db::sessions::SessionError::NoSlug(_)
                        | labtrail::db::sessions::SessionError::NotFound { .. }
                )
            );
            if unknown_session || e.downcast_ref::<labtrail::cli::MissingDatabase>().is_some() {
                ExitCode::from(2)
            } else {
                failure
            }
        }
    }
}
