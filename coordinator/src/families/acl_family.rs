//! AUTH and ACL: logging in, and the ACL subcommands that list, edit, check, save and load
//! users (the user table and the checks live in `acl/`).

use crate::acl::check::{self, Denied};
use crate::acl::describe;
use crate::acl::log::{Context, Entry, Reason};
use crate::acl::rules::{self, has_spaces, User};
use crate::acl::table::{CommandTable, CATEGORIES};
use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::{CmdCtx, ConnInfo, ConnState};
use crate::error::{CmdError, CmdResult};
use crate::families::server_family::{help_reply, unknown_sub};
use crate::registry::{command, flags::*, CommandSpec, Registry};
use crate::server::{ProactorState, ServerState};
use damselfly_runtime::clock;
use std::collections::BTreeMap;

pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn cmd_auth(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let (name, password): (&[u8], &[u8]) = if args.len() == 2 {
        if ctx.server.acl.default_user().nopass {
            return Err(CmdError::raw(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            ));
        }
        (b"default", args.get(1))
    } else {
        (args.get(1), args.get(2))
    };
    login(ctx.server, ctx.conn, name, password)?;
    ctx.reply().ok();
    Ok(())
}

/// AUTH and HELLO AUTH: on success the connection runs as `name` from its next command on.
pub fn login(
    server: &ServerState,
    conn: &mut ConnState,
    name: &[u8],
    password: &[u8],
) -> CmdResult {
    match server.acl.authenticate(name, password) {
        Some(user) => {
            *conn.info.user.borrow_mut() = String::from_utf8_lossy(&user.name).into_owned();
            conn.acl.logged_in(&server.acl, user);
            Ok(())
        }
        None => {
            let context = if conn.multi.is_some() {
                Context::Multi
            } else {
                Context::Toplevel
            };
            log_denial(server, &conn.info, Reason::Auth, context, b"AUTH", name);
            Err(CmdError::raw(WRONGPASS))
        }
    }
}

/// Adds an ACL LOG entry for a refusal.
pub fn log_denial(
    server: &ServerState,
    info: &ConnInfo,
    reason: Reason,
    context: Context,
    object: &[u8],
    username: &[u8],
) {
    let now = clock::wall_now_ms();
    let max = server.config.get_int("acllog-max-len").max(0) as usize;
    server.acl.log.add(
        Entry {
            count: 1,
            reason,
            context,
            object: object.to_vec(),
            username: username.to_vec(),
            at_ms: now,
            client_info: info.describe(now),
        },
        max,
    );
}

/// Logs a command refused by the ACL check and returns its error.
pub fn refused(
    server: &ServerState,
    conn: &ConnState,
    denied: Denied,
    command: &str,
    args: &Args<'_>,
    context: Context,
) -> String {
    let (reason, object) = match denied {
        Denied::Command => (Reason::Command, command.as_bytes()),
        Denied::Key(at) => (Reason::Key, args.get(at)),
        Denied::Channel(at) => (Reason::Channel, args.get(at)),
    };
    log_denial(
        server,
        &conn.info,
        reason,
        context,
        object,
        &conn.acl.user.name,
    );
    denied.error(command)
}

fn pubsub_all(server: &ServerState) -> bool {
    server.config.get("acl-pubsub-default").as_deref() == Some("allchannels")
}

fn cmd_acl(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let spec = Registry::get()
        .lookup(b"acl")
        .and_then(|(_, c)| c.subcommand(args.get(1)));
    if let Some(spec) = spec.filter(|s| !s.arity_ok(args.len())) {
        return Err(CmdError::WrongArity(spec.name.into()));
    }
    let sub = args.get(1).to_ascii_lowercase();
    let n = args.len();
    match sub.as_slice() {
        b"setuser" if n >= 3 => acl_setuser(ctx, args),
        b"deluser" if n >= 3 => acl_deluser(ctx, args),
        b"getuser" if n == 3 => acl_getuser(ctx, args.get(2)),
        b"list" | b"users" if n == 2 => {
            let users = ctx.server.acl.users();
            let mut w = ctx.reply();
            w.array_header(users.len());
            for u in users {
                if sub == b"users" {
                    w.bulk(&u.name);
                } else {
                    let line = format!(
                        "user {} {}",
                        String::from_utf8_lossy(&u.name),
                        describe::user_rules(&u)
                    );
                    w.bulk(line.as_bytes());
                }
            }
            Ok(())
        }
        b"whoami" if n == 2 => {
            let name = ctx.conn.acl.user.name.clone();
            ctx.reply().bulk(&name);
            Ok(())
        }
        b"load" | b"save" if ctx.server.config.get("aclfile").unwrap_or_default().is_empty() => {
            Err(CmdError::raw("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."))
        }
        b"load" if n == 2 => {
            let path = ctx.server.config.get("aclfile").unwrap_or_default();
            load_file(ctx.server, &path).map_err(|e| CmdError::raw(format!("ERR {e}")))?;
            kill_orphans(ctx);
            ctx.reply().ok();
            Ok(())
        }
        b"save" if n == 2 => {
            let path = ctx.server.config.get("aclfile").unwrap_or_default();
            if let Err(e) = save_file(ctx.server, &path) {
                log::warn!("Writing ACL file {path} for ACL SAVE: {e}");
                return Err(CmdError::raw("ERR There was an error trying to save the ACLs. Please check the server logs for more information"));
            }
            ctx.reply().ok();
            Ok(())
        }
        b"cat" if n == 2 => {
            let mut w = ctx.reply();
            w.array_header(CATEGORIES.len());
            for c in CATEGORIES {
                w.bulk(c.as_bytes());
            }
            Ok(())
        }
        b"cat" if n == 3 => {
            let Some(bit) = crate::acl::table::category(args.get(2)) else {
                return Err(CmdError::raw(format!(
                    "ERR Unknown category '{}'",
                    String::from_utf8_lossy(&args.get(2)[..args.get(2).len().min(128)])
                )));
            };
            let t = CommandTable::get();
            let names: Vec<&str> = t
                .entries
                .iter()
                .filter(|e| e.categories & bit != 0)
                .map(|e| e.name)
                .collect();
            let mut w = ctx.reply();
            w.array_header(names.len());
            for name in names {
                w.bulk(name.as_bytes());
            }
            Ok(())
        }
        b"genpass" if n == 2 || n == 3 => {
            let bits = if n == 3 {
                parse_i64(args.get(2)).map_err(|_| CmdError::NotInteger)?
            } else {
                256
            };
            if bits <= 0 || bits > 4096 {
                return Err(CmdError::raw("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"));
            }
            let chars = ((bits + 3) / 4) as usize;
            let pass = random_hex(chars);
            ctx.reply().bulk(pass.as_bytes());
            Ok(())
        }
        b"log" if n == 2 || n == 3 => acl_log(ctx, args),
        b"dryrun" if n >= 4 => acl_dryrun(ctx, args),
        b"help" if n == 2 => {
            help_reply(ctx, "ACL", HELP);
            Ok(())
        }
        _ => Err(unknown_sub("acl", args)),
    }
}

fn acl_setuser(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let name = args.get(2);
    if has_spaces(name) {
        return Err(CmdError::raw(
            "ERR Usernames can't contain spaces or null characters",
        ));
    }
    let old = ctx.server.acl.user(name);
    let ops: Vec<&[u8]> = (3..args.len()).map(|i| args.get(i)).collect();
    let new = rules::set_user(old.as_deref(), name, &ops, pubsub_all(ctx.server))
        .map_err(|e| CmdError::raw(format!("ERR {e}")))?;
    let narrowed = old.as_ref().is_some_and(|o| channels_narrowed(o, &new));
    ctx.server.acl.put(new.clone());
    if narrowed {
        kill_pubsub_violators(ctx, &new);
    }
    ctx.reply().ok();
    Ok(())
}

/// True when `new` may not reach every channel pattern `old` could.
fn channels_narrowed(old: &User, new: &User) -> bool {
    if new.selectors.iter().any(|s| s.all_channels) {
        return false;
    }
    let upcoming: Vec<&Vec<u8>> = new.selectors.iter().flat_map(|s| &s.channels).collect();
    old.selectors
        .iter()
        .any(|s| s.all_channels || s.channels.iter().any(|c| !upcoming.contains(&c)))
}

/// Disconnects the user's subscribers whose subscriptions its new rules no longer allow.
fn kill_pubsub_violators(ctx: &mut CmdCtx<'_>, user: &User) {
    let name = String::from_utf8_lossy(&user.name).into_owned();
    let me = ctx.conn.id;
    let killed_me = kill_where(ctx, &|info: &ConnInfo, subs: &crate::pubsub::Subscriber| {
        *info.user.borrow() == name && subs.violates(user)
    });
    if killed_me.contains(&me) {
        ctx.conn.close_after_reply = true;
    }
}

/// Disconnects every client (on every proactor) the predicate picks among subscribers;
/// the ids disconnected.
fn kill_where(
    ctx: &mut CmdCtx<'_>,
    pick: &(dyn Fn(&ConnInfo, &crate::pubsub::Subscriber) -> bool + Sync),
) -> Vec<u64> {
    let per_shard = ctx.exec.on_all_shards(&|_| {
        let ps = ProactorState::current();
        let victims = ps.pubsub.borrow().subscribers_where(pick);
        for id in &victims {
            if let Some((s, _)) = ps.conns.borrow().get(id) {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        victims
    });
    per_shard.into_iter().flatten().collect()
}

fn acl_deluser(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let names: Vec<&[u8]> = (2..args.len()).map(|i| args.get(i)).collect();
    if names.iter().any(|n| *n == b"default") {
        return Err(CmdError::raw("ERR The 'default' user cannot be removed"));
    }
    let deleted = ctx.server.acl.delete(&names);
    kill_orphans(ctx);
    ctx.reply().integer(deleted as i64);
    Ok(())
}

/// Disconnects clients whose user no longer exists (ACL DELUSER, ACL LOAD); the caller's
/// own connection closes after its reply.
fn kill_orphans(ctx: &mut CmdCtx<'_>) {
    let acl = &ctx.server.acl;
    crate::families::connection_family::kill_clients(ctx, &|info| {
        acl.user(info.user.borrow().as_bytes()).is_none()
    });
}

fn acl_getuser(ctx: &mut CmdCtx<'_>, name: &[u8]) -> CmdResult {
    let Some(u) = ctx.server.acl.user(name) else {
        ctx.reply().null();
        return Ok(());
    };
    let flags = describe::user_flags(&u);
    let mut w = ctx.reply();
    w.map_header(6);
    w.bulk(b"flags");
    w.set_header(flags.len());
    for f in flags {
        w.bulk(f.as_bytes());
    }
    w.bulk(b"passwords");
    w.array_header(u.passwords.len());
    for p in &u.passwords {
        w.bulk(p.as_bytes());
    }
    let selector = |w: &mut damselfly_protocol::ReplyWriter<'_>, s: &rules::Selector| {
        w.bulk(b"commands");
        w.bulk(describe::command_rules(s).as_bytes());
        w.bulk(b"keys");
        w.bulk(describe::keys_field(s).as_bytes());
        w.bulk(b"channels");
        w.bulk(describe::channels_field(s).as_bytes());
    };
    selector(&mut w, u.root());
    w.bulk(b"selectors");
    w.array_header(u.selectors.len() - 1);
    for s in &u.selectors[1..] {
        w.map_header(3);
        selector(&mut w, s);
    }
    Ok(())
}

fn acl_log(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let mut count = 10usize;
    if args.len() == 3 {
        if eq_ignore_case(args.get(2), "reset") {
            ctx.server.acl.log.reset();
            ctx.reply().ok();
            return Ok(());
        }
        count = parse_i64(args.get(2))
            .map_err(|_| CmdError::NotInteger)?
            .max(0) as usize;
    }
    let entries = ctx.server.acl.log.newest(count);
    let now = clock::wall_now_ms();
    let mut w = ctx.reply();
    w.array_header(entries.len());
    for e in entries {
        w.map_header(7);
        w.bulk(b"count");
        w.integer(e.count as i64);
        w.bulk(b"reason");
        w.bulk(e.reason.name().as_bytes());
        w.bulk(b"context");
        w.bulk(e.context.name().as_bytes());
        w.bulk(b"object");
        w.bulk(&e.object);
        w.bulk(b"username");
        w.bulk(&e.username);
        w.bulk(b"age-seconds");
        w.double(now.saturating_sub(e.at_ms) as f64 / 1000.0);
        w.bulk(b"client-info");
        w.bulk(e.client_info.as_bytes());
    }
    Ok(())
}

fn acl_dryrun(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let Some(user) = ctx.server.acl.user(args.get(2)) else {
        return Err(CmdError::raw(format!(
            "ERR User '{}' not found",
            String::from_utf8_lossy(args.get(2))
        )));
    };
    let (buf, parsed) = check::owned_args(args.rest(3));
    let inner = Args::new(&buf, &parsed);
    let Some((index, spec)) = Registry::get().lookup(inner.get(0)) else {
        return Err(CmdError::raw(format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(inner.get(0))
        )));
    };
    let (_, entry) = check::effective(index, spec, &inner);
    if !entry.spec.arity_ok(inner.len()) {
        return Err(CmdError::raw(format!(
            "ERR wrong number of arguments for '{}' command",
            entry.name
        )));
    }
    match check::check(&user, index, spec, &inner) {
        Ok(()) => ctx.reply().ok(),
        Err(d) => {
            let text = match d {
                Denied::Command => format!(
                    "This user has no permissions to run the '{}' command",
                    entry.name
                ),
                Denied::Key(at) => format!(
                    "This user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(inner.get(at))
                ),
                Denied::Channel(at) => format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(inner.get(at))
                ),
            };
            ctx.reply().bulk(text.as_bytes());
        }
    }
    Ok(())
}

fn random_hex(chars: usize) -> String {
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `bytes`, which this
        // call writes at most `len` bytes into.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n <= 0 {
            // getrandom only fails on interrupted calls here; retry.
            continue;
        }
        filled += n as usize;
    }
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(chars);
    s
}

/// Parses an ACL file (`user NAME rules...` per line) into users, or Redis's error text.
pub fn parse_acl_file(
    text: &str,
    path: &str,
    pubsub_all: bool,
) -> Result<BTreeMap<Vec<u8>, User>, String> {
    let mut users = BTreeMap::new();
    let mut errors = String::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
        let linenum = i + 1;
        if words.first() != Some(&"user") || words.len() < 2 {
            errors.push_str(&format!(
                "{path}:{linenum} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = words[1].as_bytes();
        if has_spaces(name) {
            errors.push_str(&format!(
                "'{path}:{linenum}: username '{}' contains invalid characters. ",
                words[1]
            ));
            continue;
        }
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {linenum}. ",
                words[1]
            ));
            continue;
        }
        let ops: Vec<&[u8]> = words[2..].iter().map(|w| w.as_bytes()).collect();
        let merged = match rules::merge_selector_args(&ops) {
            Ok(m) => m,
            Err(_) => {
                errors.push_str(&format!(
                    "{path}:{linenum}: Unmatched parenthesis in selector definition."
                ));
                continue;
            }
        };
        let mut u = User::new(name, pubsub_all);
        let mut syntax_reported = false;
        let mut bad = false;
        for op in &merged {
            if let Err(e) = u.apply(op, pubsub_all) {
                bad = true;
                if e == rules::RuleError::UnknownCommand {
                    errors.push_str(&format!(
                        "{path}:{linenum}: Error in applying operation '{}': {}. ",
                        String::from_utf8_lossy(op),
                        e.message()
                    ));
                } else if !syntax_reported {
                    errors.push_str(&format!("{path}:{linenum}: {}. ", e.message()));
                    syntax_reported = true;
                }
            }
        }
        if !bad {
            users.insert(name.to_vec(), u);
        }
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        Err(errors)
    }
}

/// ACL LOAD and start-up: replaces every user with the file's, or changes nothing.
pub fn load_file(server: &ServerState, path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{path}': {e}"))?;
    let users = parse_acl_file(&text, path, pubsub_all(server))?;
    server.acl.replace_all(users);
    Ok(())
}

/// ACL SAVE: every user as a `user` line, written to a temp file then renamed over `path`.
pub fn save_file(server: &ServerState, path: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut text = String::new();
    for u in server.acl.users() {
        text.push_str(&format!(
            "user {} {}\n",
            String::from_utf8_lossy(&u.name),
            describe::user_rules(&u)
        ));
    }
    let tmp = format!("{path}.tmp-{}-{}", std::process::id(), clock::wall_now_ms());
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Start-up: `requirepass`, then `user` lines of the config, then the ACL file. Refuses to
/// start when both user lines and an ACL file are given, or a rule is wrong.
pub fn load_startup(server: &ServerState, user_lines: &[String]) -> Result<(), String> {
    let pass = server.config.get("requirepass").unwrap_or_default();
    let all = pubsub_all(server);
    if !pass.is_empty() {
        server.acl.set_default_password(&pass, all);
    }
    let aclfile = server.config.get("aclfile").unwrap_or_default();
    if !aclfile.is_empty() && !user_lines.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    for line in user_lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((name, ops)) = words.split_first() else {
            return Err("user directive needs a username".into());
        };
        let ops: Vec<&[u8]> = ops.iter().map(|w| w.as_bytes()).collect();
        let base = if *name == "default" {
            let mut d = (*server.acl.default_user()).clone();
            d.apply(b"reset", all).expect("valid rule");
            Some(d)
        } else {
            None
        };
        let u = rules::set_user(base.as_ref(), name.as_bytes(), &ops, all)
            .map_err(|e| format!("Error loading ACL rules for the user named '{name}': {e}"))?;
        server.acl.put(u);
    }
    if !aclfile.is_empty() {
        load_file(server, &aclfile).map_err(|e| format!("Aborting because of ACL errors: {e}"))?;
    }
    Ok(())
}

const HELP: &[&str] = &[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

#[rustfmt::skip]
pub fn commands() -> Vec<CommandSpec> {
    let admin: &'static [&'static str] = &["@admin", "@slow", "@dangerous"];
    let slow: &'static [&'static str] = &["@slow"];
    let a = ADMIN | NOSCRIPT | LOADING | STALE;
    let f = NOSCRIPT | LOADING | STALE;
    vec![
        command("auth", -2, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, &["@fast", "@connection"], (0, 0, 0), "connection", "1.0.0", "Authenticates the connection as a user.", cmd_auth),
        command("acl", -2, 0, slow, (0, 0, 0), "server", "6.0.0", "A container for user and permission commands.", cmd_acl)
            .with_subcommands(|c| {
                let none = (0, 0, 0);
                vec![
                    c.sub("acl|cat", -2, f, slow, none, "6.0.0", "Lists the ACL categories, or the commands in one."),
                    c.sub("acl|deluser", -3, a, admin, none, "6.0.0", "Deletes users and disconnects their clients."),
                    c.sub("acl|dryrun", -4, a, admin, none, "7.0.0", "Tells whether a user could run a command, without running it."),
                    c.sub("acl|genpass", -2, f, slow, none, "6.0.0", "Generates a random password."),
                    c.sub("acl|getuser", 3, a, admin, none, "6.0.0", "Shows a user's flags, password hashes and permissions."),
                    c.sub("acl|help", 2, LOADING | STALE, slow, none, "6.0.0", "Show helpful text about the different subcommands"),
                    c.sub("acl|list", 2, a, admin, none, "6.0.0", "Lists every user as an ACL file line."),
                    c.sub("acl|load", 2, a, admin, none, "6.0.0", "Replaces the users with those of the ACL file."),
                    c.sub("acl|log", -2, a, admin, none, "6.0.0", "Shows recent refused commands and failed logins."),
                    c.sub("acl|save", 2, a, admin, none, "6.0.0", "Writes the users to the ACL file."),
                    c.sub("acl|setuser", -3, a, admin, none, "6.0.0", "Creates a user or changes its rules."),
                    c.sub("acl|users", 2, a, admin, none, "6.0.0", "Lists the usernames."),
                    c.sub("acl|whoami", 2, f, slow, none, "6.0.0", "Returns the connection's username."),
                ]
            }),
    ]
}
