//! The pushes-over-time chart of a session page: pushes per hour (a span of up to three days) or per
//! day, early (before the session opened), on-time and late stacked, each in the legend, the deadline and each student's extension marked; server-rendered SVG
//! with a table as its text alternative, times in the session's time zone. Pure: no I/O.

use chrono::{DateTime, Duration, DurationRound as _, Utc};

use crate::domain::session::local_time;

/// One bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    /// The next bucket's start: a bucket ends early at the deadline, so late pushes are right of it.
    pub end: DateTime<Utc>,
    /// Pushed before the session opened (never counts).
    pub early: u32,
    pub on_time: u32,
    pub late: u32,
}

impl Bucket {
    /// Every push of the bucket.
    pub fn total(&self) -> u32 {
        self.early + self.on_time + self.late
    }
}

/// The chart's data.
#[derive(Debug, Clone)]
pub struct Chart {
    /// An hour or a day.
    pub width: Duration,
    pub buckets: Vec<Bucket>,
    pub deadline: DateTime<Utc>,
    /// Per-student deadlines (who, until when), by time.
    pub extensions: Vec<(String, DateTime<Utc>)>,
    /// The session's IANA time zone: labels are local.
    pub timezone: String,
}

/// The bucket boundaries from `first` to past `last`: local midnights (a day or more wide) or local
/// hours, in the session's zone, and the deadline itself, so no bucket holds pushes from both sides of it.
fn boundaries(
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    width: Duration,
    deadline: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> Vec<DateTime<Utc>> {
    use chrono::{NaiveTime, TimeZone as _};
    let local = first.with_timezone(&tz).naive_local();
    let at_local = |n: chrono::NaiveDateTime| {
        tz.from_local_datetime(&n)
            .earliest()
            .map_or(first, |t| t.with_timezone(&Utc))
    };
    let mut out = Vec::new();
    if width >= Duration::days(1) {
        let days = width.num_days().max(1);
        let day0 = local.date();
        let mut i = 0;
        loop {
            let t = at_local(day0.and_time(NaiveTime::MIN) + Duration::days(i * days));
            out.push(t);
            if t > last || out.len() > 2 * MAX_BUCKETS as usize {
                break;
            }
            i += 1;
        }
    } else {
        let start = local.duration_trunc(Duration::hours(1)).unwrap_or(local);
        let start = at_local(start);
        let mut i = 0;
        loop {
            let t = start + width * i;
            out.push(t);
            if t > last || out.len() > 2 * MAX_BUCKETS as usize {
                break;
            }
            i += 1;
        }
    }
    if let Err(at) = out.binary_search(&deadline) {
        if at > 0 && at < out.len() {
            out.insert(at, deadline);
        }
    }
    out
}

/// More buckets than this are merged (a session open for months).
const MAX_BUCKETS: i64 = 120;

impl Chart {
    /// Bucket `pushes` (push time, late?, how many pushes at that time: 0 only widens the span) around
    /// `deadline` and the `extensions` (student, deadline); a push before `opens_at` is early. `None`
    /// without pushes.
    pub fn new(
        pushes: &[(DateTime<Utc>, bool, u32)],
        (opens_at, deadline): (DateTime<Utc>, DateTime<Utc>),
        extensions: &[(String, DateTime<Utc>)],
        timezone: &str,
    ) -> Option<Self> {
        let first = pushes.iter().map(|p| p.0).min()?;
        let marks = || extensions.iter().map(|e| e.1).chain([deadline]);
        let last = pushes.iter().map(|p| p.0).chain(marks()).max()?;
        let first = marks().fold(first, DateTime::min);
        let span = last - first;
        let mut width = if span <= Duration::days(3) {
            Duration::hours(1)
        } else {
            Duration::days(1)
        };
        while span.num_seconds() / width.num_seconds().max(1) >= MAX_BUCKETS {
            width = width * 2;
        }
        let tz = crate::domain::session::parse_timezone(timezone).unwrap_or(chrono_tz::UTC);
        let bounds = boundaries(first, last, width, deadline, tz);
        let mut buckets: Vec<Bucket> = bounds
            .windows(2)
            .map(|w| Bucket {
                start: w[0],
                end: w[1],
                early: 0,
                on_time: 0,
                late: 0,
            })
            .collect();
        for (at, late, n) in pushes {
            // The bucket that holds `at`: the last one starting at or before it.
            let i = buckets
                .partition_point(|b| b.start <= *at)
                .saturating_sub(1);
            if let Some(b) = buckets.get_mut(i) {
                if crate::domain::session::is_early(*at, opens_at) {
                    b.early += n;
                } else if *late {
                    b.late += n;
                } else {
                    b.on_time += n;
                }
            }
        }
        let mut extensions = extensions.to_vec();
        extensions.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        Some(Self {
            width,
            buckets,
            deadline,
            extensions,
            timezone: timezone.to_owned(),
        })
    }

    /// "hour" or "day" (or "2 days", …).
    pub fn unit(&self) -> String {
        match (self.width.num_hours(), self.width.num_days()) {
            (1, _) => "hour".into(),
            (h, 0) => format!("{h} hours"),
            (_, 1) => "day".into(),
            (_, d) => format!("{d} days"),
        }
    }

    /// `t` in the session's time zone (`2026-11-30 23:59 +01:00`).
    pub fn local(&self, t: DateTime<Utc>) -> String {
        local_time(t, &self.timezone)
    }

    /// The SVG: bars in a 760×220 plot, an axis with a few local time labels, the deadline as a dashed
    /// line, each extension as a dotted one.
    pub fn svg(&self) -> String {
        const W: f64 = 800.0;
        const H: f64 = 280.0;
        const LEFT: f64 = 40.0;
        const TOP: f64 = 20.0;
        const PLOT_W: f64 = 750.0;
        const PLOT_H: f64 = 200.0;
        let max = self
            .buckets
            .iter()
            .map(Bucket::total)
            .max()
            .unwrap_or(0)
            .max(1);
        let n = self.buckets.len().max(1) as f64;
        let bar_w = PLOT_W / n;
        let y = |v: u32| TOP + PLOT_H - PLOT_H * f64::from(v) / f64::from(max);
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" class=\"chart\" role=\"img\" aria-labelledby=\"chart-title\"><title id=\"chart-title\">Pushes per {}</title>",
            self.unit()
        );
        out.push_str(&format!(
            "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            TOP + PLOT_H,
            LEFT + PLOT_W,
            TOP + PLOT_H
        ));
        // The y axis: 0, the middle (when it is a whole number of pushes apart) and the top.
        let mut y_ticks = vec![0, max];
        if max >= 2 {
            y_ticks.insert(1, max / 2);
        }
        for v in y_ticks {
            out.push_str(&format!(
                "<text class=\"label y-tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>",
                LEFT - 4.0,
                y(v) + 4.0
            ));
        }
        for (i, b) in self.buckets.iter().enumerate() {
            let x = LEFT + bar_w * i as f64;
            let w = (bar_w - 1.0).max(0.5);
            // Stacked from the bottom: early, on time, late.
            let mut below = 0;
            for (class, count) in [("early", b.early), ("on-time", b.on_time), ("late", b.late)] {
                if count > 0 {
                    let top = y(below + count);
                    out.push_str(&format!(
                        "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{:.1}\"/>",
                        y(below) - top
                    ));
                    below += count;
                }
            }
        }
        let ticks = 5.min(self.buckets.len());
        for t in 0..ticks {
            let i = t * (self.buckets.len() - 1).max(1) / (ticks - 1).max(1);
            let Some(b) = self.buckets.get(i) else {
                continue;
            };
            let x = LEFT + bar_w * i as f64;
            let anchor = match t {
                0 => "start",
                t if t + 1 == ticks => "end",
                _ => "middle",
            };
            // `2026-11-30 23:59 +01:00`: the day, or the day and time without the year.
            let local = self.local(b.start);
            let label = if self.width < Duration::days(1) {
                local.get(5..16)
            } else {
                local.get(..10)
            }
            .unwrap_or(&local);
            out.push_str(&format!(
                "<text class=\"label\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{label}</text>",
                TOP + PLOT_H + 16.0,
            ));
        }
        if let Some(first) = self.buckets.first() {
            let x_of = |t: DateTime<Utc>| {
                let i = self
                    .buckets
                    .partition_point(|b| b.start <= t)
                    .saturating_sub(1);
                let b = self.buckets.get(i).unwrap_or(first);
                let part = (t - b.start).num_seconds() as f64
                    / (b.end - b.start).num_seconds().max(1) as f64;
                LEFT + bar_w * (i as f64 + part.clamp(0.0, 1.0))
            };
            for (_, at) in &self.extensions {
                let x = x_of(*at);
                out.push_str(&format!(
                    "<line class=\"extension\" x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{}\"/>",
                    TOP + PLOT_H
                ));
            }
            if let Some((_, at)) = self.extensions.last() {
                let text = match self.extensions.len() {
                    1 => "extension".to_owned(),
                    n => format!("{n} extensions"),
                };
                out.push_str(&label(
                    "extension-label",
                    x_of(*at),
                    TOP + 24.0,
                    &text,
                    LEFT + PLOT_W,
                ));
            }
            let x = x_of(self.deadline);
            out.push_str(&format!(
                "<line class=\"deadline\" x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{}\"/>",
                TOP + PLOT_H,
            ));
            out.push_str(&label(
                "deadline-label",
                x,
                TOP + 10.0,
                "deadline",
                LEFT + PLOT_W,
            ));
        }
        // The legend, under the axis labels.
        let mut x = LEFT;
        for (class, text) in [
            ("early", "early (before opening)"),
            ("on-time", "on time"),
            ("late", "late"),
        ] {
            out.push_str(&format!(
                "<rect class=\"{class} legend\" x=\"{x:.1}\" y=\"{}\" width=\"10\" height=\"10\"/><text class=\"label legend\" x=\"{:.1}\" y=\"{}\">{text}</text>",
                H - 18.0,
                x + 14.0,
                H - 9.0
            ));
            x += 14.0 + 7.0 * text.len() as f64 + 16.0;
        }
        out.push_str("</svg>");
        out
    }
}

/// A marker's label right of the line at `x`, or left of it (anchored at its end) when it would run past
/// `right`: never clipped at the chart's edge.
fn label(class: &str, x: f64, y: f64, text: &str, right: f64) -> String {
    // About 6.5 px a character at 11 px.
    let width = 6.5 * text.chars().count() as f64;
    let (x, anchor) = if x + 3.0 + width > right {
        (x - 3.0, "end")
    } else {
        (x + 3.0, "start")
    };
    format!("<text class=\"label {class}\" x=\"{x:.1}\" y=\"{y}\" text-anchor=\"{anchor}\">{text}</text>")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn hours_near_the_deadline_stack_on_time_and_late() {
        let deadline = t("2026-02-01T12:00:00Z");
        let pushes = [
            (t("2026-02-01T10:10:00Z"), false, 1),
            (t("2026-02-01T10:50:00Z"), false, 1),
            (t("2026-02-01T12:30:00Z"), true, 1),
        ];
        let c = Chart::new(&pushes, (t("2026-01-01T00:00:00Z"), deadline), &[], "UTC").unwrap();
        assert!(c.svg().contains(">0</text>"), "a 0 tick");
        assert!(c.buckets.iter().all(|b| b.early == 0));
        assert_eq!(c.unit(), "hour");
        assert_eq!(c.buckets.len(), 3);
        assert_eq!((c.buckets[0].on_time, c.buckets[0].late), (2, 0));
        assert_eq!((c.buckets[2].on_time, c.buckets[2].late), (0, 1));
        let svg = c.svg();
        assert_eq!(svg.matches("class=\"on-time\"").count(), 1);
        assert_eq!(svg.matches("class=\"late\"").count(), 1);
        assert!(svg.contains("class=\"deadline\""));
    }

    #[test]
    fn a_long_session_goes_by_days_and_stays_bounded() {
        let deadline = t("2026-06-01T00:00:00Z");
        let pushes = [
            (t("2026-01-01T00:00:00Z"), false, 1),
            (t("2026-05-30T08:00:00Z"), false, 1),
        ];
        let c = Chart::new(&pushes, (t("2026-01-01T00:00:00Z"), deadline), &[], "UTC").unwrap();
        assert!(c.width >= Duration::days(1));
        assert!(c.buckets.len() as i64 <= MAX_BUCKETS + 1);
        assert_eq!(c.buckets.iter().map(|b| b.on_time).sum::<u32>(), 2);
    }

    /// Los Angeles: a 23:30 local push (07:30 UTC the next day) is in its local day; the deadline splits
    /// its day, late pushes to its right.
    #[test]
    fn a_los_angeles_chart_is_in_local_days_and_split_at_the_deadline() {
        let deadline = t("2026-03-05T20:00:00-08:00");
        let pushes = [
            (t("2026-03-01T09:00:00-08:00"), false, 1),
            (t("2026-03-02T23:30:00-08:00"), false, 1),
            (t("2026-03-05T10:00:00-08:00"), false, 1),
            (t("2026-03-05T21:00:00-08:00"), true, 1),
        ];
        let c = Chart::new(
            &pushes,
            (t("2026-02-01T00:00:00Z"), deadline),
            &[],
            "America/Los_Angeles",
        )
        .unwrap();
        assert_eq!(c.unit(), "day");
        // Buckets start at local midnight.
        assert_eq!(c.local(c.buckets[0].start), "2026-03-01 00:00 -08:00");
        let day2 = c
            .buckets
            .iter()
            .find(|b| c.local(b.start).starts_with("2026-03-02"))
            .expect("March 2");
        assert_eq!(day2.on_time, 1, "23:30 local stays on March 2");
        let split = c
            .buckets
            .iter()
            .position(|b| b.start == deadline)
            .expect("a bucket starts at the deadline");
        assert!(c.buckets[..split].iter().all(|b| b.late == 0));
        assert_eq!(c.buckets[split..].iter().map(|b| b.late).sum::<u32>(), 1);
        assert_eq!(c.buckets[split - 1].on_time, 1, "March 5, 10:00, before it");
    }

    #[test]
    fn no_pushes_no_chart() {
        assert!(Chart::new(
            &[],
            (t("2026-01-01T00:00:00Z"), t("2026-06-01T00:00:00Z")),
            &[],
            "UTC"
        )
        .is_none());
    }

    #[test]
    fn extensions_are_marked_and_labels_are_local() {
        let deadline = t("2026-02-01T12:00:00Z");
        let pushes = [(t("2026-02-01T10:10:00Z"), false, 1)];
        let ext = [("alice".to_owned(), t("2026-02-01T15:00:00Z"))];
        let c = Chart::new(
            &pushes,
            (t("2026-01-01T00:00:00Z"), deadline),
            &ext,
            "Europe/Paris",
        )
        .unwrap();
        // The span reaches the extension.
        assert_eq!(c.buckets.len(), 6);
        let svg = c.svg();
        assert_eq!(svg.matches("class=\"extension\"").count(), 1);
        assert_eq!(svg.matches("class=\"deadline\"").count(), 1);
        // 10:00 UTC is 11:00 in Paris.
        assert!(svg.contains(">02-01 11:00<"), "{svg}");
        assert!(svg.contains("text-anchor=\"start\">extension<"), "{svg}");
        assert_eq!(c.local(deadline), "2026-02-01 13:00 +01:00");
        // A marker at the right edge: its label runs left of its line, not off the chart.
        assert!(label("extension-label", 789.0, 44.0, "extension", 790.0)
            .contains("x=\"786.0\" y=\"44\" text-anchor=\"end\""));
    }

    /// Pushes before the session opened are their own series (bottom of the stack, in the legend).
    #[test]
    fn early_pushes_are_their_own_series() {
        let opens = t("2026-02-01T09:00:00Z");
        let deadline = t("2026-02-01T12:00:00Z");
        let pushes = [
            (t("2026-02-01T08:10:00Z"), false, 1),
            (t("2026-02-01T08:20:00Z"), false, 1),
            (t("2026-02-01T10:10:00Z"), false, 1),
            (t("2026-02-01T12:30:00Z"), true, 1),
        ];
        let c = Chart::new(&pushes, (opens, deadline), &[], "UTC").unwrap();
        let sum = |f: fn(&Bucket) -> u32| c.buckets.iter().map(f).sum::<u32>();
        assert_eq!(sum(|b| b.early), 2);
        assert_eq!(sum(|b| b.on_time), 1);
        assert_eq!(sum(|b| b.late), 1);
        assert_eq!((c.buckets[0].early, c.buckets[0].on_time), (2, 0));
        let svg = c.svg();
        assert_eq!(svg.matches("<rect class=\"early\"").count(), 1);
        assert!(svg.contains("class=\"early legend\""), "{svg}");
        assert!(svg.contains(">early (before opening)</text>"), "{svg}");
    }
}
