//! XINFO STREAM [FULL [COUNT n]] / GROUPS / CONSUMERS / HELP, in Redis 7.0's reply shapes.

use crate::args::{parse_i64, Args};
use crate::ctx::{now_ms, CmdCtx};
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::server_family::help_reply;
use crate::families::stream_family::{bulk_id, read_stream, write_entry, write_range};
use crate::registry::{command, flags::*, CommandSpec};
use crate::shard::key_hash;
use crate::tx::locks::LockMode;
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_shards::stream::ENTRIES_READ_INVALID;
use damselfly_shards::{Stream, StreamId};

const XINFO_HELP: &[&str] = &[
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
];

fn sub_syntax(sub: &[u8]) -> CmdError {
    CmdError::raw(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)])
    ))
}

fn entries_read(r: &mut ReplyWriter<'_>, n: i64) {
    if n == ENTRIES_READ_INVALID {
        r.null();
    } else {
        r.integer(n);
    }
}

fn lag(r: &mut ReplyWriter<'_>, st: &Stream, g: &damselfly_shards::stream_group::Group) {
    match st.lag(g) {
        Some(n) => r.integer(n),
        None => r.null(),
    }
}

fn write_stream_info(out: &mut Vec<u8>, resp: RespVersion, st: &Stream, full: Option<usize>) {
    let mut r = ReplyWriter::new(out, resp);
    r.map_header(if full.is_some() { 9 } else { 10 });
    r.bulk(b"length");
    r.integer(st.len() as i64);
    r.bulk(b"radix-tree-keys");
    r.integer(st.node_count() as i64);
    r.bulk(b"radix-tree-nodes");
    // The index is a B-tree, not a radix tree: this is what Redis's tree has for up to one
    // key (a head node and a leaf), an estimate beyond.
    r.integer(st.node_count() as i64 + 1);
    r.bulk(b"last-generated-id");
    bulk_id(&mut r, st.last_id);
    r.bulk(b"max-deleted-entry-id");
    bulk_id(&mut r, st.max_deleted_id);
    r.bulk(b"entries-added");
    r.integer(st.entries_added as i64);
    r.bulk(b"recorded-first-entry-id");
    bulk_id(&mut r, st.first_id);
    let Some(count) = full else {
        r.bulk(b"groups");
        r.integer(st.groups.len() as i64);
        for (name, last) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
            r.bulk(name);
            let mut any = false;
            st.range(StreamId::MIN, StreamId::MAX, last, |e| {
                write_entry(&mut r, &e);
                any = true;
                false
            });
            if !any {
                r.null();
            }
        }
        return;
    };
    r.bulk(b"entries");
    write_range(out, resp, st, StreamId::MIN, StreamId::MAX, false, count);
    let mut r = ReplyWriter::new(out, resp);
    r.bulk(b"groups");
    r.array_header(st.groups.len());
    let limit = if count == 0 { usize::MAX } else { count };
    for (name, g) in &st.groups {
        r.map_header(7);
        r.bulk(b"name");
        r.bulk(name);
        r.bulk(b"last-delivered-id");
        bulk_id(&mut r, g.last_id);
        r.bulk(b"entries-read");
        entries_read(&mut r, g.entries_read);
        r.bulk(b"lag");
        lag(&mut r, st, g);
        r.bulk(b"pel-count");
        r.integer(g.pel.len() as i64);
        r.bulk(b"pending");
        r.array_header(g.pel.len().min(limit));
        for (id, p) in g.pel.iter().take(limit) {
            r.array_header(4);
            bulk_id(&mut r, *id);
            r.bulk(&p.consumer);
            r.integer(p.delivery_time as i64);
            r.integer(p.delivery_count as i64);
        }
        r.bulk(b"consumers");
        r.array_header(g.consumers.len());
        for (cname, c) in &g.consumers {
            r.map_header(4);
            r.bulk(b"name");
            r.bulk(cname);
            r.bulk(b"seen-time");
            r.integer(c.seen_time as i64);
            r.bulk(b"pel-count");
            r.integer(c.pel.len() as i64);
            r.bulk(b"pending");
            r.array_header(c.pel.len().min(limit));
            for id in c.pel.iter().take(limit) {
                let p = &g.pel[id];
                r.array_header(3);
                bulk_id(&mut r, *id);
                r.integer(p.delivery_time as i64);
                r.integer(p.delivery_count as i64);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Query {
    Stream(Option<usize>),
    Groups,
    Consumers,
}

fn cmd_xinfo(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let sub = args.get(1);
    if sub.eq_ignore_ascii_case(b"help") {
        crate::families::server_family::sub_arity(args, 2, "xinfo|help")?;
        help_reply(ctx, "XINFO", XINFO_HELP);
        return Ok(());
    }
    let known = [&b"stream"[..], b"groups", b"consumers"]
        .iter()
        .any(|n| sub.eq_ignore_ascii_case(n));
    if !known {
        return Err(CmdError::unknown_subcommand("xinfo", sub));
    }
    let lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
    let arity = match lower.as_str() {
        "stream" => -3,
        "groups" => 3,
        _ => 4,
    };
    crate::families::server_family::sub_arity(args, arity, &format!("xinfo|{lower}"))?;
    let (db, key, now, resp) = (ctx.db(), args.get(2), now_ms(), ctx.conn.resp);
    let group = (args.len() > 3).then(|| args.get(3));
    let out = ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
        let r = read_stream(s, db, key, now, |st| -> OpResult<Vec<u8>> {
            let query = match lower.as_str() {
                "consumers" => Query::Consumers,
                "groups" => Query::Groups,
                _ => {
                    let opts = args.len() - 3;
                    if opts == 0 {
                        Query::Stream(None)
                    } else {
                        if (opts != 1 && opts != 3) || !args.get(3).eq_ignore_ascii_case(b"full") {
                            return Err(sub_syntax(sub));
                        }
                        let mut count = 10;
                        if opts == 3 {
                            if !args.get(4).eq_ignore_ascii_case(b"count") {
                                return Err(sub_syntax(sub));
                            }
                            count = parse_i64(args.get(5))?;
                            if count < 0 {
                                count = 10;
                            }
                        }
                        Query::Stream(Some(count as usize))
                    }
                }
            };
            let mut out = Vec::new();
            match query {
                Query::Stream(full) => write_stream_info(&mut out, resp, st, full),
                Query::Groups => {
                    let mut r = ReplyWriter::new(&mut out, resp);
                    r.array_header(st.groups.len());
                    for (name, g) in &st.groups {
                        r.map_header(6);
                        r.bulk(b"name");
                        r.bulk(name);
                        r.bulk(b"consumers");
                        r.integer(g.consumers.len() as i64);
                        r.bulk(b"pending");
                        r.integer(g.pel.len() as i64);
                        r.bulk(b"last-delivered-id");
                        bulk_id(&mut r, g.last_id);
                        r.bulk(b"entries-read");
                        entries_read(&mut r, g.entries_read);
                        r.bulk(b"lag");
                        lag(&mut r, st, g);
                    }
                }
                Query::Consumers => {
                    let gname = group.expect("arity checked");
                    let Some(g) = st.groups.get(gname) else {
                        return Err(CmdError::raw(format!(
                            "NOGROUP No such consumer group '{}' for key name '{}'",
                            String::from_utf8_lossy(gname),
                            String::from_utf8_lossy(key)
                        )));
                    };
                    let mut r = ReplyWriter::new(&mut out, resp);
                    r.array_header(g.consumers.len());
                    for (name, c) in &g.consumers {
                        r.map_header(3);
                        r.bulk(b"name");
                        r.bulk(name);
                        r.bulk(b"pending");
                        r.integer(c.pel.len() as i64);
                        r.bulk(b"idle");
                        r.integer((now as i64 - c.seen_time as i64).max(0));
                    }
                }
            }
            Ok(out)
        })?;
        r.ok_or(CmdError::NoSuchKey)?
    })?;
    ctx.out.extend_from_slice(&out);
    Ok(())
}

pub fn commands() -> Vec<CommandSpec> {
    vec![command(
        "xinfo",
        -2,
        0,
        &["@slow"],
        (0, 0, 0),
        "stream",
        "5.0.0",
        "A container for stream introspection commands.",
        cmd_xinfo,
    )
    .with_subcommands(|c| {
        let acl = &["@read", "@stream", "@slow"];
        let key = (2, 2, 1);
        vec![
            c.sub(
                "xinfo|consumers",
                4,
                READONLY,
                acl,
                key,
                "5.0.0",
                "Returns a list of the consumers in a consumer group.",
            ),
            c.sub(
                "xinfo|groups",
                3,
                READONLY,
                acl,
                key,
                "5.0.0",
                "Returns a list of the consumer groups of a stream.",
            ),
            c.sub(
                "xinfo|stream",
                -3,
                READONLY,
                acl,
                key,
                "5.0.0",
                "Returns information about a stream.",
            ),
            c.sub(
                "xinfo|help",
                2,
                LOADING | STALE,
                &["@stream", "@slow"],
                (0, 0, 0),
                "5.0.0",
                "Returns helpful text about the different subcommands.",
            ),
        ]
    })]
}
