//! Runs a workload: one [`client_loop`](crate::client_loop) thread per `--threads`, a
//! progress line on stderr every second, and the merged statistics at the end.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::args::Config;
use crate::client_loop::{run_thread, Progress};
use crate::histogram::RunStats;

/// The outcome of one run.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub stats: RunStats,
    /// From the first request to the last reply.
    pub duration: Duration,
    /// Wall-clock start and end, in ms since the epoch (for the JSON "Runtime" section).
    pub start_ms: u64,
    pub end_ms: u64,
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs `cfg` to completion.
pub fn run(cfg: &Config) -> io::Result<RunResult> {
    let base_seed = if cfg.randomize {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(cfg.seed)
    } else {
        cfg.seed
    };
    let progress: Vec<Progress> = (0..cfg.threads).map(|_| Progress::default()).collect();
    let stop = AtomicBool::new(false);
    let start_ms = epoch_ms();
    let start = Instant::now();
    let deadline = cfg.test_time.map(|t| start + Duration::from_secs(t));

    let results: Vec<io::Result<RunStats>> = std::thread::scope(|s| {
        let handles: Vec<_> = progress
            .iter()
            .enumerate()
            .map(|(t, p)| {
                let stop = &stop;
                s.spawn(move || {
                    let r = run_thread(cfg, t, base_seed, deadline, p, stop);
                    if r.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        report_progress(cfg, start, &progress, || {
            handles.iter().all(|h| h.is_finished())
        });
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("generator thread panicked")))
            })
            .collect()
    });
    let duration = start.elapsed();
    let mut stats = RunStats::default();
    for r in results {
        stats.merge(&r?);
    }
    Ok(RunResult {
        stats,
        duration,
        start_ms,
        end_ms: epoch_ms(),
    })
}

/// Prints one memtier-like progress line per second until `finished()`.
fn report_progress(
    cfg: &Config,
    start: Instant,
    progress: &[Progress],
    finished: impl Fn() -> bool,
) {
    let total_requests = cfg.requests * cfg.total_clients() as u64;
    let mut last = (0u64, 0u64, 0u64);
    let mut next_tick = start + Duration::from_secs(1);
    let stderr = io::stderr();
    while !finished() {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if now < next_tick {
            continue;
        }
        let secs = (now - start).as_secs_f64();
        next_tick += Duration::from_secs(1);
        let sum = progress.iter().fold((0, 0, 0), |acc, p| {
            (
                acc.0 + p.ops.load(Ordering::Relaxed),
                acc.1 + p.bytes.load(Ordering::Relaxed),
                acc.2 + p.latency_us.load(Ordering::Relaxed),
            )
        });
        let d = (sum.0 - last.0, sum.1 - last.1, sum.2 - last.2);
        last = sum;
        if cfg.quiet {
            continue;
        }
        let pct = match cfg.test_time {
            Some(t) => 100.0 * secs / t as f64,
            None => 100.0 * sum.0 as f64 / total_requests.max(1) as f64,
        };
        let lat = |ops: u64, us: u64| {
            if ops == 0 {
                0.0
            } else {
                us as f64 / ops as f64 / 1000.0
            }
        };
        let _ = writeln!(
            stderr.lock(),
            "[RUN #1 {:3.0}%, {:3.0} secs] {:2} threads: {:11} ops, {:7} (avg: {:7.0}) ops/sec, \
             {:.2}MB/sec (avg: {:.2}MB/sec), {:5.2} (avg: {:5.2}) msec latency",
            pct.min(100.0),
            secs,
            cfg.threads,
            sum.0,
            d.0,
            sum.0 as f64 / secs,
            d.1 as f64 / 1048576.0,
            sum.1 as f64 / 1048576.0 / secs,
            lat(d.0, d.2),
            lat(sum.0, sum.2),
        );
    }
}
