//! Users, passwords and permissions (AUTH, ACL): the server's user table, what each
//! connection is authenticated as, and the check every command passes before it runs.
//!
//! The common case costs one atomic load and one branch per command: a connection caches
//! its user (an `Arc`, replaced as a whole when ACL rules change) and whether that user may
//! run everything; only a restricted or unauthenticated connection does any checking.

pub mod check;
pub mod describe;
pub mod gate;
pub mod log;
pub mod rules;
pub mod table;

use rules::User;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

pub struct AclState {
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    /// Bumped on every change to any user: connections re-read theirs when it moves.
    generation: AtomicU64,
    /// The default user is on and needs no password: connections start authenticated.
    default_open: AtomicBool,
    pub log: log::AclLog,
}

impl Default for AclState {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), Arc::new(User::default_user()));
        AclState {
            users: RwLock::new(users),
            generation: AtomicU64::new(1),
            default_open: AtomicBool::new(true),
            log: Default::default(),
        }
    }
}

impl AclState {
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn default_open(&self) -> bool {
        self.default_open.load(Ordering::Acquire)
    }

    pub fn user(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().expect("acl users").get(name).cloned()
    }

    pub fn default_user(&self) -> Arc<User> {
        self.user(b"default")
            .expect("the default user always exists")
    }

    /// Every user, by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users
            .read()
            .expect("acl users")
            .values()
            .cloned()
            .collect()
    }

    /// Stores a user (new or changed) and tells connections.
    pub fn put(&self, user: User) {
        let mut users = self.users.write().expect("acl users");
        users.insert(user.name.clone(), Arc::new(user));
        self.changed(&users);
    }

    /// Removes users; the number that existed.
    pub fn delete(&self, names: &[&[u8]]) -> usize {
        let mut users = self.users.write().expect("acl users");
        let n = names.iter().filter(|n| users.remove(**n).is_some()).count();
        self.changed(&users);
        n
    }

    /// Replaces every user at once (ACL LOAD, start-up): a default user is made if missing.
    pub fn replace_all(&self, mut new: BTreeMap<Vec<u8>, User>) {
        if !new.contains_key(b"default".as_slice()) {
            new.insert(b"default".to_vec(), User::default_user());
        }
        let mut users = self.users.write().expect("acl users");
        *users = new.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        self.changed(&users);
    }

    fn changed(&self, users: &BTreeMap<Vec<u8>, Arc<User>>) {
        let open = users
            .get(b"default".as_slice())
            .is_some_and(|u| u.enabled && u.nopass);
        self.default_open.store(open, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// `requirepass`: the default user's only password, or nopass when empty.
    pub fn set_default_password(&self, password: &str, pubsub_all: bool) {
        let mut u = (*self.default_user()).clone();
        u.apply(b"resetpass", pubsub_all).expect("valid rule");
        if password.is_empty() {
            u.apply(b"nopass", pubsub_all).expect("valid rule");
        } else {
            let mut op = b">".to_vec();
            op.extend_from_slice(password.as_bytes());
            u.apply(&op, pubsub_all).expect("valid rule");
        }
        self.put(u);
    }

    /// Checks a username and password: the user when they match and it is enabled.
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<User>> {
        self.user(name).filter(|u| u.password_ok(password))
    }
}

/// What a connection is authenticated as.
pub struct ConnAcl {
    pub user: Arc<User>,
    pub authenticated: bool,
    /// The AclState generation `user` and `fast` were computed at.
    pub generation: u64,
    /// Authenticated (or no password needed) and the user may run everything.
    pub fast: bool,
}

impl ConnAcl {
    /// A new connection: the default user, authenticated when it needs no password.
    pub fn new(acl: &AclState) -> ConnAcl {
        let generation = acl.generation();
        let user = acl.default_user();
        let authenticated = user.enabled && user.nopass;
        let mut c = ConnAcl {
            user,
            authenticated,
            generation,
            fast: false,
        };
        c.fast = c.compute_fast(acl);
        c
    }

    /// The stand-in of a squashed command: its client passed every check already.
    pub fn trusted() -> ConnAcl {
        thread_local! {
            // Built once per thread: a squashed group makes one stand-in per hop.
            static TRUSTED: Arc<User> = Arc::new(User::default_user());
        }
        ConnAcl {
            user: TRUSTED.with(Arc::clone),
            authenticated: true,
            generation: u64::MAX,
            fast: true,
        }
    }

    fn compute_fast(&self, acl: &AclState) -> bool {
        (self.authenticated || acl.default_open()) && self.user.unrestricted()
    }

    /// Re-reads the user after an ACL change. False when the user was deleted: the
    /// connection must close.
    pub fn refresh(&mut self, acl: &AclState) -> bool {
        if self.generation == u64::MAX {
            return true;
        }
        self.generation = acl.generation();
        match acl.user(&self.user.name) {
            Some(u) => {
                self.user = u;
                self.fast = self.compute_fast(acl);
                true
            }
            None => {
                self.user = acl.default_user();
                self.authenticated = false;
                self.fast = false;
                false
            }
        }
    }

    /// After AUTH or HELLO AUTH succeeded.
    pub fn logged_in(&mut self, acl: &AclState, user: Arc<User>) {
        self.user = user;
        self.authenticated = true;
        self.generation = acl.generation();
        self.fast = self.compute_fast(acl);
    }

    /// No command but AUTH, HELLO and the like runs before authentication.
    pub fn auth_required(&self, acl: &AclState) -> bool {
        !self.authenticated && !acl.default_open()
    }
}
