//! Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE SSUBSCRIBE SUNSUBSCRIBE
//! PUBLISH SPUBLISH PUBSUB. Delivery and the subscriber's output queue are in `pubsub`.

use crate::args::{eq_ignore_case, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult};
use crate::families::server_family::{help_reply, unknown_sub};
use crate::pubsub::{self, Kind, Subscriber};
use crate::registry::{command, flags::*, CommandSpec};
use damselfly_protocol::ReplyWriter;
use damselfly_shards::glob::GlobPattern;
use std::rc::Rc;

/// The connection's subscriber, created on its first subscription. What the connection
/// replied before it joins the queue first, so the order stays the client's.
fn subscriber(ctx: &mut CmdCtx<'_>) -> Result<Rc<Subscriber>, CmdError> {
    if let Some(sub) = &ctx.conn.pubsub {
        return Ok(sub.clone());
    }
    if ctx.conn.stream.is_none() {
        return Err(CmdError::raw("ERR this context cannot subscribe"));
    }
    let sub = pubsub::attach(ctx.conn.id, ctx.conn.info.clone());
    ctx.conn.pubsub = Some(sub.clone());
    Ok(sub)
}

/// One confirmation frame: [kind, name or nil, count]. Pushes bypass CLIENT REPLY OFF/SKIP,
/// as in Redis: they join the push queue, after the replies already written.
fn confirm(ctx: &mut CmdCtx<'_>, what: &[u8], name: Option<&[u8]>, count: usize) {
    let mut frame = Vec::with_capacity(32 + name.map_or(0, <[u8]>::len));
    let mut w = ReplyWriter::new(&mut frame, ctx.conn.resp);
    w.push_header(3);
    w.bulk(what);
    match name {
        Some(n) => w.bulk(n),
        None => w.null(),
    }
    w.integer(count as i64);
    if ctx.exec.enclosing() {
        // Inside EXEC the frames are part of EXEC's reply.
        ctx.out.extend_from_slice(&frame);
        return;
    }
    // What this command's batch replied so far goes first: the push queue is sent after
    // the batch's replies, so they move to it to keep the client's order.
    let info = ctx.conn.info.clone();
    info.push.push(&info, ctx.out);
    ctx.out.clear();
    info.push.push(&info, &frame);
}

fn count_for(sub: Option<&Rc<Subscriber>>, kind: Kind) -> usize {
    match (sub, kind) {
        (None, _) => 0,
        (Some(s), Kind::Shard) => s.count(Kind::Shard),
        (Some(s), _) => s.channel_count(),
    }
}

fn subscribe_to(ctx: &mut CmdCtx<'_>, args: &Args<'_>, kind: Kind) -> CmdResult {
    let sub = subscriber(ctx)?;
    for i in 1..args.len() {
        let name = args.get(i);
        pubsub::subscribe(ctx.server, &sub, kind, name);
        let count = count_for(Some(&sub), kind);
        confirm(ctx, kind.subscribe_name(), Some(name), count);
    }
    Ok(())
}

fn unsubscribe_from(ctx: &mut CmdCtx<'_>, args: &Args<'_>, kind: Kind) -> CmdResult {
    let names: Vec<Vec<u8>> = if args.len() > 1 {
        (1..args.len()).map(|i| args.get(i).to_vec()).collect()
    } else {
        ctx.conn
            .pubsub
            .as_ref()
            .map_or(Vec::new(), |s| s.names(kind))
    };
    if names.is_empty() {
        let count = count_for(ctx.conn.pubsub.as_ref(), kind);
        confirm(ctx, kind.unsubscribe_name(), None, count);
        return Ok(());
    }
    for name in &names {
        let sub = ctx.conn.pubsub.clone();
        if let Some(s) = &sub {
            pubsub::unsubscribe(ctx.server, s, kind, name);
        }
        let count = count_for(sub.as_ref(), kind);
        confirm(ctx, kind.unsubscribe_name(), Some(name), count);
    }
    Ok(())
}

fn cmd_subscribe(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    subscribe_to(ctx, args, Kind::Channel)
}

fn cmd_psubscribe(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    subscribe_to(ctx, args, Kind::Pattern)
}

fn cmd_ssubscribe(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    subscribe_to(ctx, args, Kind::Shard)
}

fn cmd_unsubscribe(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    unsubscribe_from(ctx, args, Kind::Channel)
}

fn cmd_punsubscribe(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    unsubscribe_from(ctx, args, Kind::Pattern)
}

fn cmd_sunsubscribe(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    unsubscribe_from(ctx, args, Kind::Shard)
}

fn cmd_publish(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let n = pubsub::publish(
        ctx.server,
        &mut ctx.exec,
        Kind::Channel,
        args.get(1),
        args.get(2),
    );
    ctx.reply().integer(n as i64);
    Ok(())
}

fn cmd_spublish(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let n = pubsub::publish(
        ctx.server,
        &mut ctx.exec,
        Kind::Shard,
        args.get(1),
        args.get(2),
    );
    ctx.reply().integer(n as i64);
    Ok(())
}

fn cmd_pubsub(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    // A known subcommand with the wrong number of arguments gets Redis's arity error.
    let spec = crate::registry::Registry::get()
        .lookup(b"pubsub")
        .and_then(|(_, c)| c.subcommand(args.get(1)));
    if let Some(spec) = spec.filter(|s| !s.arity_ok(args.len())) {
        return Err(CmdError::WrongArity(spec.name.into()));
    }
    let sub = args.get(1);
    let n = args.len();
    if eq_ignore_case(sub, "channels") && n <= 3 {
        list_names(ctx, args, Kind::Channel)
    } else if eq_ignore_case(sub, "shardchannels") && n <= 3 {
        list_names(ctx, args, Kind::Shard)
    } else if eq_ignore_case(sub, "numsub") {
        count_subscribers(ctx, args, Kind::Channel)
    } else if eq_ignore_case(sub, "shardnumsub") {
        count_subscribers(ctx, args, Kind::Shard)
    } else if eq_ignore_case(sub, "numpat") && n == 2 {
        let per = ctx
            .exec
            .on_all_shards(&|_| pubsub::local_names(Kind::Pattern));
        let unique = pubsub::union_names(per).len();
        ctx.reply().integer(unique as i64);
        Ok(())
    } else if eq_ignore_case(sub, "help") && n == 2 {
        help_reply(ctx, "PUBSUB", HELP);
        Ok(())
    } else {
        Err(unknown_sub("pubsub", args))
    }
}

/// PUBSUB CHANNELS / SHARDCHANNELS [pattern]: channels with at least one subscriber.
fn list_names(ctx: &mut CmdCtx<'_>, args: &Args<'_>, kind: Kind) -> CmdResult {
    let glob = (args.len() == 3).then(|| GlobPattern::new(args.get(2), false));
    let per = ctx.exec.on_all_shards(&|_| pubsub::local_names(kind));
    let names: Vec<Vec<u8>> = pubsub::union_names(per)
        .into_iter()
        .filter(|n| glob.as_ref().is_none_or(|g| g.matches(n)))
        .collect();
    let mut w = ctx.reply();
    w.array_header(names.len());
    for n in &names {
        w.bulk(n);
    }
    Ok(())
}

/// PUBSUB NUMSUB / SHARDNUMSUB [channel ...]: subscribers of each, over every proactor.
fn count_subscribers(ctx: &mut CmdCtx<'_>, args: &Args<'_>, kind: Kind) -> CmdResult {
    let names: Vec<&[u8]> = (2..args.len()).map(|i| args.get(i)).collect();
    let per = if names.is_empty() {
        Vec::new()
    } else {
        ctx.exec
            .on_all_shards(&|_| pubsub::local_counts(kind, &names))
    };
    let mut w = ctx.reply();
    w.map_header(names.len());
    for (i, n) in names.iter().enumerate() {
        w.bulk(n);
        w.integer(per.iter().map(|c| c[i]).sum::<usize>() as i64);
    }
    Ok(())
}

const HELP: &[&str] = &[
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
];

// ---- registration ----------------------------------------------------------------------------

#[rustfmt::skip]
pub fn commands() -> Vec<CommandSpec> {
    let none = (0, 0, 0);
    let c = |name, arity, flags, acl, since, summary, handler| {
        command(name, arity, flags, acl, none, "pubsub", since, summary, handler)
    };
    let slow: &'static [&'static str] = &["@pubsub", "@slow"];
    let fast: &'static [&'static str] = &["@pubsub", "@fast"];
    let sub_flags = PUBSUB | NOSCRIPT | LOADING | STALE;
    vec![
        c("subscribe", -2, sub_flags, slow, "2.0.0", "Listens for messages published to channels.", cmd_subscribe),
        c("unsubscribe", -1, sub_flags, slow, "2.0.0", "Stops listening to messages posted to channels.", cmd_unsubscribe),
        c("psubscribe", -2, sub_flags, slow, "2.0.0", "Listens for messages published to channels that match one or more patterns.", cmd_psubscribe),
        c("punsubscribe", -1, sub_flags, slow, "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", cmd_punsubscribe),
        c("ssubscribe", -2, sub_flags, slow, "7.0.0", "Listens for messages published to shard channels.", cmd_ssubscribe),
        c("sunsubscribe", -1, sub_flags, slow, "7.0.0", "Stops listening to messages posted to shard channels.", cmd_sunsubscribe),
        c("publish", 3, PUBSUB | LOADING | STALE | FAST, fast, "2.0.0", "Posts a message to a channel.", cmd_publish),
        c("spublish", 3, PUBSUB | LOADING | STALE | FAST, fast, "7.0.0", "Post a message to a shard channel", cmd_spublish),
        c("pubsub", -2, 0, slow, "2.8.0", "A container for Pub/Sub commands.", cmd_pubsub).with_subcommands(|c| {
            let s: &'static [&'static str] = &["@pubsub", "@slow"];
            vec![
                c.sub("pubsub|channels", -2, PUBSUB | LOADING | STALE, s, none, "2.8.0", "Returns the active channels."),
                c.sub("pubsub|help", 2, LOADING | STALE, s, none, "6.2.0", "Returns helpful text about the different subcommands."),
                c.sub("pubsub|numpat", 2, PUBSUB | LOADING | STALE, s, none, "2.8.0", "Returns a count of unique pattern subscriptions."),
                c.sub("pubsub|numsub", -2, PUBSUB | LOADING | STALE, s, none, "2.8.0", "Returns a count of subscribers to channels."),
                c.sub("pubsub|shardchannels", -2, PUBSUB | LOADING | STALE, s, none, "7.0.0", "Returns the active shard channels."),
                c.sub("pubsub|shardnumsub", -2, PUBSUB | LOADING | STALE, s, none, "7.0.0", "Returns the count of subscribers of shard channels."),
            ]
        }),
    ]
}
