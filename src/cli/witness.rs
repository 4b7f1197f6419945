//! `labtrail witness keygen|serve`: labtrail as a witness of other logs (c2sp.org/tlog-witness).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::audit::witness::{parse_logs, read_list, CosignerKey};
use crate::cli::config::GlobalArgs;
use crate::db;
use crate::witness::{self, WitnessState};

/// `<key>.pub` next to a key file.
fn pub_path(key: &Path) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

/// `witness keygen`: the private key (0600), `<out>.pub` (0644), the verifier key on standard output.
pub(super) fn keygen(name: &str, out: &Path) -> anyhow::Result<ExitCode> {
    let key = CosignerKey::create(out, name)
        .with_context(|| format!("Cannot create the witness key {}", out.display()))?;
    let vkey = key.verifier().to_vkey();
    let public = pub_path(out);
    std::fs::write(&public, format!("{vkey}\n"))
        .with_context(|| format!("Cannot write {}", public.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("Cannot set the mode of {}", public.display()))?;
    }
    eprintln!(
        "created {} (mode 0600; keep it secret) and {}",
        out.display(),
        public.display()
    );
    println!("{vkey}");
    Ok(ExitCode::SUCCESS)
}

/// `witness serve`: until interrupted.
pub(super) async fn serve(
    g: &GlobalArgs,
    bind: SocketAddr,
    key: &Path,
    logs: &Path,
) -> anyhow::Result<ExitCode> {
    let key = CosignerKey::load(key)
        .with_context(|| format!("Cannot load the witness key {}", key.display()))?;
    let logs = read_list(logs, parse_logs)
        .with_context(|| format!("Cannot read the logs file {}", logs.display()))?;
    let db = db::connect(&g.database_url)
        .await
        .context("Cannot open the witness database (check --database-url)")?;
    db::migrate(&db)
        .await
        .context("Cannot migrate the witness database")?;
    let (listener, addr) = witness::bind(bind)
        .await
        .with_context(|| format!("Cannot listen on {bind}"))?;
    eprintln!(
        "witness {} for {} logs ({})",
        key.verifier().to_vkey(),
        logs.len(),
        logs.iter()
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("labtrail witness listening on http://{addr}");
    let state = WitnessState::new(key, logs, db);
    witness::run(listener, state, super::serve::shutdown_signal())
        .await
        .context("The witness server failed")?;
    Ok(ExitCode::SUCCESS)
}
