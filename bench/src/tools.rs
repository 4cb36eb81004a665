//! The load tools the runner can drive: this crate's own generator, memtier_benchmark
//! (its `--json-out-file`) and redis-benchmark (its `--csv` output).

use std::io;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::args::Config;
use crate::report::{CmdSummary, Summary};

/// Which program generates the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Builtin,
    Memtier,
    RedisBenchmark,
}

impl Tool {
    pub fn parse(s: &str) -> Result<Tool, String> {
        match s {
            "builtin" | "damselfly-bench" => Ok(Tool::Builtin),
            "memtier" | "memtier_benchmark" => Ok(Tool::Memtier),
            "redis-benchmark" => Ok(Tool::RedisBenchmark),
            _ => Err(format!(
                "unknown --tool {s:?} (builtin|memtier|redis-benchmark)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tool::Builtin => "builtin",
            Tool::Memtier => "memtier",
            Tool::RedisBenchmark => "redis-benchmark",
        }
    }
}

/// What the runner needs from one run of any tool.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    pub ops: u64,
    pub ops_sec: f64,
    pub p99_ms: f64,
}

impl From<&Summary> for Measurement {
    fn from(s: &Summary) -> Self {
        Measurement {
            ops: s.totals.count,
            ops_sec: s.totals.ops_sec,
            p99_ms: s.totals.p99_ms,
        }
    }
}

fn num(v: &Value, key: &str) -> f64 {
    match v.get(key) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn cmd_from_json(v: &Value) -> CmdSummary {
    let mut c = CmdSummary {
        count: num(v, "Count") as u64,
        ops_sec: num(v, "Ops/sec"),
        hits_sec: num(v, "Hits/sec"),
        misses_sec: num(v, "Misses/sec"),
        avg_ms: match v.get("Average Latency") {
            Some(_) => num(v, "Average Latency"),
            None => num(v, "Latency"),
        },
        kb_sec: num(v, "KB/sec"),
        ..Default::default()
    };
    // Keys look like "p50.00", "p99.00", "p99.90" (memtier cuts "%.3f" to 6 characters).
    if let Some(Value::Object(p)) = v.get("Percentile Latencies") {
        for (k, val) in p {
            let Some(q) = k.strip_prefix('p').and_then(|q| q.parse::<f64>().ok()) else {
                continue;
            };
            let ms = val.as_f64().unwrap_or(0.0);
            if (q - 50.0).abs() < 1e-6 {
                c.p50_ms = ms;
            } else if (q - 99.0).abs() < 1e-6 {
                c.p99_ms = ms;
            } else if (q - 99.9).abs() < 1e-6 {
                c.p999_ms = ms;
            }
        }
    }
    c
}

/// Reads memtier_benchmark's `--json-out-file` (or this crate's, which has the same shape).
pub fn parse_memtier_json(text: &str) -> Result<Summary, String> {
    // Some memtier versions print "nan"/"-nan" for empty rows, which is not JSON.
    let cleaned = text
        .replace(": -nan", ": 0")
        .replace(":-nan", ":0")
        .replace(": nan", ": 0")
        .replace(":nan", ":0");
    let root: Value = serde_json::from_str(&cleaned).map_err(|e| format!("memtier JSON: {e}"))?;
    let all = root
        .get("ALL STATS")
        .ok_or("memtier JSON has no \"ALL STATS\"")?;
    let totals = all.get("Totals").ok_or("memtier JSON has no Totals")?;
    let row = |name: &str| all.get(name).map(cmd_from_json).unwrap_or_default();
    let duration_ms = all
        .get("Runtime")
        .or_else(|| root.get("Runtime"))
        .map(|r| num(r, "Total duration") as u64)
        .unwrap_or(0);
    Ok(Summary {
        sets: row("Sets"),
        gets: row("Gets"),
        totals: cmd_from_json(totals),
        duration_ms,
    })
}

/// One line of `redis-benchmark --csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvRow {
    pub test: String,
    pub rps: f64,
    pub avg_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Parses `redis-benchmark --csv`: redis 7 prints a header
/// (`"test","rps","avg_latency_ms",...,"p99_latency_ms",...`), older ones only
/// `"TEST","rps"` lines. Lines that are not CSV rows (progress output) are skipped.
pub fn parse_redis_benchmark_csv(text: &str) -> Result<Vec<CsvRow>, String> {
    let mut columns: Vec<String> = vec!["test".into(), "rps".into()];
    let mut rows = Vec::new();
    for line in text.lines().map(str::trim) {
        if !line.starts_with('"') {
            continue;
        }
        let f = csv_fields(line);
        if f.first().map(String::as_str) == Some("test") {
            columns = f;
            continue;
        }
        let col = |name: &str| -> Option<f64> {
            let i = columns.iter().position(|c| c == name)?;
            f.get(i)?.parse().ok()
        };
        let rps = col("rps").ok_or_else(|| format!("no rps in CSV line {line:?}"))?;
        rows.push(CsvRow {
            test: f[0].clone(),
            rps,
            avg_ms: col("avg_latency_ms"),
            p50_ms: col("p50_latency_ms"),
            p99_ms: col("p99_latency_ms"),
        });
    }
    if rows.is_empty() {
        return Err("redis-benchmark printed no CSV rows".into());
    }
    Ok(rows)
}

/// Folds redis-benchmark's per-test rows (run one after another, `n` requests each) into
/// one measurement: total requests over total time, and the worst p99.
pub fn combine_csv_rows(rows: &[CsvRow], n: u64) -> Measurement {
    let secs: f64 = rows.iter().map(|r| n as f64 / r.rps.max(1e-9)).sum();
    let ops = n * rows.len() as u64;
    Measurement {
        ops,
        ops_sec: ops as f64 / secs.max(1e-9),
        p99_ms: rows.iter().filter_map(|r| r.p99_ms).fold(0.0, f64::max),
    }
}

/// The `-n` of a redis-benchmark argument list (its default is 100000).
pub fn redis_benchmark_requests(args: &[String]) -> u64 {
    args.iter()
        .position(|a| a == "-n")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// Whether `prog` is on PATH.
pub fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

fn with_taskset(prog: &str, cpus: Option<&str>) -> Command {
    match cpus {
        Some(c) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(c).arg(prog);
            cmd
        }
        None => Command::new(prog),
    }
}

/// Runs one workload with `tool` against 127.0.0.1:`port`.
pub fn run_tool(
    tool: Tool,
    args: &[String],
    port: u16,
    client_cpu: Option<&str>,
) -> io::Result<Measurement> {
    match tool {
        Tool::Builtin => {
            let mut cfg = Config::parse(args).map_err(io::Error::other)?;
            cfg.server = "127.0.0.1".into();
            cfg.port = port;
            let r = crate::generator::run(&cfg)?;
            Ok(Measurement::from(&Summary::from_run(&r)))
        }
        Tool::Memtier => {
            let json = std::env::temp_dir().join(format!(
                "damselfly-bench-memtier-{}-{port}.json",
                std::process::id()
            ));
            let status = with_taskset("memtier_benchmark", client_cpu)
                .args(["--server", "127.0.0.1", "--port"])
                .arg(port.to_string())
                .arg("--json-out-file")
                .arg(&json)
                .args(args)
                .stdout(Stdio::null())
                .status()?;
            if !status.success() {
                return Err(io::Error::other(format!("memtier_benchmark: {status}")));
            }
            let text = std::fs::read_to_string(&json)?;
            let _ = std::fs::remove_file(&json);
            let s = parse_memtier_json(&text).map_err(io::Error::other)?;
            Ok(Measurement::from(&s))
        }
        Tool::RedisBenchmark => {
            let out = with_taskset("redis-benchmark", client_cpu)
                .args(["-h", "127.0.0.1", "-p"])
                .arg(port.to_string())
                .arg("--csv")
                .args(args)
                .stderr(Stdio::inherit())
                .output()?;
            if !out.status.success() {
                return Err(io::Error::other(format!("redis-benchmark: {}", out.status)));
            }
            let rows = parse_redis_benchmark_csv(&String::from_utf8_lossy(&out.stdout))
                .map_err(io::Error::other)?;
            Ok(combine_csv_rows(&rows, redis_benchmark_requests(args)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Trimmed from a real memtier_benchmark 2.x --json-out-file.
    const MEMTIER_JSON: &str = r#"{
"configuration" : { "server": "127.0.0.1", "port": 6379, "threads": 2 },
"run information" : { "Total clients": 100 },
"ALL STATS" : {
  "Sets" : { "Count": 18190, "Ops/sec": 9094.66, "Hits/sec": 0.00, "Misses/sec": 0.00,
    "Latency": 0.996, "Average Latency": 0.996, "Min Latency": 0.071, "Max Latency": 7.327,
    "KB/sec": 700.47,
    "Percentile Latencies": { "p50.00": 0.951, "p99.00": 2.191, "p99.90": 3.583,
      "Histogram log format": { "Compressed Histogram": "HISTFAAAA" } } },
  "Gets" : { "Count": 181808, "Ops/sec": 90898.23, "Hits/sec": 8976.42, "Misses/sec": 81921.81,
    "Latency": 0.993, "Average Latency": 0.993, "KB/sec": 3891.88,
    "Percentile Latencies": { "p50.00": 0.943, "p99.00": 2.175, "p99.90": 3.519 } },
  "Waits" : { "Count": 0, "Ops/sec": 0.00, "Hits/sec": 0.00, "Misses/sec": 0.00,
    "Latency": -nan, "KB/sec": 0.00 },
  "Totals" : { "Count": 199998, "Ops/sec": 99992.89, "Hits/sec": 8976.42, "Misses/sec": 81921.81,
    "Latency": 0.993, "Average Latency": 0.993, "KB/sec": 4592.35,
    "Percentile Latencies": { "p50.00": 0.943, "p99.00": 2.175, "p99.90": 3.551 } },
  "Runtime" : { "Start time": 1700000000000, "Finish time": 1700000002000,
    "Total duration": 2000, "Time unit": "MILLISECONDS" }
}
}"#;

    #[test]
    fn memtier_json() {
        let s = parse_memtier_json(MEMTIER_JSON).unwrap();
        assert_eq!(s.totals.count, 199998);
        assert!((s.totals.ops_sec - 99992.89).abs() < 1e-6);
        assert!((s.totals.p99_ms - 2.175).abs() < 1e-9);
        assert!((s.totals.p999_ms - 3.551).abs() < 1e-9);
        assert!((s.sets.p50_ms - 0.951).abs() < 1e-9);
        assert!((s.gets.hits_sec - 8976.42).abs() < 1e-6);
        assert!((s.gets.avg_ms - 0.993).abs() < 1e-9);
        assert_eq!(s.duration_ms, 2000);
        let m = Measurement::from(&s);
        assert_eq!(m.ops, 199998);
        assert!(parse_memtier_json("{}").is_err());
        assert!(parse_memtier_json("not json").is_err());
    }

    #[test]
    fn redis7_csv() {
        let text = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\
                    \"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                    \"SET\",\"100000.00\",\"0.271\",\"0.080\",\"0.263\",\"0.383\",\"0.535\",\"1.127\"\n\
                    \"GET\",\"200000.00\",\"0.131\",\"0.040\",\"0.127\",\"0.183\",\"0.735\",\"0.927\"\n";
        let rows = parse_redis_benchmark_csv(text).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].test, "SET");
        assert_eq!(rows[1].rps, 200000.0);
        assert_eq!(rows[0].p99_ms, Some(0.535));
        assert_eq!(rows[1].avg_ms, Some(0.131));
        // 100k SETs take 1 s, 100k GETs 0.5 s: 200k ops in 1.5 s.
        let m = combine_csv_rows(&rows, 100_000);
        assert_eq!(m.ops, 200_000);
        assert!((m.ops_sec - 133_333.33).abs() < 0.01, "{}", m.ops_sec);
        assert_eq!(m.p99_ms, 0.735);
    }

    #[test]
    fn old_csv_and_garbage() {
        let rows = parse_redis_benchmark_csv("\"PING_INLINE\",\"98039.22\"\r\n").unwrap();
        assert_eq!(rows[0].test, "PING_INLINE");
        assert_eq!(rows[0].p99_ms, None);
        assert!(parse_redis_benchmark_csv("SET: 1000 requests per second\n").is_err());
        assert!(parse_redis_benchmark_csv("\"SET\",\"fast\"\n").is_err());
    }

    #[test]
    fn requests_flag() {
        let a: Vec<String> = ["-t", "set,get", "-n", "5000", "-P", "16"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(redis_benchmark_requests(&a), 5000);
        assert_eq!(redis_benchmark_requests(&a[..2]), 100_000);
    }
}
