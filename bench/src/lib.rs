//! Damselfly's benchmark kit: a memtier-compatible load generator, a runner that compares
//! Damselfly with a reference server (redis-server or memcached) and a memory benchmark.
//!
//! Map of the crate:
//!
//! | module          | what it is                                                              |
//! |-----------------|-------------------------------------------------------------------------|
//! | [`args`]        | memtier_benchmark-style flags for the load generator                    |
//! | [`workload`]    | per-client key sequence (R/G/S/P patterns), SET:GET ratio, seeded RNG  |
//! | [`wire`]        | request encoding and incremental reply parsing (RESP, memcache text)    |
//! | [`histogram`]   | per-command counters and HDR latency histograms                         |
//! | [`client_loop`] | one thread's event loop (mio) driving its clients with `--pipeline`     |
//! | [`generator`]   | starts the threads, prints the per-second progress line, merges stats   |
//! | [`report`]      | the memtier-like result table and the memtier-format JSON file          |
//! | [`procfs`]      | server CPU time (`/proc/PID/stat`) and RSS (`/proc/PID/status`)         |
//! | [`info`]        | `INFO` / memcached `stats` parsing and a small blocking client          |
//! | [`server`]      | spawning servers on free loopback ports (optionally under `taskset`)    |
//! | [`tools`]       | running and parsing memtier_benchmark (JSON) and redis-benchmark (CSV)  |
//! | [`runner`]      | `compare`: alternate rounds against Damselfly and the peer, ratio table |
//! | [`memory`]      | `memory`: load N keys into each server, report bytes per key            |
//! | [`table`]       | plain-text table rendering shared by the runner and the memory bench    |
//!
//! The binary (`src/main.rs`) dispatches `compare`, `memory`, or runs the generator.

// This crate is a plain client program, not part of the server: it reads the OS clock and
// sleeps between progress lines, which the workspace's clippy.toml reserves for the runtime.
#![allow(clippy::disallowed_methods)]

pub mod args;
pub mod client_loop;
pub mod generator;
pub mod histogram;
pub mod info;
pub mod memory;
pub mod procfs;
pub mod pubsub;
pub mod report;
pub mod runner;
pub mod server;
pub mod table;
pub mod tools;
pub mod wire;
pub mod workload;
