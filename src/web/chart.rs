//! The pushes-over-time chart of a session page: pushes per hour (a span of up to three days) or per
//! day, on-time and late stacked, the deadline and each student's extension marked; server-rendered SVG
//! with a table as its text alternative, times in the session's time zone. Pure: no I/O.

use chrono::{DateTime, Duration, DurationRound as _, Utc};

use crate::domain::session::local_time;

/// One bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub on_time: u32,
    pub late: u32,
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

/// More buckets than this are merged (a session open for months).
const MAX_BUCKETS: i64 = 120;

impl Chart {
    /// Bucket `pushes` (push time, late?) around `deadline` and the `extensions` (student, deadline);
    /// `None` without pushes.
    pub fn new(
        pushes: &[(DateTime<Utc>, bool)],
        deadline: DateTime<Utc>,
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
        let start = first.duration_trunc(width).unwrap_or(first);
        let count = ((last - start).num_seconds() / width.num_seconds()) as usize + 1;
        let mut buckets: Vec<Bucket> = (0..count)
            .map(|i| Bucket {
                start: start + width * i as i32,
                on_time: 0,
                late: 0,
            })
            .collect();
        for (at, late) in pushes {
            let i = ((*at - start).num_seconds() / width.num_seconds()) as usize;
            if let Some(b) = buckets.get_mut(i) {
                if *late {
                    b.late += 1;
                } else {
                    b.on_time += 1;
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
        const H: f64 = 260.0;
        const LEFT: f64 = 40.0;
        const TOP: f64 = 20.0;
        const PLOT_W: f64 = 750.0;
        const PLOT_H: f64 = 200.0;
        let max = self
            .buckets
            .iter()
            .map(|b| b.on_time + b.late)
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
        out.push_str(&format!(
            "<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{max}</text>",
            LEFT - 4.0,
            TOP + 4.0
        ));
        for (i, b) in self.buckets.iter().enumerate() {
            let x = LEFT + bar_w * i as f64;
            let w = (bar_w - 1.0).max(0.5);
            if b.on_time > 0 {
                out.push_str(&format!(
                    "<rect class=\"on-time\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\"/>",
                    y(b.on_time),
                    TOP + PLOT_H - y(b.on_time)
                ));
            }
            if b.late > 0 {
                let top = y(b.on_time + b.late);
                out.push_str(&format!(
                    "<rect class=\"late\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{w:.1}\" height=\"{:.1}\"/>",
                    y(b.on_time) - top
                ));
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
                LEFT + bar_w * (t - first.start).num_seconds() as f64
                    / self.width.num_seconds() as f64
            };
            for (_, at) in &self.extensions {
                let x = x_of(*at);
                out.push_str(&format!(
                    "<line class=\"extension\" x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{}\"/>",
                    TOP + PLOT_H
                ));
            }
            if !self.extensions.is_empty() {
                let x = x_of(self.extensions[self.extensions.len() - 1].1);
                out.push_str(&format!(
                    "<text class=\"label extension-label\" x=\"{:.1}\" y=\"{}\">extension</text>",
                    x + 3.0,
                    TOP + 24.0
                ));
            }
            let x = x_of(self.deadline);
            out.push_str(&format!(
                "<line class=\"deadline\" x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{}\"/><text class=\"label deadline-label\" x=\"{:.1}\" y=\"{}\">deadline</text>",
                TOP + PLOT_H,
                x + 3.0,
                TOP + 10.0
            ));
        }
        out.push_str("</svg>");
        out
    }
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
            (t("2026-02-01T10:10:00Z"), false),
            (t("2026-02-01T10:50:00Z"), false),
            (t("2026-02-01T12:30:00Z"), true),
        ];
        let c = Chart::new(&pushes, deadline, &[], "UTC").unwrap();
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
            (t("2026-01-01T00:00:00Z"), false),
            (t("2026-05-30T08:00:00Z"), false),
        ];
        let c = Chart::new(&pushes, deadline, &[], "UTC").unwrap();
        assert!(c.width >= Duration::days(1));
        assert!(c.buckets.len() as i64 <= MAX_BUCKETS + 1);
        assert_eq!(c.buckets.iter().map(|b| b.on_time).sum::<u32>(), 2);
    }

    #[test]
    fn no_pushes_no_chart() {
        assert!(Chart::new(&[], t("2026-06-01T00:00:00Z"), &[], "UTC").is_none());
    }

    #[test]
    fn extensions_are_marked_and_labels_are_local() {
        let deadline = t("2026-02-01T12:00:00Z");
        let pushes = [(t("2026-02-01T10:10:00Z"), false)];
        let ext = [("alice".to_owned(), t("2026-02-01T15:00:00Z"))];
        let c = Chart::new(&pushes, deadline, &ext, "Europe/Paris").unwrap();
        // The span reaches the extension.
        assert_eq!(c.buckets.len(), 6);
        let svg = c.svg();
        assert_eq!(svg.matches("class=\"extension\"").count(), 1);
        assert_eq!(svg.matches("class=\"deadline\"").count(), 1);
        // 10:00 UTC is 11:00 in Paris.
        assert!(svg.contains(">02-01 11:00<"), "{svg}");
        assert_eq!(c.local(deadline), "2026-02-01 13:00 +01:00");
    }
}
