//! The gate every command passes before it runs: the connection's user refreshed after an
//! ACL change, NOAUTH before login, and the ACL check with Redis's error for each caller (the
//! client, EXEC, a script), logged in ACL LOG.

use crate::args::Args;
use crate::ctx::ConnState;
use crate::registry::{flags::NO_AUTH, CommandSpec};
use crate::server::ServerState;

/// Who runs a command: the client itself, EXEC for its queued commands, or a script.
#[derive(Copy, Clone, PartialEq, Eq)]
pub enum Caller {
    Client,
    Exec,
    Script,
}

/// Authentication and ACL permissions, checked before a command runs (and before MULTI
/// queues it). Err: the error to reply, or empty when the connection must close (its user
/// was deleted).
pub fn acl_gate(
    server: &ServerState,
    conn: &mut ConnState,
    args: &Args<'_>,
    (index, spec): (usize, &'static CommandSpec),
    caller: Caller,
) -> Result<(), String> {
    if conn.acl.generation != server.acl.generation() && !conn.acl.refresh(&server.acl) {
        conn.close_after_reply = true;
        conn.info.push.close();
        return Err(String::new());
    }
    if conn.acl.fast {
        return Ok(());
    }
    if caller == Caller::Client && conn.acl.auth_required(&server.acl) {
        if spec.has(NO_AUTH) {
            return Ok(());
        }
        return Err("NOAUTH Authentication required.".to_string());
    }
    let Err(denied) = crate::acl::check::check(&conn.acl.user, index, spec, args) else {
        return Ok(());
    };
    use crate::acl::check::Denied;
    use crate::acl::log::Context;
    let (_, entry) = crate::acl::check::effective(index, spec, args);
    if caller == Caller::Client {
        // The log's client info names the refused command, as Redis's does.
        *conn.info.last_cmd.borrow_mut() = entry.name;
    }
    let context = match caller {
        Caller::Client if conn.multi.is_none() => Context::Toplevel,
        Caller::Client | Caller::Exec => Context::Multi,
        Caller::Script => Context::Lua,
    };
    let error =
        crate::families::acl_family::refused(server, conn, denied, entry.name, args, context);
    Err(match caller {
        Caller::Client => error,
        Caller::Exec => format!(
            "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}",
            match denied {
                Denied::Command => "no permission to execute the command or subcommand",
                Denied::Key(_) => "no permission to touch the specified keys",
                Denied::Channel(_) => "no permission to access one of the channels used as arguments",
            }
        ),
        Caller::Script => format!(
            "ERR The user executing the script {}",
            match denied {
                Denied::Command => "can't run this command or subcommand",
                Denied::Key(_) => "can't access at least one of the keys mentioned in the command arguments",
                Denied::Channel(_) => "can't publish to the channel mentioned in the command",
            }
        ),
    })
}
