//! memcached connection fibers (`--memcached_port`): read, parse every complete command in
//! the buffer, run each through the executor on its key's shard, append the replies to one
//! output buffer and send it once per batch. A client that never reads parks its fiber in
//! send (replies past [`OUT_FLUSH`](crate::memcache_reply::OUT_FLUSH) are sent before more
//! input is parsed), so memory stays bounded.

use crate::families::memcache_family::{self, bump, McState};
use crate::families::memcache_squash::{self, squashable};
use crate::memcache_conns::ConnState;
use crate::memcache_reply::McOut;
use crate::server::{ProactorState, ServerState};
use crate::tls::ConnStream;
use damselfly_protocol::memcache::{
    MemcacheError, MemcacheLimits, MemcacheParser, MemcacheRequest,
};
use damselfly_runtime::net::{TcpListener, TcpStream};
use damselfly_runtime::ProactorPool;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// First read size: enough for request-response traffic.
const READ_MIN: usize = 1024;
/// Largest read a pipelining connection grows to.
const READ_MAX: usize = 64 * 1024;
/// Largest drained input buffer a connection keeps.
const INPUT_KEEP_MAX: usize = 4 * READ_MAX;
/// Longest multi-get line waited for (memcached keeps reading a `get` line of any length):
/// past it the connection is closed rather than buffer without bound.
const GET_LINE_MAX: usize = 16 * 1024 * 1024;

/// Binds `--memcached_port` (when not 0) on proactor 0 and accepts there, handing
/// connections round-robin to the proactors like the Redis listener.
/// With `--memcached_tls yes` every connection shakes hands first, with the TLS settings
/// installed when it arrives (CONFIG SET of a `tls-*` parameter reaches new clients).
pub fn start_listener(
    pool: &ProactorPool,
    server: &Arc<ServerState>,
    ip: IpAddr,
) -> std::io::Result<Option<SocketAddr>> {
    let port = server.config.get_int("memcached-port") as u16;
    if port == 0 {
        return Ok(None);
    }
    let item_size_max = server.config.get_int("max-item-size").max(1) as usize;
    let mc = Arc::new(McState::new(server.clone(), port, item_size_max));
    let addr = SocketAddr::new(ip, port);
    let (tx, rx) = damselfly_runtime::sync::oneshot::channel();
    pool.spawn_named(0, "memcached acceptor", move || {
        let listener = match TcpListener::bind(addr) {
            Ok(l) => l,
            Err(e) => return tx.send(Err(e)),
        };
        tx.send(Ok(listener.local_addr()));
        mc.conns
            .set_listener(listener.as_raw_fd(), listener.local_addr());
        let tls = mc.server.config.get("memcached-tls").as_deref() == Some("yes");
        let accept = move |tcp: TcpStream| match tls.then(|| mc.server.listeners.tls_config()) {
            None => serve(ConnStream::Tcp(tcp), mc.clone()),
            Some(None) => drop(tcp.close()),
            Some(Some(config)) => {
                if let Some(stream) = crate::tls::listener::handshake(tcp, &config, "memcached") {
                    serve(stream, mc.clone());
                }
            }
        };
        if let Err(e) = listener.serve(accept) {
            log::info!("memcached acceptor stopped: {e}");
        }
    });
    let local = rx
        .recv()
        .map_err(|_| std::io::Error::other("memcached acceptor died"))??;
    Ok(Some(local))
}

/// Requests parsed ahead of running them (the unit squashing works on).
const BATCH_MAX: usize = 64;

/// Runs or answers one request; false when the connection must close (`quit`).
fn answer(mc: &McState, request: &MemcacheRequest<'_>, out: &mut McOut<'_>) -> bool {
    match request {
        MemcacheRequest::Command(command) => memcache_family::execute(mc, command, out),
        MemcacheRequest::Error { error, noreply } => {
            if *error == MemcacheError::ValueTooLarge {
                bump(&mc.counters().store_too_large, 1);
            }
            if !noreply {
                out.raw(error.reply_line());
            }
            true
        }
        MemcacheRequest::Discarded => true,
    }
}

/// Serves one memcached client until it quits or errs.
pub fn serve(stream: ConnStream, mc: Arc<McState>) {
    // One limit for both protocols: memcached clients count in maxclients and in INFO's
    // connected_clients / total_connections_received.
    let server = mc.server.clone();
    server.total_connections.fetch_add(1, Ordering::Relaxed);
    let connected = server.connected.fetch_add(1, Ordering::AcqRel) + 1;
    let _place = crate::conn::ConnectedGuard(server.clone());
    if connected > server.config.get_int("maxclients") as usize {
        server.rejected_connections.fetch_add(1, Ordering::Relaxed);
        // memcached's own words when it is at its connection limit.
        let _ = stream.send_all(b"ERROR Too many open connections\r\n");
        let _ = stream.close();
        return;
    }
    let counters = mc.counters();
    bump(&counters.total_connections, 1);
    bump(&counters.curr_connections, 1);
    run(&stream, &mc);
    let counters = mc.counters();
    counters.curr_connections.store(
        counters
            .curr_connections
            .load(std::sync::atomic::Ordering::Relaxed)
            .saturating_sub(1),
        std::sync::atomic::Ordering::Relaxed,
    );
    let _ = stream.close();
}

fn run(stream: &ConnStream, mc: &McState) {
    let mut parser = MemcacheParser::new(MemcacheLimits {
        value_len_max: mc.item_size_max,
    });
    let mut input: Vec<u8> = Vec::new();
    let mut out = McOut::new(stream);
    let mut read_size = READ_MIN;
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::new(IpAddr::from([0, 0, 0, 0]), 0));
    let registered = mc.conns.register(
        stream.as_raw_fd(),
        peer,
        damselfly_runtime::clock::wall_now_ms() / 1000,
    );
    let entry = &registered.entry;
    if !mc.server.acl.default_open()
        && !crate::memcache_auth::wait_for_login(stream, mc, &mut input, &mut out)
    {
        out.flush();
        return;
    }
    let mut pending = !input.is_empty();
    let mut ran_any = false;
    loop {
        // A big data block arriving grows the reads with what has come, never by what a
        // storage line merely declares.
        let spare = read_size.max(input.len().min(READ_MAX * 16));
        // Input that arrived with the login is served before reading more.
        let n = if std::mem::take(&mut pending) {
            0
        } else {
            entry.set_state(if input.contains(&b'\n') {
                ConnState::Nread
            } else if ran_any {
                ConnState::Read
            } else {
                ConnState::NewCmd
            });
            match stream.recv_append(&mut input, spare) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            }
        };
        if n >= spare && read_size < READ_MAX {
            read_size *= 2;
        }
        bump(&mc.counters().bytes_read, n as u64);
        let now_ms = damselfly_runtime::clock::wall_now_ms();
        ProactorState::current().batch_now_ms.set(now_ms);
        entry.set_state(ConnState::ParseCmd);
        let mut consumed = 0;
        let mut keep_going = true;
        // Pipelines on a multi-shard server are squashed, as on the Redis side.
        let server = &mc.server;
        server.client_limits.refresh(&server.config);
        let squash_min = match server.client_limits.pipeline_squash() {
            n if server.shards > 1 && n > 0 => n,
            _ => usize::MAX,
        };
        let mut batch: Vec<MemcacheRequest<'_>> = Vec::new();
        loop {
            if damselfly_runtime::stopping() {
                return;
            }
            // Parse up to BATCH_MAX complete requests, then run them in order.
            batch.clear();
            let mut fatal = false;
            while batch.len() < BATCH_MAX {
                match parser.parse(&input[consumed..]) {
                    Ok(Some(parsed)) => {
                        consumed += parsed.consumed;
                        batch.push(parsed.request);
                    }
                    Ok(None) => break,
                    Err(_) => {
                        // An unterminated line over 2048 bytes that is not a get: memcached
                        // closes without a reply.
                        fatal = true;
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                ran_any = true;
                entry.touch(now_ms / 1000);
            }
            let mut i = 0;
            while i < batch.len() && keep_going {
                let run = batch[i..]
                    .iter()
                    .take_while(|r| matches!(r, MemcacheRequest::Command(c) if squashable(c)))
                    .count();
                if run >= squash_min {
                    memcache_squash::run(mc, &batch[i..i + run], &mut out);
                    i += run;
                } else {
                    keep_going = answer(mc, &batch[i], &mut out);
                    i += 1;
                }
                out.maybe_flush();
                if out.broken {
                    return;
                }
            }
            if fatal {
                keep_going = false;
            }
            if !keep_going || batch.len() < BATCH_MAX {
                break;
            }
        }
        drop(batch);
        input.drain(..consumed);
        entry.set_state(ConnState::Write);
        out.flush();
        bump(&mc.counters().bytes_written, out.sent);
        out.sent = 0;
        if !keep_going || out.broken {
            return;
        }
        if input.len() > GET_LINE_MAX {
            log::warn!(
                "Closing memcached client: a command line of {} bytes",
                input.len()
            );
            return;
        }
        if input.is_empty() && input.capacity() > INPUT_KEEP_MAX {
            input = Vec::new();
            read_size = READ_MIN;
        }
    }
}
