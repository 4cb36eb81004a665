//! FUNCTION (LOAD DELETE FLUSH LIST DUMP RESTORE STATS KILL HELP), FCALL and FCALL_RO: Redis 7
//! function libraries, kept per server and loaded lazily into every proactor's interpreters.

use crate::args::{eq_ignore_case, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult};
use crate::families::scripting_family::{run, Target};
use crate::families::server_family::{help_reply, sub_arity, unknown_sub};
use crate::registry::{command, flags::*, CommandSpec};
use crate::scripting::{Lease, Library};
use damselfly_persistence as rdb;
use damselfly_runtime::fiber::call_on_large_stack;
use damselfly_scripts::{shebang, LibraryDef};

fn raw(msg: impl Into<String>) -> CmdError {
    CmdError::Raw(msg.into())
}

fn fcall_generic(ctx: &mut CmdCtx<'_>, args: &Args<'_>, ro: bool) -> CmdResult {
    let name = String::from_utf8_lossy(args.get(1)).into_owned();
    let n =
        crate::args::parse_i64(args.get(2)).map_err(|_| raw("ERR Bad number of keys provided"))?;
    if n > args.len() as i64 - 3 {
        return Err(raw(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    if n < 0 {
        return Err(raw("ERR Number of keys can't be negative"));
    }
    let Some((name, flags)) = ctx.server.scripts.function(&name) else {
        return Err(raw("ERR Function not found"));
    };
    let n = n as usize;
    let keys: Vec<&[u8]> = (3..3 + n).map(|i| args.get(i)).collect();
    let argv: Vec<&[u8]> = args.rest(3 + n).collect();
    run(
        ctx,
        args,
        Target::Function { name, flags },
        &keys,
        &argv,
        ro,
    )
}

fn cmd_fcall(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    fcall_generic(ctx, args, false)
}

fn cmd_fcall_ro(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    fcall_generic(ctx, args, true)
}

/// Runs a library's top level in this proactor's interpreter: its definition or Redis's error.
fn load_def(ctx: &CmdCtx<'_>, code: &[u8]) -> Result<LibraryDef, CmdError> {
    load_def_in(ctx.server, code)
}

fn load_def_in(server: &crate::server::ServerState, code: &[u8]) -> Result<LibraryDef, CmdError> {
    call_on_large_stack(|| {
        let mut lease = Lease::take(&server.scripts);
        let r = lease.interp().load_library(code);
        lease.interp().discard_pending();
        r
    })
    .map_err(|e| raw(format!("ERR {e}")))
}

/// Loads the function libraries of a snapshot file (replacing libraries of the same name).
pub fn restore_libraries(
    server: &crate::server::ServerState,
    codes: &[Vec<u8>],
) -> Result<(), String> {
    for code in codes {
        let def = load_def_in(server, code).map_err(|e| e.to_string())?;
        server
            .scripts
            .with_libraries(|libs| add_library(libs, code.clone(), def, true, true))?;
    }
    Ok(())
}

/// Adds `def` to `libs`: replacing a library of the same name when `replace`; Err when a name
/// or a function name is taken.
fn add_library(
    libs: &mut Vec<Library>,
    code: Vec<u8>,
    def: LibraryDef,
    replace: bool,
    restoring: bool,
) -> Result<(), String> {
    let existing = libs
        .iter()
        .position(|l| l.def.name.eq_ignore_ascii_case(&def.name));
    if existing.is_some() && !replace {
        return Err(if restoring {
            format!("ERR Library {} already exists", def.name)
        } else {
            format!("ERR Library '{}' already exists", def.name)
        });
    }
    for f in &def.functions {
        let taken = libs
            .iter()
            .filter(|l| !l.def.name.eq_ignore_ascii_case(&def.name))
            .any(|l| {
                l.def
                    .functions
                    .iter()
                    .any(|g| g.name.eq_ignore_ascii_case(&f.name))
            });
        if taken {
            return Err(format!("ERR Function {} already exists", f.name));
        }
    }
    match existing {
        Some(i) => libs[i] = Library { code, def },
        None => libs.push(Library { code, def }),
    }
    Ok(())
}

fn function_load(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    sub_arity(args, -3, "function|load")?;
    let mut replace = false;
    for i in 2..args.len() - 1 {
        if eq_ignore_case(args.get(i), "replace") {
            replace = true;
        } else {
            return Err(raw(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(args.get(i))
            )));
        }
    }
    let code = args.get(args.len() - 1);
    let def = load_def(ctx, code)?;
    let name = def.name.clone();
    ctx.server
        .scripts
        .with_libraries(|libs| add_library(libs, code.to_vec(), def, replace, false))
        .map_err(raw)?;
    ctx.reply().bulk(name.as_bytes());
    Ok(())
}

fn flag_names(flags: u32) -> Vec<&'static str> {
    shebang::FLAG_NAMES
        .iter()
        .filter(|(_, b)| flags & b != 0)
        .map(|(n, _)| *n)
        .collect()
}

fn function_list(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let (mut with_code, mut pattern): (bool, Option<&[u8]>) = (false, None);
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        if !with_code && eq_ignore_case(a, "withcode") {
            with_code = true;
        } else if pattern.is_none() && eq_ignore_case(a, "libraryname") {
            if i + 1 >= args.len() {
                return Err(raw("ERR library name argument was not given"));
            }
            i += 1;
            pattern = Some(args.get(i));
        } else {
            return Err(raw(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(a)
            )));
        }
        i += 1;
    }
    let libs: Vec<(LibraryDef, Vec<u8>)> = ctx.server.scripts.read_libraries(|libs| {
        libs.iter()
            .filter(|l| {
                pattern.is_none_or(|p| {
                    damselfly_shards::glob::glob_match(p, l.def.name.as_bytes(), true)
                })
            })
            .map(|l| (l.def.clone(), l.code.clone()))
            .collect()
    });
    let mut r = ctx.reply();
    r.array_header(libs.len());
    for (def, code) in libs {
        r.map_header(if with_code { 4 } else { 3 });
        r.bulk(b"library_name");
        r.bulk(def.name.as_bytes());
        r.bulk(b"engine");
        r.bulk(b"LUA");
        r.bulk(b"functions");
        r.array_header(def.functions.len());
        for f in &def.functions {
            r.map_header(3);
            r.bulk(b"name");
            r.bulk(f.name.as_bytes());
            r.bulk(b"description");
            match &f.description {
                Some(d) => r.bulk(d),
                None => r.null(),
            }
            r.bulk(b"flags");
            let names = flag_names(f.flags);
            r.set_header(names.len());
            for n in names {
                r.bulk(n.as_bytes());
            }
        }
        if with_code {
            r.bulk(b"library_code");
            r.bulk(&code);
        }
    }
    Ok(())
}

// ---- DUMP / RESTORE: Redis's payload (RDB function opcodes, RDB version, CRC64) ----------------

const RDB_OPCODE_FUNCTION2: u8 = 245;

fn function_dump(ctx: &mut CmdCtx<'_>) -> CmdResult {
    let mut out = Vec::new();
    ctx.server.scripts.read_libraries(|libs| {
        for l in libs {
            out.push(RDB_OPCODE_FUNCTION2);
            rdb::encoding::write_string(&mut out, &l.code);
        }
    });
    rdb::dump::seal(&mut out);
    ctx.reply().bulk(&out);
    Ok(())
}

/// The library codes of a payload, or None when its footer or body is wrong.
fn parse_payload(p: &[u8]) -> Option<Vec<Vec<u8>>> {
    if !rdb::dump::verify(p) {
        return None;
    }
    let mut r = rdb::encoding::Reader::new(&p[..p.len() - 10]);
    let mut codes = Vec::new();
    while r.remaining() > 0 {
        if r.u8().ok()? != RDB_OPCODE_FUNCTION2 {
            return None;
        }
        codes.push(r.string().ok()?.into_owned());
    }
    Some(codes)
}

fn function_restore(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    if args.len() > 4 {
        return Err(raw(
            "ERR unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP.",
        ));
    }
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let policy = if args.len() == 4 {
        let p = args.get(3);
        if eq_ignore_case(p, "append") {
            Policy::Append
        } else if eq_ignore_case(p, "replace") {
            Policy::Replace
        } else if eq_ignore_case(p, "flush") {
            Policy::Flush
        } else {
            return Err(raw(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ));
        }
    } else {
        Policy::Append
    };
    let Some(codes) = parse_payload(args.get(2)) else {
        return Err(raw("ERR DUMP payload version or checksum are wrong"));
    };
    let mut defs = Vec::with_capacity(codes.len());
    for code in &codes {
        defs.push(load_def(ctx, code)?);
    }
    ctx.server
        .scripts
        .with_libraries(|libs| {
            let mut next: Vec<Library> = if policy == Policy::Flush {
                Vec::new()
            } else {
                libs.iter()
                    .map(|l| Library {
                        code: l.code.clone(),
                        def: l.def.clone(),
                    })
                    .collect()
            };
            for (code, def) in codes.into_iter().zip(defs) {
                add_library(&mut next, code, def, policy == Policy::Replace, true)?;
            }
            *libs = next;
            Ok::<(), String>(())
        })
        .map_err(raw)?;
    ctx.reply().ok();
    Ok(())
}

fn function_stats(ctx: &mut CmdCtx<'_>) -> CmdResult {
    let scripts = &ctx.server.scripts;
    if scripts.busy_info().is_some_and(|(eval, _)| eval) {
        return Err(raw(crate::scripting::BUSY_EVAL));
    }
    let running = scripts.busy_command();
    let (nlib, nfn) = scripts.read_libraries(|libs| {
        (
            libs.len(),
            libs.iter().map(|l| l.def.functions.len()).sum::<usize>(),
        )
    });
    let mut r = ctx.reply();
    r.map_header(2);
    r.bulk(b"running_script");
    match running {
        None => r.null(),
        Some((name, command, ms)) => {
            r.map_header(3);
            r.bulk(b"name");
            r.bulk(name.as_bytes());
            r.bulk(b"command");
            r.array_header(command.len());
            for a in &command {
                r.bulk(a);
            }
            r.bulk(b"duration_ms");
            r.integer(ms as i64);
        }
    }
    r.bulk(b"engines");
    r.map_header(1);
    r.bulk(b"LUA");
    r.map_header(2);
    r.bulk(b"libraries_count");
    r.integer(nlib as i64);
    r.bulk(b"functions_count");
    r.integer(nfn as i64);
    Ok(())
}

fn cmd_function(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let sub = args.get(1);
    if eq_ignore_case(sub, "load") {
        function_load(ctx, args)
    } else if eq_ignore_case(sub, "delete") {
        sub_arity(args, 3, "function|delete")?;
        let name = String::from_utf8_lossy(args.get(2)).into_owned();
        let found = ctx.server.scripts.with_libraries(|libs| {
            let before = libs.len();
            libs.retain(|l| !l.def.name.eq_ignore_ascii_case(&name));
            libs.len() != before
        });
        if !found {
            return Err(raw("ERR Library not found"));
        }
        ctx.reply().ok();
        Ok(())
    } else if eq_ignore_case(sub, "flush") {
        if args.len() > 3 {
            return Err(raw("ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP."));
        }
        if args.len() == 3
            && !(eq_ignore_case(args.get(2), "sync") || eq_ignore_case(args.get(2), "async"))
        {
            return Err(raw("ERR FUNCTION FLUSH only supports SYNC|ASYNC option"));
        }
        ctx.server.scripts.with_libraries(|libs| libs.clear());
        ctx.reply().ok();
        Ok(())
    } else if eq_ignore_case(sub, "list") {
        function_list(ctx, args)
    } else if eq_ignore_case(sub, "dump") {
        sub_arity(args, 2, "function|dump")?;
        function_dump(ctx)
    } else if eq_ignore_case(sub, "restore") {
        sub_arity(args, -3, "function|restore")?;
        function_restore(ctx, args)
    } else if eq_ignore_case(sub, "stats") {
        sub_arity(args, 2, "function|stats")?;
        function_stats(ctx)
    } else if eq_ignore_case(sub, "kill") {
        sub_arity(args, 2, "function|kill")?;
        ctx.server.scripts.kill(false).map_err(raw)?;
        ctx.reply().ok();
        Ok(())
    } else if eq_ignore_case(sub, "help") {
        sub_arity(args, 2, "function|help")?;
        help_reply(
            ctx,
            "FUNCTION",
            &[
                "LOAD [REPLACE] <FUNCTION CODE>",
                "    Create a new library with the given library name and code.",
                "DELETE <LIBRARY NAME>",
                "    Delete the given library.",
                "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
                "    Return general information on all the libraries:",
                "    * Library name",
                "    * The engine used to run the Library",
                "    * Library description",
                "    * Functions list",
                "    * Library code (if WITHCODE is given)",
                "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
                "STATS",
                "    Return information about the current function running:",
                "    * Function name",
                "    * Command used to run the function",
                "    * Duration in MS that the function is running",
                "    If no function is running, return nil",
                "    In addition, returns a list of available engines.",
                "KILL",
                "    Kill the current running function.",
                "FLUSH [ASYNC|SYNC]",
                "    Delete all the libraries.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the libraries.",
                "    * SYNC: Synchronously flush the libraries.",
                "DUMP",
                "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
                "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
                "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
                "    control how to handle existing libraries (default APPEND):",
                "    * FLUSH: delete all existing libraries.",
                "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
                "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
                "      libraries with the new libraries (notice that even on this option there is a chance of failure",
                "      in case of functions name collision with another library).",
            ],
        );
        Ok(())
    } else {
        Err(unknown_sub("function", args))
    }
}

#[rustfmt::skip]
pub fn commands() -> Vec<CommandSpec> {
    let c = |name: &'static str, arity, flags, summary, handler| {
        let since = "7.0.0";
        command(name, arity, flags, &["@slow", "@scripting"], (0, 0, 0), "scripting", since, summary, handler)
    };
    vec![
        c("fcall", -3, NOSCRIPT | STALE, "Invokes a function.", cmd_fcall),
        c("fcall_ro", -3, NOSCRIPT | STALE | READONLY, "Invokes a read-only function.", cmd_fcall_ro),
        c("function", -2, 0, "A container for function commands.", cmd_function).with_subcommands(|c| {
            let acl = &["@slow", "@scripting"];
            let none = (0, 0, 0);
            vec![
                c.sub("function|delete", 3, WRITE | NOSCRIPT, acl, none, "7.0.0", "Deletes a library and its functions."),
                c.sub("function|dump", 2, NOSCRIPT, acl, none, "7.0.0", "Dumps all libraries into a serialized binary payload."),
                c.sub("function|flush", -2, WRITE | NOSCRIPT, acl, none, "7.0.0", "Deletes all libraries and functions."),
                c.sub("function|help", 2, LOADING | STALE, acl, none, "7.0.0", "Returns helpful text about the different subcommands."),
                c.sub("function|kill", 2, NOSCRIPT | ALLOW_BUSY, acl, none, "7.0.0", "Terminates a function during execution."),
                c.sub("function|list", -2, NOSCRIPT, acl, none, "7.0.0", "Returns information about all libraries."),
                c.sub("function|load", -3, WRITE | DENYOOM | NOSCRIPT, acl, none, "7.0.0", "Creates a library."),
                c.sub("function|restore", -3, WRITE | DENYOOM | NOSCRIPT, acl, none, "7.0.0", "Restores all libraries from a payload."),
                c.sub("function|stats", 2, NOSCRIPT | ALLOW_BUSY, acl, none, "7.0.0", "Returns information about a function during execution."),
            ]
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let mut out = vec![RDB_OPCODE_FUNCTION2];
        rdb::encoding::write_string(&mut out, b"abc");
        rdb::dump::seal(&mut out);
        assert_eq!(parse_payload(&out), Some(vec![b"abc".to_vec()]));
        out[3] ^= 1;
        assert_eq!(parse_payload(&out), None);
    }
}
