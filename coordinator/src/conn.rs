//! Connection fibers: read, parse every complete command in the buffer, execute each, append
//! the replies to one output buffer and send it once per batch. A client that never reads its
//! replies parks its own fiber in `send` (so its input stops being read): memory stays bounded.

use crate::acl::gate::{acl_gate, Caller};
use crate::args::Args;
use crate::client_limits::{ClientLimits, OutputLimit};
use crate::ctx::{CmdCtx, ConnInfo, ConnState, Found, Queued, ReplyMode};
use crate::error::CmdError;
use crate::exec::Exec;
use crate::families::transaction_family;
use crate::prefetch;
use crate::pubsub;
use crate::registry::flags::{ALLOW_BUSY, DENYOOM, NO_MULTI};
use crate::registry::CommandSpec;
use crate::registry::Registry;
use crate::scripting;
use crate::server::{ProactorState, ProactorStats, ServerState};
use crate::shard::{key_hash, shard_of};
use crate::squash::{self, Hops};
use crate::tls::ConnStream;
use damselfly_protocol::{CommandArgs, ParserLimits, ReplyWriter, RequestParser, RespVersion};
use damselfly_runtime::clock::{self, Time};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

fn parser_limits(server: &ServerState) -> ParserLimits {
    ParserLimits {
        bulk_len_max: server.config.get_int("proto-max-bulk-len") as usize,
        query_buffer_len_max: server.config.get_int("client-query-buffer-limit") as usize,
        ..ParserLimits::default()
    }
}

/// Serves one client until it quits, errs or is killed.
pub fn serve(stream: ConnStream, server: Arc<ServerState>) {
    let id = server.next_client_id();
    server.total_connections.fetch_add(1, Ordering::Relaxed);
    let connected = server.connected.fetch_add(1, Ordering::AcqRel) + 1;
    let _guard = ConnectedGuard(server.clone());
    if connected > server.config.get_int("maxclients") as usize {
        server.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.send_all(b"-ERR max number of clients reached\r\n");
        return;
    }
    if refused_by_protected_mode(&stream, &server) {
        let _ = stream.send_all(PROTECTED_MODE_DENIED);
        return;
    }
    let info = Rc::new(ConnInfo::new(
        id,
        stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
    ));
    info.push.bind(stream.clone());
    // Hops this fiber sends work for this client (tracking's NOLOOP).
    damselfly_runtime::fiber::set_tag(id);
    let ps = ProactorState::current();
    server.tracking.register_client(id, ps.shard.index);
    ps.conns
        .borrow_mut()
        .insert(id, (stream.tcp().clone(), info.clone()));
    let mut conn = ConnState {
        id,
        db: 0,
        resp: RespVersion::Resp2,
        close_after_reply: false,
        info,
        multi: None,
        watched: Vec::new(),
        replies: ReplyMode::On,
        stream: Some(stream.clone()),
        out_sent: 0,
        pubsub: None,
        acl: crate::acl::ConnAcl::new(&server.acl),
    };
    log::debug!(
        "Accepted client id={id} addr={} laddr={}",
        conn.info.addr,
        conn.info.laddr
    );
    run(&stream, &server, &mut conn);
    log::debug!("Client closed connection id={id} addr={}", conn.info.addr);
    transaction_family::unwatch_all(&mut conn);
    if let Some(sub) = conn.pubsub.take() {
        pubsub::unsubscribe_all(&server, &sub);
    }
    crate::tracking::disable(&conn.info);
    server.tracking.forget_client(id);
    server.monitors.remove(id);
    conn.info.push.end();
    ps.conns.borrow_mut().remove(&id);
    let _ = stream.close();
}

/// Redis's reply to a client refused by protected mode, word for word (clients and operators
/// search for it).
const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Protected mode: with no password for the default user, only loopback clients are served.
fn refused_by_protected_mode(stream: &ConnStream, server: &ServerState) -> bool {
    if !server.protected_mode() {
        return false;
    }
    match stream.peer_addr() {
        Ok(peer) => !peer.ip().is_loopback() && !is_mapped_loopback(peer.ip()),
        Err(_) => false,
    }
}

fn is_mapped_loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        std::net::IpAddr::V4(_) => false,
    }
}

/// Holds one place in `ServerState::connected` (maxclients, INFO connected_clients) until the
/// connection ends; memcached connections hold one too.
pub(crate) struct ConnectedGuard(pub(crate) Arc<ServerState>);
impl Drop for ConnectedGuard {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Commands parsed ahead of execution: their keys' cache lines are warmed together first.
const BATCH_MAX: usize = 64;

/// First read size: enough for request-response traffic, so an idle connection holds little.
const READ_MIN: usize = 1024;
/// Largest read a pipelining connection grows to (its buffer doubles while reads fill it).
const READ_MAX: usize = 64 * 1024;
/// Replies accumulated before they are sent in the middle of a batch: a client that pipelines
/// big replies and reads slowly holds about this much before its fiber parks in send (and its
/// input stops being read).
const OUT_FLUSH: usize = 64 * 1024;

/// This connection's share of `ClientLimits::total_mem`, returned when it ends.
struct MemShare<'a> {
    limits: &'a ClientLimits,
    info: &'a ConnInfo,
    proactor: usize,
    held: usize,
}

impl MemShare<'_> {
    /// `queued`: bytes of the commands waiting for EXEC.
    fn update(&mut self, input: &Vec<u8>, out: &Vec<u8>, batch: &[CommandArgs], queued: usize) {
        let now = CONN_BASE_MEM
            + input.capacity()
            + out.capacity()
            + std::mem::size_of_val(batch)
            + queued;
        if now != self.held {
            self.limits.account(self.held, now);
            if now > self.held {
                self.limits.note_client(self.proactor, now);
            }
            self.held = now;
            self.info.mem.set(now);
        }
    }
}

impl Drop for MemShare<'_> {
    fn drop(&mut self) {
        self.limits.account(self.held, 0);
    }
}

/// Bytes a connection holds in commands queued for EXEC (Redis's multi-mem); also publishes
/// CLIENT LIST's `multi=` and `multi-mem=` for this connection.
fn queued_bytes(conn: &ConnState) -> usize {
    let (count, bytes) = conn
        .multi
        .as_ref()
        .map_or((-1, 0), |m| (m.queued.len() as i64, m.bytes));
    conn.info.multi.set(count);
    conn.info.multi_mem.set(bytes);
    bytes
}

/// What a connection costs besides its buffers (its state and map entry), for accounting.
const CONN_BASE_MEM: usize = 512;

fn run(stream: &ConnStream, server: &ServerState, conn: &mut ConnState) {
    let limits = &server.client_limits;
    limits.refresh(&server.config);
    let mut parser = RequestParser::new(parser_limits(server));
    let mut batch: Vec<CommandArgs> = Vec::new();
    let mut spans = [(0usize, 0usize); BATCH_MAX];
    let mut found: [Found; BATCH_MAX] = [None; BATCH_MAX];
    let registry = Registry::get();
    let mut input: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let mut read_size = READ_MIN;
    let mut qbuf = crate::querybuf::QueryBuf::default();
    let mut soft_since = None;
    let info = conn.info.clone();
    let mut mem = MemShare {
        limits,
        info: &info,
        proactor: ProactorState::current().shard.index,
        held: 0,
    };
    mem.update(&input, &out, &batch, queued_bytes(conn));
    let ps = ProactorState::current();
    let stats = &ps.stats;
    // Until the first line is known to be RESP, it may be an HTTP request (`GET /metrics`).
    let mut sniffing = true;
    loop {
        // Read: grow the buffer with what arrives (at most doubling per read), never by what a
        // bulk header merely declares.
        let wanted = parser
            .input_len_wanted()
            .unwrap_or(0)
            .saturating_sub(input.len());
        let spare = wanted.clamp(read_size, read_size.max(input.len()));
        let n = match qbuf.read(stream, &mut input, spare, &info) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if sniffing {
            use crate::metrics::http::{self, Sniff};
            match http::sniff(&input) {
                Sniff::Http => return http::serve(stream, server, std::mem::take(&mut input)),
                Sniff::Resp => sniffing = false,
                Sniff::NeedMore => {}
            }
        }
        if n >= spare && read_size < READ_MAX {
            read_size *= 2;
        }
        // After the read: the config may have changed while this client waited.
        limits.refresh(&server.config);
        ps.batch_now_ms.set(clock::wall_now_ms());
        ProactorStats::bump(&stats.net_input_bytes, n as u64);
        info.push.begin_batch();
        let output_limit = crate::push::connection_limit(&info);
        // Checked after each command: past it, the replies are sent (or the client dropped).
        let out_check = [output_limit.hard, output_limit.soft]
            .into_iter()
            .filter(|l| *l > 0)
            .fold(OUT_FLUSH, |a, l| a.min(l as usize));

        let mut consumed = 0;
        let mut failed = None;
        // The slot holding a partly parsed command: the parser resumes it in slot 0.
        let mut partial_at = 0;
        let mut tick = clock::now();
        'batches: loop {
            // Parse up to BATCH_MAX complete commands, warm their keys, run them in order.
            let mut parsed = 0;
            while parsed < BATCH_MAX {
                if parsed == batch.len() {
                    batch.push(CommandArgs::new());
                }
                match parser.parse(&input[consumed..], &mut batch[parsed]) {
                    Ok(Some(used)) => {
                        spans[parsed] = (consumed, used);
                        consumed += used;
                        parsed += 1;
                    }
                    Ok(None) => {
                        partial_at = parsed;
                        break;
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            // One registry lookup per command, shared by prefetch, squashing and execution.
            for k in 0..parsed {
                let name = batch[k].get(&input[spans[k].0..], 0);
                found[k] = registry.lookup(name);
            }
            // Over maxmemory each command is checked on its own, so nothing is squashed.
            let squash = server.shards > 1
                && !server.pause.maybe_active()
                && limits.pipeline_squash() > 0
                && parsed >= limits.pipeline_squash()
                && !limits.over_maxmemory();
            // A squashed run warms its keys on their shards; otherwise warm the local ones.
            let likely_squashed = squash
                && conn.multi.is_none()
                && !info.tracking.is_on()
                && server.monitors.is_empty();
            if parsed > 1 && !likely_squashed {
                prefetch_keys(
                    server,
                    conn.db,
                    &input,
                    &batch[..parsed],
                    &spans[..parsed],
                    &found[..parsed],
                );
            }
            let mut i = 0;
            while i < parsed {
                if damselfly_runtime::stopping() {
                    // Shutting down: the rest of the pipeline is not run (as when Redis exits).
                    return;
                }
                let (start, used) = spans[i];
                // While it runs, a command is still in the query buffer (CLIENT LIST's qbuf).
                info.qbuf.set(input.len() - start);
                // A restricted user's commands join the run only once they pass the check.
                let acl_current = conn.acl.generation == server.acl.generation()
                    && !conn.acl.auth_required(&server.acl);
                let run = if squash
                    && acl_current
                    && conn.multi.is_none()
                    && conn.replies == ReplyMode::On
                    && !info.tracking.is_on()
                    && server.monitors.is_empty()
                {
                    let cmds = batch[i..parsed].iter().zip(&spans[i..parsed]);
                    let cmds = cmds.map(|(cmd, &(start, _))| Args::new(&input[start..], cmd));
                    let (fast, user) = (conn.acl.fast, &conn.acl.user);
                    let allowed =
                        cmds.zip(found[i..parsed].iter().copied())
                            .take_while(|(args, found)| {
                                fast || found.is_some_and(|(index, spec)| {
                                    crate::acl::check::check(user, index, spec, args).is_ok()
                                })
                            });
                    squash::squashable_run(server.shards, allowed)
                } else {
                    Vec::new()
                };
                if run.len() > 1 {
                    ProactorStats::bump(&stats.commands, run.len() as u64);
                    squash::run(server, conn, &run, &mut out, Hops::Now);
                    // The commands ran with a stand-in state on their shards: record them here.
                    if let Some(last) = run.last() {
                        *info.last_cmd.borrow_mut() = last.found.1.name;
                        info.last_active_ms.set(ps.batch_now_ms.get());
                    }
                    i += run.len();
                    squash::recycle(run);
                    tick = clock::now();
                } else {
                    squash::recycle(run);
                    let a = Args::new(&input[start..], &batch[i]);
                    let raw = &input[start..start + used];
                    if conn.replies == ReplyMode::SkipNext {
                        conn.replies = ReplyMode::Skip;
                    }
                    conn.out_sent = 0;
                    let mark = out.len();
                    tick = execute_timed(server, conn, &a, found[i], raw, &mut out, tick);
                    // A command that parked sent what was before it: its own reply starts
                    // that much earlier.
                    let mark = mark.saturating_sub(conn.out_sent);
                    match conn.replies {
                        ReplyMode::On | ReplyMode::SkipNext => {}
                        ReplyMode::Off => out.truncate(mark),
                        ReplyMode::Skip => {
                            out.truncate(mark);
                            conn.replies = ReplyMode::On;
                        }
                    }
                    i += 1;
                    if conn.close_after_reply {
                        break 'batches;
                    }
                }
                if out.len() >= out_check {
                    mem.update(&input, &out, &batch, queued_bytes(conn));
                    if flush(stream, &mut out, output_limit, &mut soft_since, &info).is_err() {
                        return;
                    }
                }
            }
            if parsed < BATCH_MAX || failed.is_some() {
                break;
            }
        }
        if let Some(e) = failed {
            e.write_reply(&mut out);
            info.push.acquire(&mut out);
            let _ = stream.send_all(&out);
            info.push.release();
            return;
        }
        input.drain(..consumed);
        // The next read resumes the partial command from slot 0: its arguments so far must
        // be there, not those of the batch's first command.
        batch.swap(0, partial_at);
        // A huge command's argument room is freed at once, not kept for the connection's
        // life; slot 0 keeps a partly parsed command's arguments (its bytes are still input).
        // Only a batch of several KiB can hold one: an argument takes at least 6 bytes.
        if consumed >= 4096 {
            let keep = usize::from(!input.is_empty());
            for args in batch.iter_mut().skip(keep) {
                args.release_large();
            }
        }
        info.qbuf.set(input.len());
        mem.update(&input, &out, &batch, queued_bytes(conn));
        if !out.is_empty() || info.push.pending() > 0 {
            ProactorStats::bump(&stats.net_output_bytes, out.len() as u64);
            if flush(stream, &mut out, output_limit, &mut soft_since, &info).is_err() {
                return;
            }
            if out.capacity() > OUT_FLUSH * 2 {
                out = Vec::new();
            }
        }
        info.push.end_batch(&info);
        if conn.close_after_reply {
            return;
        }
        if info.push.is_closed() {
            return;
        }
        let query_max = limits.query_buffer_max();
        if input.len() > query_max {
            log::warn!(
                "Closing client that reached max query buffer length: id={} addr={} qbuf={}",
                info.id,
                info.addr,
                input.len()
            );
            return;
        }
        // A buffer a big request grew shrinks back once mostly unused.
        if qbuf.after_batch(&mut input, &info, ps.batch_now_ms.get()) {
            read_size = READ_MIN;
        }
        mem.update(&input, &out, &batch, queued_bytes(conn));
    }
}

/// Sends all of `out` and clears it, holding the client to its output buffer limit while it
/// is slow to read: more than `hard` bytes unsent, or more than `soft` for `soft_secs`
/// seconds in a row, disconnects it (logged). Err: the connection must end.
fn flush(
    stream: &ConnStream,
    out: &mut Vec<u8>,
    limit: OutputLimit,
    soft_since: &mut Option<Time>,
    info: &ConnInfo,
) -> Result<(), ()> {
    // Frames queued for the client go out after the replies, in the same send.
    info.push.acquire(out);
    let sent = send_out(stream, out, limit, soft_since, info);
    info.push.release();
    sent
}

fn send_out(
    stream: &ConnStream,
    out: &mut Vec<u8>,
    limit: OutputLimit,
    soft_since: &mut Option<Time>,
    info: &ConnInfo,
) -> Result<(), ()> {
    let mut sent = 0;
    while sent < out.len() {
        let pending = (out.len() - sent) as u64;
        if limit.hard > 0 && pending > limit.hard {
            log_output_limit(info, pending, "hard");
            return Err(());
        }
        let deadline = if limit.soft > 0 && pending > limit.soft {
            let since = *soft_since.get_or_insert_with(clock::now);
            Some(since + std::time::Duration::from_secs(limit.soft_secs))
        } else {
            *soft_since = None;
            None
        };
        match stream.send_until(&out[sent..], deadline) {
            Ok(0) => return Err(()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                log_output_limit(info, pending, "soft");
                return Err(());
            }
            Err(_) => return Err(()),
        }
    }
    *soft_since = None;
    out.clear();
    Ok(())
}

fn log_output_limit(info: &ConnInfo, pending: u64, which: &str) {
    log::warn!(
        "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits ({which} limit, {pending} bytes unsent).",
        info.id,
        info.addr
    );
}

/// Starts loading the table lines of every local key of a parsed batch (see
/// [`prefetch::warm_keys`]).
fn prefetch_keys(
    server: &ServerState,
    db: usize,
    input: &[u8],
    batch: &[CommandArgs],
    spans: &[(usize, usize)],
    found: &[Found],
) {
    let shard = &ProactorState::current().shard;
    let keys = batch
        .iter()
        .zip(spans)
        .zip(found)
        .filter_map(|((cmd, &(start, _)), found)| {
            Some((Args::new(&input[start..], cmd), (*found)?.1))
        })
        .flat_map(|(a, spec)| spec.key_indices(a.len()).map(move |i| a.get(i)))
        .filter(|key| server.shards == 1 || shard_of(key_hash(key), server.shards) == shard.index);
    prefetch::warm_keys(shard, db, keys);
}

/// Runs one command and appends its reply (or error) to `out`. It started at `started` (the
/// previous command's end, so a pipeline reads the clock once per command); returns when it
/// finished. `raw` is the command's request bytes, which `args` was parsed from: between MULTI
/// and EXEC they are queued instead of run.
fn execute_timed(
    server: &ServerState,
    conn: &mut ConnState,
    args: &Args<'_>,
    found: Found,
    raw: &[u8],
    out: &mut Vec<u8>,
    started: Time,
) -> Time {
    let name = args.get(0);
    let stats = &ProactorState::current().stats;
    ProactorStats::bump(&stats.commands, 1);
    let Some((index, spec)) = found else {
        let e = CmdError::unknown_command(name, args.rest(1)).to_bytes();
        stats.count_rejected(None, &e);
        ReplyWriter::new(out, conn.resp).error_bytes(&e);
        flag_multi(conn);
        return started;
    };
    if !spec.arity_ok(args.len()) {
        let e = CmdError::WrongArity(spec.name.to_string()).to_string();
        stats.count_rejected(Some(index), e.as_bytes());
        ReplyWriter::new(out, conn.resp).error(&e);
        flag_multi(conn);
        return started;
    }
    if let Err(e) = acl_gate(server, conn, args, (index, spec), Caller::Client) {
        stats.count_rejected(Some(index), e.as_bytes());
        if e.is_empty() {
            flag_multi(conn);
        } else {
            reject(conn, spec, &e, out);
        }
        return started;
    }
    if refused_in_subscribed_mode(conn, spec) {
        let e = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            spec.name
        );
        stats.count_rejected(Some(index), e.as_bytes());
        ReplyWriter::new(out, conn.resp).error(&e);
        flag_multi(conn);
        return started;
    }
    if server.scripts.is_busy() && refused_while_busy(server, conn, spec, args) {
        let eval = server.scripts.busy_info().is_none_or(|(eval, _)| eval);
        let msg = if eval {
            scripting::BUSY_EVAL
        } else {
            scripting::BUSY_FUNCTION
        };
        stats.count_rejected(Some(index), msg.as_bytes());
        reject(conn, spec, msg, out);
        return started;
    }
    if refused_for_memory(server, conn, spec, args, out) {
        stats.count_rejected(Some(index), OOM_ERROR.as_bytes());
        reject(conn, spec, OOM_ERROR, out);
        return started;
    }
    // CLIENT PAUSE holds the command here, before MULTI queues it (as Redis does).
    let started =
        if server.pause.maybe_active() && crate::pause::wait_if_paused(server, conn, spec, args) {
            clock::now()
        } else {
            started
        };
    if let Some(multi) = &mut conn.multi {
        if !transaction_family::runs_inside_multi(spec) {
            let mut w = ReplyWriter::new(out, conn.resp);
            if spec.has(NO_MULTI) {
                stats.count_rejected(Some(index), b"ERR");
                w.error("ERR Command not allowed inside a transaction");
                multi.failed = true;
            } else {
                multi.bytes += raw.len() + args.len() * 16;
                multi.queued.push(Queued {
                    raw: raw.to_vec(),
                    args: args.parsed().clone(),
                    found,
                });
                w.simple(b"QUEUED");
            }
            return started;
        }
    }
    run_command(server, conn, args, out, (index, spec), Exec::now(), started)
}

/// A command refused before it runs (NOAUTH, NOPERM, BUSY, OOM): its error; an EXEC refused
/// so discards the transaction (if any), as Redis does (`EXECABORT Transaction discarded
/// because of: ...`).
fn reject(conn: &mut ConnState, spec: &CommandSpec, msg: &str, out: &mut Vec<u8>) {
    if spec.name == "exec" {
        conn.multi = None;
        conn.info.multi.set(-1);
        conn.info.multi_mem.set(0);
        transaction_family::unwatch_all(conn);
        ReplyWriter::new(out, conn.resp).error(&format!(
            "EXECABORT Transaction discarded because of: {msg}"
        ));
    } else {
        flag_multi(conn);
        ReplyWriter::new(out, conn.resp).error(msg);
    }
}

/// A RESP2 client subscribed to anything may only (un)subscribe, PING, QUIT and RESET.
fn refused_in_subscribed_mode(conn: &ConnState, spec: &CommandSpec) -> bool {
    conn.resp == RespVersion::Resp2
        && conn.pubsub.as_ref().is_some_and(|s| s.subscribed())
        && !matches!(
            spec.name,
            "subscribe"
                | "psubscribe"
                | "ssubscribe"
                | "unsubscribe"
                | "punsubscribe"
                | "sunsubscribe"
                | "ping"
                | "quit"
                | "reset"
        )
}

/// While a script runs past `busy-reply-threshold`, other clients may run only the commands
/// flagged allow-busy (SCRIPT KILL, FUNCTION KILL, SHUTDOWN NOSAVE...).
fn refused_while_busy(
    server: &ServerState,
    conn: &ConnState,
    spec: &CommandSpec,
    args: &Args<'_>,
) -> bool {
    let Some((_, owner)) = server.scripts.busy_info() else {
        return false;
    };
    if owner == conn.id {
        return false;
    }
    let effective = if !spec.subcommands.is_empty() && args.len() > 1 {
        spec.subcommand(args.get(1)).unwrap_or(spec)
    } else {
        spec
    };
    !effective.has(ALLOW_BUSY)
}

/// Redis's reply to a command refused at `maxmemory` (the noeviction policy).
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Over `maxmemory`, commands that may grow memory are refused, and so is everything queued
/// into a MULTI (queueing grows memory too) but EXEC, DISCARD, QUIT and RESET — as Redis does.
fn refused_for_memory(
    server: &ServerState,
    conn: &ConnState,
    spec: &CommandSpec,
    args: &Args<'_>,
    out: &mut Vec<u8>,
) -> bool {
    if !server.client_limits.over_maxmemory() {
        return false;
    }
    let effective = if !spec.subcommands.is_empty() && args.len() > 1 {
        spec.subcommand(args.get(1)).unwrap_or(spec)
    } else {
        spec
    };
    let may_grow = effective.has(DENYOOM)
        || (conn.multi.is_some() && !matches!(spec.name, "exec" | "discard" | "quit" | "reset"));
    // Over the limit, every command first makes room (a read too, as in Redis); only one
    // that may grow memory is refused when no room can be made.
    let room = crate::eviction::make_room(server);
    // What the evictions invalidated for this client goes before the command's reply.
    conn.info.push.drain_into(out);
    !room && may_grow
}

/// A command between MULTI and EXEC failed before it could be queued: EXEC will abort.
fn flag_multi(conn: &mut ConnState) {
    if let Some(multi) = &mut conn.multi {
        multi.failed = true;
    }
}

/// Runs a command inside EXEC's transaction (`exec`), appending its reply to `out`.
pub fn execute_with(
    server: &ServerState,
    conn: &mut ConnState,
    args: &Args<'_>,
    found: Found,
    out: &mut Vec<u8>,
    exec: Exec<'_>,
) {
    // Rules may have changed since the command was queued: checked again, as Redis does.
    if let Some(f) = found {
        if let Err(e) = acl_gate(server, conn, args, f, Caller::Exec) {
            if !e.is_empty() {
                ReplyWriter::new(out, conn.resp).error(&e);
            }
            return;
        }
    }
    execute_at(server, conn, args, found, out, exec, clock::now());
}

/// [`execute_with`] for a command that started at `started` (the previous one's end, so a
/// script's calls read the clock once each); returns when it finished.
pub fn execute_at(
    server: &ServerState,
    conn: &mut ConnState,
    args: &Args<'_>,
    found: Found,
    out: &mut Vec<u8>,
    exec: Exec<'_>,
    started: Time,
) -> Time {
    let Some(found) = found else {
        let e = CmdError::unknown_command(args.get(0), args.rest(1));
        ReplyWriter::new(out, conn.resp).error_bytes(&e.to_bytes());
        return started;
    };
    run_command(server, conn, args, out, found, exec, started)
}

/// CLIENT TRACKING: remembers the keys a read-only command read. A script's reads remember
/// the script's declared keys once it ends (as Redis does); CLIENT CACHING lasts one command
/// (or one transaction).
fn track_reads(
    info: &Rc<ConnInfo>,
    args: &Args<'_>,
    spec: &CommandSpec,
    scripted: bool,
    enclosing: bool,
) {
    use crate::registry::flags::READONLY;
    let t = &info.tracking;
    let is_script = matches!(
        spec.name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    );
    if scripted {
        if spec.has(READONLY) {
            t.script_read.set(true);
        }
        return;
    }
    let keys: Vec<&[u8]> = if is_script {
        if !t.script_read.replace(false) {
            Vec::new()
        } else {
            let n = crate::args::parse_i64(args.get(2)).unwrap_or(0).max(0) as usize;
            (3..(3 + n).min(args.len())).map(|i| args.get(i)).collect()
        }
    } else if spec.has(READONLY) {
        spec.key_indices(args.len()).map(|i| args.get(i)).collect()
    } else {
        Vec::new()
    };
    if !keys.is_empty() && crate::tracking::remembers(info) {
        crate::tracking::remember(info, &keys);
    }
    if !enclosing && spec.name != "client" {
        t.caching.set(false);
    }
}

/// Runs a looked-up, arity-checked command and counts it in its stats.
pub fn run_command(
    server: &ServerState,
    conn: &mut ConnState,
    args: &Args<'_>,
    out: &mut Vec<u8>,
    (index, spec): (usize, &CommandSpec),
    exec: Exec<'_>,
    started: Time,
) -> Time {
    // Recorded before it runs, so CLIENT LIST shows a client's own command as Redis does.
    let full_name = if spec.subcommands.is_empty() || args.len() < 2 {
        spec.name
    } else {
        spec.subcommand(args.get(1)).map_or(spec.name, |s| s.name)
    };
    *conn.info.last_cmd.borrow_mut() = full_name;
    let (scripted, enclosing, now) = (exec.scripted(), exec.enclosing(), exec.is_now());
    // Scripts show in MONITOR before the commands they call, everything else once it ran.
    let runs_script = matches!(
        spec.name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    );
    if runs_script && !scripted {
        crate::monitor::feed(server, conn.db, Some(&conn.info.addr), args);
    }
    let result = {
        let mut ctx = CmdCtx {
            conn,
            server,
            out,
            exec,
        };
        (spec.handler)(&mut ctx, args)
    };
    let failed = result.is_err();
    // A squashed command's line is fed by its client's proactor after the run (squash::run).
    if !server.monitors.is_empty()
        && !runs_script
        && !spec.has(crate::registry::flags::ADMIN)
        && !Rc::ptr_eq(&conn.info, &ProactorState::current().squash_info)
    {
        let addr = (!scripted).then_some(conn.info.addr.as_str());
        crate::monitor::feed(server, conn.db, addr, args);
    }
    if conn.info.tracking.is_on() {
        track_reads(&conn.info, args, spec, scripted, enclosing);
    }
    if now {
        // BCAST announcements of the whole command (a transaction's too) leave together.
        crate::tracking::flush_broadcasts();
    }
    let ps = ProactorState::current();
    match result {
        Ok(()) | Err(CmdError::Replied) => {}
        Err(e) => {
            let line = e.to_bytes();
            ps.stats.count_error(&line);
            ReplyWriter::new(out, conn.resp).error_bytes(&line);
        }
    }
    let finished = clock::now();
    let nanos = finished.as_nanos().saturating_sub(started.as_nanos());
    crate::latency::command_done(server, (index, spec), full_name, nanos);
    let (slower_than, slowlog_len) = server.client_limits.slowlog();
    if slower_than >= 0
        && (nanos / 1000) as i64 >= slower_than
        && !scripted
        && !spec.has(crate::registry::flags::SKIP_SLOWLOG)
    {
        let name = conn.info.name.borrow();
        server.slowlog.record(
            args,
            (nanos / 1000) as u64,
            &conn.info.addr,
            &name,
            slowlog_len,
        );
    }
    let mut per = ps.stats.per_command.borrow_mut();
    let entry = &mut per[index];
    entry.0 += 1;
    entry.1 += nanos;
    entry.2 += failed as u64;
    conn.info.last_active_ms.set(ps.batch_now_ms.get());
    finished
}
