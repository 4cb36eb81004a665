//! `damselfly-bench`: load generator (memtier flags), `compare` runner, `memory` benchmark.

// A plain client program: it reads the OS clock and sleeps, which the workspace's
// clippy.toml reserves for the server's runtime crate.
#![allow(clippy::disallowed_methods)]

use std::process::ExitCode;

use damselfly_bench::{args, generator, memory, report, runner};

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let rest = &argv[1..];
    match rest.first().map(String::as_str) {
        Some("compare") => {
            let o = match runner::CompareOpts::parse(&rest[1..]) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            match runner::run(&o, &argv) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(format!("compare: {e}")),
            }
        }
        Some("pubsub") => {
            let o = match damselfly_bench::pubsub::PubSubOpts::parse(&rest[1..]) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            match damselfly_bench::pubsub::run(&o) {
                Ok(r) => {
                    print!("{}", damselfly_bench::pubsub::report(&o, &r));
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("pubsub: {e}")),
            }
        }
        Some("memory") => {
            let o = match memory::MemoryOpts::parse(&rest[1..]) {
                Ok(o) => o,
                Err(e) => return fail(e),
            };
            match memory::run(&o, &argv) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(format!("memory: {e}")),
            }
        }
        _ => {
            let cfg = match args::Config::parse(rest) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            match generator::run(&cfg).and_then(|r| report::finish(&cfg, &r)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("damselfly-bench: {e}")),
            }
        }
    }
}
