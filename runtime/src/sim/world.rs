//! Several pools in one simulated world: the first simulated pool's thread steps the proactors
//! of every pool that joins it (`PoolBuilder::sim_join`), so two servers (two named nodes)
//! share one virtual clock, one seeded PRNG and one network.
//!
//! A pool joins through the world's [`SimWorld`] handle: its request is taken while the world is
//! idle (like all mail from outside), so when it arrives in real time never changes a run.
//! Wakes and spawns from a fiber of one pool to a fiber of another go through the world's own
//! queue (`cross`), delivered in order on the next step: they never touch the pools' external
//! inboxes, which are read only when the world is idle.

use super::{try_world, World};
use crate::bus::Message;
use crate::fiber::{Builder, JoinHandle};
use crate::pool::PoolShared;
use crate::proactor::Proactor;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

/// A pool that asks to join a running world.
pub(crate) struct JoinRequest {
    pub shared: Arc<PoolShared>,
    pub stack_size: usize,
    pub ready: Sender<io::Result<()>>,
    /// Dropped once the pool's proactors have shut down.
    pub done: Sender<()>,
}

/// The door of a world: how other threads reach its thread.
pub(crate) struct Door {
    /// Wakes the simulator's thread (mail from outside, a join, a stop).
    pub eventfd: OwnedFd,
    joins: Mutex<Vec<JoinRequest>>,
}

impl Door {
    pub fn new() -> io::Result<Door> {
        // SAFETY: eventfd returns a new descriptor we own, or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Door {
            // SAFETY: `fd` is fresh and owned by nobody else.
            eventfd: unsafe { OwnedFd::from_raw_fd(fd) },
            joins: Mutex::new(Vec::new()),
        })
    }

    pub fn wake(&self) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from a live u64 to the door's own eventfd.
        unsafe { libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    pub fn take_joins(&self) -> Vec<JoinRequest> {
        std::mem::take(&mut *self.joins.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A handle on a running simulated world, for starting another pool (another server) in it.
#[derive(Clone)]
pub struct SimWorld(pub(crate) Arc<Door>);

impl SimWorld {
    pub(crate) fn join(&self, req: JoinRequest) {
        self.0
            .joins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(req);
        self.0.wake();
    }
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimWorld")
    }
}

/// The proactors of one pool of the world.
pub(crate) struct Group {
    pub shared: Arc<PoolShared>,
    pub proactors: Vec<Proactor>,
    /// For a pool that joined: tells its `ProactorPool` the proactors are gone.
    pub done: Option<Sender<()>>,
}

impl Group {
    pub fn new(shared: Arc<PoolShared>, stack_size: usize, efd: i32) -> Group {
        let proactors = (0..shared.bus.len())
            .map(|i| {
                shared.bus.eventfds[i].store(efd, std::sync::atomic::Ordering::Release);
                let driver = crate::driver::Driver::Sim(super::SimDriver::default());
                Proactor::new(i, shared.clone(), driver, stack_size)
            })
            .collect();
        Group {
            shared,
            proactors,
            done: None,
        }
    }

    /// Drops the proactors, then tells the pool's owner.
    pub fn finish(self) {
        let Group {
            shared,
            proactors,
            done,
        } = self;
        drop(proactors);
        for i in 0..shared.bus.len() {
            shared.bus.eventfds[i].store(-1, std::sync::atomic::Ordering::Release);
        }
        drop(done);
    }
}

/// Queues `msg` for proactor `index` of pool `pool` when that pool lives in the world of this
/// thread; false otherwise (the caller then uses the pool's external inbox).
pub(crate) fn cross_send(pool: u32, index: usize, msg: Message) -> Result<(), Message> {
    let Some(w) = try_world() else {
        return Err(msg);
    };
    if !w.members.borrow().contains(&pool) {
        return Err(msg);
    }
    w.cross.borrow_mut().push_back((pool, index, msg));
    Ok(())
}

/// Starts `f` in a fiber on proactor `index` of pool `pool` (`ProactorPool::id`), which must
/// live in the world of the calling fiber: how a program driving a run reaches a second server.
pub fn spawn_on_pool<F, T>(pool: u32, index: usize, name: &str, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (msg, handle) = Builder::new().name(name).into_message(f);
    if cross_send(pool, index, msg).is_err() {
        panic!("pool {pool} is not in this simulated world");
    }
    handle
}

/// Delivers the queued cross-pool messages for `groups`, in order; those for another pool of
/// the world wait, those for a pool that is gone are dropped. True when any was delivered.
pub(crate) fn deliver_cross(groups: &[Group], world: &World) -> bool {
    if world.cross.borrow().is_empty() {
        return false;
    }
    let queued = std::mem::take(&mut *world.cross.borrow_mut());
    let mut any = false;
    for (pool, index, msg) in queued {
        match groups.iter().position(|g| g.shared.id == pool) {
            Some(g) => {
                any = true;
                world.trace(10, g as u64, index as u64);
                groups[g].proactors[index].sim_deliver(msg);
            }
            None if world.members.borrow().contains(&pool) => {
                world.cross.borrow_mut().push_back((pool, index, msg));
            }
            None => {}
        }
    }
    any
}
