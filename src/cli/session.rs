//! `labtrail session create|list|archive|edit|extend|unarchive`.

use std::process::ExitCode;

use anyhow::{anyhow, Context};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use entity::lab_session;

use super::{cli_actor, open, print_rows};
use crate::cli::config::InvitationsState;
use crate::cli::config::{
    GlobalArgs, OutputFormat, SessionCreateArgs, SessionEditArgs, SessionRef,
};
use crate::db::invitations::{self, InvitationSettings};
use crate::db::{
    self,
    sessions::{NewDeadline, NewSession, SessionEdit},
};
use crate::domain::session::{local_time, parse_timezone};
use crate::report::{utc, SessionRow};

/// RFC 3339 with an offset, or a local `YYYY-MM-DD HH:MM[:SS]` (a `T` works too) in `tz`; a local time
/// that does not exist or exists twice there (a daylight-saving change) is refused.
fn parse_time(flag: &str, s: &str, tz: Tz) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let hint = || {
        format!(
            "Cannot read --{flag} {s:?}: use RFC 3339 with an offset (2026-12-01T23:59:00+01:00) or a local \
             time in {tz} (2026-12-01 23:59)"
        )
    };
    let naive = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s.trim(), f).ok())
    .ok_or_else(|| anyhow!(hint()))?;
    tz.from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            anyhow!(
                "{}: that local time is ambiguous or skipped in {tz}",
                hint()
            )
        })
}

/// `opens – closes (zone)` in the session's local time.
fn window(s: &lab_session::Model) -> String {
    format!(
        "{} – {} ({})",
        local_time(s.opens_at, &s.timezone),
        local_time(s.closes_at, &s.timezone),
        s.timezone
    )
}

fn zone(name: &str) -> anyhow::Result<Tz> {
    Ok(parse_timezone(name)?)
}

/// The invitation settings of `session create` (checked before the session is made).
fn create_invitation(a: &SessionCreateArgs) -> anyhow::Result<Option<InvitationSettings>> {
    let Some(template) = &a.template else {
        return Ok(None);
    };
    invitations::parse_template(template).context("Cannot create the session")?;
    let prefix = a.repo_prefix.clone().unwrap_or_else(|| a.slug.clone());
    Ok(Some(InvitationSettings {
        template: Some(template.clone()),
        repo_prefix: Some(prefix),
        private: Some(!a.public),
        open: Some(true),
    }))
}

pub(super) async fn create(g: &GlobalArgs, a: SessionCreateArgs) -> anyhow::Result<ExitCode> {
    let tz = zone(&a.timezone)?;
    let invitation = create_invitation(&a)?;
    let repo_pattern = match (&a.repos, &invitation) {
        (Some(repos), _) => repos.clone(),
        (None, Some(i)) => invitations::repo_pattern(i.repo_prefix.as_deref().unwrap_or(&a.slug)),
        (None, None) => return Err(anyhow!("Cannot create the session: give --repos PATTERN")),
    };
    let new = NewSession {
        org: a.org,
        slug: a.slug,
        title: a.title,
        repo_pattern,
        branch_policy: a.branches,
        opens_at: parse_time("opens", &a.opens, tz)?,
        closes_at: parse_time("closes", &a.closes, tz)?,
        timezone: a.timezone,
        score_check: Some(a.score_check),
        allow_overlap: a.allow_overlap,
    };
    let db = open(g).await?;
    let s = db::sessions::create(&db, &g.origin(), &cli_actor(), new)
        .await
        .context("Cannot create the session")?;
    println!(
        "created session {} for {}: repositories {:?}, branches {}, {}",
        s.slug,
        s.org,
        s.repo_pattern,
        s.branch_policy,
        window(&s)
    );
    if let Some(set) = invitation {
        let i = invitations::configure(&db, &g.origin(), &cli_actor(), &s.slug, Some(&s.org), set)
            .await
            .context("Cannot set the session's template")?;
        print_invitation(&i);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_invitation(i: &entity::session_invitation::Model) {
    println!(
        "invitation: template {}, repositories {}-<login> ({}), {}{}",
        i.template,
        i.repo_prefix,
        if i.private { "private" } else { "public" },
        if i.open { "open" } else { "closed" },
        if i.code_sha256.is_none() {
            " (no link yet: labtrail session invite)"
        } else {
            ""
        }
    );
}

/// `session invite`: make the session's invitation code (or replace it with `--rotate`) and print its
/// link. Only the code's SHA-256 is stored, so the link is shown here once.
pub(super) async fn invite(
    g: &GlobalArgs,
    which: &SessionRef,
    rotate: bool,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let current = find(&db, which).await?;
    let existing = invitations::of_session(&db, current.id)
        .await
        .context("Cannot read the invitation")?;
    if existing.as_ref().is_some_and(|i| i.code_sha256.is_some()) && !rotate {
        return Err(anyhow!(
            "Cannot make an invitation link: session {} has one already (it was shown once, when made);              pass --rotate to replace it (the old link stops working)",
            current.slug
        ));
    }
    let code = invitations::new_code().context("Cannot make an invitation code")?;
    let (s, i) = invitations::rotate(
        &db,
        &g.origin(),
        &cli_actor(),
        &current.slug,
        Some(&current.org),
        invitations::code_sha256(&code),
    )
    .await
    .context("Cannot make the invitation link")?;
    print_invitation(&i);
    println!("invitation link of session {} of {}:", s.slug, s.org);
    println!(
        "{}/join/{}",
        g.public_url.as_str().trim_end_matches('/'),
        code.as_str()
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn list(
    g: &GlobalArgs,
    org: Option<&str>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let sessions = db::sessions::list(&db, org)
        .await
        .context("Cannot list sessions")?;
    let ids: Vec<i64> = sessions.iter().map(|s| s.id).collect();
    let extensions = db::sessions::extensions_of(&db, &ids)
        .await
        .context("Cannot list extensions")?;
    let rows: Vec<SessionRow> = sessions
        .iter()
        .map(|s| SessionRow::new(s, &extensions))
        .collect();
    print_rows(&rows, format)?;
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn archive(g: &GlobalArgs, org: &str, slug: &str) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let s = db::sessions::archive(&db, &g.origin(), &cli_actor(), org, slug)
        .await
        .context("Cannot archive the session")?;
    println!(
        "archived session {} of {} at {}",
        s.slug,
        s.org,
        s.archived_at.map(utc).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// The session `which` names.
async fn find(
    db: &sea_orm::DatabaseConnection,
    which: &SessionRef,
) -> anyhow::Result<entity::lab_session::Model> {
    db::sessions::find_by_slug(db, &which.slug, which.org.as_deref())
        .await
        .context("Cannot find the session")
}

pub(super) async fn edit(g: &GlobalArgs, a: SessionEditArgs) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let current = find(&db, &a.session).await?;
    let invitation = InvitationSettings {
        template: a.template.clone(),
        open: a.invitations.map(|s| s == InvitationsState::Open),
        ..InvitationSettings::default()
    };
    let session_fields = a.title.is_some()
        || a.opens.is_some()
        || a.closes.is_some()
        || a.timezone.is_some()
        || a.score_check.is_some();
    if !invitation.is_empty() {
        let i = invitations::configure(
            &db,
            &g.origin(),
            &cli_actor(),
            &current.slug,
            Some(&current.org),
            invitation,
        )
        .await
        .context("Cannot edit the session's invitation")?;
        print_invitation(&i);
        if !session_fields {
            return Ok(ExitCode::SUCCESS);
        }
    }
    // Local times are read in the new time zone when one is given.
    let tz = zone(a.timezone.as_deref().unwrap_or(&current.timezone))?;
    let change = SessionEdit {
        title: a.title,
        opens_at: a.opens.map(|t| parse_time("opens", &t, tz)).transpose()?,
        closes_at: a.closes.map(|t| parse_time("closes", &t, tz)).transpose()?,
        timezone: a.timezone,
        score_check: a.score_check,
        allow_overlap: a.allow_overlap,
    };
    let s = db::sessions::edit(
        &db,
        &g.origin(),
        &cli_actor(),
        &a.session.slug,
        Some(&current.org),
        change,
    )
    .await
    .context("Cannot edit the session")?;
    println!(
        "edited session {} of {}: {:?}, {}",
        s.slug,
        s.org,
        s.title,
        window(&s)
    );
    // An extension is the student's deadline as given: say which now end before the session's.
    let earlier: Vec<String> = db::sessions::extensions(&db, s.id)
        .await
        .context("Cannot list extensions")?
        .into_iter()
        .filter(|e| e.closes_at < s.closes_at)
        .map(|e| e.student)
        .collect();
    if !earlier.is_empty() {
        println!(
            "note: {} end{} before the session's new deadline: {} (move with `session extend`, or \
             `session extend --remove`)",
            crate::report::plural(earlier.len() as u64, "extension", "extensions"),
            if earlier.len() == 1 { "s" } else { "" },
            earlier.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn extend(
    g: &GlobalArgs,
    which: &SessionRef,
    student: &str,
    closes: &str,
    (force, shorten): (bool, bool),
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let current = find(&db, which).await?;
    let closes_at = parse_time("closes", closes, zone(&current.timezone)?)?;
    let e = db::sessions::extend(
        &db,
        &g.origin(),
        &cli_actor(),
        &which.slug,
        Some(&current.org),
        student,
        NewDeadline {
            closes_at,
            force,
            shorten,
        },
    )
    .await
    .context("Cannot extend the deadline")?;
    let who = e.roster_student.as_ref().map_or_else(
        || format!("{} (not on the roster)", e.extension.student),
        |s| format!("{} (roster {})", e.extension.student, s.identifier),
    );
    println!(
        "extended session {} of {} for {who}: deadline {} (session: {})",
        e.session.slug,
        e.session.org,
        local_time(e.extension.closes_at, &e.session.timezone),
        local_time(e.session.closes_at, &e.session.timezone),
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn unextend(
    g: &GlobalArgs,
    which: &SessionRef,
    student: &str,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let current = find(&db, which).await?;
    let r = db::sessions::remove_extension(
        &db,
        &g.origin(),
        &cli_actor(),
        &which.slug,
        Some(&current.org),
        student,
    )
    .await
    .context("Cannot remove the extension")?;
    println!(
        "removed the extension of {} in session {} of {} (was {}): deadline {} (the session's)",
        r.extension.student,
        r.session.slug,
        r.session.org,
        local_time(r.extension.closes_at, &r.session.timezone),
        local_time(r.session.closes_at, &r.session.timezone),
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn unarchive(
    g: &GlobalArgs,
    which: &SessionRef,
    allow_overlap: bool,
) -> anyhow::Result<ExitCode> {
    let db = open(g).await?;
    let s = db::sessions::unarchive(
        &db,
        &g.origin(),
        &cli_actor(),
        &which.slug,
        which.org.as_deref(),
        allow_overlap,
    )
    .await
    .context("Cannot unarchive the session")?;
    println!("unarchived session {} of {}", s.slug, s.org);
    Ok(ExitCode::SUCCESS)
}
