//! memcached's `me` (meta debug) command: one line of an item's internals, as memcached
//! 1.6.18 prints them — `exp` (minus the seconds left, -1 without a TTL), `la` (seconds
//! since the last access, from the key's access clock), `cas`, `fetch`, and the slab class
//! and item size memcached would give it. Damselfly has no slabs: `cls` and `size` are
//! computed with memcached's default item layout and slab classes (`-n 48 -f 1.25`), so a
//! client or tool that reads them sees the figures memcached would show for the same item.

use crate::exec::Exec;
use crate::families::memcache_family::{now_ms, ttl_secs, McState};
use crate::families::memcache_meta::base64_decode;
use crate::memcache_reply::McOut;
use crate::shard::key_hash;
use crate::tx::locks::LockMode;
use damselfly_protocol::memcache::MetaFlags;
use damselfly_shards::cell::CellFlags;
use std::sync::atomic::Ordering;

/// memcached's item header (`struct _stritem`) on 64-bit builds.
const ITEM_HEADER: usize = 48;
/// Its CAS field (memcached runs with CAS on unless `-C`).
const ITEM_CAS: usize = 8;
/// Its item chunk header, for items larger than a slab chunk.
const ITEM_CHUNK_HEADER: usize = 48;
/// The default `-n` (minimum space for key, value and flags).
const CHUNK_SIZE: usize = 48;
const GROWTH_FACTOR: f64 = 1.25;
/// Half of the default 1 MiB slab page: larger items are chained chunks.
const SLAB_CHUNK_MAX: usize = 512 * 1024;
const CHUNK_ALIGN: usize = 8;

/// What memcached's ITEM_ntotal counts: header, key and its NUL, data with its CRLF,
/// client flags when non-zero, CAS.
fn item_total(key_len: usize, data_len: usize, client_flags: u32) -> usize {
    let flags = if client_flags != 0 { 4 } else { 0 };
    ITEM_HEADER + key_len + 1 + data_len + 2 + flags + ITEM_CAS
}

/// The slab class memcached's default classes give an allocation of `size` bytes.
fn slab_class(size: usize) -> usize {
    let mut chunk = ITEM_HEADER + CHUNK_SIZE;
    let mut class = 1;
    while chunk < SLAB_CHUNK_MAX && (chunk as f64) < SLAB_CHUNK_MAX as f64 / GROWTH_FACTOR {
        if !chunk.is_multiple_of(CHUNK_ALIGN) {
            chunk += CHUNK_ALIGN - chunk % CHUNK_ALIGN;
        }
        if size <= chunk {
            return class;
        }
        class += 1;
        chunk = (chunk as f64 * GROWTH_FACTOR) as usize;
    }
    class
}

/// The class of an item: of the whole item, or of its header alone when the item is
/// larger than a slab chunk (its data then lives in chained chunks).
fn item_class(key_len: usize, data_len: usize, client_flags: u32) -> usize {
    let total = item_total(key_len, data_len, client_flags);
    if total <= SLAB_CHUNK_MAX {
        return slab_class(total);
    }
    let flags = if client_flags != 0 { 4 } else { 0 };
    slab_class(ITEM_HEADER + key_len + 1 + flags + ITEM_CHUNK_HEADER + ITEM_CAS)
}

struct Debug {
    ttl_secs: i64,
    idle_secs: u64,
    cas: u64,
    fetched: bool,
    data_len: usize,
    client_flags: u32,
}

pub fn meta_debug(mc: &McState, raw_key: &[u8], flags: MetaFlags<'_>, out: &mut McOut<'_>) {
    let decoded;
    let key = if flags.has(b'b') {
        match base64_decode(raw_key) {
            Some(k) => {
                decoded = k;
                &decoded[..]
            }
            None => return out.raw(b"CLIENT_ERROR error decoding key\r\n"),
        }
    } else {
        raw_key
    };
    let now = now_ms();
    let cas_counter = mc.cas_counter();
    let found = Exec::now().single_key(key_hash(key), LockMode::Exclusive, &|s| {
        let mut dbs = s.db.borrow_mut();
        // A debug read is no access.
        let no_touch = dbs.set_no_touch(true);
        let idle_secs = dbs.idle_secs(0, key, now).unwrap_or(0);
        let item = dbs.find(0, key, now).and_then(|v| {
            let data_len = v.as_bytes()?.len();
            let (client_flags, cas) = v.mc_meta();
            Some(Debug {
                ttl_secs: 0,
                idle_secs,
                cas,
                fetched: v.has_flag(CellFlags::MC_FETCHED),
                data_len,
                client_flags,
            })
        });
        let item = item.map(|mut d| {
            d.ttl_secs = ttl_secs(&mut dbs, key, now);
            // Every memcached item has a CAS unique; Damselfly hands one out on first
            // demand, as `mg c` does.
            if d.cas == 0 {
                d.cas = cas_counter.fetch_add(1, Ordering::Relaxed) + 1;
                if let Some(mut slot) = dbs.find_mut(0, key, now) {
                    slot.set_mc_cas_quiet(d.cas);
                }
            }
            d
        });
        dbs.set_no_touch(no_touch);
        item
    });
    let Some(d) = found else {
        return out.raw(b"EN\r\n");
    };
    // memcached 1.6.18 prints the time left negated (and -1 for no TTL).
    let exp = if d.ttl_secs < 0 { -1 } else { -d.ttl_secs };
    let line = format!(
        "ME {} exp={exp} la={} cas={} fetch={} cls={} size={}\r\n",
        String::from_utf8_lossy(key),
        d.idle_secs,
        d.cas,
        if d.fetched { "yes" } else { "no" },
        item_class(key.len(), d.data_len, d.client_flags),
        item_total(key.len(), d.data_len, d.client_flags),
    );
    out.raw(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_classes_match_memcached() {
        // `set foo 0 0 3` / `bar`, and `set bar 5 100 2` / `hi`, as memcached 1.6.18 shows.
        assert_eq!(item_total(3, 3, 0), 65);
        assert_eq!(item_total(3, 2, 5), 68);
        assert_eq!(slab_class(65), 1);
        assert_eq!(slab_class(96), 1);
        assert_eq!(slab_class(97), 2);
        assert_eq!(slab_class(120), 2);
        assert_eq!(slab_class(121), 3);
    }
}
