//! The `labtrail` binary: parse the command line, start tracing, run the command, map to an exit code.

use std::process::ExitCode;

use labtrail::cli::config::{AuditCommand, Cli, Command};

/// mimalloc: `audit verify` and the workers allocate and free a row's worth of small values at a time,
/// where glibc's allocator spent a quarter of `audit verify`'s time (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (libmimalloc-sys 0.1.49 binds no name for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed memory to the system at once: mimalloc (v3 as built here) keeps freed pages for 1 s by
/// default and reuses them meanwhile, so a dropped webhook body's touched pages became resident again
/// inside the next body's buffer and 20 large deliveries peaked about 100 MB higher (docs/security.md,
/// "Memory beyond the budget"). `MIMALLOC_PURGE_DELAY` in the environment still overrides this.
fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: a plain call into the allocator's option table, allowed at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

#[tokio::main]
async fn main() -> ExitCode {
    purge_freed_memory_at_once();
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
