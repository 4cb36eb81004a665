//! The Prometheus text exposition format (version 0.0.4): for each metric family a `# HELP`
//! and a `# TYPE` line, then its samples, `name{label="value",...} number`.

use std::fmt::Write as _;

/// The Content-Type scrapers expect for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Builds an exposition text.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

/// A sample's labels, as (name, value) pairs.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

impl Exposition {
    /// Starts a metric family: `kind` is "counter", "gauge" or "histogram".
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = write!(self.out, "# HELP {name} ");
        escape_into(&mut self.out, help, false);
        let _ = write!(self.out, "\n# TYPE {name} {kind}\n");
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: Labels<'_>, value: f64) {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        self.out.push(' ');
        write_number(&mut self.out, value);
        self.out.push('\n');
    }

    /// A family with a single unlabeled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// One histogram series of the current (histogram) family: cumulative `buckets` as
    /// (upper bound, observations at most that), then `+Inf`, `_sum` and `_count`.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: Labels<'_>,
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) {
        let mut le = String::new();
        for &(bound, n) in buckets {
            le.clear();
            write_number(&mut le, bound);
            let _ = write!(self.out, "{name}_bucket");
            write_labels(&mut self.out, labels, Some(&le));
            let _ = writeln!(self.out, " {n}");
        }
        let _ = write!(self.out, "{name}_bucket");
        write_labels(&mut self.out, labels, Some("+Inf"));
        let _ = writeln!(self.out, " {count}");
        let _ = write!(self.out, "{name}_sum");
        write_labels(&mut self.out, labels, None);
        self.out.push(' ');
        write_number(&mut self.out, sum);
        self.out.push('\n');
        let _ = write!(self.out, "{name}_count");
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {count}");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: Labels<'_>, le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        escape_into(out, v, true);
        out.push('"');
    }
    out.push('}');
}

/// Escapes a HELP text (backslash, newline) or a label value (also the double quote).
fn escape_into(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A number as Prometheus parses it: integers without a fraction, `+Inf`/`-Inf`/`NaN`.
fn write_number(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escaping() {
        let mut e = Exposition::default();
        e.single("up_seconds", "gauge", "Seconds up.\nSecond \\ line", 12.0);
        e.family("errors_total", "counter", "Errors by type.");
        e.sample("errors_total", &[("type", "W\"E\\IRD\n")], 3.0);
        e.sample("errors_total", &[("type", "ERR"), ("db", "0")], 0.5);
        assert_eq!(
            e.finish(),
            "# HELP up_seconds Seconds up.\\nSecond \\\\ line\n# TYPE up_seconds gauge\n\
             up_seconds 12\n\
             # HELP errors_total Errors by type.\n# TYPE errors_total counter\n\
             errors_total{type=\"W\\\"E\\\\IRD\\n\"} 3\n\
             errors_total{type=\"ERR\",db=\"0\"} 0.5\n"
        );
    }

    #[test]
    fn histogram_series() {
        let mut e = Exposition::default();
        e.family("lat_seconds", "histogram", "Latency.");
        e.histogram(
            "lat_seconds",
            &[("cmd", "get")],
            &[(0.000001031, 2), (0.5, 3)],
            0.25,
            4,
        );
        assert_eq!(
            e.finish(),
            "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n\
             lat_seconds_bucket{cmd=\"get\",le=\"0.000001031\"} 2\n\
             lat_seconds_bucket{cmd=\"get\",le=\"0.5\"} 3\n\
             lat_seconds_bucket{cmd=\"get\",le=\"+Inf\"} 4\n\
             lat_seconds_sum{cmd=\"get\"} 0.25\n\
             lat_seconds_count{cmd=\"get\"} 4\n"
        );
        let mut n = String::new();
        write_number(&mut n, f64::INFINITY);
        write_number(&mut n, f64::NAN);
        write_number(&mut n, 1e21);
        assert_eq!(n, "+InfNaN1000000000000000000000");
    }
}
