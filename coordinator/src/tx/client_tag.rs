//! What a hop tells its shard about the client it works for. A connection fiber's tag is its
//! client id, with the top bit set while the client is in CLIENT NO-TOUCH mode; every hop
//! already carries the tag (`Job::client`), so the mode reaches the shard with no extra
//! field, hop or allocation, and the shard applies it around the op. Scripts and squashed
//! batches run under their caller's tag, so they inherit the mode too.

use crate::shard::Shard;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The tag bit of a no-touch client: its reads leave keys' access clocks alone (TOUCH still
/// updates them, as in Redis).
const NO_TOUCH: u64 = 1 << 63;

/// Clients in no-touch mode, over every proactor: while there is none, the inline fast path
/// skips reading its fiber's tag.
static NO_TOUCH_CLIENTS: AtomicUsize = AtomicUsize::new(0);

/// The client id a tag stands for.
#[inline]
pub fn client_id(tag: u64) -> u64 {
    tag & !NO_TOUCH
}

/// Turns no-touch mode on or off for the running connection fiber of client `id`; `was` is
/// the mode before.
pub fn set_no_touch(id: u64, on: bool, was: bool) {
    damselfly_runtime::fiber::set_tag(if on { id | NO_TOUCH } else { id });
    match (was, on) {
        (false, true) => {
            NO_TOUCH_CLIENTS.fetch_add(1, Ordering::Relaxed);
        }
        (true, false) => forget_no_touch(),
        _ => {}
    }
}

/// A no-touch client went away.
pub fn forget_no_touch() {
    NO_TOUCH_CLIENTS.fetch_sub(1, Ordering::Relaxed);
}

/// The running fiber's tag for an op run inline, without a hop: read only while some client
/// is in no-touch mode (one relaxed load otherwise).
#[inline]
pub fn inline_tag() -> u64 {
    if NO_TOUCH_CLIENTS.load(Ordering::Relaxed) == 0 {
        0
    } else {
        damselfly_runtime::fiber::tag()
    }
}

/// Runs `op` on `shard` for the client `tag` names: with lookups that leave the access clock
/// alone when the client is in no-touch mode.
#[inline]
pub fn run_as<R>(shard: &Shard, tag: u64, op: impl FnOnce() -> R) -> R {
    if tag & NO_TOUCH == 0 {
        return op();
    }
    let before = shard.db.borrow_mut().set_no_touch(true);
    let r = op();
    shard.db.borrow_mut().set_no_touch(before);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_bit_never_shows_in_the_client_id() {
        assert_eq!(client_id(42 | NO_TOUCH), 42);
        assert_eq!(client_id(42), 42);
    }
}
