//! Results as memtier prints them: the "ALL STATS" table, the latency distribution, and a
//! JSON file in memtier's `--json-out-file` layout (so one parser reads both tools).

use std::io::{self, Write};

use serde_json::{json, Map, Value};

use crate::args::Config;
use crate::generator::RunResult;
use crate::histogram::CmdStats;

/// One row of the table (rates per second, latencies in ms).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CmdSummary {
    pub count: u64,
    pub ops_sec: f64,
    pub hits_sec: f64,
    pub misses_sec: f64,
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub kb_sec: f64,
}

/// The three rows memtier prints (Waits is always zero here and omitted).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub sets: CmdSummary,
    pub gets: CmdSummary,
    pub totals: CmdSummary,
    pub duration_ms: u64,
}

impl CmdSummary {
    pub fn from_stats(s: &CmdStats, secs: f64) -> Self {
        let secs = secs.max(1e-9);
        CmdSummary {
            count: s.ops,
            ops_sec: s.ops as f64 / secs,
            hits_sec: s.hits as f64 / secs,
            misses_sec: s.misses as f64 / secs,
            avg_ms: s.avg_ms(),
            p50_ms: s.percentile_ms(50.0),
            p99_ms: s.percentile_ms(99.0),
            p999_ms: s.percentile_ms(99.9),
            kb_sec: (s.bytes_rx + s.bytes_tx) as f64 / 1024.0 / secs,
        }
    }
}

impl Summary {
    pub fn from_run(r: &RunResult) -> Self {
        let secs = r.duration.as_secs_f64();
        Summary {
            sets: CmdSummary::from_stats(&r.stats.sets, secs),
            gets: CmdSummary::from_stats(&r.stats.gets, secs),
            totals: CmdSummary::from_stats(&r.stats.totals(), secs),
            duration_ms: r.duration.as_millis() as u64,
        }
    }
}

/// Prints the "ALL STATS" table.
pub fn print_table(out: &mut impl Write, s: &Summary) -> io::Result<()> {
    let rule = "=".repeat(136);
    writeln!(out, "\nALL STATS\n{rule}")?;
    writeln!(
        out,
        "{:<6} {:>12} {:>12} {:>12} {:>15} {:>15} {:>15} {:>15} {:>12}",
        "Type",
        "Ops/sec",
        "Hits/sec",
        "Misses/sec",
        "Avg. Latency",
        "p50 Latency",
        "p99 Latency",
        "p99.9 Latency",
        "KB/sec"
    )?;
    writeln!(out, "{}", "-".repeat(136))?;
    for (name, c, hits) in [
        ("Sets", &s.sets, false),
        ("Gets", &s.gets, true),
        ("Totals", &s.totals, true),
    ] {
        let (h, m) = if hits {
            (format!("{:.2}", c.hits_sec), format!("{:.2}", c.misses_sec))
        } else {
            ("---".to_string(), "---".to_string())
        };
        writeln!(
            out,
            "{:<6} {:>12.2} {:>12} {:>12} {:>15.5} {:>15.5} {:>15.5} {:>15.5} {:>12.2}",
            name, c.ops_sec, h, m, c.avg_ms, c.p50_ms, c.p99_ms, c.p999_ms, c.kb_sec
        )?;
    }
    Ok(())
}

/// Prints the cumulative latency distribution of each command type.
pub fn print_histograms(out: &mut impl Write, r: &RunResult) -> io::Result<()> {
    writeln!(out, "\n\nRequest Latency Distribution")?;
    writeln!(out, "{:<6} {:>12} {:>12}", "Type", "<= msec", "Percent")?;
    writeln!(out, "{}", "-".repeat(40))?;
    for (name, st) in [("SET", &r.stats.sets), ("GET", &r.stats.gets)] {
        for v in st.latency_us.iter_recorded() {
            writeln!(
                out,
                "{:<6} {:>12.3} {:>12.3}",
                name,
                st.latency_us.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
                v.percentile()
            )?;
        }
        if st.ops > 0 {
            writeln!(out, "---")?;
        }
    }
    Ok(())
}

fn cmd_json(c: &CmdSummary, st: &CmdStats) -> Value {
    let secs = if c.ops_sec > 0.0 {
        c.count as f64 / c.ops_sec
    } else {
        0.0
    };
    let kb = |b: u64| {
        if secs > 0.0 {
            b as f64 / 1024.0 / secs
        } else {
            0.0
        }
    };
    json!({
        "Count": c.count,
        "Ops/sec": c.ops_sec,
        "Hits/sec": c.hits_sec,
        "Misses/sec": c.misses_sec,
        "Errors": st.errors,
        "Latency": c.avg_ms,
        "Average Latency": c.avg_ms,
        "Min Latency": if st.ops > 0 { st.latency_us.min() as f64 / 1000.0 } else { 0.0 },
        "Max Latency": if st.ops > 0 { st.latency_us.max() as f64 / 1000.0 } else { 0.0 },
        "KB/sec": c.kb_sec,
        "KB/sec RX": kb(st.bytes_rx),
        "KB/sec TX": kb(st.bytes_tx),
        "Percentile Latencies": {
            "p50.00": c.p50_ms,
            "p99.00": c.p99_ms,
            "p99.90": c.p999_ms,
        },
    })
}

/// The run as memtier's `--json-out-file` lays it out ("ALL STATS" → Sets/Gets/Totals).
pub fn to_json(cfg: &Config, r: &RunResult) -> Value {
    let s = Summary::from_run(r);
    let mut all = Map::new();
    all.insert("Sets".into(), cmd_json(&s.sets, &r.stats.sets));
    all.insert("Gets".into(), cmd_json(&s.gets, &r.stats.gets));
    all.insert("Totals".into(), cmd_json(&s.totals, &r.stats.totals()));
    all.insert(
        "Runtime".into(),
        json!({
            "Start time": r.start_ms,
            "Finish time": r.end_ms,
            "Total duration": s.duration_ms,
            "Time unit": "MILLISECONDS",
        }),
    );
    json!({
        "configuration": {
            "server": cfg.server,
            "port": cfg.port,
            "protocol": cfg.protocol.name(),
            "threads": cfg.threads,
            "clients": cfg.clients,
            "pipeline": cfg.pipeline,
            "ratio": format!("{}:{}", cfg.ratio_set, cfg.ratio_get),
            "data_size": cfg.data_size,
            "key_minimum": cfg.key_minimum,
            "key_maximum": cfg.key_maximum,
            "key_prefix": cfg.key_prefix,
            "requests": cfg.requests,
            "test_time": cfg.test_time,
        },
        "ALL STATS": Value::Object(all),
    })
}

/// Prints everything the generator prints at the end and writes the JSON file if asked.
pub fn finish(cfg: &Config, r: &RunResult) -> io::Result<()> {
    let errors = r.stats.sets.errors + r.stats.gets.errors;
    if errors > 0 {
        eprintln!("warning: the server answered {errors} requests with an error");
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "{cfg}")?;
    print_table(&mut out, &Summary::from_run(r))?;
    if !cfg.hide_histogram {
        print_histograms(&mut out, r)?;
    }
    if let Some(p) = &cfg.json_out_file {
        let text = serde_json::to_string_pretty(&to_json(cfg, r)).map_err(io::Error::other)?;
        std::fs::write(p, text)?;
    }
    Ok(())
}
