//! Fiber stacks: pooled per proactor, each with a guard page below it, and the SIGSEGV handler
//! that turns a guard-page hit into a loud abort naming the fiber.
//!
//! corosensei's `DefaultStack` maps `size + 1 page` with the lowest page `PROT_NONE`. A fiber
//! that runs past its stack faults on that page; Rust's own overflow handler only knows the OS
//! thread's guard page, so without this handler a fiber overflow would be a bare segfault.

use corosensei::stack::{DefaultStack, Stack};
use std::cell::Cell;
use std::sync::Once;

/// Stacks kept for reuse per proactor; beyond this, finished fibers' stacks are unmapped.
const POOL_LEN_MAX: usize = 4096;

pub(crate) struct StackPool {
    size: usize,
    free: Vec<DefaultStack>,
    keep: usize,
}

impl StackPool {
    pub fn new(size: usize) -> StackPool {
        StackPool::keeping(size, POOL_LEN_MAX)
    }

    /// A pool that keeps at most `keep` free stacks.
    pub fn keeping(size: usize, keep: usize) -> StackPool {
        StackPool {
            size,
            free: Vec::new(),
            keep,
        }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn get(&mut self) -> std::io::Result<DefaultStack> {
        match self.free.pop() {
            Some(s) => Ok(s),
            None => DefaultStack::new(self.size),
        }
    }

    pub fn put(&mut self, stack: DefaultStack) {
        if self.free.len() < self.keep {
            self.free.push(stack);
        }
    }
}

/// Guard page range `[lo, hi)` of the fiber running on this thread and its name, read by the
/// signal handler. Plain `Cell`s with const initializers: no lazy init, no destructor, so reading
/// them from a signal handler does not allocate or lock.
struct RunningFiber {
    guard_lo: Cell<usize>,
    guard_hi: Cell<usize>,
    name_ptr: Cell<*const u8>,
    name_len: Cell<usize>,
}

thread_local! {
    static RUNNING: RunningFiber = const {
        RunningFiber {
            guard_lo: Cell::new(0),
            guard_hi: Cell::new(0),
            name_ptr: Cell::new(std::ptr::null()),
            name_len: Cell::new(0),
        }
    };
}

/// Bytes between the top of `stack` and its lowest mapped address.
pub(crate) fn usable_size(stack: &DefaultStack) -> usize {
    stack.base().get() - stack.limit().get()
}

pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// The guard page of `stack`: corosensei's `limit()` is the start of the mapping, whose lowest
/// page is the `PROT_NONE` guard.
pub(crate) fn guard_range(stack: &DefaultStack) -> (usize, usize) {
    let limit = stack.limit().get();
    (limit, limit + page_size())
}

/// Records the fiber about to run on this thread (or none). `name` must stay alive while the
/// fiber runs: it points into the fiber record, which outlives the resume.
pub(crate) fn set_running(guard: (usize, usize), name: &str) {
    RUNNING.with(|r| {
        r.guard_lo.set(guard.0);
        r.guard_hi.set(guard.1);
        r.name_ptr.set(name.as_ptr());
        r.name_len.set(name.len());
    });
}

pub(crate) fn clear_running() {
    RUNNING.with(|r| {
        r.guard_lo.set(0);
        r.guard_hi.set(0);
        r.name_len.set(0);
    });
}

static INSTALL: Once = Once::new();
static mut PREVIOUS_SEGV: Option<libc::sigaction> = None;

/// Installs the overflow handler once per process, chaining to whatever handler was there
/// (Rust's own, which reports overflows of OS thread stacks).
pub(crate) fn install_overflow_handler() {
    INSTALL.call_once(|| {
        // SAFETY: we build a zeroed sigaction, fill the documented fields and install it; the
        // previous action is saved once, before any fiber can fault, and only read afterwards.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_segv as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGSEGV, &action, &mut old) == 0 {
                PREVIOUS_SEGV = Some(old);
            }
        }
    });
}

/// Gives the calling thread an alternate signal stack if it has none, so the handler can run
/// when the fault is a stack overflow.
pub(crate) fn ensure_alt_stack() {
    const ALT_STACK_LEN: usize = 64 * 1024;
    // SAFETY: sigaltstack with a null new stack only reads the current setting. When there is
    // none we map a fresh region and hand it to the kernel; it is never unmapped (one per
    // proactor thread, for the thread's life).
    unsafe {
        let mut cur: libc::stack_t = std::mem::zeroed();
        if libc::sigaltstack(std::ptr::null(), &mut cur) != 0 {
            return;
        }
        if cur.ss_flags & libc::SS_DISABLE == 0 {
            return;
        }
        let mem = libc::mmap(
            std::ptr::null_mut(),
            ALT_STACK_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if mem == libc::MAP_FAILED {
            return;
        }
        let st = libc::stack_t {
            ss_sp: mem,
            ss_flags: 0,
            ss_size: ALT_STACK_LEN,
        };
        libc::sigaltstack(&st, std::ptr::null_mut());
    }
}

extern "C" fn on_segv(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers. We only read
    // thread-local Cells (no allocation, no locks) and call write(2) and abort(3), which are
    // async-signal-safe.
    unsafe {
        let addr = (*info).si_addr() as usize;
        let (lo, hi, name) = RUNNING.with(|r| {
            (
                r.guard_lo.get(),
                r.guard_hi.get(),
                std::slice::from_raw_parts(r.name_ptr.get(), r.name_len.get()),
            )
        });
        if lo != 0 && addr >= lo && addr < hi {
            let parts: [&[u8]; 3] = [b"damselfly: fiber stack overflow in fiber '", name, b"'\n"];
            for p in parts {
                libc::write(2, p.as_ptr().cast(), p.len());
            }
            libc::abort();
        }
        // Not ours: hand the fault to the previous handler, or restore the default action and
        // return so the faulting instruction re-runs and the process dies with SIGSEGV.
        #[allow(static_mut_refs)]
        match PREVIOUS_SEGV {
            Some(prev)
                if prev.sa_sigaction != libc::SIG_DFL && prev.sa_sigaction != libc::SIG_IGN =>
            {
                if prev.sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        std::mem::transmute(prev.sa_sigaction);
                    f(sig, info, ctx);
                } else {
                    let f: extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
                    f(sig);
                }
            }
            _ => {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGSEGV, &dfl, std::ptr::null_mut());
            }
        }
    }
}
