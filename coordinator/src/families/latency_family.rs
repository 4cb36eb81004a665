//! LATENCY LATEST / HISTORY / RESET / DOCTOR / HISTOGRAM / HELP over the latency monitor
//! (`latency`): events slower than `latency-monitor-threshold` ms, and per-command latency
//! histograms.

use crate::args::{eq_ignore_case, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult};
use crate::families::server_family::{help_reply, unknown_sub};
use crate::latency;
use crate::metrics::histogram::Histogram;
use crate::registry::{command, flags::*, CommandSpec, Registry};
use std::fmt::Write as _;

fn cmd_latency(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let spec = Registry::get()
        .lookup(b"latency")
        .and_then(|(_, c)| c.subcommand(args.get(1)));
    if let Some(spec) = spec.filter(|s| !s.arity_ok(args.len())) {
        return Err(CmdError::WrongArity(spec.name.into()));
    }
    let sub = args.get(1);
    let n = args.len();
    let monitor = &ctx.server.latency;
    if eq_ignore_case(sub, "latest") && n == 2 {
        let out = &mut *ctx.out;
        let resp = ctx.conn.resp;
        monitor.with_events(|events| {
            let mut w = damselfly_protocol::ReplyWriter::new(out, resp);
            let events: Vec<_> = events
                .iter()
                .filter(|(_, h)| !h.samples.is_empty())
                .collect();
            w.array_header(events.len());
            for (name, h) in events {
                let last = h.samples.back().copied().unwrap_or_default();
                w.array_header(4);
                w.bulk(name.as_bytes());
                w.integer(last.unix_secs as i64);
                w.integer(last.ms as i64);
                w.integer(h.max_ms as i64);
            }
        });
    } else if eq_ignore_case(sub, "history") && n == 3 {
        let event = String::from_utf8_lossy(args.get(2)).into_owned();
        let out = &mut *ctx.out;
        let resp = ctx.conn.resp;
        monitor.with_events(|events| {
            let mut w = damselfly_protocol::ReplyWriter::new(out, resp);
            match events.iter().find(|(name, _)| *name == event) {
                Some((_, h)) => {
                    w.array_header(h.samples.len());
                    for s in &h.samples {
                        w.array_header(2);
                        w.integer(s.unix_secs as i64);
                        w.integer(s.ms as i64);
                    }
                }
                None => w.array_header(0),
            }
        });
    } else if eq_ignore_case(sub, "reset") {
        let names: Vec<String> = args
            .rest(2)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let reset = monitor.reset((n > 2).then_some(&names[..]));
        ctx.reply().integer(reset as i64);
    } else if eq_ignore_case(sub, "doctor") && n == 2 {
        let report = doctor(ctx);
        ctx.reply().verbatim(b"txt", report.as_bytes());
    } else if eq_ignore_case(sub, "histogram") {
        histogram(ctx, args);
    } else if eq_ignore_case(sub, "help") && n == 2 {
        help_reply(ctx, "LATENCY", HELP);
    } else {
        return Err(unknown_sub("latency", args));
    }
    Ok(())
}

/// LATENCY HISTOGRAM [command ...]: each named command (all when none are named) that has
/// run, with its calls and its cumulative distribution in µs buckets.
fn histogram(ctx: &mut CmdCtx<'_>, args: &Args<'_>) {
    let merged = latency::merged_histograms();
    let registry = Registry::get();
    let wanted: Vec<&(&'static str, Histogram)> = if args.len() == 2 {
        // Registry order, each command followed by its subcommands.
        let mut all = Vec::new();
        for c in registry.commands() {
            for name in std::iter::once(c.name).chain(c.subcommands.iter().map(|s| s.name)) {
                if let Some(found) = merged.iter().find(|(n, _)| *n == name) {
                    all.push(found);
                }
            }
        }
        all
    } else {
        let mut picked: Vec<&(&'static str, Histogram)> = Vec::new();
        for a in args.rest(2) {
            let Some(spec) = registry.lookup_full(a) else {
                continue;
            };
            let names = std::iter::once(spec.name).chain(spec.subcommands.iter().map(|s| s.name));
            for name in names {
                let found = merged.iter().find(|(n, _)| *n == name);
                if let Some(found) = found.filter(|f| !picked.iter().any(|p| p.0 == f.0)) {
                    picked.push(found);
                }
            }
        }
        picked
    };
    let mut w = ctx.reply();
    w.map_header(wanted.len());
    for (name, h) in wanted {
        w.bulk(name.as_bytes());
        w.map_header(2);
        w.bulk(b"calls");
        w.integer(h.total as i64);
        w.bulk(b"histogram_usec");
        let steps = h.steps_usec();
        w.map_header(steps.len());
        for (us, calls) in steps {
            w.integer(us as i64);
            w.integer(calls as i64);
        }
    }
}

/// LATENCY DOCTOR: a plain-language report of the recorded events and what to look at.
fn doctor(ctx: &CmdCtx<'_>) -> String {
    let threshold = ctx.server.config.get_int("latency-monitor-threshold");
    let slower_than = ctx.server.config.get_int("slowlog-log-slower-than");
    let mut text = String::new();
    let mut slow_commands = false;
    let mut expiry = false;
    ctx.server.latency.with_events(|events| {
        let events: Vec<_> = events.iter().filter(|(_, h)| !h.samples.is_empty()).collect();
        if events.is_empty() {
            text.push_str(if threshold == 0 {
                "The latency monitor is off: set latency-monitor-threshold to a number of milliseconds (CONFIG SET latency-monitor-threshold 100) to record events that take at least that long.\n"
            } else {
                "No latency spike has been recorded since the server started (or since the last LATENCY RESET).\n"
            });
            return;
        }
        text.push_str("Latency spikes were recorded:\n\n");
        for (i, (name, h)) in events.iter().enumerate() {
            let n = h.samples.len() as u64;
            let avg = h.samples.iter().map(|s| s.ms).sum::<u64>() / n;
            let dev = h.samples.iter().map(|s| s.ms.abs_diff(avg)).sum::<u64>() / n;
            let first = h.samples.front().map_or(0, |s| s.unix_secs);
            let last = h.samples.back().map_or(0, |s| s.unix_secs);
            let period = if n > 1 { (last - first) as f64 / (n - 1) as f64 } else { 0.0 };
            let _ = writeln!(
                text,
                "{}. {name}: {n} spikes (average {avg} ms, mean deviation {dev} ms, mean period {period:.2} s), worst {} ms.",
                i + 1,
                h.max_ms
            );
            slow_commands |= matches!(*name, "command" | "fast-command");
            expiry |= matches!(*name, "expire-cycle" | "eviction-cycle");
        }
        text.push_str("\nWhat to look at:\n");
        if slow_commands {
            text.push_str("- SLOWLOG GET names the slow commands; ");
            if slower_than < 0 || slower_than > threshold * 1000 {
                let _ = writeln!(
                    text,
                    "it logs nothing this slow now: CONFIG SET slowlog-log-slower-than {} makes it.",
                    threshold * 1000
                );
            } else {
                text.push_str("commands over large values (KEYS, SMEMBERS, LRANGE 0 -1...) take time in proportion to their size.\n");
            }
        }
        if expiry {
            text.push_str("- Expiring or evicting large values takes time in proportion to their size: split large values into smaller keys.\n");
        }
    });
    text
}

const HELP: &[&str] = &[
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
];

#[rustfmt::skip]
pub fn commands() -> Vec<CommandSpec> {
    let acl: &'static [&'static str] = &["@admin", "@slow", "@dangerous"];
    let f = ADMIN | NOSCRIPT | LOADING | STALE;
    vec![
        command("latency", -2, 0, &["@slow"], (0, 0, 0), "server", "2.8.13", "A container for latency diagnostics commands.", cmd_latency)
            .with_subcommands(|c| {
                let none = (0, 0, 0);
                vec![
                    c.sub("latency|doctor", 2, f, acl, none, "2.8.13", "Returns a human-readable latency analysis report."),
                    c.sub("latency|help", 2, LOADING | STALE, &["@slow"], none, "2.8.13", "Returns helpful text about the different subcommands."),
                    c.sub("latency|histogram", -2, f, acl, none, "7.0.0", "Returns the cumulative distribution of latencies of a subset or all commands."),
                    c.sub("latency|history", 3, f, acl, none, "2.8.13", "Returns timestamp-latency samples for an event."),
                    c.sub("latency|latest", 2, f, acl, none, "2.8.13", "Returns the latest latency samples for all events."),
                    c.sub("latency|reset", -2, f, acl, none, "2.8.13", "Resets the latency data for one or more events."),
                ]
            }),
    ]
}
