//! memcached's meta commands (mg ms md ma mn), with their flags and replies as memcached
//! 1.6.18 implements them: return flags in the order the client wrote them, `q` hiding only
//! the uninteresting replies of each command, `N` vivify with `W`/`Z` win tokens, `I`
//! invalidation marking items stale (`X`), `b` base64 keys.
//!
//! `l` reads the key's access clock (seconds since its last access, before this one). Like
//! memcached's segmented LRU, a get leaves an item's access time alone until the item was
//! fetched once before (its first fetch only marks it fetched); `u` leaves both alone. The
//! `me` debug command lives in memcache_debug.rs.

use crate::exec::Exec;
use crate::families::memcache_family::{
    apply_expiry, bump, expiry_of, now_ms, op_delta, store, ttl_secs, Delta, Expiry, McState,
    StoreReq, Stored, NON_NUMERIC,
};
use crate::memcache_reply::McOut;
use crate::shard::{key_hash, Shard};
use crate::tx::locks::LockMode;
use damselfly_protocol::memcache::{
    c_strtol_i32, c_strtoul_u32, c_strtoull, MetaFlags, MetaKind, StoreKind,
};
use damselfly_shards::cell::CellFlags;
use damselfly_shards::{CompactValue, DbSlice};
use std::sync::atomic::{AtomicU64, Ordering};

const INVALID_FLAG: &[u8] = b"CLIENT_ERROR invalid flag\r\n";
const INVALID_OR_DUP: &[u8] = b"CLIENT_ERROR invalid or duplicate flag\r\n";
const BAD_TOKEN: &[u8] = b"CLIENT_ERROR bad token in command line format\r\n";

/// The flags of one meta command after memcached's checks.
#[derive(Default)]
struct Opts {
    base64: bool,
    quiet: bool,
    value: bool,
    no_update: bool,
    invalidate: bool,
    vivify: Option<i32>,
    ttl: Option<i32>,
    recache: Option<i32>,
    compare: Option<u64>,
    client_flags: Option<u32>,
    mode: Option<u8>,
    delta: Option<u64>,
    initial: Option<u64>,
    want_cas: bool,
}

/// memcached's flag pre-parse: which letters exist and how their values parse.
fn preparse(flags: MetaFlags<'_>) -> Result<Opts, &'static [u8]> {
    let mut o = Opts::default();
    for token in flags.iter() {
        let value = &token[1..];
        match token[0] {
            b'b' => o.base64 = true,
            b'q' => o.quiet = true,
            b'v' => o.value = true,
            b'u' => o.no_update = true,
            b'I' => o.invalidate = true,
            b'c' => o.want_cas = true,
            b'f' | b'h' | b'k' | b'l' | b's' | b't' | b'O' | b'L' | b'P' => {}
            b'N' => o.vivify = Some(c_strtol_i32(value).ok_or(BAD_TOKEN)?),
            b'T' => o.ttl = Some(c_strtol_i32(value).ok_or(BAD_TOKEN)?),
            b'R' => o.recache = Some(c_strtol_i32(value).ok_or(BAD_TOKEN)?),
            b'C' => o.compare = Some(c_strtoull(value).ok_or(BAD_TOKEN)?),
            b'F' => {
                o.client_flags = Some(
                    c_strtoul_u32(value).ok_or(&b"CLIENT_ERROR bad command line format\r\n"[..])?,
                )
            }
            b'D' => {
                o.delta = Some(
                    c_strtoull(value)
                        .ok_or(&b"CLIENT_ERROR invalid numeric delta value\r\n"[..])?,
                )
            }
            b'J' => {
                o.initial = Some(
                    c_strtoull(value)
                        .ok_or(&b"CLIENT_ERROR invalid numeric initial value\r\n"[..])?,
                )
            }
            b'M' => {
                if value.len() != 1 {
                    return Err(b"CLIENT_ERROR incorrect length for M token\r\n");
                }
                o.mode = Some(value[0]);
            }
            _ => return Err(INVALID_FLAG),
        }
    }
    Ok(o)
}

/// Standard base64 (with padding) to bytes; None when malformed.
pub(crate) fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    if text.is_empty() || !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for (i, chunk) in text.chunks(4).enumerate() {
        let last = i == text.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | sextet(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

fn base64_encode(bytes: &[u8], out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]);
            } else {
                out.push(b'=');
            }
        }
    }
}

/// ` k<key>` (base64 again, then ` b`, for a binary key).
fn key_flag(out: &mut McOut<'_>, key: &[u8], base64: bool) {
    out.raw(b" k");
    if base64 {
        base64_encode(key, &mut out.buf);
        out.raw(b" b");
    } else {
        out.raw(key);
    }
}

/// Echoes `O` and `k` (the flags every meta reply carries back).
fn echo_flags(out: &mut McOut<'_>, flags: MetaFlags<'_>, key: &[u8], base64: bool) {
    for token in flags.iter() {
        match token[0] {
            b'O' => {
                out.raw(b" ");
                out.raw(token);
            }
            b'k' => key_flag(out, key, base64),
            _ => {}
        }
    }
}

pub fn execute(
    mc: &McState,
    kind: MetaKind,
    raw_key: &[u8],
    flags: MetaFlags<'_>,
    data: &[u8],
    out: &mut McOut<'_>,
) {
    if kind == MetaKind::Noop {
        out.raw(b"MN\r\n");
        return;
    }
    if kind == MetaKind::Debug {
        return crate::families::memcache_debug::meta_debug(mc, raw_key, flags, out);
    }
    let collapse = |e: &'static [u8]| match kind {
        MetaKind::Delete | MetaKind::Arithmetic => INVALID_OR_DUP,
        _ => e,
    };
    let mut opts = match preparse(flags) {
        Ok(o) => o,
        Err(e) => return out.raw(collapse(e)),
    };
    let decoded;
    let key = if opts.base64 {
        match base64_decode(raw_key) {
            Some(k) => {
                decoded = k;
                &decoded[..]
            }
            None => return out.raw(collapse(b"CLIENT_ERROR error decoding key\r\n")),
        }
    } else {
        raw_key
    };
    match kind {
        MetaKind::Get => meta_get(mc, key, flags, &opts, out),
        MetaKind::Set => meta_set(mc, key, flags, &mut opts, data, out),
        MetaKind::Delete => meta_delete(mc, key, flags, &opts, out),
        MetaKind::Arithmetic => meta_arith(mc, key, flags, &opts, out),
        MetaKind::Noop | MetaKind::Debug => unreachable!("answered above"),
    }
}

// ---- mg --------------------------------------------------------------------------------

/// What `mg` read: the value and the return flags already rendered.
struct MgOut {
    data: Vec<u8>,
    flags_text: Vec<u8>,
}

#[allow(clippy::too_many_arguments)]
fn op_mget(
    shard: &Shard,
    key: &[u8],
    flags: MetaFlags<'_>,
    opts: &Opts,
    cas_counter: &AtomicU64,
    now: u64,
) -> Option<MgOut> {
    let mut dbs = shard.db.borrow_mut();
    // What `l` and the clock update see: the item before this fetch.
    let peek = dbs.set_no_touch(true);
    let idle = dbs.idle_secs(0, key, now).unwrap_or(0);
    let fetched = dbs
        .find(0, key, now)
        .is_some_and(|v| v.has_flag(CellFlags::MC_FETCHED));
    dbs.set_no_touch(peek || opts.no_update || !fetched);
    let got = mget_fetched(&mut dbs, key, flags, opts, cas_counter, now, idle);
    dbs.set_no_touch(peek);
    got
}

#[allow(clippy::too_many_arguments)]
fn mget_fetched(
    dbs: &mut DbSlice,
    key: &[u8],
    flags: MetaFlags<'_>,
    opts: &Opts,
    cas_counter: &AtomicU64,
    now: u64,
    idle_secs: u64,
) -> Option<MgOut> {
    let mut created = false;
    if dbs
        .find(0, key, now)
        .and_then(|v| v.as_bytes().map(|_| ()))
        .is_none()
    {
        opts.vivify?;
        // Created without a TTL: the `N` flag sets it where it stands among the flags.
        let (mut slot, _) = dbs.add_or_find(0, key, now);
        *slot = CompactValue::default();
        drop(slot);
        dbs.clear_expiry(0, key, now);
        created = true;
    }
    let mut text = Vec::new();
    let mut won = created;
    let mut gone = false;
    let push = |text: &mut Vec<u8>, letter: u8, value: &dyn std::fmt::Display| {
        use std::io::Write;
        let _ = write!(text, " {}{}", letter as char, value);
    };
    for token in flags.iter() {
        match token[0] {
            b'T' => {
                let e = expiry_of(i64::from(opts.ttl.unwrap_or(0)), now);
                if e == Expiry::Gone {
                    gone = true;
                } else {
                    apply_expiry(dbs, key, e, now);
                }
            }
            b'N' if created => {
                // memcached sets the vivified item's TTL again here, after any `T` before.
                let e = expiry_of(i64::from(opts.vivify.unwrap_or(0)), now);
                gone = e == Expiry::Gone;
                if !gone {
                    apply_expiry(dbs, key, e, now);
                }
            }
            b'R' => {
                let ttl = ttl_secs(dbs, key, now);
                let sent = dbs
                    .find(0, key, now)
                    .is_some_and(|v| v.has_flag(CellFlags::MC_WON));
                if !sent && !created && ttl != -1 && ttl < i64::from(opts.recache.unwrap_or(0)) {
                    won = true;
                }
            }
            b's' => {
                let len = dbs.find(0, key, now).map_or(0, |v| v.str_len());
                push(&mut text, b's', &len);
            }
            b't' => {
                let ttl = if gone { -1 } else { ttl_secs(dbs, key, now) };
                push(&mut text, b't', &ttl);
            }
            b'c' => {
                let mut slot = dbs.find_mut(0, key, now).expect("live");
                let (_, mut cas) = slot.mc_meta();
                if cas == 0 {
                    cas = cas_counter.fetch_add(1, Ordering::Relaxed) + 1;
                    slot.set_mc_cas_quiet(cas);
                }
                push(&mut text, b'c', &cas);
            }
            b'f' => {
                let f = dbs.find(0, key, now).map_or(0, |v| v.mc_meta().0);
                push(&mut text, b'f', &f);
            }
            b'h' => {
                let h = dbs
                    .find(0, key, now)
                    .is_some_and(|v| v.has_flag(CellFlags::MC_FETCHED));
                push(&mut text, b'h', &(h as u8));
            }
            b'l' => push(&mut text, b'l', &if created { 0 } else { idle_secs }),
            _ => echo_flag(&mut text, token[0], token, key, opts.base64),
        }
    }
    let mut slot = dbs.find_mut(0, key, now).expect("live");
    let data = slot.as_bytes().map(|b| b.to_vec()).unwrap_or_default();
    let sent = slot.has_flag(CellFlags::MC_WON);
    if sent {
        text.extend_from_slice(b" Z");
    }
    if slot.has_flag(CellFlags::MC_STALE) {
        text.extend_from_slice(b" X");
        if !sent {
            won = true;
        }
    }
    if won {
        text.extend_from_slice(b" W");
        slot.set_flag_quiet(CellFlags::MC_WON, true);
    }
    if !opts.no_update && !slot.has_flag(CellFlags::MC_FETCHED) {
        slot.set_flag_quiet(CellFlags::MC_FETCHED, true);
    }
    drop(slot);
    if gone {
        dbs.delete(0, key, now);
    }
    Some(MgOut {
        data,
        flags_text: text,
    })
}

fn meta_get(mc: &McState, key: &[u8], flags: MetaFlags<'_>, opts: &Opts, out: &mut McOut<'_>) {
    let now = now_ms();
    let counters = mc.counters();
    bump(&counters.cmd_get, 1);
    if opts.ttl.is_some() {
        bump(&counters.cmd_touch, 1);
    }
    let counter = mc.cas_counter();
    let got = Exec::now().single_key(key_hash(key), LockMode::Exclusive, &|s| {
        op_mget(s, key, flags, opts, counter, now)
    });
    let Some(got) = got else {
        bump(&counters.get_misses, 1);
        if !opts.quiet {
            out.raw(b"EN");
            echo_flags(out, flags, key, opts.base64);
            out.raw(b"\r\n");
        }
        return;
    };
    bump(&counters.get_hits, 1);
    if opts.value {
        out.raw(b"VA ");
        out.u64(got.data.len() as u64);
        out.raw(&got.flags_text);
        out.raw(b"\r\n");
        out.raw(&got.data);
        out.raw(b"\r\n");
    } else {
        out.raw(b"HD");
        out.raw(&got.flags_text);
        out.raw(b"\r\n");
    }
}

// ---- ms --------------------------------------------------------------------------------

fn meta_set(
    mc: &McState,
    key: &[u8],
    flags: MetaFlags<'_>,
    opts: &mut Opts,
    data: &[u8],
    out: &mut McOut<'_>,
) {
    let kind = match opts.mode.unwrap_or(b'S') {
        b'S' => StoreKind::Set,
        b'E' => StoreKind::Add,
        b'A' => StoreKind::Append,
        b'P' => StoreKind::Prepend,
        b'R' => StoreKind::Replace,
        _ => return out.raw(b"CLIENT_ERROR invalid mode for ms M token\r\n"),
    };
    let now = now_ms();
    bump(&mc.counters().cmd_set, 1);
    let req = StoreReq {
        kind,
        data,
        flags: opts.client_flags.unwrap_or(0),
        expiry: expiry_of(i64::from(opts.ttl.unwrap_or(0)), now),
        compare: opts.compare,
        want_cas: opts.want_cas,
        invalidate: opts.invalidate,
        // memcached 1.6.18 accepts `N` on ms but never vivifies an append.
        vivify: None,
    };
    let result = store(mc, key, &req, now);
    if let Stored::Stored(_) = result {
        bump(&mc.counters().total_items, 1);
    }
    let code: &[u8] = match result {
        Stored::Stored(_) if opts.quiet => return,
        Stored::Stored(_) => b"HD",
        Stored::NotStored => b"NS",
        Stored::Exists => b"EX",
        Stored::NotFound => b"NF",
    };
    out.raw(code);
    for token in flags.iter() {
        match token[0] {
            b'O' => {
                out.raw(b" ");
                out.raw(token);
            }
            b'k' => key_flag(out, key, opts.base64),
            b'c' => {
                // An item that was not stored has no CAS: memcached shows 0.
                out.raw(b" c");
                out.u64(match result {
                    Stored::Stored(cas) => cas,
                    _ => 0,
                });
            }
            _ => {}
        }
    }
    out.raw(b"\r\n");
}

// ---- md --------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Deleted {
    Done,
    NotFound,
    Exists,
}

fn op_mdelete(shard: &Shard, key: &[u8], opts: &Opts, now: u64) -> Deleted {
    let mut dbs = shard.db.borrow_mut();
    let Some(v) = dbs.find(0, key, now) else {
        return Deleted::NotFound;
    };
    if let Some(want) = opts.compare {
        let cas = v.mc_meta().1;
        if cas == 0 || cas != want {
            return Deleted::Exists;
        }
    }
    if opts.invalidate {
        if let Some(ttl) = opts.ttl {
            apply_expiry(&mut dbs, key, expiry_of(i64::from(ttl), now), now);
        }
        if let Some(mut slot) = dbs.find_mut(0, key, now) {
            // Invalidating is a change: the CAS handed out before no longer matches.
            if slot.mc_meta().1 != 0 {
                slot.set_mc_cas(0);
            }
            slot.set_flag_quiet(CellFlags::MC_STALE, true);
            slot.set_flag_quiet(CellFlags::MC_WON, false);
        }
    } else {
        dbs.delete(0, key, now);
    }
    Deleted::Done
}

fn meta_delete(mc: &McState, key: &[u8], flags: MetaFlags<'_>, opts: &Opts, out: &mut McOut<'_>) {
    let now = now_ms();
    let result = Exec::now().single_key(key_hash(key), LockMode::Exclusive, &|s| {
        op_mdelete(s, key, opts, now)
    });
    let c = mc.counters();
    let code: &[u8] = match result {
        Deleted::Done => {
            bump(&c.delete_hits, 1);
            if opts.quiet {
                return;
            }
            b"HD"
        }
        Deleted::NotFound => {
            bump(&c.delete_misses, 1);
            b"NF"
        }
        Deleted::Exists => b"EX",
    };
    out.raw(code);
    echo_flags(out, flags, key, opts.base64);
    out.raw(b"\r\n");
}

// ---- ma --------------------------------------------------------------------------------

fn meta_arith(mc: &McState, key: &[u8], flags: MetaFlags<'_>, opts: &Opts, out: &mut McOut<'_>) {
    let incr = match opts.mode.unwrap_or(b'I') {
        b'I' | b'+' => true,
        b'D' | b'-' => false,
        _ => return out.raw(b"CLIENT_ERROR invalid mode for ma M token\r\n"),
    };
    let now = now_ms();
    let delta = opts.delta.unwrap_or(1);
    // A vivified item starts without a TTL; `N` and `T` set it where they stand.
    let vivify = opts
        .vivify
        .map(|_| (Expiry::Never, opts.initial.unwrap_or(0)));
    let counter = mc.cas_counter();
    let (result, text) = Exec::now().single_key(key_hash(key), LockMode::Exclusive, &|s| {
        let r = op_delta(
            s,
            key,
            incr,
            delta,
            // memcached's arithmetic takes C0 as "no compare".
            opts.compare.filter(|&c| c != 0),
            vivify,
            opts.want_cas,
            counter,
            now,
        );
        let mut text = Vec::new();
        let (Delta::Value(_, cas, _) | Delta::Created(_, cas)) = r else {
            return (r, text);
        };
        // memcached applies `T` to the item it read: when the result needed a new, longer
        // item, the new one keeps the old TTL and only `t` shows the one asked for.
        let replaced = matches!(r, Delta::Value(_, _, false));
        let mut ttl_shown: Option<i64> = None;
        let mut dbs = s.db.borrow_mut();
        for token in flags.iter() {
            match token[0] {
                b'T' if replaced => {
                    let ttl = i64::from(opts.ttl.unwrap_or(0));
                    ttl_shown = Some(match expiry_of(ttl, now) {
                        Expiry::Never => -1,
                        _ => ttl,
                    });
                }
                b'T' => {
                    let e = expiry_of(i64::from(opts.ttl.unwrap_or(0)), now);
                    apply_expiry(&mut dbs, key, e, now);
                }
                b'N' if matches!(r, Delta::Created(..)) => {
                    let e = expiry_of(i64::from(opts.vivify.unwrap_or(0)), now);
                    apply_expiry(&mut dbs, key, e, now);
                }
                b't' => {
                    text.extend_from_slice(b" t");
                    let ttl = ttl_shown.unwrap_or_else(|| ttl_secs(&mut dbs, key, now));
                    text.extend_from_slice(ttl.to_string().as_bytes());
                }
                b'c' => {
                    text.extend_from_slice(b" c");
                    text.extend_from_slice(cas.to_string().as_bytes());
                }
                _ => echo_flag(&mut text, token[0], token, key, opts.base64),
            }
        }
        (r, text)
    });
    let c = mc.counters();
    let (hits, misses) = if incr {
        (&c.incr_hits, &c.incr_misses)
    } else {
        (&c.decr_hits, &c.decr_misses)
    };
    let value = match result {
        Delta::NonNumeric => return out.raw(NON_NUMERIC),
        Delta::NotFound | Delta::Exists => {
            if result == Delta::NotFound {
                bump(misses, 1);
            }
            out.raw(if result == Delta::NotFound {
                b"NF"
            } else {
                b"EX"
            });
            echo_flags(out, flags, key, opts.base64);
            return out.raw(b"\r\n");
        }
        Delta::Value(v, _, _) => {
            bump(hits, 1);
            if opts.quiet {
                return;
            }
            v
        }
        Delta::Created(v, _) => {
            bump(misses, 1);
            v
        }
    };
    let digits = value.to_string();
    if opts.value {
        out.raw(b"VA ");
        out.u64(digits.len() as u64);
    } else {
        out.raw(b"HD");
    }
    out.raw(&text);
    out.raw(b"\r\n");
    if opts.value {
        out.raw(digits.as_bytes());
        out.raw(b"\r\n");
    }
}

/// The return flags every meta command echoes: `O` (opaque, the token as given) and `k` (the
/// key, base64 again with `b` when it came so); others add nothing here.
fn echo_flag(text: &mut Vec<u8>, flag: u8, token: &[u8], key: &[u8], base64: bool) {
    match flag {
        b'O' => {
            text.push(b' ');
            text.extend_from_slice(token);
        }
        b'k' => {
            text.extend_from_slice(b" k");
            if base64 {
                base64_encode(key, text);
                text.extend_from_slice(b" b");
            } else {
                text.extend_from_slice(key);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_rejects_garbage() {
        for input in [&b""[..], b"f", b"fo", b"foo", b"foob", b"\x00\xff\x10"] {
            let mut enc = Vec::new();
            base64_encode(input, &mut enc);
            if !input.is_empty() {
                assert_eq!(base64_decode(&enc).as_deref(), Some(input));
            }
        }
        let mut enc = Vec::new();
        base64_encode(b"foo", &mut enc);
        assert_eq!(enc, b"Zm9v");
        assert_eq!(base64_decode(b"Zm9v"), Some(b"foo".to_vec()));
        assert_eq!(base64_decode(b"Zm8="), Some(b"fo".to_vec()));
        assert_eq!(base64_decode(b"fk"), None);
        assert_eq!(base64_decode(b"Zm=v"), None);
        assert_eq!(base64_decode(b"Z!9v"), None);
    }
}
