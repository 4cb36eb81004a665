//! Memcached parser: no panic, the same commands and errors whatever the read boundaries,
//! with the default value limit and with a tiny one (discard path).
#![no_main]

use damselfly_protocol::memcache::{MemcacheLimits, LINE_LEN_MAX};
use damselfly_protocol_fuzz::{cuts_from_seed, every_byte, run_memcache};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let limits = MemcacheLimits {
        value_len_max: if seed & 0x80 != 0 {
            usize::from(seed & 7)
        } else {
            1024 * 1024
        },
    };
    let whole = run_memcache(input, &[], limits);
    if input.len() > LINE_LEN_MAX {
        // An unterminated line over 2048 bytes closes the connection only if it was buffered
        // before its end arrived (as in memcached): cuttings may rightly differ here.
        let _ = run_memcache(input, &cuts_from_seed(input.len(), seed), limits);
        return;
    }
    assert_eq!(run_memcache(input, &every_byte(input.len()), limits), whole);
    assert_eq!(
        run_memcache(input, &cuts_from_seed(input.len(), seed), limits),
        whole
    );
});
