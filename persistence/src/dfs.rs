//! DFS snapshot files: one file per shard, written in parallel by the shards, plus a summary.
//!
//! A shard file is `"DFS1" | id u64 | shard u32 | shards u32`, then blocks
//! `db u32 | raw_len u32 | packed_len u32 | lz4 block` whose raw bytes are RDB entries
//! (`[EXPIRETIME_MS t] type key value`); a large value written in pieces spans blocks: a
//! block whose `db` has bit 30 ([`CONTINUED`]) set ends inside an entry, and its raw bytes
//! run on into the next block's. Then `END u32 | CRC64 u64` over everything before the
//! CRC. The summary is an RDB file (aux fields, function libraries, no keys) whose aux fields
//! `dfs-id` and `dfs-shards` name the shard files of its generation: shard files carry the
//! generation in their names, and the summary is renamed into place last, so a crash leaves
//! the previous generation whole.

use crate::crc64::crc64;
use crate::encoding::{types, RdbError, Reader};
use crate::rdb_file::{opcodes, LoadedKey};
use crate::read::read_typed;
use damselfly_shards::CollectionLimits;
use std::borrow::Cow;

pub const MAGIC: &[u8; 4] = b"DFS1";
const END: u32 = u32::MAX;
/// Set in a block's `db` when its last entry continues in the next block.
pub const CONTINUED: u32 = 1 << 30;
pub const HEADER_LEN: usize = 4 + 8 + 4 + 4;

/// The header of shard `shard` of `shards` in generation `id`.
pub fn shard_header(id: u64, shard: u32, shards: u32) -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    h.extend_from_slice(&id.to_le_bytes());
    h.extend_from_slice(&shard.to_le_bytes());
    h.extend_from_slice(&shards.to_le_bytes());
    h
}

/// One block of RDB entries of database `db`, compressed.
pub fn block(db: usize, raw: &[u8]) -> Vec<u8> {
    block_of(db, raw, false)
}

/// A block whose last entry runs on into the next block when `continued`.
pub fn block_of(db: usize, raw: &[u8], continued: bool) -> Vec<u8> {
    let mut out = Vec::new();
    block_into(&mut out, db, raw, continued);
    out
}

/// Writes the block of `raw` into `out` (cleared first), compressing straight into it: a
/// shard file reuses one buffer for every block, so writing a block allocates nothing once
/// the buffer has grown to a chunk's size.
pub fn block_into(out: &mut Vec<u8>, db: usize, raw: &[u8], continued: bool) {
    assert!((db as u32) < CONTINUED, "database index in range");
    let tag = db as u32 | if continued { CONTINUED } else { 0 };
    out.clear();
    out.resize(12 + lz4_flex::block::get_maximum_output_size(raw.len()), 0);
    let packed = lz4_flex::block::compress_into(raw, &mut out[12..])
        .expect("the output has room for the worst case");
    out.truncate(12 + packed);
    out[..4].copy_from_slice(&tag.to_le_bytes());
    out[4..8].copy_from_slice(&(raw.len() as u32).to_le_bytes());
    out[8..12].copy_from_slice(&(packed as u32).to_le_bytes());
}

/// The end marker and CRC of a shard file whose bytes so far have CRC `crc`.
pub fn shard_trailer(crc: u64) -> [u8; 12] {
    let crc = crc64(crc, &END.to_le_bytes());
    let mut t = [0u8; 12];
    t[..4].copy_from_slice(&END.to_le_bytes());
    t[4..].copy_from_slice(&crc.to_le_bytes());
    t
}

fn corrupt(what: &'static str) -> String {
    format!("corrupt DFS shard file: {what}")
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
        .ok_or_else(|| corrupt("truncated"))
}

/// Reads a whole shard file of generation `id`, calling `on_key` for each key.
pub fn load_shard(
    buf: &[u8],
    id: u64,
    limits: &CollectionLimits,
    mut on_key: impl FnMut(LoadedKey<'_>),
) -> Result<u64, String> {
    if buf.len() < HEADER_LEN + 12 || &buf[..4] != MAGIC {
        return Err(corrupt("wrong signature or truncated"));
    }
    let (covered, crc) = buf.split_at(buf.len() - 8);
    if crc64(0, covered) != u64::from_le_bytes(crc.try_into().expect("8 bytes")) {
        return Err(corrupt("wrong checksum"));
    }
    if u64::from_le_bytes(buf[4..12].try_into().expect("8 bytes")) != id {
        return Err(corrupt("from another snapshot than its summary"));
    }
    let mut at = HEADER_LEN;
    let mut keys = 0;
    // Raw bytes of blocks that end inside an entry, and their database.
    let mut carried: Vec<u8> = Vec::new();
    let mut carried_db = None;
    loop {
        let tag = u32_at(buf, at)?;
        if tag == END {
            return if carried_db.is_some() {
                Err(corrupt("a value cut short at the end"))
            } else if at + 12 == buf.len() {
                Ok(keys)
            } else {
                Err(corrupt("bytes after the end"))
            };
        }
        let (db, continued) = (tag & !CONTINUED, tag & CONTINUED != 0);
        if carried_db.is_some_and(|d| d != db) {
            return Err(corrupt("a continued value changes database"));
        }
        let raw_len = u32_at(buf, at + 4)? as usize;
        let packed_len = u32_at(buf, at + 8)? as usize;
        let packed = buf
            .get(at + 12..at + 12 + packed_len)
            .ok_or_else(|| corrupt("truncated block"))?;
        at += 12 + packed_len;
        let mut raw =
            lz4_flex::block::decompress(packed, raw_len).map_err(|_| corrupt("bad lz4 block"))?;
        if carried_db.is_some() {
            carried.extend_from_slice(&raw);
            raw = std::mem::take(&mut carried);
        }
        if continued {
            carried = raw;
            carried_db = Some(db);
            continue;
        }
        carried_db = None;
        keys += entries(&raw, db as usize, limits, &mut on_key)
            .map_err(|e| format!("corrupt DFS shard file: {e}"))?;
    }
}

/// The RDB entries of one block.
fn entries(
    raw: &[u8],
    db: usize,
    limits: &CollectionLimits,
    on_key: &mut impl FnMut(LoadedKey<'_>),
) -> Result<u64, RdbError> {
    let mut r = Reader::new(raw);
    let mut keys = 0;
    while r.remaining() > 0 {
        let mut t = r.u8()?;
        let mut expire_ms = None;
        if t == opcodes::EXPIRETIME_MS {
            expire_ms = Some(u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes")));
            t = r.u8()?;
        }
        if t > types::STREAM_LISTPACKS_2 {
            return Err(RdbError::Unsupported(t));
        }
        let key: Cow<'_, [u8]> = r.string()?;
        let value = read_typed(&mut r, t, limits)?;
        on_key(LoadedKey {
            db,
            key,
            value,
            expire_ms,
        });
        keys += 1;
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb_file::write_entry;
    use damselfly_shards::CompactValue;

    fn shard_file(id: u64) -> Vec<u8> {
        let mut f = shard_header(id, 0, 1);
        let (mut raw, mut scratch) = (Vec::new(), Vec::new());
        for i in 0..100u64 {
            let v = CompactValue::from_bytes(format!("value-{i}").as_bytes());
            let key = format!("key:{i}");
            write_entry(
                &mut raw,
                &mut scratch,
                key.as_bytes(),
                &v,
                (i % 3 == 0).then_some(i),
            )
            .unwrap();
        }
        f.extend_from_slice(&block(2, &raw));
        let t = shard_trailer(crc64(0, &f));
        f.extend_from_slice(&t);
        f
    }

    #[test]
    fn a_value_may_span_blocks() {
        let mut f = shard_header(9, 0, 1);
        let (mut raw, mut scratch) = (Vec::new(), Vec::new());
        let bytes: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let v = CompactValue::from_bytes(&bytes);
        write_entry(&mut raw, &mut scratch, b"a", &v, None).unwrap();
        write_entry(&mut raw, &mut scratch, b"b", &v, Some(5)).unwrap();
        f.extend_from_slice(&block_of(1, &raw[..10], true));
        let mid = raw.len() / 2;
        f.extend_from_slice(&block_of(1, &raw[10..mid], true));
        f.extend_from_slice(&block_of(1, &raw[mid..], false));
        let t = shard_trailer(crc64(0, &f));
        f.extend_from_slice(&t);
        let mut seen = Vec::new();
        let limits = CollectionLimits::default();
        let n = load_shard(&f, 9, &limits, |k| seen.push((k.db, k.key.into_owned())));
        assert_eq!(n, Ok(2));
        assert_eq!(seen, [(1, b"a".to_vec()), (1, b"b".to_vec())]);
        // A file whose last block says it continues is cut short.
        let mut g = shard_header(9, 0, 1);
        g.extend_from_slice(&block_of(1, &raw[..10], true));
        let t = shard_trailer(crc64(0, &g));
        g.extend_from_slice(&t);
        let e = load_shard(&g, 9, &limits, |_| {}).unwrap_err();
        assert!(e.contains("cut short"), "{e}");
    }

    #[test]
    fn a_reused_block_buffer_writes_what_a_fresh_one_does() {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let noise: Vec<u8> = (0..3000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        let mut buf = Vec::new();
        for (db, raw, continued) in [
            (0, &big[..], false),
            (3, &noise[..], true),
            (1, &[][..], false),
        ] {
            block_into(&mut buf, db, raw, continued);
            let tag = db as u32 | if continued { CONTINUED } else { 0 };
            let packed = lz4_flex::block::compress(raw);
            let mut want = tag.to_le_bytes().to_vec();
            want.extend_from_slice(&(raw.len() as u32).to_le_bytes());
            want.extend_from_slice(&(packed.len() as u32).to_le_bytes());
            want.extend_from_slice(&packed);
            assert_eq!(buf, want, "block of {} bytes in db {db}", raw.len());
        }
    }

    #[test]
    fn shard_files_round_trip_and_refuse_damage() {
        let f = shard_file(7);
        let mut seen = Vec::new();
        let n = load_shard(&f, 7, &CollectionLimits::default(), |k| {
            seen.push((k.db, k.key.into_owned(), k.expire_ms))
        })
        .unwrap();
        assert_eq!(n, 100);
        assert_eq!(seen[3], (2, b"key:3".to_vec(), Some(3)));
        let none = |_: LoadedKey<'_>| {};
        let limits = CollectionLimits::default();
        assert!(
            load_shard(&f, 8, &limits, none).is_err(),
            "another generation"
        );
        for len in 0..f.len() {
            assert!(load_shard(&f[..len], 7, &limits, none).is_err());
        }
        for i in 0..f.len() {
            let mut b = f.clone();
            b[i] ^= 0x04;
            assert!(load_shard(&b, 7, &limits, none).is_err(), "flip at {i}");
        }
    }
}
