//! The HTML of the web view (maud: compiled templates, escaped by default). No script anywhere; every
//! table has a caption and header cells; badges carry their text, not only a colour.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::chart::Chart;
use super::summary::{self, Status};
use crate::db::summary::StudentSummary;

/// A time in UTC, to the second (the attempt page shows it next to the local time).
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A time in the session's time zone with its offset (`2026-11-30 23:59 +01:00`), as tables and check
/// runs show it.
pub fn local(t: DateTime<Utc>, timezone: &str) -> String {
    crate::domain::session::local_time(t, timezone)
}

/// A `<time>` element showing `t` local, its `datetime` the UTC instant.
fn time_local(t: DateTime<Utc>, timezone: &str) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (local(t, timezone)) } }
}

/// Who is signed in, for the header's sign-out form.
pub struct Header<'a> {
    pub label: String,
    pub csrf: &'a str,
    pub auditor: bool,
    /// A student: the navigation leads to their own record.
    pub student: bool,
}

/// The page frame.
pub fn layout(title: &str, header: Option<&Header<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · labtrail" }
                link rel="stylesheet" href="/static/style.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Main" {
                        a.brand href="/" { "labtrail" }
                        @if let Some(h) = header {
                            @if h.student { a href="/me" { "My record" } }
                            @else { a href="/" { "Sessions" } }
                            @if h.auditor { a href="/audit" { "Audit" } }
                        }
                    }
                    @if let Some(h) = header {
                        form.signout method="post" action="/logout" {
                            span.who { "Signed in: " (h.label) }
                            input type="hidden" name="csrf" value=(h.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

/// A small page for an error status.
pub fn error_page(status: StatusCode, message: &str) -> Markup {
    let title = status.canonical_reason().unwrap_or("Error");
    layout(
        title,
        None,
        html! {
            h1 { (status.as_u16()) " " (title) }
            p { (message) }
            p { a href="/" { "Back to the sessions" } }
        },
    )
}

/// The sign-in page; `github`: the "Sign in with GitHub" link (with its return path), when configured.
pub fn login(github: Option<&str>, csrf: &str, error: Option<&str>) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            @if let Some(href) = github {
                p { a.button href=(href) { "Sign in with GitHub" } }
                p.hint { "Students and instructors: sign in with your GitHub account. Students see their own attempts, deadlines and proofs." }
            }
            form.login method="post" action="/login" {
                h2 { "Sign in with an API token" }
                label for="token" { "Token" }
                input id="token" name="token" type="password" autocomplete="off" required;
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// A status badge: a symbol and a word, not only a colour.
pub fn badge(status: Status) -> Markup {
    let symbol = match status {
        Status::OnTime => "✓",
        Status::LateOnly => "!",
        Status::Missing => "✗",
    };
    html! { span class={ "badge " (status.as_str()) } { span aria-hidden="true" { (symbol) " " } (summary::label(status)) } }
}

/// A score as shown: `7/10 (success)`, the points or the conclusion alone when the run reported only one.
pub fn score_text(s: &entity::lab_attempt_score::Model) -> String {
    let points = match (&s.points, &s.points_available) {
        (Some(p), Some(a)) => Some(format!("{p}/{a}")),
        (Some(p), None) => Some(p.clone()),
        _ => None,
    };
    match (points, &s.conclusion) {
        (Some(p), Some(c)) => format!("{p} ({c})"),
        (Some(p), None) => p,
        (None, Some(c)) => c.clone(),
        (None, None) => "no points reported".into(),
    }
}

/// An attempt's badge: "Early" (before the session opened), "Late by …" (past the deadline that applies)
/// or "On time" — the attempt's own standing, not the student's.
pub fn attempt_badge(early: bool, late_by: Option<chrono::Duration>) -> Markup {
    match (early, late_by) {
        (true, _) => {
            html! { span class="badge early" { span aria-hidden="true" { "« " } "Early" } }
        }
        (false, Some(d)) => html! {
            span class="badge late" { span aria-hidden="true" { "! " } "Late by " (crate::report::check_run::human_duration(d)) }
        },
        (false, None) => {
            html! { span class="badge on_time" { span aria-hidden="true" { "✓ " } "On time" } }
        }
    }
}

/// One line of the session list.
pub struct SessionLine {
    pub org: String,
    pub slug: String,
    pub title: String,
    pub closes_at: DateTime<Utc>,
    /// The session's IANA time zone.
    pub timezone: String,
    pub archived: bool,
    pub on_time: usize,
    pub late_only: usize,
    /// Roster students without a repository.
    pub missing: usize,
    /// A slug several visible organisations use: the link names the org.
    pub ambiguous: bool,
}

impl SessionLine {
    pub fn href(&self) -> String {
        if self.ambiguous {
            format!("/sessions/{}?org={}", self.slug, self.org)
        } else {
            format!("/sessions/{}", self.slug)
        }
    }
}

/// `/`: the sessions the user may see.
pub fn index(header: &Header<'_>, sessions: &[SessionLine]) -> Markup {
    let mut orgs: Vec<&str> = sessions.iter().map(|s| s.org.as_str()).collect();
    orgs.sort_unstable();
    orgs.dedup();
    layout(
        "Sessions",
        Some(header),
        html! {
            h1 { "Lab sessions" }
            @if sessions.is_empty() {
                p { "No lab session is visible to you yet." }
            } @else {
                p.downloads {
                    "Gradebook (CSV, every session's points and status per student): "
                    @for (i, org) in orgs.iter().enumerate() {
                        @if i > 0 { " · " }
                        a href={ "/orgs/" (org) "/gradebook.csv" } download { (org) }
                    }
                }
                table {
                    caption { "Lab sessions of the organisations you may see, with students on time, late only and missing" }
                    thead { tr {
                        th scope="col" { "Title" } th scope="col" { "Organisation" }
                        th scope="col" { "Deadline" } th scope="col" { "On time" }
                        th scope="col" { "Late only" } th scope="col" { "Missing" } th scope="col" { "State" }
                    } }
                    tbody {
                        @for s in sessions {
                            tr {
                                th scope="row" { a href=(s.href()) { (s.title) } " " span.slug { "(" (s.slug) ")" } }
                                td { (s.org) }
                                td { (time_local(s.closes_at, &s.timezone)) " " span.tz { "(" (s.timezone) ")" } }
                                td.num { (s.on_time) }
                                td.num { (s.late_only) }
                                td.num { (s.missing) }
                                td { @if s.archived { span.badge.archived { "Archived" } } @else { "Open" } }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// What the session page shows.
pub struct SessionHtml<'a> {
    pub org: &'a str,
    pub slug: &'a str,
    pub title: &'a str,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    /// The session's IANA time zone: every time on the page is local.
    pub timezone: &'a str,
    pub archived: bool,
    /// This page's rows.
    pub rows: &'a [StudentSummary],
    /// The whole session's rows, and its counts (on time, late only, missing).
    pub total: usize,
    pub counts: (usize, usize, usize),
    /// Rows the search and filter select (every page).
    pub matching: u64,
    /// 0-based, and how many.
    pub page: u64,
    pub pages: u64,
    /// `?q=`: the search typed.
    pub search: &'a str,
    pub status: Option<Status>,
    pub sort: &'a str,
    /// `?org=…&` when the slug needs its org.
    pub org_query: String,
    pub chart: Option<Chart>,
    pub github_web: &'a str,
    /// The session's extensions: (student, deadline), by student.
    pub extensions: &'a [(String, DateTime<Utc>)],
    pub form: ExtensionFormHtml<'a>,
    /// The invitation section (issue 25), for staff of a session with a template.
    pub invitation: Option<Markup>,
}

/// The extension form of the session page.
pub struct ExtensionFormHtml<'a> {
    pub csrf: &'a str,
    /// An instructor or admin: the form is shown.
    pub may_change: bool,
    /// Why the last form was refused.
    pub error: Option<&'a str>,
    /// What the refused form held.
    pub student: &'a str,
    pub closes: &'a str,
}

/// The sortable columns: (key, heading).
pub const COLUMNS: &[(&str, &str)] = &[
    ("roster", "Roster id"),
    ("username", "GitHub username"),
    ("final", "Final attempt"),
    ("last_push", "Last push"),
    ("late", "Late attempts"),
    ("forced", "Forced"),
    ("status", "Status"),
    ("points", "Points"),
];

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// `/sessions/{slug}`.
pub fn session(header: &Header<'_>, p: &SessionHtml<'_>) -> Markup {
    let base = format!("/sessions/{}", p.slug);
    let mut status_q = p
        .status
        .map(|s| format!("status={}&", s.as_str()))
        .unwrap_or_default();
    if !p.search.is_empty() {
        status_q.push_str(&format!("q={}&", segment(p.search)));
    }
    let page_href = |n: u64| format!("{base}?{}{status_q}sort={}&page={n}", p.org_query, p.sort);
    layout(
        p.title,
        Some(header),
        html! {
            h1 { (p.title) }
            p.meta {
                "Organisation " strong { (p.org) } " · opens " (time_local(p.opens_at, p.timezone))
                " · deadline " strong { (time_local(p.closes_at, p.timezone)) }
                " · times in " (p.timezone)
                @if p.archived { " · " span.badge.archived { "Archived" } }
            }
            p.downloads {
                a href={ (base) "/grades.csv" (query_suffix(&p.org_query)) } download { "Download grades (CSV)" }
                " · "
                a href={ (base) "/attempts.csv" (query_suffix(&p.org_query)) } download { "All attempts (CSV)" }
            }
            @if let Some(chart) = &p.chart { (chart_figure(chart)) }
            @if let Some(invitation) = &p.invitation { (invitation) }
            (extensions_section(p))
            form.filter method="get" action=(base) {
                @if !p.org_query.is_empty() { input type="hidden" name="org" value=(p.org); }
                label for="status" { "Show" }
                select id="status" name="status" {
                    option value="" selected[p.status.is_none()] { "All students" }
                    @for s in summary::ALL {
                        option value=(s.as_str()) selected[p.status == Some(s)] { (summary::label(s)) }
                    }
                }
                label for="q" { "Search" }
                input type="search" id="q" name="q" value=(p.search) placeholder="login, roster id or name";
                input type="hidden" name="sort" value=(p.sort);
                button type="submit" { "Filter" }
            }
            p.counts {
                "Whole session: " (p.total) " students · " (p.counts.0) " on time · " (p.counts.1) " late only · "
                (p.counts.2) " missing"
            }
            table.summary {
                caption {
                    "Students of " (p.title) ": " (p.rows.len()) " of " (p.matching) " shown (" (p.total) " in the session)"
                    @if let Some(s) = p.status { ", status " (summary::label(s)) }
                    @if !p.search.is_empty() { ", matching " q { (p.search) } }
                    ", page " (p.page + 1) " of " (p.pages)
                    ", sorted by " (COLUMNS.iter().find(|c| p.sort.trim_start_matches('-') == c.0).map_or("roster id", |c| c.1))
                    @if p.sort.starts_with('-') { " (descending)" }
                }
                thead { tr {
                    @for (key, heading) in COLUMNS {
                        @let current = p.sort.trim_start_matches('-') == *key;
                        @let next = if current && !p.sort.starts_with('-') { format!("-{key}") } else { (*key).to_owned() };
                        th scope="col" aria-sort=[current.then(|| if p.sort.starts_with('-') { "descending" } else { "ascending" })] {
                            a href={ (base) "?" (p.org_query) (status_q) "sort=" (next) } { (heading) }
                        }
                    }
                } }
                tbody {
                    @for r in p.rows {
                        tr {
                            @let username = r.github_username();
                            @let repository = r.repository.as_deref().unwrap_or_default();
                            td {
                                (r.student.as_ref().map_or("–", |s| s.identifier.as_str()))
                                @if let Some(st) = r.student.as_ref().filter(|st| !st.name.is_empty()) { br; small.name { (st.name) } }
                            }
                            @let href = student_href(p.slug, r, &p.org_query);
                            th scope="row" {
                                @match &href { Some(h) if !username.is_empty() => a href=(h) { (username) }, _ => (if username.is_empty() { "–" } else { &username }) }
                                @if !repository.is_empty() { br; span.repo { (repository) } }
                            }
                            td {
                                @if let Some(f) = &r.fold.final_attempt {
                                    a href={ "/attempts/" (f.id) } { "#" (f.number) }
                                    " "
                                    a.sha href={ (p.github_web) "/" (repository) "/commit/" (f.after) } title={ "Commit " (f.after) " on GitHub" } { code { (short(&f.after)) } }
                                    br; span.when { (time_local(f.pushed_at, p.timezone)) }
                                } @else { "–" }
                            }
                            td { @match (r.fold.last_pushed_at, &href) {
                                (Some(t), Some(h)) => a href=(h) title="Every attempt of this student" { (time_local(t, p.timezone)) },
                                (Some(t), None) => (time_local(t, p.timezone)),
                                (None, _) => "–",
                            } }
                            td.num { (r.fold.late_attempts) }
                            td { @if r.fold.forced { "Yes" } @else { "No" } }
                            td { (badge(r.status)) }
                            td { @match &r.score { Some(s) => (score_text(s)), None => @if r.fold.final_attempt.is_some() { "no score yet" } @else { "–" } } }
                        }
                    }
                }
            }
            @if p.pages > 1 {
                nav.pager aria-label="Student pages" {
                    @if p.page > 0 { a href=(page_href(p.page)) rel="prev" { "‹ Previous" } " " }
                    "Page " (p.page + 1) " of " (p.pages)
                    @if p.page + 1 < p.pages { " " a href=(page_href(p.page + 2)) rel="next" { "Next ›" } }
                }
            }
        },
    )
}

/// A path segment, percent-encoded (every byte but the unreserved ones).
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The student page of a summary row: by roster identifier, else by the (first) pusher's login.
fn student_href(slug: &str, r: &StudentSummary, org_query: &str) -> Option<String> {
    let key = match &r.student {
        Some(s) => s.identifier.clone(),
        None => r.pusher_logins.first()?.clone(),
    };
    Some(format!(
        "/sessions/{slug}/students/{}{}",
        segment(&key),
        query_suffix(org_query)
    ))
}

/// What the page of one student of a session shows.
pub struct StudentHtml<'a> {
    pub session: &'a entity::lab_session::Model,
    /// The name asked for (a login or a roster identifier).
    pub name: &'a str,
    pub repos: &'a [crate::db::student::StudentRepo],
    pub github_web: &'a str,
}

/// `/sessions/{slug}/students/{name}`: per repository of the student, the deadline that applies, the
/// final attempt and why, and every attempt.
pub fn student(header: &Header<'_>, p: &StudentHtml<'_>) -> Markup {
    let s = p.session;
    let tz = s.timezone.as_str();
    let session_href = format!("/sessions/{}?org={}", s.slug, s.org);
    let title = match p.repos.first().and_then(|r| r.summary.student.as_ref()) {
        Some(st) if !st.name.is_empty() => format!("{} ({})", st.name, st.identifier),
        Some(st) => st.identifier.clone(),
        None => p.name.to_owned(),
    };
    layout(
        &format!("{title} · {}", s.title),
        Some(header),
        html! {
            p.crumbs { a href=(session_href) { (s.title) } " › " (title) }
            h1 { (title) " · " (s.title) }
            @for repo in p.repos {
                @let r = &repo.summary;
                @let logins: Vec<String> = r.student.as_ref().map(|st| st.github_username.to_lowercase()).filter(|u| !u.is_empty()).map_or_else(|| vec![p.name.to_lowercase()], |u| vec![u]);
                section.student {
                    h2 { (r.repository.as_deref().unwrap_or("No repository yet")) " " (badge(r.status)) }
                    table.facts {
                        caption { "Standing of " (title) @if let Some(repo) = &r.repository { " in " (repo) } }
                        tbody {
                            @if let Some(st) = &r.student {
                                tr { th scope="row" { "Roster" } td { (st.identifier) @if !st.github_username.is_empty() { " · " (st.github_username) } @if !st.name.is_empty() { " · " (st.name) } } }
                            } @else {
                                tr { th scope="row" { "Roster" } td { "not on the roster (pushed by " (r.pusher_logins.join(", ")) ")" } }
                            }
                            tr { th scope="row" { "Deadline that applies" } td {
                                (time_local(r.deadline, tz)) " " span.tz { "(" (tz) ")" }
                                @if r.deadline != s.closes_at { " — an extension; the session's is " (local(s.closes_at, tz)) } @else { " — the session's" }
                            } }
                            tr { th scope="row" { "Final attempt" } td {
                                @match &r.fold.final_attempt {
                                    Some(f) => {
                                        a href={ "/attempts/" (f.id) } { "#" (f.number) } " pushed " (time_local(f.pushed_at, tz))
                                        " — the latest attempt pushed between the opening and the deadline that applies; it is the one graded"
                                        @if let Some(score) = &r.score { " (points: " (score_text(score)) ")" }
                                        "."
                                    },
                                    None if r.fold.attempts > 0 => "None: every attempt was pushed after the deadline that applies or before the session opened.",
                                    None => "None: no push yet.",
                                }
                            } }
                        }
                    }
                    @if !repo.attempts.is_empty() {
                        table.attempts {
                            caption { "Attempts of " (title) @if let Some(repo) = &r.repository { " to " (repo) } ", oldest first" }
                            thead { tr {
                                th scope="col" { "Attempt" } th scope="col" { "Pushed" } th scope="col" { "Standing" }
                                th scope="col" { "Forced" } th scope="col" { "Pushed by" } th scope="col" { "Commit" } th scope="col" { "Points" }
                            } }
                            tbody {
                                @for v in &repo.attempts {
                                    @let a = &v.attempt;
                                    @let (opens, deadline) = v.window.unwrap_or((s.opens_at, r.deadline));
                                    @let early = crate::domain::session::is_early(a.pushed_at, opens);
                                    @let late = !early && crate::domain::session::is_late(a.pushed_at, deadline);
                                    tr {
                                        th scope="row" {
                                            a href={ "/attempts/" (a.id) } { "#" (a.attempt_number) }
                                            @if r.fold.final_attempt.as_ref().is_some_and(|f| f.id == a.id) { " " span.badge.on_time { "final" } }
                                        }
                                        td { (time_local(a.pushed_at, tz)) }
                                        td { (attempt_badge(early, late.then(|| a.pushed_at - deadline))) }
                                        td { @if a.forced { "Yes" } @else { "No" } }
                                        td { @match a.pusher_login.as_deref() {
                                            Some(l) if !logins.iter().any(|x| *x == l.to_lowercase()) => strong { (l) },
                                            Some(_) => "the student",
                                            None => "–",
                                        } }
                                        td { a.sha href={ (p.github_web) "/" (a.repository_full_name) "/commit/" (a.after_sha) } title={ "Commit " (a.after_sha) " on GitHub" } { code { (short(&a.after_sha)) } } }
                                        td { @match &v.score { Some(sc) => (score_text(sc)), None => "–" } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// `YYYY-MM-DDTHH:MM` local to `timezone`: a `datetime-local` field's value.
fn local_field(t: DateTime<Utc>, timezone: &str) -> String {
    match crate::domain::session::parse_timezone(timezone) {
        Ok(tz) => t.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string(),
        Err(_) => t.format("%Y-%m-%dT%H:%M").to_string(),
    }
}

/// The session's extensions, each with a remove button, and the form that grants or changes one.
fn extensions_section(p: &SessionHtml<'_>) -> Markup {
    let action = format!("/sessions/{}/extensions", p.slug);
    let f = &p.form;
    html! {
        section.extensions id="extensions" aria-labelledby="extensions-h" {
            h2 id="extensions-h" { "Extensions" }
            @if let Some(e) = f.error { p.error role="alert" { (e) } }
            @if p.extensions.is_empty() {
                p { "No student has an extension: the session's deadline applies to everyone." }
            } @else {
                table.extensions {
                    caption { "Students with their own deadline (the session's is " (local(p.closes_at, p.timezone)) ")" }
                    thead { tr { th scope="col" { "Student" } th scope="col" { "Deadline" } @if f.may_change { th scope="col" { "Remove" } } } }
                    tbody {
                        @for (student, at) in p.extensions {
                            tr {
                                th scope="row" { a href={ "/sessions/" (p.slug) "/students/" (segment(student)) "?org=" (p.org) } { (student) } }
                                td { (time_local(*at, p.timezone)) }
                                @if f.may_change {
                                    td {
                                        form.inline method="post" action=(action) {
                                            input type="hidden" name="csrf" value=(f.csrf);
                                            input type="hidden" name="org" value=(p.org);
                                            input type="hidden" name="student" value=(student);
                                            button type="submit" name="action" value="remove" aria-label={ "Remove the extension of " (student) } { "Remove" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if f.may_change {
                form.extend method="post" action=(action) {
                    h3 { "Grant or change an extension" }
                    input type="hidden" name="csrf" value=(f.csrf);
                    input type="hidden" name="org" value=(p.org);
                    label for="ext-student" { "Student (GitHub login or roster id)" }
                    input id="ext-student" name="student" type="text" required value=(f.student);
                    label for="ext-closes" { "New deadline (" (p.timezone) ")" }
                    input id="ext-closes" name="closes" type="datetime-local" required
                        value=(if f.closes.is_empty() { local_field(p.closes_at, p.timezone) } else { f.closes.to_owned() });
                    label { input type="checkbox" name="force" value="on"; " --force: a name neither on the roster nor among the pushers" }
                    label { input type="checkbox" name="shorten" value="on"; " --shorten: allow a deadline before the session's" }
                    button type="submit" name="action" value="extend" { "Save extension" }
                }
            }
        }
    }
}

fn query_suffix(org_query: &str) -> String {
    if org_query.is_empty() {
        String::new()
    } else {
        format!("?{}", org_query.trim_end_matches('&'))
    }
}

/// The chart with its caption and its data as a table.
fn chart_figure(chart: &Chart) -> Markup {
    let early: u32 = chart.buckets.iter().map(|b| b.early).sum();
    let on_time: u32 = chart.buckets.iter().map(|b| b.on_time).sum();
    let late: u32 = chart.buckets.iter().map(|b| b.late).sum();
    let busiest = chart.buckets.iter().max_by_key(|b| b.total());
    html! {
        figure.chart {
            (PreEscaped(chart.svg()))
            figcaption {
                "Pushes per " (chart.unit()) " (" (chart.timezone) "): "
                @if early > 0 { (early) " early, before the session opened (purple, at the bottom), " }
                (on_time) " on time (solid) and " (late) " late (outlined, stacked on top)"
                ", deadline " (chart.local(chart.deadline)) " marked by the dashed vertical line"
                @if chart.extensions.is_empty() { "." } @else {
                    "; " (chart.extensions.len()) @if chart.extensions.len() == 1 { " extension" } @else { " extensions" }
                    " marked by dotted lines: "
                    @for (i, (student, at)) in chart.extensions.iter().enumerate() {
                        @if i > 0 { ", " }
                        (student) " until " (chart.local(*at))
                    }
                    "."
                }
                @if let Some(b) = busiest { " Busiest " (chart.unit()) ": from " (chart.local(b.start)) " with " (b.total()) " pushes." }
            }
            details {
                summary { "Pushes as a table" }
                table {
                    caption { "Pushes per " (chart.unit()) " (periods without pushes left out)" }
                    thead { tr { th scope="col" { "From" } th scope="col" { "Early" } th scope="col" { "On time" } th scope="col" { "Late" } } }
                    tbody {
                        @for b in chart.buckets.iter().filter(|b| b.total() > 0) {
                            tr { th scope="row" { (chart.local(b.start)) } td.num { (b.early) } td.num { (b.on_time) } td.num { (b.late) } }
                        }
                    }
                }
            }
        }
    }
}

/// What the attempt page shows.
pub struct AttemptHtml<'a> {
    pub attempt: &'a entity::lab_attempt::Model,
    pub session: &'a entity::lab_session::Model,
    pub files: &'a [entity::lab_attempt_file::Model],
    pub file_total: u64,
    pub page: u64,
    pub pages: u64,
    pub entry_hash: Option<String>,
    pub github_web: &'a str,
    /// The student's own deadline (the session's, or their extension), judged as the summary judges it.
    pub deadline: DateTime<Utc>,
    /// What more the viewer sees: the repository's name, the pusher's login.
    pub seen: crate::reads::Seen,
    /// The newest signed checkpoint's size: the proof is ready when it exceeds the entry's seq.
    pub checkpoint_size: Option<i64>,
    /// How often checkpoints are signed.
    pub checkpoint_interval_secs: u64,
    /// A student's page: their words, their links.
    pub student: bool,
    /// The attempt's score (the newest), when it has one.
    pub score: Option<&'a entity::lab_attempt_score::Model>,
    /// The final attempt (id, number) of the attempt's repository, if any.
    pub final_attempt: Option<(i64, i32)>,
}

/// `/attempts/{id}`: for staff everything; for a student only what is theirs (the repository's name when
/// the roster links it to them, the pusher's login when it is theirs).
pub fn attempt(header: &Header<'_>, p: &AttemptHtml<'_>) -> Markup {
    let a = p.attempt;
    let repo_url = p
        .seen
        .repository
        .then(|| format!("{}/{}", p.github_web, a.repository_full_name));
    let repository = if p.seen.repository {
        a.repository_full_name.as_str()
    } else {
        "a repository that is not yours"
    };
    let tz = p.session.timezone.as_str();
    let both = |t: DateTime<Utc>| {
        html! { time datetime=(t.to_rfc3339()) { (local(t, tz)) } " (" (tz) "; " (when(t)) ")" }
    };
    let commit = |sha: &str| match &repo_url {
        Some(url) => html! { a href={ (url) "/commit/" (sha) } { code { (sha) } } },
        None => html! { code { (sha) } },
    };
    let early = crate::domain::session::is_early(a.pushed_at, p.session.opens_at);
    let late = crate::domain::session::is_late(a.pushed_at, p.deadline);
    let covered = p.checkpoint_size.is_some_and(|size| size > a.audit_seq);
    let proof_file = format!("labtrail-proof-{}.json", a.id);
    layout(
        &format!("Attempt {}", a.id),
        Some(header),
        html! {
            @if p.student {
                p.crumbs { a href="/me" { "My record" } " › " (p.session.title) " › attempt #" (a.attempt_number) }
                h1 { (p.session.title) " · your attempt #" (a.attempt_number) }
            } @else {
                p.crumbs { a href={ "/sessions/" (p.session.slug) "?org=" (p.session.org) } { (p.session.title) } " › attempt " (a.id) }
                h1 { (a.repository_full_name) " · attempt #" (a.attempt_number) }
            }
            table.facts {
                caption { "Facts of attempt " (a.id) }
                tbody {
                    tr { th scope="row" { "Status" } td {
                        (attempt_badge(early, (!early && late).then(|| a.pushed_at - p.deadline)))
                        @if early { " before the session opened (never counts)" }
                        @if !early && a.late != late { " (recorded as " @if a.late { "late" } @else { "on time" } "; the deadline has moved since)" }
                    } }
                    tr { th scope="row" { "Final attempt" } td {
                        @match p.final_attempt {
                            Some((id, _)) if id == a.id => strong { "final (graded)" },
                            Some((id, number)) => { "not the final: " a href={ "/attempts/" (id) } { "#" (number) } " is" },
                            None => "not the final: no attempt of this repository was pushed in the window",
                        }
                    } }
                    tr { th scope="row" { "Score" } td { @match p.score { Some(s) => (score_text(s)), None => "no score yet" } } }
                    tr { th scope="row" { "Pushed at" } td { (both(a.pushed_at)) } }
                    tr { th scope="row" { "Received at" } td { (both(a.received_at)) } }
                    tr { th scope="row" { @if p.student { "Your deadline" } @else { "Deadline" } } td {
                        (both(p.deadline))
                        @if p.deadline != p.session.closes_at { " — extended; the session's is " (local(p.session.closes_at, tz)) }
                    } }
                    @if p.student { tr { th scope="row" { "Repository" } td { (repository) } } }
                    tr { th scope="row" { "Pushed by" } td {
                        @if p.student { @if p.seen.pusher { "you" } @else { "someone else with access to your repository" } }
                        @else { (a.pusher_login.as_deref().unwrap_or("–")) }
                    } }
                    tr { th scope="row" { "Ref" } td { code { (a.git_ref) } } }
                    tr { th scope="row" { "Before" } td { (commit(&a.before_sha)) } }
                    tr { th scope="row" { "After" } td { (commit(&a.after_sha)) } }
                    tr { th scope="row" { "Forced" } td { @if a.forced { "Yes (history rewritten)" } @else { "No" } } }
                    tr { th scope="row" { "Check run" } td { @match (a.check_run_id, &repo_url) {
                        (Some(id), Some(url)) => a href={ (url) "/runs/" (id) } { "labtrail check run " (id) },
                        (Some(id), None) => { "labtrail check run " (id) },
                        (None, _) => "not posted yet",
                    } } }
                    tr { th scope="row" { "Files" } td { (a.file_count) " (" (a.files_source) @if !a.files_complete { ", incomplete" } ")" } }
                }
            }
            h2 { "Audit receipt" }
            p {
                "Recorded as audit log entry " strong { (a.audit_seq) }
                @if let Some(h) = &p.entry_hash { " with hash " code.hash { (h) } }
                "."
            }
            @if covered {
                p.downloads {
                    a.button href={ "/attempts/" (a.id) "/proof.json" } download=(proof_file) { "Download proof" }
                    " · "
                    a href="/audit/public-key" download="labtrail.pub" { "The log's verifier key" }
                }
                section.howto aria-labelledby="check-offline" {
                    h3 id="check-offline" { "Check it yourself, offline" }
                    ol {
                        li { "Download the proof (" code { (proof_file) } ") and the log's verifier key (" code { "labtrail.pub" } ", from " a href="/audit/public-key" { "/audit/public-key" } ")." }
                        li { "Run " code { "labtrail audit check-proof " (proof_file) " --public-key labtrail.pub" } " anywhere, without this server." }
                        li { "It prints " code { "valid: …" } " with the recorded entry: this push is in the signed log, and nobody can remove or change it unnoticed." }
                    }
                }
            } @else {
                p.notice role="status" {
                    "No signed checkpoint covers this entry yet. Checkpoints are signed every "
                    (crate::report::check_run::human_duration(chrono::Duration::seconds(i64::try_from(p.checkpoint_interval_secs).unwrap_or(i64::MAX))))
                    ": reload this page after that to download the proof."
                }
            }
            h2 id="files" { "Files (" (p.file_total) ")" }
            table.files {
                caption { "Changed files, page " (p.page + 1) " of " (p.pages.max(1)) }
                thead { tr { th scope="col" { "Path" } th scope="col" { "Change" } } }
                tbody { @for f in p.files { tr { td { code { (f.path) } } td { (f.status) } } } }
            }
            @if p.pages > 1 {
                nav.pager aria-label="File pages" {
                    @if p.page > 0 { a href={ "/attempts/" (a.id) "?page=" (p.page) "#files" } rel="prev" { "‹ Previous" } " " }
                    "Page " (p.page + 1) " of " (p.pages)
                    @if p.page + 1 < p.pages { " " a href={ "/attempts/" (a.id) "?page=" (p.page + 2) "#files" } rel="next" { "Next ›" } }
                }
            }
        },
    )
}

/// What a student's own page shows.
pub struct MePage<'a> {
    pub sessions: &'a [crate::reads::MySession],
    pub github_web: &'a str,
}

/// `/me`: per session, the student's deadline, status, final attempt and attempts.
pub fn me(header: &Header<'_>, p: &MePage<'_>) -> Markup {
    use crate::reads::FinalReason;
    layout(
        "My record",
        Some(header),
        html! {
            h1 { "My record" }
            p { "Every push to your lab repositories is recorded when GitHub reports it, judged against your own deadline, and kept in a tamper-evident log. Open an attempt to download its proof." }
            @if p.sessions.is_empty() {
                p { "No lab session has a push from you or a roster entry for you yet." }
            }
            @for m in p.sessions {
                @let tz = m.session.timezone.as_str();
                section.mysession aria-labelledby={ "s" (m.session.id) } {
                    h2 id={ "s" (m.session.id) } { (m.session.title) " " (badge(m.status)) }
                    table.facts {
                        caption { "Your standing in " (m.session.title) }
                        tbody {
                            tr { th scope="row" { "Your deadline" } td {
                                (time_local(m.deadline, tz)) " " span.tz { "(" (tz) ")" }
                                @if m.deadline != m.session.closes_at { " — your extension; the session's is " (local(m.session.closes_at, tz)) }
                            } }
                            tr { th scope="row" { "Status" } td { (badge(m.status)) } }
                            tr { th scope="row" { "Final attempt" } td {
                                @match (m.final_reason, m.final_attempt.and_then(|id| m.attempts.iter().find(|a| a.id == id))) {
                                    (FinalReason::LatestOnTime, Some(f)) => {
                                        a href={ "/attempts/" (f.id) } { "#" (f.number) } " pushed " (time_local(f.pushed_at, tz))
                                        " — the latest attempt pushed by your deadline; it is the one graded."
                                        @if let Some(points) = &f.points { " Points: " strong { (points) } "." }
                                    },
                                    (FinalReason::NoneOnTime, _) => "None: every attempt was pushed after your deadline (or before the session opened).",
                                    _ => "None: no push yet.",
                                }
                            } }
                        }
                    }
                    @if !m.attempts.is_empty() {
                        table.attempts {
                            caption { "Your attempts in " (m.session.title) ", oldest first" }
                            thead { tr {
                                th scope="col" { "Attempt" } th scope="col" { "Pushed" } th scope="col" { "Late by" }
                                th scope="col" { "Forced" } th scope="col" { "Files" } th scope="col" { "Commit" } th scope="col" { "Points" }
                            } }
                            tbody {
                                @for a in &m.attempts {
                                    tr {
                                        th scope="row" { a href={ "/attempts/" (a.id) } { "#" (a.number) } @if m.final_attempt == Some(a.id) { " " span.badge.on_time { "final" } } }
                                        td { (time_local(a.pushed_at, tz)) }
                                        td { @if a.early { "early" } @else { @match a.late_by { Some(d) => (crate::report::check_run::human_duration(d)), None => "on time" } } }
                                        td { @if a.forced { "Yes" } @else { "No" } }
                                        td.num { (a.file_count) }
                                        td { @match &a.repository {
                                            Some(repo) => a.sha href={ (p.github_web) "/" (repo) "/commit/" (a.after_sha) } title={ "Commit " (a.after_sha) " on GitHub" } { code { (short(&a.after_sha)) } },
                                            None => code title="a push of yours to a repository that is not yours" { (short(&a.after_sha)) },
                                        } }
                                        td { (a.points.as_deref().unwrap_or("–")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// What the audit page shows.
pub struct AuditHtml {
    pub size: i64,
    pub checkpoint: Option<(i64, DateTime<Utc>)>,
    pub verifier_key: Option<String>,
}

/// `/audit`.
pub fn audit(header: &Header<'_>, p: &AuditHtml) -> Markup {
    layout(
        "Audit",
        Some(header),
        html! {
            h1 { "Audit log" }
            table.facts {
                caption { "The state of the tamper-evident log" }
                tbody {
                    tr { th scope="row" { "Entries" } td { (p.size) } }
                    tr { th scope="row" { "Newest checkpoint" } td {
                        @match p.checkpoint {
                            Some((size, at)) => { "size " (size) ", signed " (when(at)) " (" (crate::report::check_run::human_duration(Utc::now() - at)) " ago)" },
                            None => "none written yet",
                        }
                    } }
                    tr { th scope="row" { "Verifier key" } td { @match &p.verifier_key { Some(k) => code.hash { (k) }, None => "not loaded by this instance" } } }
                    tr { th scope="row" { "Last verify" } td { "not run (run " code { "labtrail audit verify" } ")" } }
                }
            }
        },
    )
}
