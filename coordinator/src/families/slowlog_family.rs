//! SLOWLOG GET / LEN / RESET / HELP over the server's slow log (`slowlog`).

use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult};
use crate::families::server_family::{help_reply, unknown_sub};
use crate::registry::{command, flags::*, CommandSpec};

fn cmd_slowlog(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let spec = crate::registry::Registry::get()
        .lookup(b"slowlog")
        .and_then(|(_, c)| c.subcommand(args.get(1)));
    if let Some(spec) = spec.filter(|s| !s.arity_ok(args.len())) {
        return Err(CmdError::WrongArity(spec.name.into()));
    }
    let sub = args.get(1);
    let n = args.len();
    let log = &ctx.server.slowlog;
    if eq_ignore_case(sub, "get") && n <= 3 {
        let count = if n == 3 {
            let c = parse_i64(args.get(2))
                .map_err(|_| CmdError::raw("ERR value is not an integer or out of range"))?;
            if c < -1 {
                return Err(CmdError::raw(
                    "ERR count should be greater than or equal to -1",
                ));
            }
            (c >= 0).then_some(c as usize)
        } else {
            Some(10)
        };
        let out = &mut *ctx.out;
        let resp = ctx.conn.resp;
        log.newest(count, |entries| {
            let entries: Vec<_> = entries.collect();
            let mut w = damselfly_protocol::ReplyWriter::new(out, resp);
            w.array_header(entries.len());
            for e in entries {
                w.array_header(6);
                w.integer(e.id as i64);
                w.integer(e.unix_secs as i64);
                w.integer(e.micros as i64);
                w.array_header(e.args.len());
                for a in &e.args {
                    w.bulk(a);
                }
                w.bulk(e.addr.as_bytes());
                w.bulk(&e.name);
            }
        });
        Ok(())
    } else if eq_ignore_case(sub, "len") && n == 2 {
        let len = log.len();
        ctx.reply().integer(len as i64);
        Ok(())
    } else if eq_ignore_case(sub, "reset") && n == 2 {
        log.reset();
        ctx.reply().ok();
        Ok(())
    } else if eq_ignore_case(sub, "help") && n == 2 {
        help_reply(ctx, "SLOWLOG", HELP);
        Ok(())
    } else {
        Err(unknown_sub("slowlog", args))
    }
}

const HELP: &[&str] = &[
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
];

#[rustfmt::skip]
pub fn commands() -> Vec<CommandSpec> {
    let acl: &'static [&'static str] = &["@admin", "@slow", "@dangerous"];
    vec![
        command("slowlog", -2, 0, &["@slow"], (0, 0, 0), "server", "2.2.12", "A container for slow log commands.", cmd_slowlog)
            .with_subcommands(|c| {
                let none = (0, 0, 0);
                vec![
                    c.sub("slowlog|get", -2, ADMIN | LOADING | STALE, acl, none, "2.2.12", "Returns the slow log's entries."),
                    c.sub("slowlog|help", 2, LOADING | STALE, &["@slow"], none, "6.2.0", "Show helpful text about the different subcommands"),
                    c.sub("slowlog|len", 2, ADMIN | LOADING | STALE, acl, none, "2.2.12", "Returns the number of entries in the slow log."),
                    c.sub("slowlog|reset", 2, ADMIN | LOADING | STALE, acl, none, "2.2.12", "Clears all entries from the slow log."),
                ]
            }),
    ]
}
