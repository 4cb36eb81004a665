//! Log lines: one per event, with time, level, component and message, as text or as one JSON
//! object per line (`--log-format json`) for log shippers. Levels follow Redis's names.

use std::io::Write;

/// The `log` filter for a Redis `loglevel` name: verbose is one step below notice, so client
/// connects and disconnects (logged at debug) show only when asked for.
pub fn filter_for(loglevel: &str) -> &'static str {
    match loglevel {
        "debug" => "trace",
        "verbose" => "debug",
        "warning" => "warn",
        "error" => "error",
        "nothing" => "off",
        _ => "info", // notice (the default) and info
    }
}

/// Installs the process's logger. `RUST_LOG` still overrides the level, as usual.
pub fn init(loglevel: &str, json: bool) {
    let mut builder = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or(filter_for(loglevel)),
    );
    builder.format(move |buf, record| {
        let time = buf.timestamp_millis();
        let component = component(record.target());
        if json {
            let mut line = String::with_capacity(96);
            line.push_str("{\"time\":\"");
            line.push_str(&time.to_string());
            line.push_str("\",\"level\":\"");
            line.push_str(record.level().as_str());
            line.push_str("\",\"component\":");
            push_json_string(&mut line, component);
            line.push_str(",\"message\":");
            push_json_string(&mut line, &record.args().to_string());
            line.push('}');
            writeln!(buf, "{line}")
        } else {
            writeln!(
                buf,
                "{time} {:<5} {component}: {}",
                record.level(),
                record.args()
            )
        }
    });
    builder.init();
}

/// `damselfly_coordinator::conn` → `coordinator::conn`.
fn component(target: &str) -> &str {
    target.strip_prefix("damselfly_").unwrap_or(target)
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        let mut s = String::new();
        push_json_string(&mut s, "a\"b\\c\nd\u{1}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é\"");
    }

    #[test]
    fn redis_levels_map_to_filters() {
        assert_eq!(filter_for("notice"), "info");
        assert_eq!(filter_for("verbose"), "debug");
        assert_eq!(filter_for("debug"), "trace");
        assert_eq!(filter_for("warning"), "warn");
        assert_eq!(filter_for("nothing"), "off");
        assert_eq!(
            component("damselfly_coordinator::conn"),
            "coordinator::conn"
        );
    }
}
