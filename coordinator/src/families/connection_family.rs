//! Connection commands: PING ECHO QUIT SELECT HELLO RESET CLIENT.

use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::{CmdCtx, ConnInfo, ReplyMode};
use crate::error::{shown_bytes, CmdError, CmdResult, OpResult};
use crate::families::tracking_family;
use crate::registry::{flags::*, CommandSpec, Registry};
use crate::server::ProactorState;
use crate::tx;
use damselfly_protocol::RespVersion;
use damselfly_runtime::clock;

fn cmd_ping(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() > 2 {
        return Err(CmdError::WrongArity("ping".into()));
    }
    let subscribed = ctx.conn.pubsub.as_ref().is_some_and(|s| s.subscribed());
    if subscribed && ctx.conn.resp == RespVersion::Resp2 {
        // In subscribed mode PING answers as a message would: ["pong", argument or ""].
        let mut w = ctx.reply();
        w.array_header(2);
        w.bulk(b"pong");
        w.bulk(if args.len() == 2 { args.get(1) } else { b"" });
        return Ok(());
    }
    match args.len() {
        1 => ctx.reply().simple(b"PONG"),
        2 => ctx.reply().bulk(args.get(1)),
        _ => return Err(CmdError::WrongArity("ping".into())),
    }
    Ok(())
}

fn cmd_echo(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    ctx.reply().bulk(args.get(1));
    Ok(())
}

fn cmd_quit(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    ctx.reply().ok();
    ctx.conn.close_after_reply = true;
    Ok(())
}

fn cmd_select(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let db = parse_i64(args.get(1))
        .map_err(|_| CmdError::raw("ERR value is not an integer or out of range"))?;
    let dbs = ctx.server.config.get_int("databases");
    if db < 0 || db >= dbs {
        return Err(CmdError::DbIndexOutOfRange);
    }
    ctx.conn.db = db as usize;
    ctx.conn.info.db.set(db as usize);
    ctx.reply().ok();
    Ok(())
}

fn cmd_reset(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    if let Some(sub) = &ctx.conn.pubsub {
        crate::pubsub::unsubscribe_all(ctx.server, sub);
    }
    crate::tracking::disable(&ctx.conn.info);
    ctx.server.monitors.remove(ctx.conn.id);
    ctx.conn.multi = None;
    ctx.conn.replies = ReplyMode::On;
    crate::families::transaction_family::unwatch_all(ctx.conn);
    ctx.conn.db = 0;
    ctx.conn.info.db.set(0);
    ctx.conn.resp = RespVersion::Resp2;
    ctx.conn.info.resp.set(2);
    ctx.conn.info.name.borrow_mut().clear();
    set_no_touch(ctx, false);
    // Back to the default user, authenticated only if it needs no password.
    ctx.conn.acl = crate::acl::ConnAcl::new(&ctx.server.acl);
    *ctx.conn.info.user.borrow_mut() = "default".to_string();
    ctx.reply().simple(b"RESET");
    Ok(())
}

/// CLIENT NO-TOUCH: the flag CLIENT LIST shows, and the mode every later hop of this client
/// carries to the shards.
fn set_no_touch(ctx: &mut CmdCtx<'_>, on: bool) {
    let was = ctx.conn.info.no_touch.replace(on);
    crate::tx::client_tag::set_no_touch(ctx.conn.id, on, was);
}

fn cmd_monitor(ctx: &mut CmdCtx<'_>, _args: &Args<'_>) -> CmdResult {
    if ctx.exec.enclosing() {
        return Err(CmdError::raw(
            "ERR MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    ctx.server.monitors.add(crate::tracking::ClientRef {
        id: ctx.conn.id,
        proactor: ProactorState::current().shard.index as u32,
    });
    ctx.reply().ok();
    Ok(())
}

fn cmd_hello(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let mut version = None;
    if args.len() > 1 {
        let v = parse_i64(args.get(1))
            .map_err(|_| CmdError::raw("ERR Protocol version is not an integer or out of range"))?;
        match v {
            2 => version = Some(RespVersion::Resp2),
            3 => version = Some(RespVersion::Resp3),
            _ => return Err(CmdError::raw("NOPROTO unsupported protocol version")),
        }
    }
    // Options are read first; login, name and protocol apply in that order once all parse.
    let (mut login, mut name) = (None, None);
    let mut i = 2;
    while i < args.len() {
        let opt = args.get(i);
        let more = args.len() - 1 - i;
        if eq_ignore_case(opt, "auth") && more >= 2 {
            login = Some((args.get(i + 1), args.get(i + 2)));
            i += 3;
        } else if eq_ignore_case(opt, "setname") && more >= 1 {
            name = Some(args.get(i + 1));
            i += 2;
        } else {
            return Err(CmdError::raw(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if let Some((user, pass)) = login {
        crate::families::acl_family::login(ctx.server, ctx.conn, user, pass)?;
    }
    if ctx.conn.acl.auth_required(&ctx.server.acl) {
        return Err(CmdError::raw("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(n) = name {
        set_name(ctx, n)?;
    }
    if let Some(v) = version {
        ctx.conn.resp = v;
        ctx.conn
            .info
            .resp
            .set(if v == RespVersion::Resp3 { 3 } else { 2 });
    }
    let proto = if ctx.conn.resp == RespVersion::Resp3 {
        3
    } else {
        2
    };
    let id = ctx.conn.id as i64;
    let mut r = ctx.reply();
    r.map_header(7);
    r.bulk(b"server");
    r.bulk(b"redis");
    r.bulk(b"version");
    r.bulk(crate::REDIS_VERSION.as_bytes());
    r.bulk(b"proto");
    r.integer(proto);
    r.bulk(b"id");
    r.integer(id);
    r.bulk(b"mode");
    r.bulk(b"standalone");
    r.bulk(b"role");
    r.bulk(b"master");
    r.bulk(b"modules");
    r.array_header(0);
    Ok(())
}

fn set_name(ctx: &mut CmdCtx<'_>, name: &[u8]) -> CmdResult {
    if name.iter().any(|c| *c <= b' ' || *c > b'~') {
        return Err(CmdError::raw(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    *ctx.conn.info.name.borrow_mut() = name.to_vec();
    Ok(())
}

/// What CLIENT LIST keeps.
enum ListFilter {
    All,
    Ids(Vec<u64>),
    Type(ClientType),
}

fn client_list_lines(filter: ListFilter) -> String {
    let now = clock::wall_now_ms();
    let filter = &filter;
    let per_shard = tx::on_all_shards(&|_| {
        let ps = ProactorState::current();
        let conns = ps.conns.borrow();
        let mut lines: Vec<(u64, String)> = conns
            .values()
            .filter(|(_, info)| match filter {
                ListFilter::All => true,
                ListFilter::Ids(ids) => ids.contains(&info.id),
                ListFilter::Type(t) => client_type_of(info) == *t,
            })
            .map(|(_, info)| (info.id, info.describe(now)))
            .collect();
        lines.sort();
        lines
    });
    let mut all: Vec<(u64, String)> = per_shard.into_iter().flatten().collect();
    all.sort();
    let mut out = String::new();
    for (_, l) in all {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// An argument Redis reads as a C string: up to its first NUL byte.
fn c_str(a: &[u8]) -> &[u8] {
    shown_bytes(a, usize::MAX)
}

/// The client types of CLIENT KILL TYPE and CLIENT LIST TYPE.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Replica,
    Master,
    PubSub,
}

fn parse_client_type(name: &[u8]) -> OpResult<ClientType> {
    let name = c_str(name);
    if eq_ignore_case(name, "normal") {
        Ok(ClientType::Normal)
    } else if eq_ignore_case(name, "replica") || eq_ignore_case(name, "slave") {
        Ok(ClientType::Replica)
    } else if eq_ignore_case(name, "master") {
        Ok(ClientType::Master)
    } else if eq_ignore_case(name, "pubsub") {
        Ok(ClientType::PubSub)
    } else {
        Err(CmdError::raw(format!(
            "ERR Unknown client type '{}'",
            String::from_utf8_lossy(name)
        )))
    }
}

/// There is no replication and no pub/sub yet: every connection is a normal client.
fn client_type_of(_info: &ConnInfo) -> ClientType {
    ClientType::Normal
}

/// CLIENT SETINFO LIB-NAME|LIB-VER <value>: shown by CLIENT LIST and INFO; an empty value
/// clears it. Like Redis 7.2, the value must be printable ASCII without spaces.
fn client_setinfo(ctx: &mut CmdCtx<'_>, attr: &[u8], value: &[u8]) -> CmdResult {
    let attr = c_str(attr);
    let slot = if eq_ignore_case(attr, "lib-name") {
        &ctx.conn.info.lib_name
    } else if eq_ignore_case(attr, "lib-ver") {
        &ctx.conn.info.lib_ver
    } else {
        return Err(CmdError::raw(format!(
            "ERR Unrecognized option '{}'",
            String::from_utf8_lossy(attr)
        )));
    };
    let value = c_str(value);
    if value.iter().any(|c| !(b'!'..=b'~').contains(c)) {
        return Err(CmdError::raw(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            String::from_utf8_lossy(attr)
        )));
    }
    *slot.borrow_mut() = value.to_vec();
    Ok(())
}

fn cmd_client(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    // A known subcommand with the wrong number of arguments gets Redis's arity error.
    let spec = Registry::get()
        .lookup(b"client")
        .and_then(|(_, c)| c.subcommand(args.get(1)));
    if let Some(spec) = spec.filter(|s| !s.arity_ok(args.len())) {
        return Err(CmdError::WrongArity(spec.name.into()));
    }
    let sub = String::from_utf8_lossy(args.get(1)).to_ascii_lowercase();
    let n = args.len();
    match sub.as_str() {
        "id" if n == 2 => {
            let id = ctx.conn.id as i64;
            ctx.reply().integer(id)
        }
        "getname" if n == 2 => {
            let name = ctx.conn.info.name.borrow().clone();
            if name.is_empty() {
                ctx.reply().null()
            } else {
                ctx.reply().bulk(&name)
            }
        }
        "setname" if n == 3 => {
            set_name(ctx, args.get(2))?;
            ctx.reply().ok();
        }
        "setinfo" if n == 4 => {
            client_setinfo(ctx, args.get(2), args.get(3))?;
            ctx.reply().ok();
        }
        "reply" if n == 3 => {
            let mode = String::from_utf8_lossy(args.get(2)).to_ascii_lowercase();
            match mode.as_str() {
                "on" => {
                    ctx.conn.replies = ReplyMode::On;
                    ctx.reply().ok();
                }
                // Neither answers: OFF silences this and every later reply, SKIP the next one.
                "off" => ctx.conn.replies = ReplyMode::Off,
                "skip" => {
                    if ctx.conn.replies != ReplyMode::Off {
                        ctx.conn.replies = ReplyMode::SkipNext;
                    }
                }
                _ => return Err(CmdError::Syntax),
            }
        }
        "no-evict" if n == 3 => {
            let on = match String::from_utf8_lossy(args.get(2))
                .to_ascii_lowercase()
                .as_str()
            {
                "on" => true,
                "off" => false,
                _ => return Err(CmdError::Syntax),
            };
            ctx.conn.info.no_evict.set(on);
            ctx.reply().ok();
        }
        "no-touch" if n == 3 => {
            let on = match String::from_utf8_lossy(args.get(2))
                .to_ascii_lowercase()
                .as_str()
            {
                "on" => true,
                "off" => false,
                _ => return Err(CmdError::Syntax),
            };
            set_no_touch(ctx, on);
            ctx.reply().ok();
        }
        "info" if n == 2 => {
            let line = ctx.conn.info.describe(clock::wall_now_ms()) + "\n";
            ctx.reply().verbatim(b"txt", line.as_bytes());
        }
        "list" => {
            let filter = if n >= 4 && eq_ignore_case(args.get(2), "id") {
                let mut ids = Vec::new();
                for a in args.rest(3) {
                    ids.push(
                        parse_i64(a).map_err(|_| CmdError::raw("ERR Invalid client ID"))? as u64,
                    );
                }
                ListFilter::Ids(ids)
            } else if n == 4 && eq_ignore_case(args.get(2), "type") {
                ListFilter::Type(parse_client_type(args.get(3))?)
            } else if n == 2 {
                ListFilter::All
            } else {
                return Err(CmdError::Syntax);
            };
            let text = client_list_lines(filter);
            ctx.reply().verbatim(b"txt", text.as_bytes());
        }
        "kill" if n >= 3 => return client_kill(ctx, args),
        "pause" if n == 3 || n == 4 => return crate::pause::client_pause(ctx, args),
        "pause" => {
            return Err(CmdError::raw(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(args.get(1))
            )))
        }
        "unpause" if n == 2 => return crate::pause::client_unpause(ctx),
        "unblock" if n == 3 || n == 4 => {
            let id = parse_i64(args.get(2))?;
            let error = match (n == 4).then(|| args.get(3)) {
                None => false,
                Some(r) if eq_ignore_case(r, "timeout") => false,
                Some(r) if eq_ignore_case(r, "error") => true,
                Some(_) => {
                    return Err(CmdError::raw(
                        "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
                    ))
                }
            };
            let done = crate::blocking::unblock_client(ctx.server, id as u64, error);
            ctx.reply().integer(done as i64);
        }
        "tracking" if n >= 3 => return tracking_family::client_tracking(ctx, args),
        "caching" if n == 3 => return tracking_family::client_caching(ctx, args),
        "getredir" if n == 2 => return tracking_family::client_getredir(ctx),
        "trackinginfo" if n == 2 => return tracking_family::client_trackinginfo(ctx),
        "help" if n == 2 => {
            let lines = [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GETNAME", "    Return the name of the current connection.",
                "ID", "    Return the ID of the current connection.",
                "INFO", "    Return information about the current client connection.",
                "KILL <ip:port>", "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]", "    Kill connections. Options are: ID <client-id>, ADDR <ip:port>, LADDR <ip:port>, TYPE (NORMAL|MASTER|REPLICA|PUBSUB), USER <username>, MAXAGE <seconds>, SKIPME (YES|NO).",
                "LIST [options ...]", "    Return information about client connections. Options: TYPE (NORMAL|MASTER|REPLICA|PUBSUB), ID <client-id> [...].",
                "NO-TOUCH (ON|OFF)", "    Will not touch LRU/LFU stats when this mode is on.",
                "REPLY (ON|OFF|SKIP)", "    Control the replies sent to the current connection.",
                "SETNAME <name>", "    Assign the name <name> to the current connection.",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]", "    Unblock the specified blocked client.",
                "HELP", "    Print this help.",
            ];
            let mut r = ctx.reply();
            r.array_header(lines.len());
            for l in lines {
                r.simple(l.as_bytes());
            }
        }
        _ => return Err(CmdError::unknown_subcommand("client", args.get(1))),
    }
    Ok(())
}

/// Which clients CLIENT KILL disconnects: those matching every filter given.
struct KillFilter {
    id: Option<u64>,
    addr: Option<Vec<u8>>,
    laddr: Option<Vec<u8>>,
    kind: Option<ClientType>,
    /// At least this old, in seconds.
    max_age: Option<u64>,
    /// Authenticated as this user.
    user: Option<String>,
    /// Leave the calling client alone.
    skip_me: bool,
}

impl KillFilter {
    /// Old form `CLIENT KILL addr:port` (which may kill the caller itself) or option/value
    /// pairs, checked in order like Redis: the first bad option or value is the error.
    fn parse(args: &Args<'_>, acl: &crate::acl::AclState) -> OpResult<KillFilter> {
        let mut f = KillFilter {
            id: None,
            addr: None,
            laddr: None,
            kind: None,
            max_age: None,
            user: None,
            skip_me: true,
        };
        if args.len() == 3 {
            f.addr = Some(c_str(args.get(2)).to_vec());
            f.skip_me = false;
            return Ok(f);
        }
        let mut i = 2;
        while i < args.len() {
            let opt = args.get(i);
            if i + 1 >= args.len() {
                return Err(CmdError::Syntax);
            }
            let val = args.get(i + 1);
            if eq_ignore_case(opt, "id") {
                let id = parse_i64(val)
                    .ok()
                    .filter(|&v| v > 0)
                    .ok_or_else(|| CmdError::raw("ERR client-id should be greater than 0"))?;
                f.id = Some(id as u64);
            } else if eq_ignore_case(opt, "maxage") {
                let age = parse_i64(val)
                    .map_err(|_| CmdError::raw("ERR maxage is not an integer or out of range"))?;
                if age <= 0 {
                    return Err(CmdError::raw("ERR maxage should be greater than 0"));
                }
                f.max_age = Some(age as u64);
            } else if eq_ignore_case(opt, "type") {
                f.kind = Some(parse_client_type(val)?);
            } else if eq_ignore_case(opt, "addr") {
                f.addr = Some(c_str(val).to_vec());
            } else if eq_ignore_case(opt, "laddr") {
                f.laddr = Some(c_str(val).to_vec());
            } else if eq_ignore_case(opt, "user") {
                if acl.user(val).is_none() {
                    return Err(CmdError::raw(format!(
                        "ERR No such user '{}'",
                        String::from_utf8_lossy(c_str(val))
                    )));
                }
                f.user = Some(String::from_utf8_lossy(val).into_owned());
            } else if eq_ignore_case(opt, "skipme") {
                f.skip_me = if eq_ignore_case(val, "yes") {
                    true
                } else if eq_ignore_case(val, "no") {
                    false
                } else {
                    return Err(CmdError::Syntax);
                };
            } else {
                return Err(CmdError::Syntax);
            }
            i += 2;
        }
        Ok(f)
    }

    fn matches(&self, info: &ConnInfo, me: u64, now_ms: u64) -> bool {
        self.id.is_none_or(|i| info.id == i)
            && self.addr.as_ref().is_none_or(|a| info.addr.as_bytes() == a)
            && self.laddr.as_ref().is_none_or(|a| info.laddr.as_bytes() == a)
            && self.kind.is_none_or(|t| client_type_of(info) == t)
            && self.user.as_ref().is_none_or(|u| *info.user.borrow() == *u)
            // The age CLIENT LIST shows.
            && self
                .max_age
                .is_none_or(|m| now_ms.saturating_sub(info.created_ms) / 1000 >= m)
            && !(self.skip_me && info.id == me)
    }
}

/// Disconnects every client (on every proactor) `pick` chooses; the number chosen. The
/// caller, if chosen, gets its reply first and then its connection closes.
pub(crate) fn kill_clients(
    ctx: &mut CmdCtx<'_>,
    pick: &(dyn Fn(&ConnInfo) -> bool + Sync),
) -> usize {
    let me = ctx.conn.id;
    // (clients killed, whether the caller is one of them) per proactor.
    let per_shard = ctx.exec.on_all_shards(&|_| {
        let ps = ProactorState::current();
        let victims: Vec<_> = ps
            .conns
            .borrow()
            .values()
            .filter(|(_, info)| pick(info))
            .map(|(s, info)| (s.clone(), info.id))
            .collect();
        let mut killed_me = false;
        for (s, id) in &victims {
            if *id == me {
                killed_me = true;
            } else {
                // Gone from CLIENT LIST (and from the next CLIENT KILL's count) at once, as
                // in Redis. Shutting the socket down ends the victim's recv; its fiber then
                // cleans up.
                ps.conns.borrow_mut().remove(id);
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        (victims.len(), killed_me)
    });
    if per_shard.iter().any(|(_, me)| *me) {
        ctx.conn.close_after_reply = true;
    }
    per_shard.iter().map(|(n, _)| n).sum()
}

fn client_kill(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let filter = KillFilter::parse(args, &ctx.server.acl)?;
    let (me, now) = (ctx.conn.id, clock::wall_now_ms());
    let killed = kill_clients(ctx, &|info| filter.matches(info, me, now));
    if args.len() == 3 {
        if killed == 0 {
            return Err(CmdError::raw("ERR No such client"));
        }
        ctx.reply().ok();
    } else {
        ctx.reply().integer(killed as i64);
    }
    Ok(())
}

pub fn commands() -> Vec<CommandSpec> {
    let c = |name, arity, flags, acl: &'static [&'static str], summary| CommandSpec {
        name,
        arity,
        flags,
        acl,
        first_key: 0,
        last_key: 0,
        step: 0,
        group: "connection",
        summary,
        since: "1.0.0",
        handler: cmd_ping,
        subcommands: Vec::new(),
    };
    vec![
        CommandSpec {
            handler: cmd_ping,
            ..c(
                "ping",
                -1,
                FAST,
                &["@fast", "@connection"],
                "Returns the server's liveliness response.",
            )
        },
        CommandSpec {
            handler: cmd_echo,
            ..c(
                "echo",
                2,
                FAST | LOADING | STALE,
                &["@fast", "@connection"],
                "Returns the given string.",
            )
        },
        CommandSpec {
            handler: cmd_quit,
            ..c(
                "quit",
                -1,
                NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
                &["@fast", "@connection"],
                "Closes the connection.",
            )
        },
        CommandSpec {
            handler: cmd_monitor,
            group: "server",
            ..c(
                "monitor",
                1,
                ADMIN | NOSCRIPT | LOADING | STALE,
                &["@admin", "@slow", "@dangerous"],
                "Listens for all requests received by the server in real-time.",
            )
        },
        CommandSpec {
            handler: cmd_select,
            ..c(
                "select",
                2,
                FAST | LOADING | STALE,
                &["@fast", "@connection"],
                "Changes the selected database.",
            )
        },
        CommandSpec {
            handler: cmd_hello,
            ..c(
                "hello",
                -1,
                NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
                &["@fast", "@connection"],
                "Handshakes with the server.",
            )
        },
        CommandSpec {
            handler: cmd_reset,
            ..c(
                "reset",
                1,
                NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
                &["@fast", "@connection"],
                "Resets the connection.",
            )
        },
        CommandSpec {
            handler: cmd_client,
            ..c(
                "client",
                -2,
                0,
                &["@slow"],
                "A container for client connection commands.",
            )
        }
        .with_subcommands(|c| {
            let none = (0, 0, 0);
            let (f, acl) = (NOSCRIPT | LOADING | STALE, &["@slow", "@connection"]);
            let (admin, admin_acl) = (ADMIN | f, &["@admin", "@slow", "@dangerous", "@connection"]);
            vec![
                c.sub(
                    "client|id",
                    2,
                    f,
                    acl,
                    none,
                    "5.0.0",
                    "Returns the unique client ID of the connection.",
                ),
                c.sub(
                    "client|getname",
                    2,
                    f,
                    acl,
                    none,
                    "2.6.9",
                    "Returns the name of the connection.",
                ),
                c.sub(
                    "client|setname",
                    3,
                    f,
                    acl,
                    none,
                    "2.6.9",
                    "Sets the connection name.",
                ),
                c.sub(
                    "client|no-evict",
                    3,
                    admin,
                    admin_acl,
                    none,
                    "7.0.0",
                    "Exempts the connection from client eviction (maxmemory-clients).",
                ),
                c.sub(
                    "client|no-touch",
                    3,
                    f,
                    acl,
                    none,
                    "7.2.0",
                    "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
                ),
                c.sub(
                    "client|reply",
                    3,
                    f,
                    acl,
                    none,
                    "3.2.0",
                    "Instructs the server whether to reply to commands.",
                ),
                c.sub(
                    "client|setinfo",
                    4,
                    f,
                    acl,
                    none,
                    "7.2.0",
                    "Sets information specific to the client or connection.",
                ),
                c.sub(
                    "client|info",
                    2,
                    f,
                    acl,
                    none,
                    "6.2.0",
                    "Returns information about the connection.",
                ),
                c.sub(
                    "client|list",
                    -2,
                    admin,
                    admin_acl,
                    none,
                    "2.4.0",
                    "Lists open connections.",
                ),
                c.sub(
                    "client|kill",
                    -3,
                    admin,
                    admin_acl,
                    none,
                    "2.4.0",
                    "Terminates open connections.",
                ),
                c.sub("client|pause", -3, admin, admin_acl, none, "3.0.0", "Suspends commands processing."),
                c.sub("client|unpause", 2, admin, admin_acl, none, "6.2.0", "Resumes processing commands from paused clients."),
                c.sub(
                    "client|unblock",
                    -3,
                    admin,
                    admin_acl,
                    none,
                    "5.0.0",
                    "Unblocks a client blocked by a blocking command from a different connection.",
                ),
                c.sub(
                    "client|tracking",
                    -3,
                    f,
                    acl,
                    none,
                    "6.0.0",
                    "Controls server-assisted client-side caching for the connection.",
                ),
                c.sub(
                    "client|caching",
                    3,
                    f,
                    acl,
                    none,
                    "6.0.0",
                    "Instructs the server whether to track the keys in the next request.",
                ),
                c.sub(
                    "client|getredir",
                    2,
                    f,
                    acl,
                    none,
                    "6.0.0",
                    "Returns the client ID to which the connection's tracking notifications are redirected.",
                ),
                c.sub(
                    "client|trackinginfo",
                    2,
                    f,
                    acl,
                    none,
                    "6.2.0",
                    "Returns information about server-assisted client-side caching for the connection.",
                ),
                c.sub(
                    "client|help",
                    2,
                    LOADING | STALE,
                    acl,
                    none,
                    "5.0.0",
                    "Returns help text about the CLIENT subcommands.",
                ),
            ]
        }),
    ]
}
