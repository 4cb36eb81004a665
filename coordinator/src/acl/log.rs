//! ACL LOG: the most recent refused commands and failed logins, newest first; a refusal like
//! one of the last ten within a minute bumps that entry's count instead of adding one.

use std::collections::VecDeque;
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Command,
    Key,
    Channel,
    Auth,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Channel => "channel",
            Reason::Auth => "auth",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    pub fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// Wall-clock ms of the last time it happened.
    pub at_ms: u64,
    /// CLIENT LIST line of the last client it happened to.
    pub client_info: String,
}

/// Entries within this many ms of each other are grouped.
const GROUPING_MS: u64 = 60_000;
/// How many of the newest entries a new one is compared with.
const GROUP_SCAN: usize = 10;

#[derive(Default)]
pub struct AclLog {
    entries: Mutex<VecDeque<Entry>>,
}

impl AclLog {
    pub fn add(&self, entry: Entry, max_len: usize) {
        let mut entries = self.entries.lock().expect("acl log");
        let found = entries.iter().take(GROUP_SCAN).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.at_ms.abs_diff(entry.at_ms) <= GROUPING_MS
                && e.object == entry.object
                && e.username == entry.username
        });
        match found {
            Some(i) => {
                let mut e = entries.remove(i).expect("entry found");
                e.count += 1;
                e.at_ms = entry.at_ms;
                e.client_info = entry.client_info;
                entries.push_front(e);
            }
            None => {
                entries.push_front(entry);
                entries.truncate(max_len);
            }
        }
    }

    pub fn newest(&self, count: usize) -> Vec<Entry> {
        let entries = self.entries.lock().expect("acl log");
        entries.iter().take(count).cloned().collect()
    }

    pub fn reset(&self) {
        self.entries.lock().expect("acl log").clear();
    }

    pub fn len(&self) -> usize {
        self.entries.lock().expect("acl log").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
