//! `damselfly-sim`: runs seeds of the deterministic simulation and reports.
//!
//! ```text
//! damselfly-sim --seeds 500            # seeds 0..500 (or DAMSELFLY_SIM_SEEDS)
//! damselfly-sim --seeds 500 --base 7   # seeds 7..507
//! damselfly-sim --seed 42              # replays one seed, printing its plan and history
//! ```
//! With `--features sim-mutations`: `--list-mutations`, and `--mutation NAME` plants one.
//! Options: `--no-faults`, `--ops N` (operations per client), `--tail N` (history lines shown
//! for a failing seed), `--verbose` (one line per seed).

use damselfly_sim::{replay_command, run_seed, Opts};

fn main() {
    // The server's own log (RUST_LOG=warn shows what it logs during the runs).
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    let mut opts = Opts::default();
    let mut seeds: u64 = std::env::var("DAMSELFLY_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut base: u64 = 0;
    let mut one: Option<u64> = None;
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    let num = |a: Option<String>, name: &str| -> u64 {
        match a.as_deref().map(str::parse::<u64>) {
            Some(Ok(v)) => v,
            _ => {
                eprintln!("{name} needs a number");
                std::process::exit(2);
            }
        }
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => seeds = num(args.next(), "--seeds"),
            "--base" => base = num(args.next(), "--base"),
            "--seed" => one = Some(num(args.next(), "--seed")),
            "--ops" => opts.ops = num(args.next(), "--ops") as usize,
            "--tail" => opts.tail = num(args.next(), "--tail") as usize,
            "--no-faults" => opts.faults = false,
            "--list-mutations" if cfg!(feature = "sim-mutations") => {
                for (name, _) in damselfly_sim::MUTATIONS {
                    println!("{name}");
                }
                return;
            }
            "--mutation" if cfg!(feature = "sim-mutations") => {
                let m = args.next().unwrap_or_default();
                if !damselfly_sim::MUTATIONS.iter().any(|(n, _)| *n == m) {
                    eprintln!("unknown mutation '{m}' (see --list-mutations)");
                    std::process::exit(2);
                }
                opts.mutation = Some(m);
            }
            "--list-mutations" | "--mutation" => {
                eprintln!("{a} needs a build with --features sim-mutations");
                std::process::exit(2);
            }
            "--verbose" | "-v" => verbose = true,
            "--help" | "-h" => {
                println!(
                    "usage: damselfly-sim [--seeds N] [--base B] [--seed S] [--no-faults] \
                     [--ops N] [--tail N] [--verbose]"
                );
                return;
            }
            other => {
                eprintln!("unknown option {other} (try --help)");
                std::process::exit(2);
            }
        }
    }
    let list: Vec<u64> = match one {
        Some(s) => vec![s],
        None => (base..base.saturating_add(seeds)).collect(),
    };
    // This thread is not the simulator's: its clock is the OS's.
    let started = damselfly_runtime::clock::now();
    let (mut passed, mut failed, mut ops) = (0u64, 0u64, 0u64);
    for seed in list {
        if one.is_some() {
            println!("plan: {}", damselfly_sim::Plan::from_seed(seed, &opts));
        }
        let o = run_seed(seed, &opts);
        ops += o.ops;
        if verbose || one.is_some() {
            println!(
                "seed {seed}: {} ({} ops, {} ms virtual, trace {:016x}) {}",
                if o.passed() { "passed" } else { "FAILED" },
                o.ops,
                o.virtual_ms,
                o.trace,
                o.plan
            );
        }
        if one.is_some() && o.passed() {
            for e in &o.tail {
                println!("    {e}");
            }
        }
        if o.passed() {
            passed += 1;
            continue;
        }
        failed += 1;
        println!("seed {seed} FAILED: {}", o.plan);
        for f in &o.failures {
            println!("  {f}");
        }
        println!("  last events:");
        for e in &o.tail {
            println!("    {e}");
        }
        println!("  replay: {}", replay_command(seed, &opts));
    }
    let secs = (damselfly_runtime::clock::now() - started).as_secs_f64();
    eprintln!(
        "{:.1} s wall, {:.1} seeds/s, {:.0} simulated ops/s",
        secs,
        (passed + failed) as f64 / secs,
        ops as f64 / secs
    );
    println!("seeds: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
