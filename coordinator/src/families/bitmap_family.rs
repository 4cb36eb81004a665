//! Bitmap commands: SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO.
//!
//! Bitmaps are plain strings; bit 0 is the most significant bit of byte 0 (Redis's order).
//! A bit offset must stay below `proto-max-bulk-len` bytes (2^32 bits by default), checked
//! while parsing, before any key is looked up — as Redis does.
//!
//! Reads count INFO's keyspace hits/misses where Redis's `lookupKeyRead` does: GETBIT,
//! BITCOUNT, BITPOS, BITOP's sources, BITFIELD with GETs only and BITFIELD_RO.
//!
//! Writes rebuild the value (a compact value offers no in-place access to its bytes), so a
//! write costs O(length); a write that changes nothing leaves the key (and its WATCH version)
//! alone.

use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::string_family::{clamp_range, count_lookup, max_bulk_len, op_get};
use crate::keys::KeyPlan;
use crate::notify::{self, class};
use crate::registry::{flags::*, CommandSpec};
use crate::shard::{key_hash, shard_of, Shard};
use crate::tx::locks::LockMode;
use damselfly_runtime::clock;
use damselfly_shards::CompactValue;

const BIT_OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";
const BIT_VALUE_ERR: &str = "ERR bit is not an integer or out of range";
const BITFIELD_TYPE_ERR: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

fn now_ms() -> u64 {
    clock::wall_now_ms()
}

// ---- parsing ---------------------------------------------------------------------------

/// Redis's `getBitOffsetFromArgument`: a bit offset below `limit_bytes * 8`. With `field_bits`
/// (BITFIELD), `#N` means N fields of that width; the product wraps like Redis's.
fn parse_bit_offset(a: &[u8], field_bits: Option<u32>, limit_bytes: u64) -> OpResult<u64> {
    let err = || CmdError::raw(BIT_OFFSET_ERR);
    let (digits, scale) = match (a.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&a[1..], bits as i64),
        _ => (a, 1),
    };
    let offset = parse_i64(digits).map_err(|_| err())?.wrapping_mul(scale);
    if offset < 0 || (offset as u64 >> 3) >= limit_bytes {
        return Err(err());
    }
    Ok(offset as u64)
}

/// Redis's `getBitfieldTypeFromArgument`: iN (1..=64) or uN (1..=63) → (signed, bits).
fn parse_bitfield_type(a: &[u8]) -> OpResult<(bool, u32)> {
    let err = || CmdError::raw(BITFIELD_TYPE_ERR);
    // The type prefix is case-sensitive in Redis: "I8" and "U8" are errors.
    let signed = match a.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    // Redis reads the width as a C string: it ends at a NUL byte.
    let digits = &a[1..];
    let digits = &digits[..digits.iter().position(|&c| c == 0).unwrap_or(digits.len())];
    let bits = parse_i64(digits).map_err(|_| err())?;
    if bits < 1 || bits > if signed { 64 } else { 63 } {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

// ---- bit helpers -----------------------------------------------------------------------

fn get_bit(bytes: &[u8], offset: u64) -> bool {
    bytes
        .get((offset >> 3) as usize)
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

fn set_bit(bytes: &mut [u8], offset: u64, on: bool) {
    let mask = 0x80u8 >> (offset & 7);
    let b = &mut bytes[(offset >> 3) as usize];
    if on {
        *b |= mask;
    } else {
        *b &= !mask;
    }
}

fn popcount(bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    let mut n: u64 = words
        .by_ref()
        .map(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes")).count_ones() as u64)
        .sum();
    n += words
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum::<u64>();
    n
}

/// Set bits in the bit range `first..=last` (both inside `bytes`).
fn count_bits(bytes: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let head = bytes[fb] & !(0xffu8 >> (first & 7)); // bits of the first byte before `first`
    let tail = bytes[lb] & (0x7fu8 >> (last & 7)); // bits of the last byte after `last`
    popcount(&bytes[fb..=lb]) - head.count_ones() as u64 - tail.count_ones() as u64
}

/// The first bit equal to `bit` in the bit range `first..=last` (both inside `bytes`).
fn find_bit(bytes: &[u8], first: u64, last: u64, bit: bool) -> Option<u64> {
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let skip = if bit { 0u8 } else { 0xff };
    let mut i = fb;
    while i <= lb {
        // Whole words without a wanted bit, between the edge bytes.
        if i > fb && i + 8 <= lb && bytes[i..i + 8].iter().all(|&b| b == skip) {
            i += 8;
            continue;
        }
        let mut x = if bit { bytes[i] } else { !bytes[i] };
        if i == fb {
            x &= 0xff >> (first & 7);
        }
        if i == lb {
            x &= !(0x7fu8 >> (last & 7));
        }
        if x != 0 {
            return Some(i as u64 * 8 + x.leading_zeros() as u64);
        }
        i += 1;
    }
    None
}

/// `bits` bits from bit `offset`, most significant first; bits past the end read as 0.
fn get_field(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0u64, |v, k| (v << 1) | get_bit(bytes, offset + k) as u64)
}

fn set_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for k in 0..bits {
        set_bit(bytes, offset + k as u64, (value >> (bits - 1 - k)) & 1 == 1);
    }
}

fn field_mask(bits: u32) -> u64 {
    if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Sign-extends the low `bits` bits of `v`.
fn to_signed(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

// ---- SETBIT GETBIT ---------------------------------------------------------------------

fn op_setbit(
    shard: &Shard,
    db: usize,
    key: &[u8],
    offset: u64,
    on: bool,
    now: u64,
) -> OpResult<i64> {
    let byte = (offset >> 3) as usize;
    let mut dbs = shard.db.borrow_mut();
    let old = match dbs.find(db, key, now) {
        None => false,
        Some(v) => {
            let b = v.as_bytes().ok_or(CmdError::WrongType)?;
            let old = get_bit(&b, offset);
            if byte < b.len() && old == on {
                return Ok(old as i64);
            }
            old
        }
    };
    // In place (zero-extended as needed), so a bitmap costs O(1) per SETBIT, not O(size).
    let (mut slot, _) = dbs.add_or_find(db, key, now);
    let bytes = slot.string_mut(byte + 1).expect("checked to be a string");
    set_bit(bytes, offset, on);
    drop(slot);
    notify::keyspace_event(class::STRING, "setbit", key, db);
    Ok(old as i64)
}

fn cmd_setbit(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let offset = parse_bit_offset(args.get(2), None, max_bulk_len(ctx))?;
    let on = match parse_i64(args.get(3)) {
        Ok(0) => false,
        Ok(1) => true,
        _ => return Err(CmdError::raw(BIT_VALUE_ERR)),
    };
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let old = ctx
        .exec
        .single_key(key_hash(key), LockMode::Exclusive, &|s| {
            op_setbit(s, db, key, offset, on, now)
        })?;
    ctx.reply().integer(old);
    Ok(())
}

fn cmd_getbit(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let offset = parse_bit_offset(args.get(2), None, max_bulk_len(ctx))?;
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let bit = ctx
        .exec
        .single_key(key_hash(key), LockMode::Shared, &|s| -> OpResult<i64> {
            let mut dbs = s.db.borrow_mut();
            let found = dbs.find(db, key, now);
            count_lookup(found.is_some());
            match found {
                None => Ok(0),
                Some(v) => Ok(get_bit(&v.as_bytes().ok_or(CmdError::WrongType)?, offset) as i64),
            }
        })?;
    ctx.reply().integer(bit);
    Ok(())
}

// ---- BITCOUNT BITPOS -------------------------------------------------------------------

/// A BITCOUNT/BITPOS range as given: indexes in bytes, or in bits with BIT.
#[derive(Clone, Copy)]
struct Span {
    start: i64,
    /// None: to the end of the string (BITPOS without an end).
    end: Option<i64>,
    in_bits: bool,
}

/// BYTE or BIT.
fn parse_unit(a: &[u8]) -> OpResult<bool> {
    if eq_ignore_case(a, "bit") {
        Ok(true)
    } else if eq_ignore_case(a, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// BITCOUNT key [start end [BYTE|BIT]]; None for the whole string.
fn parse_bitcount_span(args: &Args<'_>) -> OpResult<Option<Span>> {
    match args.len() {
        2 => Ok(None),
        4 | 5 => {
            let start = parse_i64(args.get(2))?;
            let end = parse_i64(args.get(3))?;
            let in_bits = args.len() == 5 && parse_unit(args.get(4))?;
            Ok(Some(Span {
                start,
                end: Some(end),
                in_bits,
            }))
        }
        _ => Err(CmdError::Syntax),
    }
}

/// BITPOS key bit [start [end [BYTE|BIT]]]; None for the whole string. Redis parses start,
/// then the unit, then end.
fn parse_bitpos_span(args: &Args<'_>) -> OpResult<Option<Span>> {
    match args.len() {
        3 => Ok(None),
        4..=6 => {
            let start = parse_i64(args.get(3))?;
            let in_bits = args.len() == 6 && parse_unit(args.get(5))?;
            let end = if args.len() >= 5 {
                Some(parse_i64(args.get(4))?)
            } else {
                None
            };
            Ok(Some(Span {
                start,
                end,
                in_bits,
            }))
        }
        _ => Err(CmdError::Syntax),
    }
}

fn bitcount(bytes: &[u8], span: Option<Span>) -> i64 {
    let len = bytes.len() as i64;
    let range = match span {
        None => (len > 0).then(|| (0, len as u64 * 8 - 1)),
        Some(Span {
            start,
            end,
            in_bits: true,
        }) => clamp_range(len * 8, start, end.unwrap_or(-1)).map(|(s, e)| (s as u64, e as u64)),
        Some(Span { start, end, .. }) => clamp_range(len, start, end.unwrap_or(-1))
            .map(|(s, e)| (s as u64 * 8, e as u64 * 8 + 7)),
    };
    range.map_or(0, |(first, last)| count_bits(bytes, first, last) as i64)
}

fn bitpos(bytes: &[u8], bit: bool, span: Option<Span>) -> i64 {
    let len = bytes.len() as i64;
    let in_bits = span.is_some_and(|s| s.in_bits);
    let units = if in_bits { len * 8 } else { len };
    let (mut start, mut end) = match span {
        None => (0, units - 1),
        Some(s) => (s.start, s.end.unwrap_or(units - 1)),
    };
    // Redis's BITPOS normalization (unlike BITCOUNT's, no early exit for start > end < 0).
    if start < 0 {
        start = start.saturating_add(units);
    }
    if end < 0 {
        end = end.saturating_add(units);
    }
    start = start.max(0);
    end = end.max(0).min(units - 1);
    if start > end {
        return -1;
    }
    let (first, last) = if in_bits {
        (start as u64, end as u64)
    } else {
        (start as u64 * 8, end as u64 * 8 + 7)
    };
    match find_bit(bytes, first, last, bit) {
        Some(p) => p as i64,
        // No clear bit: past the end of the string counts as clear, unless an end was given.
        None if !bit && span.is_none_or(|s| s.end.is_none()) => last as i64 + 1,
        None => -1,
    }
}

fn cmd_bitcount(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    // Redis 7.0 looks the key up first: a missing key counts 0 whatever the range says.
    let span = parse_bitcount_span(args);
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let n = ctx
        .exec
        .single_key(key_hash(key), LockMode::Shared, &|s| -> OpResult<i64> {
            let mut dbs = s.db.borrow_mut();
            let found = dbs.find(db, key, now);
            count_lookup(found.is_some());
            let Some(v) = found else { return Ok(0) };
            let bytes = v.as_bytes().ok_or(CmdError::WrongType)?;
            Ok(bitcount(&bytes, span.clone()?))
        })?;
    ctx.reply().integer(n);
    Ok(())
}

fn cmd_bitpos(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let bit = match parse_i64(args.get(2))? {
        0 => false,
        1 => true,
        _ => return Err(CmdError::raw("ERR The bit argument must be 1 or 0.")),
    };
    // As BITCOUNT: the range is only checked once the key exists.
    let span = parse_bitpos_span(args);
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let n = ctx
        .exec
        .single_key(key_hash(key), LockMode::Shared, &|s| -> OpResult<i64> {
            let mut dbs = s.db.borrow_mut();
            let found = dbs.find(db, key, now);
            count_lookup(found.is_some());
            let Some(v) = found else {
                return Ok(if bit { -1 } else { 0 });
            };
            let bytes = v.as_bytes().ok_or(CmdError::WrongType)?;
            Ok(bitpos(&bytes, bit, span.clone()?))
        })?;
    ctx.reply().integer(n);
    Ok(())
}

// ---- BITOP -----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// The result of `op` over the sources (missing ones are empty); shorter sources are padded
/// with zero bytes to the longest.
fn bitop(op: BitOp, sources: &[Option<Vec<u8>>]) -> Vec<u8> {
    let len_max = sources.iter().flatten().map(Vec::len).max().unwrap_or(0);
    let byte =
        |s: &Option<Vec<u8>>, i: usize| s.as_ref().and_then(|v| v.get(i)).copied().unwrap_or(0);
    (0..len_max)
        .map(|i| {
            let rest = sources.iter().skip(1);
            let first = byte(&sources[0], i);
            match op {
                BitOp::Not => !first,
                BitOp::And => rest.fold(first, |acc, s| acc & byte(s, i)),
                BitOp::Or => rest.fold(first, |acc, s| acc | byte(s, i)),
                BitOp::Xor => rest.fold(first, |acc, s| acc ^ byte(s, i)),
            }
        })
        .collect()
}

/// Reads the sources (key indexes >= 1) owned by this shard.
fn read_sources(
    shard: &Shard,
    plan: &KeyPlan,
    keys: &[&[u8]],
    db: usize,
    now: u64,
) -> Vec<(usize, OpResult<Option<Vec<u8>>>)> {
    plan.keys_of(shard.index)
        .iter()
        .filter(|&&i| i > 0)
        .map(|&i| (i, op_get(shard, db, keys[i], now)))
        .collect()
}

/// Stores BITOP's result: an empty result deletes the destination; any deadline is dropped.
fn store_result(shard: &Shard, db: usize, key: &[u8], value: &[u8], now: u64) {
    let mut dbs = shard.db.borrow_mut();
    if value.is_empty() {
        if dbs.delete(db, key, now).is_some() {
            notify::keyspace_event(class::GENERIC, "del", key, db);
        }
    } else {
        dbs.store(db, key, CompactValue::from_bytes(value), now);
        notify::keyspace_event(class::STRING, "set", key, db);
    }
}

/// Orders the sources read on every shard by argument position, or WRONGTYPE.
fn gather(
    count: usize,
    reads: impl Iterator<Item = (usize, OpResult<Option<Vec<u8>>>)>,
) -> OpResult<Vec<Option<Vec<u8>>>> {
    let mut sources = vec![None; count];
    for (i, v) in reads {
        sources[i - 1] = v?;
    }
    Ok(sources)
}

fn cmd_bitop(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let name = args.get(1);
    let op = [
        ("and", BitOp::And),
        ("or", BitOp::Or),
        ("xor", BitOp::Xor),
        ("not", BitOp::Not),
    ]
    .into_iter()
    .find(|(n, _)| eq_ignore_case(name, n))
    .ok_or(CmdError::Syntax)?
    .1;
    if op == BitOp::Not && args.len() != 4 {
        return Err(CmdError::raw(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    let (db, now) = (ctx.db(), now_ms());
    // keys[0] is the destination, the sources follow.
    let keys: Vec<&[u8]> = args.rest(2).collect();
    let count = keys.len() - 1;
    let dest = keys[0];
    let dest_hash = key_hash(dest);
    let dest_shard = shard_of(dest_hash, damselfly_runtime::proactor_count());
    let mut plan = KeyPlan::new(keys.iter().copied(), LockMode::Shared);
    for lock in plan.groups.iter_mut().flat_map(|g| g.2.keys.iter_mut()) {
        if lock.0 == dest_hash {
            lock.1 = LockMode::Exclusive;
        }
    }
    let len = if plan.groups.len() == 1 {
        // Everything on one shard: read, compute and store in one hop.
        ctx.exec
            .single_shard(plan.groups[0].0, &plan.groups[0].2, &|s| -> OpResult<
                usize,
            > {
                let sources = gather(count, read_sources(s, &plan, &keys, db, now).into_iter())?;
                let result = bitop(op, &sources);
                store_result(s, db, dest, &result, now);
                Ok(result.len())
            })?
    } else {
        // Read the sources on their shards, compute here, store on the destination's shard;
        // one transaction keeps the whole operation atomic.
        let mut tx = ctx.exec.schedule(&plan);
        let shards = tx.shards().to_vec();
        let reads = tx.execute(&shards, false, &|s| read_sources(s, &plan, &keys, db, now));
        let sources = match gather(count, reads.into_iter().flatten()) {
            Ok(s) => s,
            Err(e) => {
                tx.conclude();
                return Err(e);
            }
        };
        let result = bitop(op, &sources);
        tx.execute_all(&|s| {
            if s.index == dest_shard {
                store_result(s, db, dest, &result, now);
            }
        });
        result.len()
    };
    ctx.reply().integer(len as i64);
    Ok(())
}

// ---- BITFIELD BITFIELD_RO --------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set,
    IncrBy,
}

#[derive(Clone, Copy)]
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    /// SET's value or INCRBY's increment.
    value: i64,
    overflow: Overflow,
}

struct FieldPlan {
    fields: Vec<Field>,
    /// Last bit a SET or INCRBY touches; None when every subcommand is a GET.
    write_end: Option<u64>,
}

/// Parses every subcommand before any key is looked up, like Redis.
fn parse_bitfield(args: &Args<'_>, limit_bytes: u64) -> OpResult<FieldPlan> {
    let mut plan = FieldPlan {
        fields: Vec::new(),
        write_end: None,
    };
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let rest = args.len() - j - 1;
        let sub = args.get(j);
        let op = if eq_ignore_case(sub, "get") && rest >= 2 {
            FieldOp::Get
        } else if eq_ignore_case(sub, "set") && rest >= 3 {
            FieldOp::Set
        } else if eq_ignore_case(sub, "incrby") && rest >= 3 {
            FieldOp::IncrBy
        } else if eq_ignore_case(sub, "overflow") && rest >= 1 {
            let kind = args.get(j + 1);
            overflow = if eq_ignore_case(kind, "wrap") {
                Overflow::Wrap
            } else if eq_ignore_case(kind, "sat") {
                Overflow::Sat
            } else if eq_ignore_case(kind, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::raw("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let (signed, bits) = parse_bitfield_type(args.get(j + 1))?;
        let offset = parse_bit_offset(args.get(j + 2), Some(bits), limit_bytes)?;
        let mut value = 0;
        if op != FieldOp::Get {
            let last = offset + bits as u64 - 1;
            plan.write_end = Some(plan.write_end.map_or(last, |e| e.max(last)));
            value = parse_i64(args.get(j + 3))?;
        }
        plan.fields.push(Field {
            op,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok(plan)
}

/// A field's value as the client sees it.
fn field_value(raw: u64, f: &Field) -> i64 {
    if f.signed {
        to_signed(raw, f.bits)
    } else {
        raw as i64
    }
}

/// SET or INCRBY on a field holding `old_raw`: (new raw bits, reply), or None when the
/// overflow policy is FAIL and the result does not fit.
fn update_field(old_raw: u64, f: &Field) -> Option<(u64, i64)> {
    let old = field_value(old_raw, f) as i128;
    let (min, max): (i128, i128) = if f.signed {
        (-(1i128 << (f.bits - 1)), (1i128 << (f.bits - 1)) - 1)
    } else {
        (0, (1i128 << f.bits) - 1)
    };
    let target = match (f.op, f.signed) {
        (FieldOp::IncrBy, _) => old + f.value as i128,
        // Redis stores an unsigned SET's value as a u64: a negative one is far above max.
        (_, false) => f.value as u64 as i128,
        (_, true) => f.value as i128,
    };
    let new = if target < min || target > max {
        match f.overflow {
            Overflow::Fail => return None,
            Overflow::Sat => target.clamp(min, max),
            Overflow::Wrap => {
                let low = (target as u128 as u64) & field_mask(f.bits);
                if f.signed {
                    to_signed(low, f.bits) as i128
                } else {
                    low as i128
                }
            }
        }
    } else {
        target
    };
    let reply = if f.op == FieldOp::IncrBy { new } else { old };
    Some(((new as i64 as u64) & field_mask(f.bits), reply as i64))
}

fn op_bitfield_read(
    shard: &Shard,
    db: usize,
    key: &[u8],
    fields: &[Field],
    now: u64,
) -> OpResult<Vec<Option<i64>>> {
    let mut dbs = shard.db.borrow_mut();
    let found = dbs.find(db, key, now);
    count_lookup(found.is_some());
    let bytes = match found {
        None => None,
        Some(v) => Some(v.as_bytes().ok_or(CmdError::WrongType)?),
    };
    let bytes: &[u8] = bytes.as_deref().unwrap_or(&[]);
    Ok(fields
        .iter()
        .map(|f| Some(field_value(get_field(bytes, f.offset, f.bits), f)))
        .collect())
}

fn op_bitfield_write(
    shard: &Shard,
    db: usize,
    key: &[u8],
    plan: &FieldPlan,
    write_end: u64,
    now: u64,
) -> OpResult<Vec<Option<i64>>> {
    let mut dbs = shard.db.borrow_mut();
    let (mut bytes, existed) = match dbs.find(db, key, now) {
        None => (Vec::new(), false),
        Some(v) => (v.to_vec().ok_or(CmdError::WrongType)?, true),
    };
    // Like Redis, the string grows to the last bit any write may touch, even if it fails.
    let len = (write_end >> 3) as usize + 1;
    let grown = !existed || bytes.len() < len;
    let mut changed = grown;
    // Redis raises `setbit` when a write that did not fail grew the string or changed it.
    let mut raise = false;
    if bytes.len() < len {
        bytes.resize(len, 0);
    }
    let mut replies = Vec::with_capacity(plan.fields.len());
    for f in &plan.fields {
        let old_raw = get_field(&bytes, f.offset, f.bits);
        if f.op == FieldOp::Get {
            replies.push(Some(field_value(old_raw, f)));
            continue;
        }
        match update_field(old_raw, f) {
            None => replies.push(None),
            Some((new_raw, reply)) => {
                if new_raw != old_raw {
                    set_field(&mut bytes, f.offset, f.bits, new_raw);
                    changed = true;
                }
                raise |= grown || new_raw != old_raw;
                replies.push(Some(reply));
            }
        }
    }
    if changed {
        let (mut slot, _) = dbs.add_or_find(db, key, now);
        *slot = CompactValue::from_bytes(&bytes);
    }
    if raise {
        notify::keyspace_event(class::STRING, "setbit", key, db);
    }
    Ok(replies)
}

fn bitfield(ctx: &mut CmdCtx<'_>, args: &Args<'_>, read_only: bool) -> CmdResult {
    let plan = parse_bitfield(args, max_bulk_len(ctx))?;
    let (db, key, now) = (ctx.db(), args.get(1), now_ms());
    let replies = match plan.write_end {
        None => ctx.exec.single_key(key_hash(key), LockMode::Shared, &|s| {
            op_bitfield_read(s, db, key, &plan.fields, now)
        })?,
        Some(_) if read_only => {
            return Err(CmdError::raw(
                "ERR BITFIELD_RO only supports the GET subcommand",
            ))
        }
        Some(end) => ctx
            .exec
            .single_key(key_hash(key), LockMode::Exclusive, &|s| {
                op_bitfield_write(s, db, key, &plan, end, now)
            })?,
    };
    let mut r = ctx.reply();
    r.array_header(replies.len());
    for v in replies {
        match v {
            Some(v) => r.integer(v),
            None => r.null(),
        }
    }
    Ok(())
}

fn cmd_bitfield(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    bitfield(ctx, args, false)
}

fn cmd_bitfield_ro(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    bitfield(ctx, args, true)
}

pub fn commands() -> Vec<CommandSpec> {
    let c = |name, arity, flags, handler, summary, since, keys: (i32, i32, i32)| CommandSpec {
        name,
        arity,
        flags,
        acl: if flags & WRITE != 0 {
            &["@write", "@bitmap"]
        } else {
            &["@read", "@bitmap"]
        },
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        group: "bitmap",
        summary,
        since,
        handler,
        subcommands: Vec::new(),
    };
    let one = (1, 1, 1);
    vec![
        c("setbit", 4, WRITE | DENYOOM, cmd_setbit as _, "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", "2.2.0", one),
        c("getbit", 3, READONLY | FAST, cmd_getbit, "Returns a bit value by offset.", "2.2.0", one),
        c("bitcount", -2, READONLY, cmd_bitcount, "Counts the number of set bits (population counting) in a string.", "2.6.0", one),
        c("bitpos", -3, READONLY, cmd_bitpos, "Finds the first set (1) or clear (0) bit in a string.", "2.8.7", one),
        c("bitop", -4, WRITE | DENYOOM, cmd_bitop, "Performs bitwise operations on multiple strings, and stores the result.", "2.6.0", (2, -1, 1)),
        c("bitfield", -2, WRITE | DENYOOM, cmd_bitfield, "Performs arbitrary bitfield integer operations on strings.", "3.2.0", one),
        c("bitfield_ro", -2, READONLY | FAST, cmd_bitfield_ro, "Performs arbitrary read-only bitfield integer operations on strings.", "6.0.0", one),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_ranges_match_a_bit_by_bit_scan() {
        let bytes = [
            0xffu8, 0xf0, 0x00, 0x81, 0x7e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff,
        ];
        let total = bytes.len() as u64 * 8;
        for first in 0..total {
            for last in first..total {
                let naive = (first..=last).filter(|&b| get_bit(&bytes, b)).count() as u64;
                assert_eq!(count_bits(&bytes, first, last), naive);
                for bit in [false, true] {
                    let naive = (first..=last).find(|&b| get_bit(&bytes, b) == bit);
                    assert_eq!(find_bit(&bytes, first, last, bit), naive);
                }
            }
        }
    }

    #[test]
    fn fields_round_trip() {
        let mut bytes = vec![0u8; 10];
        for bits in 1..=64 {
            for offset in [0u64, 3, 7, 9] {
                let v = 0xdead_beef_cafe_f00du64 & field_mask(bits);
                set_field(&mut bytes, offset, bits, v);
                assert_eq!(get_field(&bytes, offset, bits), v);
            }
        }
        assert_eq!(to_signed(0xff, 8), -1);
        assert_eq!(to_signed(0x7f, 8), 127);
        assert_eq!(to_signed(u64::MAX, 64), -1);
    }
}
