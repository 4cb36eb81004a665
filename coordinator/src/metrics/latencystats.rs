//! INFO latencystats: `latency_percentiles_usec_<command>:p50=...,p99=...,p99.9=...` per
//! command and subcommand that has run, from the same histograms as LATENCY HISTOGRAM.

use crate::registry::Registry;
use crate::server::ServerState;

/// Validates `latency-tracking-info-percentiles`: space-separated numbers in 0..=100,
/// stored as Redis prints them (`%f` without trailing zeros).
pub fn validate_percentiles(value: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for word in value.split_whitespace() {
        let p: f64 = word
            .parse()
            .map_err(|_| "Invalid latency-tracking-info-percentiles parameters".to_string())?;
        if !(0.0..=100.0).contains(&p) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .into(),
            );
        }
        out.push(percentile_text(p));
    }
    Ok(out.join(" "))
}

/// A percentile as Redis names it: six decimals, trailing zeros (and a bare point) dropped.
pub fn percentile_text(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The percentiles configured, as numbers and as their printed names.
fn configured(server: &ServerState) -> Vec<(f64, String)> {
    let text = server
        .config
        .get("latency-tracking-info-percentiles")
        .unwrap_or_default();
    text.split_whitespace()
        .filter_map(|w| Some((w.parse().ok()?, w.to_string())))
        .collect()
}

/// The section's lines; none while `latency-tracking` is off (as Redis prints it).
pub fn lines(server: &ServerState) -> Vec<String> {
    if !server.client_limits.latency_tracking() {
        return Vec::new();
    }
    let percentiles = configured(server);
    let merged = crate::latency::merged_histograms();
    let mut lines = Vec::new();
    for c in Registry::get().commands() {
        for name in std::iter::once(c.name).chain(c.subcommands.iter().map(|s| s.name)) {
            let Some((_, h)) = merged.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            if h.total == 0 {
                continue;
            }
            let values: Vec<String> = percentiles
                .iter()
                .map(|(p, text)| format!("p{text}={:.3}", h.percentile(*p) as f64 / 1000.0))
                .collect();
            lines.push(format!(
                "latency_percentiles_usec_{name}:{}",
                values.join(",")
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_validated_and_printed_as_redis_does() {
        assert_eq!(validate_percentiles("50 99 99.9").unwrap(), "50 99 99.9");
        assert_eq!(
            validate_percentiles("0 100 99.99 50.5 1e1").unwrap(),
            "0 100 99.99 50.5 10"
        );
        assert_eq!(validate_percentiles("").unwrap(), "");
        assert_eq!(
            validate_percentiles("50 101").unwrap_err(),
            "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
        );
        assert!(validate_percentiles("-1")
            .unwrap_err()
            .contains("should sit between"));
        assert!(validate_percentiles("nan")
            .unwrap_err()
            .contains("should sit between"));
        assert_eq!(
            validate_percentiles("abc").unwrap_err(),
            "Invalid latency-tracking-info-percentiles parameters"
        );
        assert_eq!(percentile_text(99.9), "99.9");
        assert_eq!(percentile_text(0.0), "0");
    }
}
