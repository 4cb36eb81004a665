//! Whether a user may run a command as sent: its command bits (or an allowed first
//! argument), the keys it names against `~` / `%R~` / `%W~` patterns, and the channels it
//! publishes or subscribes to against `&` patterns. A command runs when one selector allows
//! all of it.

use super::rules::{Selector, User};
use super::table::{self, CommandTable, Entry};
use crate::args::Args;
use crate::registry::{flags::NO_AUTH, CommandSpec};
use damselfly_shards::glob::glob_match;

/// Why a command was refused, with the argument that caused it for keys and channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

impl Denied {
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Command => (0, 0),
            Denied::Key(i) => (1, i),
            Denied::Channel(i) => (2, i),
        }
    }

    /// The error a refused command gets.
    pub fn error(self, command: &str) -> String {
        match self {
            Denied::Command => {
                format!("NOPERM this user has no permissions to run the '{command}' command")
            }
            Denied::Key(_) => "NOPERM this user has no permissions to access one of the keys used as arguments".to_string(),
            Denied::Channel(_) => "NOPERM this user has no permissions to access one of the channels used as arguments".to_string(),
        }
    }
}

/// The id and spec a command's permissions are decided on: a container's subcommand when
/// the second argument names one.
pub fn effective(
    index: usize,
    spec: &'static CommandSpec,
    args: &Args<'_>,
) -> (usize, &'static Entry) {
    let t = CommandTable::get();
    let sub = if !spec.subcommands.is_empty() && args.len() > 1 {
        spec.subcommand(args.get(1))
    } else {
        None
    };
    let id = t.id_of(index, sub);
    (id, &t.entries[id])
}

/// Checks every selector; the error reported when all refuse is the most specific one
/// (channel over key over command, the last argument among equals), as Redis picks it.
pub fn check(
    user: &User,
    index: usize,
    spec: &'static CommandSpec,
    args: &Args<'_>,
) -> Result<(), Denied> {
    let (id, entry) = effective(index, spec, args);
    if let [only] = user.selectors.as_slice() {
        return check_selector(only, id, entry, args);
    }
    let mut worst: Option<Denied> = None;
    for s in &user.selectors {
        match check_selector(s, id, entry, args) {
            Ok(()) => return Ok(()),
            Err(d) => {
                if worst.is_none_or(|w| d.rank() > w.rank()) {
                    worst = Some(d);
                }
            }
        }
    }
    Err(worst.unwrap_or(Denied::Command))
}

fn check_selector(s: &Selector, id: usize, entry: &Entry, args: &Args<'_>) -> Result<(), Denied> {
    if !s.all_commands && !entry.spec.has(NO_AUTH) && !s.allows_id(id) {
        let arg_at = if entry.parent.is_some() { 2 } else { 1 };
        let allowed = args.len() > arg_at
            && s.first_args.iter().any(|(i, firsts)| {
                *i == id
                    && firsts
                        .iter()
                        .any(|f| f.eq_ignore_ascii_case(args.get(arg_at)))
            });
        if !allowed {
            return Err(Denied::Command);
        }
    }
    if !s.all_keys {
        let (first, rest) = table::key_access_of(entry, args);
        let check_key = |n: usize, at: usize| {
            let need = if n == 0 { first } else { rest };
            let key = args.get(at);
            let ok = s
                .patterns
                .iter()
                .any(|p| p.access & need == need && p.matches(key));
            if ok {
                Ok(())
            } else {
                Err(Denied::Key(at))
            }
        };
        // Fixed key positions are walked without building a list.
        if entry.movable_keys {
            for (n, at) in entry.spec.keys_in(args).into_iter().enumerate() {
                check_key(n, at)?;
            }
        } else {
            for (n, at) in entry.spec.key_indices(args.len()).enumerate() {
                check_key(n, at)?;
            }
        }
    }
    if !s.all_channels {
        if let Some((range, is_pattern)) = table::channel_args(entry.name, args.len()) {
            for at in range {
                let channel = args.get(at);
                if !s
                    .channels
                    .iter()
                    .any(|c| channel_matches(c, channel, is_pattern))
                {
                    return Err(Denied::Channel(at));
                }
            }
        }
    }
    Ok(())
}

/// True when `channel` (a pattern when `is_pattern`) is allowed by some selector of `user`.
pub fn channel_allowed(user: &User, channel: &[u8], is_pattern: bool) -> bool {
    user.selectors.iter().any(|s| {
        s.all_channels
            || s.channels
                .iter()
                .any(|c| channel_matches(c, channel, is_pattern))
    })
}

/// A channel rule against a channel (glob match) or a subscribed pattern (compared
/// literally, as Redis does: a pattern may only subscribe where a rule names it exactly).
fn channel_matches(rule: &[u8], channel: &[u8], is_pattern: bool) -> bool {
    if is_pattern {
        rule == channel
    } else {
        glob_match(rule, channel, false)
    }
}

/// An argument list of its own for a command given as separate strings (ACL DRYRUN,
/// `redis.acl_check_cmd`): read it back with `Args::new(&buf, &parsed)`.
pub fn owned_args<'a>(
    parts: impl Iterator<Item = &'a [u8]>,
) -> (Vec<u8>, damselfly_protocol::CommandArgs) {
    let mut buf = Vec::new();
    let mut spans = Vec::new();
    for a in parts {
        spans.push((buf.len(), a.len()));
        buf.extend_from_slice(a);
    }
    let mut parsed = damselfly_protocol::CommandArgs::new();
    parsed.set_spans(spans.into_iter());
    (buf, parsed)
}
