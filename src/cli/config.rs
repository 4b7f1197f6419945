//! Command-line and environment configuration (every setting is a flag with an `env =` fallback).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

use crate::http::edge::EdgeLimits;

/// The embedded default: a SQLite file in the working directory, created when missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://labtrail.db?mode=rwc";

/// Parse a secret flag or variable straight into a [`SecretString`], so that no `Debug` of the
/// arguments can print it.
fn secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s))
}

/// labtrail: records every push to a student's lab repository in a tamper-evident log.
#[derive(Debug, Parser)]
#[command(name = "labtrail", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command shares: listed under their own heading in every `--help`, after the command's
/// own flags.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Database: a SQLite URL (embedded default) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true, hide_env_values = true)]
    pub database_url: String,
    /// Base URL GitHub and browsers reach (manifest, links); its host is the default audit origin.
    #[arg(
        long,
        env = "LABTRAIL_PUBLIC_URL",
        default_value = "http://localhost:3000",
        global = true
    )]
    pub public_url: url::Url,
    /// The audit log's name in checkpoints and in the genesis hash (default: host of the public URL).
    #[arg(long, env = "LABTRAIL_AUDIT_ORIGIN", global = true)]
    pub audit_origin: Option<String>,
    /// The Ed25519 key that signs audit checkpoints (created, mode 0600, when the server starts without it).
    #[arg(
        long,
        env = "LABTRAIL_AUDIT_KEY_PATH",
        default_value = "labtrail-audit.key",
        global = true
    )]
    pub audit_key_path: PathBuf,
    /// Append-only file outside the database that receives every signed checkpoint.
    #[arg(
        long,
        env = "LABTRAIL_CHECKPOINT_FILE",
        default_value = "labtrail-checkpoints.log",
        global = true
    )]
    pub checkpoint_file: PathBuf,
    /// A file naming the witnesses asked to cosign each checkpoint, one `witness <verifier key> <URL>`
    /// a line (c2sp.org/tlog-witness); `serve` submits to them, `doctor` checks they cosign.
    #[arg(long, env = "LABTRAIL_WITNESSES", global = true)]
    pub witnesses: Option<PathBuf>,
    /// Log output: `pretty` or `json`; the level comes from `RUST_LOG`.
    #[arg(
        long,
        env = "LABTRAIL_LOG_FORMAT",
        default_value = "pretty",
        global = true
    )]
    pub log_format: LogFormat,
}

impl GlobalArgs {
    /// The audit origin in force: the explicit one, else the public URL's host.
    pub fn origin(&self) -> String {
        self.audit_origin
            .clone()
            .filter(|o| !o.trim().is_empty())
            .unwrap_or_else(|| self.public_url.host_str().unwrap_or("localhost").to_owned())
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The subcommands of docs/design.md §7.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server and the delivery workers (applies pending migrations first).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations.
    Migrate,
    /// Manage lab sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Read recorded attempts.
    #[command(subcommand)]
    Attempts(AttemptsCommand),
    /// The class roster (GitHub Classroom's roster export).
    #[command(subcommand)]
    Roster(RosterCommand),
    /// Grades in GitHub Classroom's shape.
    #[command(subcommand)]
    Grades(GradesCommand),
    /// Points from autograding: catch up on score check runs GitHub holds.
    #[command(subcommand)]
    Scores(ScoresCommand),
    /// Sign a payload file and send it like a real GitHub delivery.
    Deliver(DeliverArgs),
    /// Received webhook deliveries and their processing state.
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// Ask GitHub to redeliver the App's deliveries that never reached labtrail (needs App credentials).
    Redeliver(RedeliverArgs),
    /// Audit log tools.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Read-API bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Data retention.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Run labtrail as a witness of other logs (c2sp.org/tlog-witness).
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// Check the installation, read-only: database, audit key and checkpoints, secrets, and the App as
    /// GitHub sees it. One line per check, ✓ or ✗ with the fix; exit 0 healthy, 1 problems found.
    Doctor(DoctorArgs),
    /// Rebuild the kept per-student state (the summary's rows) from the attempts, roster, deadlines and
    /// scores: every session, or one.
    Reindex {
        /// Only this session (slug).
        #[arg(long)]
        session: Option<String>,
        /// The session's organisation, when several use the slug.
        #[arg(long)]
        org: Option<String>,
    },
}

/// `labtrail witness …`.
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Create a witness (cosigner) key: FILE (mode 0600) and FILE.pub; prints the verifier key (type 0x04).
    Keygen {
        /// The witness's name (a schema-less URL such as `witness.example.edu/labtrail`).
        #[arg(long)]
        name: String,
        /// The private key file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve `POST /add-checkpoint` for the logs of --logs; the state (the newest size and root cosigned
    /// per log) is kept in --database-url (table `witness_log`).
    Serve {
        /// Listen address.
        #[arg(long, env = "LABTRAIL_WITNESS_BIND", default_value = "127.0.0.1:3030")]
        bind: SocketAddr,
        /// The witness's private key (from `witness keygen`).
        #[arg(long, env = "LABTRAIL_WITNESS_KEY")]
        key: PathBuf,
        /// The witnessed logs, one `log <verifier key>` a line (the key's name is the log's origin).
        #[arg(long, env = "LABTRAIL_WITNESS_LOGS")]
        logs: PathBuf,
    },
}

/// `labtrail doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub github: GithubArgs,
    /// The webhook secret `serve` uses (only whether it is set is checked).
    #[arg(long, env = "GITHUB_WEBHOOK_SECRET", hide_env_values = true, value_parser = secret)]
    pub webhook_secret: Option<SecretString>,
    /// `serve`'s seconds between checkpoints: a checkpoint older than twice this that leaves entries
    /// uncovered is reported.
    #[arg(long, env = "LABTRAIL_CHECKPOINT_INTERVAL", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_interval: u64,
}

/// `labtrail serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen address.
    #[arg(long, env = "LABTRAIL_BIND", default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,
    /// The webhook secret, exactly as GitHub has it (one secret, taken verbatim: commas and spaces are part
    /// of it).
    #[arg(long, env = "GITHUB_WEBHOOK_SECRET", hide_env_values = true, value_parser = secret)]
    pub webhook_secret: Option<SecretString>,
    /// The previous webhook secret, still accepted while GitHub switches over (rotation, see
    /// docs/security.md); verbatim like the current one.
    #[arg(long, env = "GITHUB_WEBHOOK_SECRET_PREVIOUS", hide_env_values = true, value_parser = secret)]
    pub webhook_secret_previous: Option<SecretString>,
    #[command(flatten)]
    pub github: GithubArgs,
    /// GitHub web URL (where the manifest form posts).
    #[arg(long, env = "GITHUB_WEB_URL", default_value = "https://github.com")]
    pub github_web_url: url::Url,
    /// Concurrent delivery-processing tasks in this instance.
    #[arg(long, env = "LABTRAIL_WORKERS", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,
    /// Deliveries a worker claims and records in one transaction (group commit).
    #[arg(long, env = "LABTRAIL_WORKER_BATCH", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub worker_batch: u32,
    /// Seconds between audit checkpoints (one is written only when the log grew).
    #[arg(long, env = "LABTRAIL_CHECKPOINT_INTERVAL", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_interval: u64,
    /// Seconds between catch-up runs that ask GitHub for failed deliveries and request their redelivery
    /// (with App credentials); 0 turns them off.
    #[arg(long, env = "LABTRAIL_REDELIVER_INTERVAL", default_value_t = 600)]
    pub redeliver_interval: u64,
    /// Serve the C2SP tlog-tiles API under /log/ to anyone (default: auditor or admin tokens only).
    #[arg(long, env = "LABTRAIL_PUBLIC_LOG", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false")]
    pub public_log: bool,
    /// Seconds a kept-alive connection has to send its next request's complete headers.
    #[arg(long, env = "LABTRAIL_HEADER_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_timeout: u64,
    /// Seconds a new connection has to send its first request's complete headers.
    #[arg(long, env = "LABTRAIL_NEW_CONNECTION_HEADER_TIMEOUT", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub new_connection_header_timeout: u64,
    /// Seconds a request's whole body has to arrive after its headers.
    #[arg(long, env = "LABTRAIL_BODY_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub body_timeout: u64,
    /// Seconds a webhook body may take at any pace before it must keep up with the minimum rate.
    #[arg(long, env = "LABTRAIL_BODY_GRACE", default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub body_grace: u64,
    /// KiB per second a webhook body must average after the grace period, or it is dropped.
    #[arg(long, env = "LABTRAIL_MIN_BODY_RATE", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub min_body_rate: u32,
    /// Open connections at most; when full, the slowest connection is closed for a new one (or the new
    /// one waits in the listen backlog). `serve` raises the open-file limit to cover it.
    #[arg(long, env = "LABTRAIL_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Open connections from one address at most (behind a reverse proxy: at least the proxy's upstream
    /// connections).
    #[arg(long, env = "LABTRAIL_MAX_CONNECTIONS_PER_PEER", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_peer: u32,
    /// Webhook requests whose body has arrived, handled at once; more are answered 503 with Retry-After.
    #[arg(long, env = "LABTRAIL_MAX_WEBHOOK_CONCURRENCY", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_webhook_concurrency: u32,
    /// Webhook requests from one address in flight at once; beyond, that address's slowest body being
    /// received is dropped for the new one.
    #[arg(long, env = "LABTRAIL_MAX_WEBHOOKS_PER_PEER", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_webhooks_per_peer: u32,
    /// MiB of webhook bodies held in memory at once, counted as they arrive and until stored; at least
    /// 25, GitHub's largest payload. When full, the slowest body is dropped, or 503 with Retry-After.
    #[arg(long, env = "LABTRAIL_MAX_BODY_MEMORY", default_value_t = 256, value_parser = clap::value_parser!(u32).range(25..=65536))]
    pub max_body_memory: u32,
    /// Seconds open requests get to finish at shutdown before they are dropped.
    #[arg(long, env = "LABTRAIL_SHUTDOWN_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub shutdown_timeout: u64,
    /// A bearer token `GET /metrics` requires; unset: /metrics is open.
    #[arg(long, env = "LABTRAIL_METRICS_TOKEN", hide_env_values = true, value_parser = secret)]
    pub metrics_token: Option<SecretString>,
    /// The GitHub App's OAuth client id ("Sign in with GitHub" on the web view; setup writes it).
    #[arg(long, env = "GITHUB_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The GitHub App's OAuth client secret.
    #[arg(long, env = "GITHUB_CLIENT_SECRET", hide_env_values = true, value_parser = secret)]
    pub client_secret: Option<SecretString>,
    /// The secret the web view's signing key (sign-in form CSRF token, GitHub sign-in state cookie) is
    /// derived from; the same on every instance. Unset: derived from GITHUB_CLIENT_SECRET, else from
    /// GITHUB_WEBHOOK_SECRET.
    #[arg(long, env = "LABTRAIL_COOKIE_KEY", hide_env_values = true, value_parser = secret)]
    pub cookie_key: Option<SecretString>,
    /// `org/team-slug`: members of this team may see `org` on the web view, besides its owners.
    #[arg(long, env = "LABTRAIL_INSTRUCTOR_TEAM", value_parser = instructor_team)]
    pub instructor_team: Option<(String, String)>,
}

fn instructor_team(s: &str) -> Result<(String, String), String> {
    crate::web::parse_team(s).ok_or_else(|| "expected org/team-slug".to_owned())
}

/// The GitHub App's credentials and API (`serve`, `redeliver`).
#[derive(Debug, Args)]
pub struct GithubArgs {
    /// The GitHub App's id.
    #[arg(long, env = "GITHUB_APP_ID")]
    pub app_id: Option<u64>,
    /// The App's private key (PEM), inline.
    #[arg(long, env = "GITHUB_PRIVATE_KEY", hide_env_values = true, value_parser = secret)]
    pub private_key: Option<SecretString>,
    /// The App's private key (PEM), as a file.
    #[arg(long, env = "GITHUB_PRIVATE_KEY_PATH")]
    pub private_key_path: Option<PathBuf>,
    /// GitHub REST API base URL (GitHub Enterprise Server, tests).
    #[arg(long, env = "GITHUB_API_URL", default_value = "https://api.github.com")]
    pub github_api_url: url::Url,
}

impl ServeArgs {
    /// The HTTP edge's limits.
    pub fn edge_limits(&self) -> EdgeLimits {
        let secs = Duration::from_secs;
        EdgeLimits {
            header_timeout: secs(self.header_timeout),
            new_connection_header_timeout: secs(self.new_connection_header_timeout),
            body_timeout: secs(self.body_timeout),
            body_grace: secs(self.body_grace),
            min_body_rate: (self.min_body_rate as usize).saturating_mul(1024),
            max_connections: self.max_connections as usize,
            max_connections_per_peer: self.max_connections_per_peer as usize,
            max_webhook_concurrency: self.max_webhook_concurrency as usize,
            max_webhooks_per_peer: self.max_webhooks_per_peer as usize,
            max_body_memory: (self.max_body_memory as usize).saturating_mul(1024 * 1024),
            shutdown_timeout: secs(self.shutdown_timeout),
            metrics_token: self
                .metrics_token
                .clone()
                .filter(|t| !t.expose_secret().is_empty()),
            ..EdgeLimits::default()
        }
    }

    /// The configured webhook secrets, verbatim: the current one, then the previous one (rotation). `None`
    /// without a current secret (setup mode: deliveries answered 503), even when a previous one is set.
    pub fn webhook_secrets(&self) -> Option<Vec<SecretString>> {
        let set = |s: &Option<SecretString>| s.clone().filter(|s| !s.expose_secret().is_empty());
        let current = set(&self.webhook_secret)?;
        Some(
            std::iter::once(current)
                .chain(set(&self.webhook_secret_previous))
                .collect(),
        )
    }
}

/// `labtrail session …`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Create a lab session.
    Create(SessionCreateArgs),
    /// List lab sessions.
    List {
        /// Only this organisation's sessions.
        #[arg(long)]
        org: Option<String>,
        /// Output format.
        #[arg(long, default_value = "table")]
        format: OutputFormat,
    },
    /// Archive a session: it matches no push any more, and retention may erase its attempts later.
    Archive {
        /// Organisation (account) login.
        #[arg(long)]
        org: String,
        /// The session's slug.
        #[arg(long)]
        slug: String,
    },
    /// Change a session's deadline, opening, title or time zone (audited); recorded attempts keep their
    /// recorded lateness, summaries, lists, exports and new check runs follow the new deadline.
    Edit(SessionEditArgs),
    /// Give one student their own deadline in a session (audited); again to move it, `--remove` to take
    /// it back. With a roster, a student neither on it nor among the session's pushers is refused with the
    /// closest name (`did you mean …?`) unless `--force`.
    Extend {
        #[command(flatten)]
        session: SessionRef,
        /// The student: GitHub login or roster identifier (case-insensitive).
        #[arg(long)]
        student: String,
        /// The student's deadline (RFC 3339, or `YYYY-MM-DD HH:MM` in the session's time zone).
        #[arg(long, required_unless_present = "remove", conflicts_with = "remove")]
        closes: Option<String>,
        /// Remove the student's extension: the session's deadline applies again.
        #[arg(long)]
        remove: bool,
        /// Extend a student who is neither on the roster nor has pushed to the session.
        #[arg(long, conflicts_with = "remove")]
        force: bool,
        /// Allow a deadline earlier than the session's.
        #[arg(long, conflicts_with = "remove")]
        shorten: bool,
    },
    /// Print the session's invitation link `LABTRAIL_PUBLIC_URL/join/<code>` (made now; the code is
    /// stored hashed, so it is shown once); `--rotate` replaces an existing one, which stops working.
    Invite {
        #[command(flatten)]
        session: SessionRef,
        /// Replace the existing link.
        #[arg(long)]
        rotate: bool,
    },
    /// Unarchive a session: it matches pushes again (audited).
    Unarchive {
        #[command(flatten)]
        session: SessionRef,
        /// Unarchive even when its rules overlap another active session's.
        #[arg(long)]
        allow_overlap: bool,
    },
}

/// The session a command names: `--slug`, and `--org` when several organisations use the slug.
#[derive(Debug, Args)]
pub struct SessionRef {
    /// The session's slug.
    #[arg(long)]
    pub slug: String,
    /// The session's organisation, when several have a session with this slug.
    #[arg(long)]
    pub org: Option<String>,
}

/// `labtrail session edit`.
#[derive(Debug, Args)]
pub struct SessionEditArgs {
    #[command(flatten)]
    pub session: SessionRef,
    /// The new deadline (RFC 3339, or `YYYY-MM-DD HH:MM` in the session's time zone).
    #[arg(long)]
    pub closes: Option<String>,
    /// The new opening (RFC 3339, or `YYYY-MM-DD HH:MM` in the session's time zone).
    #[arg(long)]
    pub opens: Option<String>,
    /// The new title.
    #[arg(long)]
    pub title: Option<String>,
    /// The new time zone (IANA name, e.g. Europe/Paris).
    #[arg(long)]
    pub timezone: Option<String>,
    /// The name of the check run whose `Points X/Y` is the attempt's score.
    #[arg(long)]
    pub score_check: Option<String>,
    /// Keep the session even when its rules overlap another active session's.
    #[arg(long)]
    pub allow_overlap: bool,
    /// The template repository (`OWNER/REPO`) of the session's invitation.
    #[arg(long)]
    pub template: Option<String>,
    /// Whether `/join/<code>` accepts students.
    #[arg(long)]
    pub invitations: Option<InvitationsState>,
}

/// `labtrail session create`.
#[derive(Debug, Args)]
pub struct SessionCreateArgs {
    /// Organisation (account) login.
    #[arg(long)]
    pub org: String,
    /// Short name, unique within the organisation (`[a-z0-9][a-z0-9._-]*`).
    #[arg(long)]
    pub slug: String,
    /// Human-readable title.
    #[arg(long)]
    pub title: String,
    /// Glob on the repository name (`lab3-*`); an exact name is a pattern too. With `--template`, it
    /// defaults to `PREFIX-*`.
    #[arg(long, required_unless_present = "template")]
    pub repos: Option<String>,
    /// `default` (the repository's default branch), `all` or a glob on the branch name.
    #[arg(long, default_value = "default")]
    pub branches: String,
    /// When the session opens (RFC 3339, or `YYYY-MM-DD HH:MM` in the session's time zone).
    #[arg(long)]
    pub opens: String,
    /// The deadline (RFC 3339, or `YYYY-MM-DD HH:MM` in the session's time zone).
    #[arg(long)]
    pub closes: String,
    /// The time zone local times are shown in (IANA name, e.g. Europe/Paris).
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
    /// The name of the check run whose `Points X/Y` is the attempt's score (GitHub Classroom's
    /// autograding reports under `Autograding Tests`).
    #[arg(long, default_value = "Autograding Tests")]
    pub score_check: String,
    /// Create the session even when its rules overlap another active session's.
    #[arg(long)]
    pub allow_overlap: bool,
    /// The template repository (`OWNER/REPO`) students' repositories are made from when they accept the
    /// session's invitation (`session invite`).
    #[arg(long)]
    pub template: Option<String>,
    /// Students' repositories are named `PREFIX-<login>` (default: the slug).
    #[arg(long, requires = "template")]
    pub repo_prefix: Option<String>,
    /// Make students' repositories private (the default).
    #[arg(long, requires = "template", conflicts_with = "public")]
    pub private: bool,
    /// Make students' repositories public.
    #[arg(long, requires = "template")]
    pub public: bool,
}

/// `open` or `closed` (`session edit --invitations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InvitationsState {
    Open,
    Closed,
}

/// `labtrail attempts …`.
#[derive(Debug, Subcommand)]
pub enum AttemptsCommand {
    /// List attempts, oldest first.
    List {
        /// Only this session (slug).
        #[arg(long)]
        session: Option<String>,
        /// Only this repository (`owner/name` or `name`).
        #[arg(long)]
        repo: Option<String>,
        /// Only this student's repositories in the session: GitHub login or roster identifier.
        #[arg(long, requires = "session")]
        student: Option<String>,
        /// Output format.
        #[arg(long, default_value = "table")]
        format: OutputFormat,
    },
    /// Show one attempt with its files.
    Show {
        /// The attempt id.
        id: i64,
    },
    /// One row per student repository (and per roster student without one): attempts, the final attempt
    /// (the latest pushed by the deadline), late attempts, forced pushes, status.
    Summary {
        /// The session (slug).
        #[arg(long)]
        session: String,
        /// The session's organisation, when several have a session with this slug.
        #[arg(long)]
        org: Option<String>,
        /// Output format.
        #[arg(long, default_value = "table")]
        format: OutputFormat,
    },
}

/// `labtrail roster …`.
#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Import a roster file (`identifier,github_username,github_id,name`; extra columns ignored); known
    /// students are updated in place. Refused, naming both lines, when an identifier, a login or a GitHub id
    /// appears twice, or when a login or id is already linked to another identifier that stays.
    Import {
        /// Organisation (account) login.
        #[arg(long)]
        org: String,
        /// The roster CSV (UTF-8, with or without a byte-order mark).
        file: PathBuf,
        /// Make the roster equal to the file: students absent from it are removed. The diff is printed
        /// first.
        #[arg(long)]
        replace: bool,
        /// Print the diff (added, updated, removed) and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove students from an organisation's roster, by identifier (audited); all or none.
    Remove {
        /// Organisation (account) login.
        #[arg(long)]
        org: String,
        /// The roster identifiers to remove.
        #[arg(required = true)]
        identifiers: Vec<String>,
    },
    /// Link a roster entry to a GitHub login (audited `roster.linked`), for a student who never
    /// accepts an invitation.
    Link {
        /// Organisation (account) login.
        #[arg(long)]
        org: String,
        /// The roster identifier.
        identifier: String,
        /// The student's GitHub login.
        login: String,
    },
    /// Remove a roster entry's link to a GitHub account (audited `roster.unlinked`); the student may pick
    /// an entry again.
    Unlink {
        /// Organisation (account) login.
        #[arg(long)]
        org: String,
        /// The roster identifier.
        identifier: String,
    },
    /// List an organisation's roster, by identifier.
    List {
        /// Organisation (account) login.
        #[arg(long)]
        org: String,
        /// Output format.
        #[arg(long, default_value = "table")]
        format: OutputFormat,
    },
}

/// `labtrail grades …`.
#[derive(Debug, Subcommand)]
pub enum GradesCommand {
    /// Write a session's grades CSV with GitHub Classroom's "Download grades" columns (points from the
    /// final attempt's score).
    Export {
        /// The session (slug).
        #[arg(long)]
        session: String,
        /// The session's organisation, when several have a session with this slug.
        #[arg(long)]
        org: Option<String>,
        /// Write to this file (created mode 0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// GitHub web URL of the repository links.
        #[arg(long, env = "GITHUB_WEB_URL", default_value = "https://github.com")]
        github_web_url: url::Url,
    },
    /// Write a gradebook across an organisation's sessions: one row per student, points and status per
    /// session.
    Book {
        /// The organisation (account login).
        #[arg(long)]
        org: String,
        /// Only these sessions (slugs, comma-separated), in session order; default all of the org's.
        #[arg(long, value_delimiter = ',')]
        sessions: Vec<String>,
        /// Write to this file (created mode 0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `labtrail scores …`.
#[derive(Debug, Subcommand)]
pub enum ScoresCommand {
    /// Score the final attempts without a score from GitHub's check runs (`GET …/commits/{sha}/check-runs`).
    Sync {
        /// Only this session (slug); default every unarchived session.
        #[arg(long)]
        session: Option<String>,
        /// The session's organisation, when several have a session with this slug.
        #[arg(long)]
        org: Option<String>,
        /// Most GitHub calls in this run; the rest wait for the next run.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
        #[command(flatten)]
        github: GithubArgs,
    },
}

/// Output format of list commands.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

/// `labtrail deliver`.
#[derive(Debug, Args)]
pub struct DeliverArgs {
    /// The JSON payload file.
    pub file: PathBuf,
    /// The event name (`push`, `ping`, …).
    #[arg(long)]
    pub event: String,
    /// Webhook URL (default: `<public URL>/webhooks/github`).
    #[arg(long)]
    pub url: Option<url::Url>,
    /// Secret to sign with, verbatim (default: `GITHUB_WEBHOOK_SECRET`).
    #[arg(long, env = "GITHUB_WEBHOOK_SECRET", hide_env_values = true, value_parser = secret)]
    pub secret: Option<SecretString>,
    /// Delivery GUID (default: a fresh random one).
    #[arg(long)]
    pub delivery_id: Option<String>,
    /// Wait for the outcome (reads the database of DATABASE_URL) and print it: `attempt #N recorded (on
    /// time)`, `attempt #N recorded (late by …)`, `ignored: <reason>` or the error (exit 1).
    #[arg(long)]
    pub wait: bool,
    /// Seconds --wait waits at most (exit 1 after).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

/// `labtrail deliveries …`.
#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// Received deliveries, newest first: status, reason, tries, next try.
    List {
        /// Only this status (queued, processing, processed, ignored, retrying, dead, rejected).
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// Output format.
        #[arg(long, default_value = "table")]
        format: OutputFormat,
    },
    /// One delivery as JSON, with the attempt it recorded.
    Show {
        /// The delivery GUID (`X-GitHub-Delivery`).
        guid: String,
    },
}

/// `labtrail redeliver`.
#[derive(Debug, Args)]
pub struct RedeliverArgs {
    #[command(flatten)]
    pub github: GithubArgs,
    /// How far back to look: a whole number with m, h or d (at most 72h: GitHub keeps deliveries 3 days).
    #[arg(long, default_value = "72h")]
    pub since: String,
    /// Say what would be requested, request nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Most redelivery requests in this run; the rest wait for the next run.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..))]
    pub limit: u16,
}

/// `labtrail audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the chain, checkpoints and archives; exit 0 intact, 1 tampered (first bad seq), 2 cannot verify.
    Verify(VerifyArgs),
    /// Print the latest signed checkpoint (with --write, sign one first if the log grew).
    Checkpoint {
        /// Sign and store a checkpoint of the current head now, if the log grew since the last one.
        #[arg(long)]
        write: bool,
    },
    /// Print audit entries as JSON lines, oldest first.
    Export {
        /// Only entries with a greater seq.
        #[arg(long)]
        after_seq: Option<i64>,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Move entries below SEQ to an archive segment in DIR, then delete them from the database.
    Archive {
        /// First seq to keep in the database.
        #[arg(long)]
        upto: i64,
        /// Directory of archive segments (created when missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Create the checkpoint-signing key at LABTRAIL_AUDIT_KEY_PATH (mode 0600) and print its public key.
    Keygen,
    /// Write the inclusion proof of an attempt's recorded entry against the newest signed checkpoint
    /// (the JSON of `GET /api/v1/attempts/{id}/proof`).
    Prove {
        /// The attempt's id.
        #[arg(long)]
        attempt: i64,
        /// Write the proof to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a proof file offline, without the database: exit 0 valid, 1 invalid, 2 unusable input.
    CheckProof {
        /// The proof (JSON, as written by `audit prove`).
        file: PathBuf,
        /// The log's public key: a file holding it (`<key path>.pub`) or the key itself,
        /// `<origin>+<id>+<base64>`.
        #[arg(long)]
        public_key: String,
        /// A witness's verifier key (type 0x04), or a file holding it; repeat for several.
        #[arg(long)]
        witness: Vec<String>,
        /// Valid cosignatures required among --witness (default: all of them).
        #[arg(long, requires = "witness")]
        quorum: Option<usize>,
    },
    /// Print the log's public (verifier) key in note format, `<origin>+<id>+<base64>`.
    PublicKey,
}

/// `labtrail audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Signed checkpoints kept outside the database (default: LABTRAIL_CHECKPOINT_FILE when it exists).
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// The log's public key, `<name>+<id>+<key>` (default: derived from LABTRAIL_AUDIT_KEY_PATH).
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// Directory of archive segments to verify the archived part of the history.
    #[arg(long)]
    pub archive: Option<PathBuf>,
    /// A witness's verifier key (type 0x04), or a file holding it; repeat for several. The newest
    /// checkpoint, which anchors the verdict, must then carry --quorum valid cosignatures.
    #[arg(long)]
    pub witness: Vec<String>,
    /// Valid cosignatures required among --witness (default: all of them).
    #[arg(long, requires = "witness")]
    pub quorum: Option<usize>,
}

/// `labtrail token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once, alone on the last line.
    Create {
        /// A unique name (appears as `token:<name>` in the audit log).
        #[arg(long)]
        name: String,
        /// What the token may read.
        #[arg(long)]
        role: TokenRole,
        /// Limit the token to one organisation's sessions and attempts (required for instructors).
        #[arg(long)]
        org: Option<String>,
    },
    /// List tokens (never the tokens themselves).
    List {
        /// Output format.
        #[arg(long, default_value = "table")]
        format: OutputFormat,
    },
    /// Revoke a token by name.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// Roles of read-API tokens.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum TokenRole {
    /// Everything.
    Admin,
    /// Sessions and attempts of one organisation.
    Instructor,
    /// The audit log and checkpoints, sessions and attempts.
    Auditor,
}

/// `labtrail retention …`.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Apply the retention policies (see docs/retention.md).
    Run(RetentionArgs),
}

/// Retention policies.
#[derive(Debug, Args)]
pub struct RetentionArgs {
    /// Say what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Drop the raw payload bytes (keeping their SHA-256) of deliveries processed or ignored this many
    /// days ago.
    #[arg(long, env = "LABTRAIL_RETENTION_PAYLOAD_DAYS", default_value_t = 30)]
    pub payload_days: u32,
    /// Erase the attempts of sessions archived this many days ago (their audit entries stay).
    #[arg(long, env = "LABTRAIL_RETENTION_ATTEMPT_DAYS", default_value_t = 365)]
    pub attempt_days: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(["labtrail", "serve"].iter().chain(args))
            .unwrap_or_else(|e| panic!("{e}"));
        match cli.command {
            Command::Serve(a) => *a,
            other => panic!("not serve: {other:?}"),
        }
    }

    fn exposed(secrets: Option<Vec<SecretString>>) -> Option<Vec<String>> {
        secrets.map(|v| v.iter().map(|s| s.expose_secret().to_owned()).collect())
    }

    #[test]
    fn the_webhook_secret_is_one_secret_verbatim() {
        let a = serve_args(&["--webhook-secret", " a,b , c "]);
        assert_eq!(
            exposed(a.webhook_secrets()),
            Some(vec![" a,b , c ".to_owned()])
        );
    }

    #[test]
    fn the_previous_secret_is_accepted_after_the_current_one() {
        let a = serve_args(&[
            "--webhook-secret",
            "new,one",
            "--webhook-secret-previous",
            "old,one",
        ]);
        assert_eq!(
            exposed(a.webhook_secrets()),
            Some(vec!["new,one".to_owned(), "old,one".to_owned()])
        );
    }

    #[test]
    fn no_current_secret_is_setup_mode_even_with_a_previous_one() {
        let a = serve_args(&["--webhook-secret", "", "--webhook-secret-previous", "old"]);
        assert_eq!(exposed(a.webhook_secrets()), None);
    }
}
