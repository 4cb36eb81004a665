//! `damselfly-bench compare`: Damselfly against a peer server, same workload, alternating.
//!
//! Both servers are started once on free loopback ports (optionally pinned with taskset),
//! then each round runs the workload against both, in alternating order (D,P then P,D...).
//! Around each run the server's CPU time (utime+stime) and RSS are read from /proc. The
//! table shows the median over rounds of ops/s, p99, server CPU µs per op and RSS, with
//! the damselfly/peer ratio of each.

use std::io;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::args::{ArgCursor, Protocol};
use crate::procfs;
use crate::server::{default_peer, ServerProc};
use crate::table;
use crate::tools::{on_path, run_tool, Measurement, Tool};

pub const USAGE: &str = "\
usage: damselfly-bench compare --damselfly \"<cmd with {port}>\" [--peer \"<cmd with {port}>\"]
         [--rounds N (3)] [--server-cpu LIST] [--client-cpu LIST]
         [--tool builtin|memtier|redis-benchmark] [--json-out PATH] [--] [workload flags]
  Workload flags go to the tool: the generator's flags for builtin and memtier
  (--server/--port are set by the runner), redis-benchmark's (-t set,get -P 16 -n ...)
  for redis-benchmark. The peer defaults to redis-server, or memcached with
  --protocol memcache_text.
";

/// The parsed `compare` command line.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareOpts {
    pub damselfly: String,
    pub peer: Option<String>,
    pub rounds: usize,
    pub server_cpu: Option<String>,
    pub client_cpu: Option<String>,
    pub tool: Tool,
    pub json_out: Option<PathBuf>,
    pub tool_args: Vec<String>,
}

impl CompareOpts {
    pub fn parse(args: &[String]) -> Result<CompareOpts, String> {
        let mut o = CompareOpts {
            damselfly: String::new(),
            peer: None,
            rounds: 3,
            server_cpu: None,
            client_cpu: None,
            tool: Tool::Builtin,
            json_out: None,
            tool_args: Vec::new(),
        };
        let mut cur = ArgCursor::new(args.to_vec());
        while let Some(flag) = cur.next_flag() {
            match flag.as_str() {
                "--damselfly" => o.damselfly = cur.value(&flag)?,
                "--peer" => o.peer = Some(cur.value(&flag)?),
                "--rounds" => o.rounds = cur.parsed(&flag)?,
                "--server-cpu" => o.server_cpu = Some(cur.value(&flag)?),
                "--client-cpu" => o.client_cpu = Some(cur.value(&flag)?),
                "--tool" => o.tool = Tool::parse(&cur.value(&flag)?)?,
                "--json-out" => o.json_out = Some(cur.value(&flag)?.into()),
                "-h" | "--help" => return Err(USAGE.into()),
                "--" => break,
                // Not ours: the tool's (collected verbatim by `passthrough` below).
                _ => {}
            }
        }
        o.tool_args = passthrough(args);
        if o.damselfly.is_empty() {
            return Err(format!("--damselfly is required\n{USAGE}"));
        }
        if !o.damselfly.contains("{port}") {
            return Err("--damselfly must contain {port}".into());
        }
        if o.peer.as_deref().is_some_and(|p| !p.contains("{port}")) {
            return Err("--peer must contain {port}".into());
        }
        if o.rounds == 0 {
            return Err("--rounds must be at least 1".into());
        }
        if o.tool != Tool::RedisBenchmark {
            for a in &o.tool_args {
                let name = a.split('=').next().unwrap_or("");
                if matches!(name, "--server" | "-s" | "--port" | "-p") {
                    return Err(format!("{name} is set by the runner"));
                }
            }
        }
        Ok(o)
    }

    /// The protocol the workload speaks (redis-benchmark always speaks RESP).
    pub fn protocol(&self) -> Result<Protocol, String> {
        if self.tool == Tool::RedisBenchmark {
            return Ok(Protocol::Redis);
        }
        let mut cur = ArgCursor::new(self.tool_args.clone());
        let mut proto = Protocol::Redis;
        while let Some(f) = cur.next_flag() {
            if f == "--protocol" || f == "-P" {
                proto = Protocol::parse(&cur.value(&f)?)?;
            }
        }
        Ok(proto)
    }
}

const RUNNER_FLAGS_WITH_VALUE: [&str; 7] = [
    "--damselfly",
    "--peer",
    "--rounds",
    "--server-cpu",
    "--client-cpu",
    "--tool",
    "--json-out",
];

/// The arguments that are not the runner's own, verbatim and in order.
fn passthrough(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            out.extend_from_slice(&args[i + 1..]);
            break;
        }
        let name = a.split('=').next().unwrap_or("");
        if RUNNER_FLAGS_WITH_VALUE.contains(&name) {
            i += if a.contains('=') { 1 } else { 2 };
            continue;
        }
        out.push(a.clone());
        i += 1;
    }
    out
}

/// One run against one server.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub server: &'static str,
    pub round: usize,
    pub ops: u64,
    pub ops_sec: f64,
    pub p99_ms: f64,
    pub cpu_us: u64,
    pub rss_kb: u64,
}

impl Sample {
    pub fn cpu_us_per_op(&self) -> f64 {
        self.cpu_us as f64 / self.ops.max(1) as f64
    }

    fn to_json(&self) -> Value {
        json!({
            "server": self.server, "round": self.round, "ops": self.ops,
            "ops_sec": self.ops_sec, "p99_ms": self.p99_ms, "cpu_us": self.cpu_us,
            "cpu_us_per_op": self.cpu_us_per_op(), "rss_kb": self.rss_kb,
        })
    }
}

/// Median of a non-empty list.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Medians of one server's samples: (ops/s, p99 ms, CPU µs/op, RSS kB).
pub fn medians(samples: &[Sample], server: &str) -> [f64; 4] {
    let of = |f: fn(&Sample) -> f64| {
        median(
            samples
                .iter()
                .filter(|s| s.server == server)
                .map(f)
                .collect(),
        )
    };
    [
        of(|s| s.ops_sec),
        of(|s| s.p99_ms),
        of(Sample::cpu_us_per_op),
        of(|s| s.rss_kb as f64),
    ]
}

/// The summary table (medians over rounds and the damselfly/peer ratio).
pub fn summary_table(samples: &[Sample]) -> String {
    let d = medians(samples, "damselfly");
    let p = medians(samples, "peer");
    let names = [
        "ops/s",
        "p99 latency (ms)",
        "server CPU (us/op)",
        "server RSS (MB)",
    ];
    let rows: Vec<Vec<String>> = (0..4)
        .map(|i| {
            let fmt = |v: f64| match i {
                0 => format!("{v:.0}"),
                1 => format!("{v:.3}"),
                2 => format!("{v:.2}"),
                _ => format!("{:.1}", v / 1024.0),
            };
            vec![
                names[i].to_string(),
                fmt(d[i]),
                fmt(p[i]),
                table::ratio(d[i], p[i]),
            ]
        })
        .collect();
    table::render(
        &["metric (median)", "damselfly", "peer", "damselfly/peer"],
        &rows,
    )
}

fn measure(
    srv: &ServerProc,
    label: &'static str,
    round: usize,
    o: &CompareOpts,
) -> io::Result<Sample> {
    let cpu0 = procfs::cpu_time_us(srv.pid)?;
    let m: Measurement = run_tool(o.tool, &o.tool_args, srv.port, o.client_cpu.as_deref())?;
    let cpu1 = procfs::cpu_time_us(srv.pid)?;
    Ok(Sample {
        server: label,
        round,
        ops: m.ops,
        ops_sec: m.ops_sec,
        p99_ms: m.p99_ms,
        cpu_us: cpu1.saturating_sub(cpu0),
        rss_kb: procfs::rss_kb(srv.pid)?,
    })
}

/// Pins the calling process (and the threads it starts later) to `cpus` ("1" or "0-1,3").
pub fn pin_self(cpus: &str) -> io::Result<()> {
    let mut list = Vec::new();
    for part in cpus.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: usize = a.trim().parse().map_err(io::Error::other)?;
        let b: usize = b.trim().parse().map_err(io::Error::other)?;
        list.extend(a..=b);
    }
    // SAFETY: cpu_set_t is plain data; zeroed is its empty value. CPU_SET writes within the
    // set for indexes below CPU_SETSIZE, which we check; sched_setaffinity reads
    // size_of::<cpu_set_t>() bytes from a valid reference.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for c in list {
            if c >= libc::CPU_SETSIZE as usize {
                return Err(io::Error::other(format!("cpu {c} out of range")));
            }
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs the comparison and prints/writes the results. Returns the samples.
pub fn run(o: &CompareOpts, argv: &[String]) -> io::Result<Vec<Sample>> {
    let proto = o.protocol().map_err(io::Error::other)?;
    match o.tool {
        Tool::Memtier if !on_path("memtier_benchmark") => {
            return Err(io::Error::other("memtier_benchmark is not on PATH"))
        }
        Tool::RedisBenchmark if !on_path("redis-benchmark") => {
            return Err(io::Error::other("redis-benchmark is not on PATH"))
        }
        _ => {}
    }
    if o.tool == Tool::Builtin {
        // Fail on bad workload flags before starting anything.
        crate::args::Config::parse(&o.tool_args).map_err(io::Error::other)?;
    }
    let peer_cmd = o.peer.clone().unwrap_or_else(|| default_peer(proto).into());
    let cpu = o.server_cpu.as_deref();
    let damselfly = ServerProc::start("damselfly", &o.damselfly, proto, cpu)?;
    let peer = ServerProc::start("peer", &peer_cmd, proto, cpu)?;
    eprintln!(
        "damselfly pid {} port {}; peer pid {} port {}",
        damselfly.pid, damselfly.port, peer.pid, peer.port
    );
    // Servers are started first so that they do not inherit the client's pinning.
    if let (Some(c), Tool::Builtin) = (o.client_cpu.as_deref(), o.tool) {
        pin_self(c)?;
    }
    let mut samples = Vec::new();
    for round in 1..=o.rounds {
        let order: [(&ServerProc, &'static str); 2] = if round % 2 == 1 {
            [(&damselfly, "damselfly"), (&peer, "peer")]
        } else {
            [(&peer, "peer"), (&damselfly, "damselfly")]
        };
        for (srv, label) in order {
            eprintln!("round {round}/{}: {label}", o.rounds);
            let s = measure(srv, label, round, o)?;
            println!(
                "round {round} {label:9}: {:.0} ops/s, p99 {:.3} ms, {:.2} CPU us/op, RSS {:.1} MB",
                s.ops_sec,
                s.p99_ms,
                s.cpu_us_per_op(),
                s.rss_kb as f64 / 1024.0
            );
            samples.push(s);
        }
    }
    println!("\n{}", summary_table(&samples));
    if let Some(path) = &o.json_out {
        let d = medians(&samples, "damselfly");
        let p = medians(&samples, "peer");
        let obj = |m: [f64; 4]| json!({"ops_sec": m[0], "p99_ms": m[1], "cpu_us_per_op": m[2], "rss_kb": m[3]});
        let ratio: Vec<f64> = (0..4)
            .map(|i| if p[i] > 0.0 { d[i] / p[i] } else { 0.0 })
            .collect();
        let doc = json!({
            "command": argv,
            "tool": o.tool.name(),
            "protocol": proto.name(),
            "damselfly_cmd": o.damselfly,
            "peer_cmd": peer_cmd,
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "unix_time": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            "samples": samples.iter().map(Sample::to_json).collect::<Vec<_>>(),
            "median": { "damselfly": obj(d), "peer": obj(p) },
            "ratio": {
                "ops_sec": ratio[0], "p99_ms": ratio[1], "cpu_us_per_op": ratio[2],
                "rss_kb": ratio[3],
            },
        });
        let text = serde_json::to_string_pretty(&doc).map_err(io::Error::other)?;
        std::fs::write(path, text)?;
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn splits_runner_and_tool_flags() {
        let o = CompareOpts::parse(&argv(&[
            "--damselfly",
            "d --port {port}",
            "--rounds=5",
            "--threads",
            "2",
            "--protocol=memcache_text",
            "--server-cpu",
            "0",
            "--client-cpu=1",
            "--json-out",
            "/tmp/o.json",
            "--ratio=1:1",
        ]))
        .unwrap();
        assert_eq!(o.rounds, 5);
        assert_eq!(o.server_cpu.as_deref(), Some("0"));
        assert_eq!(o.client_cpu.as_deref(), Some("1"));
        assert_eq!(
            o.tool_args,
            argv(&["--threads", "2", "--protocol=memcache_text", "--ratio=1:1"])
        );
        assert_eq!(o.protocol().unwrap(), Protocol::MemcacheText);
        assert_eq!(o.json_out, Some(PathBuf::from("/tmp/o.json")));
    }

    #[test]
    fn redis_benchmark_args_pass_verbatim() {
        let o = CompareOpts::parse(&argv(&[
            "--damselfly=x {port}",
            "--tool",
            "redis-benchmark",
            "--",
            "-t",
            "set,get",
            "-P",
            "16",
            "--rounds",
            "9",
        ]))
        .unwrap();
        assert_eq!(o.tool, Tool::RedisBenchmark);
        assert_eq!(o.rounds, 3);
        assert_eq!(
            o.tool_args,
            argv(&["-t", "set,get", "-P", "16", "--rounds", "9"])
        );
        assert_eq!(o.protocol().unwrap(), Protocol::Redis);
    }

    #[test]
    fn rejects() {
        assert!(CompareOpts::parse(&argv(&["--rounds", "2"])).is_err());
        assert!(CompareOpts::parse(&argv(&["--damselfly", "no-port"])).is_err());
        assert!(CompareOpts::parse(&argv(&["--damselfly", "{port}", "--port", "1"])).is_err());
        assert!(CompareOpts::parse(&argv(&["--damselfly", "{port}", "--tool", "x"])).is_err());
    }

    #[test]
    fn medians_and_table() {
        let mk = |server, round, ops_sec, cpu_us| Sample {
            server,
            round,
            ops: 1000,
            ops_sec,
            p99_ms: 1.0,
            cpu_us,
            rss_kb: 2048,
        };
        let s = vec![
            mk("damselfly", 1, 300.0, 1000),
            mk("peer", 1, 100.0, 4000),
            mk("damselfly", 2, 200.0, 3000),
            mk("peer", 2, 100.0, 4000),
            mk("damselfly", 3, 250.0, 2000),
            mk("peer", 3, 120.0, 4000),
        ];
        let d = medians(&s, "damselfly");
        assert_eq!(d, [250.0, 1.0, 2.0, 2048.0]);
        assert_eq!(medians(&s, "peer")[0], 100.0);
        let t = summary_table(&s);
        assert!(t.contains("ops/s"), "{t}");
        let ops_line = t.lines().find(|l| l.starts_with("ops/s")).unwrap();
        let words = |l: &str| l.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(words(ops_line), ["ops/s", "250", "100", "2.50"]);
        let cpu_line = t.lines().find(|l| l.starts_with("server CPU")).unwrap();
        assert_eq!(words(cpu_line)[3..], ["2.00", "4.00", "0.50"]);
        assert_eq!(median(vec![4.0, 1.0]), 2.5);
    }
}
