//! Users and selectors, and the rule language that edits them (`on`, `>pass`, `~keys`,
//! `%R~keys`, `&channels`, `+cmd`, `-@category`, `(selector)`, `reset`...), as Redis 7 reads it.

use super::table::{self, CommandTable, ID_WORDS, READ, WRITE};
use sha2::{Digest, Sha256};

/// A key pattern and the access it grants (READ, WRITE or both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Vec<u8>,
    pub access: u8,
    shape: Shape,
}

/// How a pattern is matched: most are a literal prefix and one `*` (`user:*`), matched with
/// one comparison instead of the glob matcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Exact,
    Prefix,
    Glob,
}

impl KeyPattern {
    pub fn new(pattern: &[u8], access: u8) -> KeyPattern {
        let special = |b: &u8| matches!(b, b'*' | b'?' | b'[' | b'\\');
        let shape = match pattern.split_last() {
            _ if !pattern.iter().any(special) => Shape::Exact,
            Some((b'*', head)) if !head.iter().any(special) => Shape::Prefix,
            _ => Shape::Glob,
        };
        KeyPattern {
            pattern: pattern.to_vec(),
            access,
            shape,
        }
    }

    pub fn matches(&self, key: &[u8]) -> bool {
        match self.shape {
            Shape::Exact => key == self.pattern.as_slice(),
            // Redis's matcher never matches an empty key to a lone `*`.
            Shape::Prefix => {
                key.starts_with(&self.pattern[..self.pattern.len() - 1])
                    && !(key.is_empty() && self.pattern.len() == 1)
            }
            Shape::Glob => damselfly_shards::glob::glob_match(&self.pattern, key, false),
        }
    }
}

/// One set of permissions: a user has a root selector and any number of extra ones; a
/// command runs when one selector allows all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// `allcommands` / `+@all` and no command removed since.
    pub all_commands: bool,
    /// Set only by `+@all`: the rules start from everything (commands added later included).
    pub future_commands: bool,
    pub allowed: [u64; ID_WORDS],
    /// First arguments allowed for an otherwise refused command (`+select|0`), by id.
    pub first_args: Vec<(usize, Vec<Vec<u8>>)>,
    pub all_keys: bool,
    pub patterns: Vec<KeyPattern>,
    pub all_channels: bool,
    pub channels: Vec<Vec<u8>>,
}

/// Why a rule was refused: the text after "Error in ACL SETUSER modifier '...': ".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    UnknownCommand,
    KeysAfterAll,
    ChannelsAfterAll,
    NoSuchPassword,
    BadHash,
    SubcommandFirstArg,
}

impl RuleError {
    pub fn message(self) -> &'static str {
        match self {
            RuleError::Syntax => "Syntax error",
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::KeysAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelsAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::SubcommandFirstArg => {
                "Allowing first-arg of a subcommand is not supported"
            }
        }
    }
}

impl Selector {
    /// An empty selector: no commands, no keys; channels as `acl-pubsub-default` says.
    pub fn new(all_channels: bool) -> Selector {
        Selector {
            all_commands: false,
            future_commands: false,
            allowed: [0; ID_WORDS],
            first_args: Vec::new(),
            all_keys: false,
            patterns: Vec::new(),
            all_channels,
            channels: Vec::new(),
        }
    }

    pub fn allows_id(&self, id: usize) -> bool {
        self.allowed[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_id(&mut self, id: usize, on: bool) {
        if on {
            self.allowed[id / 64] |= 1 << (id % 64);
        } else {
            self.allowed[id / 64] &= !(1 << (id % 64));
            self.all_commands = false;
        }
    }

    /// Allows or refuses a command and, for a container, all its subcommands.
    pub fn change_command(&mut self, id: usize, on: bool) {
        let t = CommandTable::get();
        self.set_id(id, on);
        self.first_args.retain(|(i, _)| *i != id);
        for sub in t.entries[id].subs.clone() {
            self.set_id(sub, on);
        }
    }

    fn change_category(&mut self, bit: u32, on: bool) {
        let t = CommandTable::get();
        for id in 0..t.entries.len() {
            if t.entries[id].categories & bit != 0 {
                self.change_command(id, on);
            }
        }
    }

    /// Applies one selector rule (the part of the language selectors share with users).
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let lower = op.to_ascii_lowercase();
        match lower.as_slice() {
            b"allkeys" | b"~*" => {
                self.all_keys = true;
                self.patterns.clear();
            }
            b"resetkeys" => {
                self.all_keys = false;
                self.patterns.clear();
            }
            b"allchannels" | b"&*" => {
                self.all_channels = true;
                self.channels.clear();
            }
            b"resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            b"allcommands" | b"+@all" => {
                self.allowed = [u64::MAX; ID_WORDS];
                self.all_commands = true;
                self.future_commands = true;
                self.first_args.clear();
            }
            b"nocommands" | b"-@all" => {
                self.allowed = [0; ID_WORDS];
                self.all_commands = false;
                self.future_commands = false;
                self.first_args.clear();
            }
            _ => return self.apply_pattern_or_command(op),
        }
        Ok(())
    }

    fn apply_pattern_or_command(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let t = CommandTable::get();
        match op.first() {
            Some(b'~') | Some(b'%') => {
                if self.all_keys {
                    return Err(RuleError::KeysAfterAll);
                }
                let (access, offset) = if op[0] == b'%' {
                    let mut access = 0;
                    let mut offset = 1;
                    loop {
                        match op.get(offset).map(u8::to_ascii_uppercase) {
                            Some(b'R') if access & READ == 0 => access |= READ,
                            Some(b'W') if access & WRITE == 0 => access |= WRITE,
                            Some(b'~') => {
                                offset += 1;
                                break;
                            }
                            _ => return Err(RuleError::Syntax),
                        }
                        offset += 1;
                    }
                    (access, offset)
                } else {
                    (READ | WRITE, 1)
                };
                let pattern = &op[offset..];
                if has_spaces(pattern) || access == 0 {
                    return Err(RuleError::Syntax);
                }
                match self.patterns.iter_mut().find(|p| p.pattern == pattern) {
                    Some(p) => p.access |= access,
                    None => self.patterns.push(KeyPattern::new(pattern, access)),
                }
                self.all_keys = false;
            }
            Some(b'&') => {
                if self.all_channels {
                    return Err(RuleError::ChannelsAfterAll);
                }
                let pattern = &op[1..];
                if has_spaces(pattern) {
                    return Err(RuleError::Syntax);
                }
                if !self.channels.iter().any(|c| c == pattern) {
                    self.channels.push(pattern.to_vec());
                }
                self.all_channels = false;
            }
            Some(b'+') | Some(b'-') if op.get(1) == Some(&b'@') => {
                let bit = table::category(&op[2..]).ok_or(RuleError::UnknownCommand)?;
                self.change_category(bit, op[0] == b'+');
            }
            Some(b'+') => {
                let name = &op[1..];
                match name.iter().rposition(|&b| b == b'|') {
                    None => {
                        let id = t.lookup(name).ok_or(RuleError::UnknownCommand)?;
                        self.change_command(id, true);
                    }
                    Some(bar) => {
                        let (cmd, sub) = (&name[..bar], &name[bar + 1..]);
                        let id = t.lookup(cmd).ok_or(RuleError::UnknownCommand)?;
                        if t.entries[id].parent.is_some() {
                            return Err(RuleError::SubcommandFirstArg);
                        }
                        if sub.is_empty() {
                            return Err(RuleError::Syntax);
                        }
                        if !t.entries[id].subs.is_empty() {
                            let sub_id = t.lookup(name).ok_or(RuleError::UnknownCommand)?;
                            self.change_command(sub_id, true);
                        } else {
                            log::warn!(
                                "Deprecation warning: Allowing a first arg of an otherwise blocked command is a misuse of ACL and may get disabled in the future (offender: +{})",
                                String::from_utf8_lossy(name)
                            );
                            let sub = sub.to_ascii_lowercase();
                            match self.first_args.iter_mut().find(|(i, _)| *i == id) {
                                Some((_, args)) => {
                                    if !args.contains(&sub) {
                                        args.push(sub);
                                    }
                                }
                                None => self.first_args.push((id, vec![sub])),
                            }
                        }
                    }
                }
            }
            Some(b'-') => {
                let id = t.lookup(&op[1..]).ok_or(RuleError::UnknownCommand)?;
                self.change_command(id, false);
            }
            _ => return Err(RuleError::Syntax),
        }
        Ok(())
    }

    /// True when this selector allows every command, key and channel: nothing to check.
    pub fn unrestricted(&self) -> bool {
        self.all_commands && self.all_keys && self.all_channels
    }
}

/// A user: flags, password hashes (SHA-256, lower-case hex) and selectors (the root first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: Vec<u8>,
    pub enabled: bool,
    pub nopass: bool,
    /// `skip-sanitize-payload` (Some(true)) / `sanitize-payload` (Some(false)), as last set.
    pub sanitize_skip: Option<bool>,
    pub passwords: Vec<String>,
    pub selectors: Vec<Selector>,
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no password, no permissions.
    pub fn new(name: &[u8], pubsub_all: bool) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize_skip: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(pubsub_all)],
        }
    }

    /// The default user before any configuration: on, nopass, everything allowed.
    pub fn default_user() -> User {
        let mut u = User::new(b"default", true);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            u.apply(op.as_bytes(), true).expect("default user rules");
        }
        u
    }

    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// True when no command this user sends needs checking.
    pub fn unrestricted(&self) -> bool {
        self.root().unrestricted()
    }

    /// Applies one rule. `pubsub_all`: what `acl-pubsub-default` gives new selectors and
    /// `reset`.
    pub fn apply(&mut self, op: &[u8], pubsub_all: bool) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let lower = op.to_ascii_lowercase();
        match lower.as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"skip-sanitize-payload" => self.sanitize_skip = Some(true),
            b"sanitize-payload" => self.sanitize_skip = Some(false),
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"clearselectors" => self.selectors.truncate(1),
            b"reset" => {
                for op in ["resetpass", "resetkeys", "resetchannels"] {
                    self.apply(op.as_bytes(), pubsub_all)?;
                }
                if pubsub_all {
                    self.apply(b"allchannels", pubsub_all)?;
                }
                self.enabled = false;
                self.sanitize_skip = Some(false);
                self.selectors.truncate(1);
                self.apply(b"-@all", pubsub_all)?;
            }
            _ => match op[0] {
                b'>' | b'#' => {
                    let hash = if op[0] == b'>' {
                        hash_password(&op[1..])
                    } else {
                        checked_hash(&op[1..])?
                    };
                    if !self.passwords.contains(&hash) {
                        self.passwords.push(hash);
                    }
                    self.nopass = false;
                }
                b'<' | b'!' => {
                    let hash = if op[0] == b'<' {
                        hash_password(&op[1..])
                    } else {
                        checked_hash(&op[1..])?
                    };
                    let at = self.passwords.iter().position(|p| *p == hash);
                    self.passwords.remove(at.ok_or(RuleError::NoSuchPassword)?);
                }
                b'(' if op.last() == Some(&b')') => {
                    let mut s = Selector::new(pubsub_all);
                    let inner = &op[1..op.len() - 1];
                    for part in inner
                        .split(|b| b.is_ascii_whitespace())
                        .filter(|p| !p.is_empty())
                    {
                        s.apply(part)?;
                    }
                    self.selectors.push(s);
                }
                _ => self.selectors[0].apply(op)?,
            },
        }
        Ok(())
    }

    /// True when `password` authenticates this user (a disabled user never authenticates).
    pub fn password_ok(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hash = hash_password(password);
        // Compared over the whole length so the time taken says nothing about the hash.
        self.passwords.iter().any(|p| {
            p.len() == hash.len()
                && p.bytes()
                    .zip(hash.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
    }
}

/// Applies rules to a copy of `user` (or a new user named `name`), all or nothing; Redis's
/// SETUSER error for the first refused rule. Selectors spread over several arguments
/// (`(+get`, `~k)`) are joined first.
pub fn set_user(
    user: Option<&User>,
    name: &[u8],
    ops: &[&[u8]],
    pubsub_all: bool,
) -> Result<User, String> {
    let merged = merge_selector_args(ops)?;
    let mut u = user.cloned().unwrap_or_else(|| User::new(name, pubsub_all));
    for op in &merged {
        if let Err(e) = u.apply(op, pubsub_all) {
            return Err(format!(
                "Error in ACL SETUSER modifier '{}': {}",
                String::from_utf8_lossy(op),
                e.message()
            ));
        }
    }
    Ok(u)
}

/// Joins a selector written over several arguments into one: `(+get` `~k)` → `(+get ~k)`.
pub fn merge_selector_args(ops: &[&[u8]]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, op) in ops.iter().enumerate() {
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                out.push(open.take().expect("open selector").1);
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((i, op.to_vec()));
            continue;
        }
        // A lone "(" both opens and (being its own last byte, not ')') stays open.
        out.push(op.to_vec());
    }
    if let Some((i, _)) = open {
        return Err(format!(
            "Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(ops[i])
        ));
    }
    Ok(out)
}

pub fn hash_password(password: &[u8]) -> String {
    let digest = Sha256::digest(password);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn checked_hash(hash: &[u8]) -> Result<String, RuleError> {
    if hash.len() != 64 || !hash.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(RuleError::BadHash);
    }
    Ok(String::from_utf8(hash.to_vec()).expect("hex is ASCII"))
}

/// Usernames and patterns may not hold spaces or NUL bytes.
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&b| b.is_ascii_whitespace() || b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use damselfly_shards::glob::glob_match;

    #[test]
    fn pattern_shapes_match_as_the_glob_matcher_does() {
        let patterns: &[&[u8]] = &[
            b"*", b"key:*", b"key", b"k?y", b"k[ae]y*", b"a\\*", b"", b"**", b"x*y*",
        ];
        let keys: &[&[u8]] = &[
            b"", b"key", b"key:", b"key:1", b"kay", b"k", b"a*", b"ab", b"xy", b"x1y2",
        ];
        for p in patterns {
            let kp = KeyPattern::new(p, READ | WRITE);
            for k in keys {
                assert_eq!(kp.matches(k), glob_match(p, k, false), "{:?} {:?}", p, k);
            }
        }
    }

    #[test]
    fn rules_round_trip_through_their_description() {
        let cases: &[&[&str]] = &[
            &[
                "on",
                ">p",
                "~k*",
                "%R~r*",
                "&ch",
                "+get",
                "-@all",
                "+@string",
                "-set",
                "+config|get",
            ],
            &[
                "+@all",
                "-@dangerous",
                "+flushall",
                "-client|kill",
                "allkeys",
            ],
            &["-@all", "+select|0", "+select|1", "+@hash"],
            &["+@read", "+@write", "-@keyspace", "+del"],
        ];
        for ops in cases {
            let ops: Vec<&[u8]> = ops.iter().map(|o| o.as_bytes()).collect();
            let u = set_user(None, b"u", &ops, false).unwrap();
            let text = super::super::describe::user_rules(&u);
            let again: Vec<&[u8]> = text.split(' ').map(str::as_bytes).collect();
            let v = set_user(None, b"u", &again, false).unwrap();
            assert_eq!(u.root().allowed, v.root().allowed, "{text}");
            assert_eq!(u.root().first_args, v.root().first_args, "{text}");
            assert_eq!(u.root().patterns, v.root().patterns, "{text}");
        }
    }
}
