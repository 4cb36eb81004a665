//! The scheduling state one server's transactions share: the txid counter, the "schedules
//! alone" handshake and INFO's scheduling figures. It lives in the server's state, not in
//! process globals, so two servers of one process (an embedding program, the simulator running
//! seeds one after another) never see each other's transactions and each starts at txid 1.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub struct Scheduling {
    next_txid: AtomicU64,
    /// Scheduling attempts between taking a txid and hearing every shard's answer.
    pub(super) attempts_in_flight: AtomicU64,
    /// Set while a refused-too-often transaction schedules alone; other attempts wait.
    pub(super) alone: AtomicBool,
    // INFO's figures (`tx::stats`).
    pub(super) scheduled: AtomicU64,
    pub(super) attempts: AtomicU64,
    pub(super) attempts_max: AtomicU64,
    pub(super) scheduled_alone: AtomicU64,
}

impl Default for Scheduling {
    fn default() -> Self {
        Scheduling::new()
    }
}

impl Scheduling {
    pub const fn new() -> Scheduling {
        Scheduling {
            next_txid: AtomicU64::new(1),
            attempts_in_flight: AtomicU64::new(0),
            alone: AtomicBool::new(false),
            scheduled: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            attempts_max: AtomicU64::new(0),
            scheduled_alone: AtomicU64::new(0),
        }
    }

    /// The state of the server whose proactor runs this fiber. Pools without a server (unit
    /// tests of the transaction code) share one.
    pub(super) fn current() -> &'static Scheduling {
        static STANDALONE: Scheduling = Scheduling::new();
        match damselfly_runtime::local::<crate::server::ProactorState>() {
            Some(ps) => &ps.server.tx,
            None => &STANDALONE,
        }
    }

    pub(super) fn next_txid(&self) -> u64 {
        self.next_txid.fetch_add(1, Ordering::Relaxed)
    }
}
