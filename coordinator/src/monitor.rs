//! MONITOR: every command the server runs, as one line per command, to the clients that asked
//! (`+<sec>.<usec> [<db> <addr>] "arg" ...`, `[<db> lua]` for a script's calls). Lines go out
//! through each monitor's push queue, posted to its proactor: a command never waits for a
//! monitor, and a slow monitor is held to its output limit like any client.

use crate::args::Args;
use crate::server::{ProactorState, ServerState};
use crate::tracking::ClientRef;
use damselfly_runtime::bus::{self, Message, RawCall};
use damselfly_runtime::clock;
use damselfly_runtime::sync::SpinLock;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Default)]
pub struct Monitors {
    count: AtomicUsize,
    clients: SpinLock<Vec<ClientRef>>,
}

impl Monitors {
    pub fn add(&self, who: ClientRef) {
        let mut c = self.clients.lock();
        if !c.contains(&who) {
            c.push(who);
            self.count.store(c.len(), Ordering::Release);
        }
    }

    pub fn remove(&self, id: u64) {
        let mut c = self.clients.lock();
        c.retain(|m| m.id != id);
        self.count.store(c.len(), Ordering::Release);
    }

    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }
}

/// Arguments Redis hides (in MONITOR and SLOWLOG): passwords of AUTH, HELLO ... AUTH,
/// MIGRATE ... AUTH/AUTH2, ACL SETUSER's rules and CONFIG SET of masterauth/requirepass.
pub(crate) fn redacted(args: &Args<'_>) -> Vec<bool> {
    let mut hide = vec![false; args.len()];
    let name = args.get(0).to_ascii_lowercase();
    match name.as_slice() {
        b"auth" => hide.iter_mut().skip(1).for_each(|h| *h = true),
        b"hello" => {
            let mut i = 2;
            while i < args.len() {
                if args.get(i).eq_ignore_ascii_case(b"auth") && i + 2 < args.len() {
                    hide[i + 1] = true;
                    hide[i + 2] = true;
                    i += 3;
                } else {
                    i += 1;
                }
            }
        }
        b"migrate" => {
            for i in 6..args.len() {
                let a = args.get(i);
                if a.eq_ignore_ascii_case(b"auth") && i + 1 < args.len() {
                    hide[i + 1] = true;
                    break;
                }
                if a.eq_ignore_ascii_case(b"auth2") && i + 2 < args.len() {
                    hide[i + 1] = true;
                    hide[i + 2] = true;
                    break;
                }
            }
        }
        b"acl" if args.len() > 2 && args.get(1).eq_ignore_ascii_case(b"setuser") => {
            hide.iter_mut().skip(2).for_each(|h| *h = true)
        }
        b"config" if args.len() > 3 && args.get(1).eq_ignore_ascii_case(b"set") => {
            for i in (2..args.len() - 1).step_by(2) {
                let name = args.get(i);
                if name.eq_ignore_ascii_case(b"masterauth")
                    || name.eq_ignore_ascii_case(b"requirepass")
                {
                    hide[i + 1] = true;
                }
            }
        }
        _ => {}
    }
    hide
}

/// Redis's quoting of an argument: printable bytes as they are, `\n` `\r` `\t` `\a` `\b`
/// `\\` `\"` escaped, anything else as `\xHH`.
fn quote(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

/// Sends the line for `args` (run on database `db` by the client at `addr`, or by a script
/// when `addr` is None) to every monitor.
pub fn feed(server: &ServerState, db: usize, addr: Option<&str>, args: &Args<'_>) {
    if server.monitors.is_empty() {
        return;
    }
    let us = clock::wall_now_us();
    let mut line = format!(
        "+{}.{:06} [{db} {}] ",
        us / 1_000_000,
        us % 1_000_000,
        addr.unwrap_or("lua")
    );
    for (i, hidden) in redacted(args).into_iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        if hidden {
            line.push_str("\"(redacted)\"");
        } else {
            quote(&mut line, args.get(i));
        }
    }
    line.push_str("\r\n");
    let targets: Vec<ClientRef> = server.monitors.clients.lock().clone();
    let here = ProactorState::current().shard.index as u32;
    let mut proactors: Vec<u32> = targets.iter().map(|t| t.proactor).collect();
    proactors.sort_unstable();
    proactors.dedup();
    for p in proactors {
        let ids: Vec<u64> = targets
            .iter()
            .filter(|t| t.proactor == p)
            .map(|t| t.id)
            .collect();
        if p == here {
            deliver(&ids, line.as_bytes());
        } else {
            let msg = Box::new((ids, line.clone().into_bytes()));
            bus::post(
                p as usize,
                Message::Call(RawCall {
                    func: deliver_posted,
                    arg: Box::into_raw(msg) as usize,
                }),
            );
        }
    }
}

fn deliver(ids: &[u64], line: &[u8]) {
    let ps = ProactorState::current();
    let infos: Vec<_> = {
        let conns = ps.conns.borrow();
        ids.iter()
            .filter_map(|id| conns.get(id).map(|(_, info)| info.clone()))
            .collect()
    };
    for info in infos {
        info.push.push(&info, line);
    }
}

fn deliver_posted(arg: usize) {
    // SAFETY: `arg` came from `Box::into_raw` in `feed` for this one message, which the bus
    // runs exactly once.
    let msg = unsafe { Box::from_raw(arg as *mut (Vec<u64>, Vec<u8>)) };
    deliver(&msg.0, &msg.1);
}
