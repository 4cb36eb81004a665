//! The packed encodings older RDB files (and older DUMP payloads) carry, read only: ziplist
//! (lists, hashes and zsets before Redis 7), zipmap (hashes before Redis 2.6), and intset
//! (still written for integer sets, so it has a writer too).
//!
//! Like the listpack reader, each validates the whole blob before yielding a value.

use crate::encoding::{RdbError, RdbResult};
use crate::listpack::Entry;

const ZIPLIST_HEADER: usize = 10;
const ZIP_END: u8 = 0xff;
/// A prevlen byte announcing a 4-byte previous length.
const ZIP_BIG_PREVLEN: u8 = 254;

/// Every entry of a ziplist.
pub fn ziplist_entries(b: &[u8]) -> RdbResult<Vec<Entry<'_>>> {
    const BAD: RdbError = RdbError::Corrupt("ziplist integrity check failed");
    if b.len() < ZIPLIST_HEADER + 1 || b[b.len() - 1] != ZIP_END {
        return Err(BAD);
    }
    let le32 = |p: usize| u32::from_le_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]) as usize;
    let (total, tail) = (le32(0), le32(4));
    let count = u16::from_le_bytes([b[8], b[9]]);
    if total != b.len() {
        return Err(BAD);
    }
    let end = b.len() - 1;
    let (mut p, mut prev_len, mut last_start) = (ZIPLIST_HEADER, 0usize, ZIPLIST_HEADER);
    let mut out = Vec::new();
    while p < end {
        let start = p;
        let get = |from: usize, n: usize| -> RdbResult<&[u8]> {
            b.get(from..from + n).filter(|_| from + n <= end).ok_or(BAD)
        };
        // The previous entry's length, 1 or 5 bytes.
        let prevlen = if b[p] < ZIP_BIG_PREVLEN {
            p += 1;
            b[p - 1] as usize
        } else if b[p] == ZIP_BIG_PREVLEN {
            let v = get(p + 1, 4)?;
            p += 5;
            u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize
        } else {
            return Err(BAD);
        };
        if prevlen != prev_len {
            return Err(BAD);
        }
        let enc = get(p, 1)?[0];
        let le = |from: usize, n: usize| -> RdbResult<i64> {
            let mut a = [0u8; 8];
            a[..n].copy_from_slice(get(from, n)?);
            let bits = 8 * n as u32;
            Ok(((u64::from_le_bytes(a) << (64 - bits)) as i64) >> (64 - bits))
        };
        let entry = match enc >> 6 {
            0 => {
                let n = (enc & 0x3f) as usize;
                p += 1;
                Entry::Str(get(p, n).inspect(|_| p += n)?)
            }
            1 => {
                let n = ((enc & 0x3f) as usize) << 8 | get(p + 1, 1)?[0] as usize;
                p += 2;
                Entry::Str(get(p, n).inspect(|_| p += n)?)
            }
            2 => {
                let l = get(p + 1, 4)?;
                let n = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                p += 5;
                Entry::Str(get(p, n).inspect(|_| p += n)?)
            }
            _ => {
                let (v, n) = match enc {
                    0xc0 => (le(p + 1, 2)?, 2),
                    0xd0 => (le(p + 1, 4)?, 4),
                    0xe0 => (le(p + 1, 8)?, 8),
                    0xf0 => (le(p + 1, 3)?, 3),
                    0xfe => (le(p + 1, 1)?, 1),
                    0xf1..=0xfd => (i64::from(enc & 0x0f) - 1, 0),
                    _ => return Err(BAD),
                };
                p += 1 + n;
                Entry::Int(v)
            }
        };
        out.push(entry);
        last_start = start;
        prev_len = p - start;
    }
    if p != end || (count != u16::MAX && out.len() != count as usize) || tail != last_start {
        return Err(BAD);
    }
    Ok(out)
}

/// Every (key, value) pair of a zipmap.
pub fn zipmap_pairs(b: &[u8]) -> RdbResult<Vec<(&[u8], &[u8])>> {
    const BAD: RdbError = RdbError::Corrupt("zipmap integrity check failed");
    const BIG_LEN: u8 = 254;
    if b.len() < 2 || b[b.len() - 1] != ZIP_END {
        return Err(BAD);
    }
    let end = b.len() - 1;
    let mut p = 1;
    let read_len = |p: &mut usize| -> RdbResult<usize> {
        let first = *b.get(*p).ok_or(BAD)?;
        if first < BIG_LEN {
            *p += 1;
            Ok(first as usize)
        } else if first == BIG_LEN {
            let v = b.get(*p + 1..*p + 5).ok_or(BAD)?;
            *p += 5;
            Ok(u32::from_le_bytes([v[0], v[1], v[2], v[3]]) as usize)
        } else {
            Err(BAD)
        }
    };
    let mut out = Vec::new();
    while p < end {
        let klen = read_len(&mut p)?;
        let key = b.get(p..p + klen).filter(|_| p + klen <= end).ok_or(BAD)?;
        p += klen;
        let vlen = read_len(&mut p)?;
        let free = *b.get(p).ok_or(BAD)? as usize;
        p += 1;
        let value = b.get(p..p + vlen).filter(|_| p + vlen <= end).ok_or(BAD)?;
        p += vlen + free;
        if p > end {
            return Err(BAD);
        }
        out.push((key, value));
    }
    if b[0] < BIG_LEN && out.len() != b[0] as usize {
        return Err(BAD);
    }
    Ok(out)
}

/// The members of an intset blob: `encoding u32 LE (2/4/8) | length u32 LE | members LE`,
/// strictly ascending.
pub fn intset_members(b: &[u8]) -> RdbResult<Vec<i64>> {
    const BAD: RdbError = RdbError::Corrupt("intset integrity check failed");
    if b.len() < 8 {
        return Err(BAD);
    }
    let width = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    if !matches!(width, 2 | 4 | 8)
        || (b.len() - 8) / width != len
        || !(b.len() - 8).is_multiple_of(width)
    {
        return Err(BAD);
    }
    let mut out = Vec::with_capacity(len);
    for c in b[8..].chunks_exact(width) {
        let mut a = [0u8; 8];
        a[..width].copy_from_slice(c);
        let bits = 8 * width as u32;
        let v = ((u64::from_le_bytes(a) << (64 - bits)) as i64) >> (64 - bits);
        if out.last().is_some_and(|&last| last >= v) {
            return Err(BAD);
        }
        out.push(v);
    }
    Ok(out)
}

/// An intset blob of `members` (ascending, distinct) at the narrowest width.
pub fn intset_blob(members: &[i64]) -> Vec<u8> {
    let fits = |lo: i64, hi: i64| members.iter().all(|v| (lo..=hi).contains(v));
    let width: usize = if fits(i16::MIN.into(), i16::MAX.into()) {
        2
    } else if fits(i32::MIN.into(), i32::MAX.into()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * members.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for v in members {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// A ziplist blob of `items`, laid out as redis-server before 7.0 wrote them. Damselfly
/// never writes ziplists: this is for tests and tools that need old-format payloads.
pub fn ziplist_blob(items: &[Entry<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    let (mut prev, mut tail) = (0usize, ZIPLIST_HEADER);
    for e in items {
        let start = body.len();
        tail = ZIPLIST_HEADER + start;
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(254);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match *e {
            Entry::Str(s) if s.len() < 64 => body.push(s.len() as u8),
            Entry::Str(s) if s.len() < 16384 => {
                body.extend_from_slice(&[0x40 | (s.len() >> 8) as u8, s.len() as u8])
            }
            Entry::Str(s) => {
                body.push(0x80);
                body.extend_from_slice(&(s.len() as u32).to_be_bytes());
            }
            Entry::Int(v @ 0..=12) => body.push(0xf1 + v as u8),
            Entry::Int(v) if i8::try_from(v).is_ok() => body.extend_from_slice(&[0xfe, v as u8]),
            Entry::Int(v) if i16::try_from(v).is_ok() => {
                body.push(0xc0);
                body.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Entry::Int(v) if (-(1 << 23)..(1 << 23)).contains(&v) => {
                body.push(0xf0);
                body.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Entry::Int(v) if i32::try_from(v).is_ok() => {
                body.push(0xd0);
                body.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Entry::Int(v) => {
                body.push(0xe0);
                body.extend_from_slice(&v.to_le_bytes());
            }
        }
        if let Entry::Str(s) = e {
            body.extend_from_slice(s);
        }
        prev = body.len() - start;
    }
    let mut out = Vec::new();
    out.extend_from_slice(&((ZIPLIST_HEADER + body.len() + 1) as u32).to_le_bytes());
    out.extend_from_slice(&(tail as u32).to_le_bytes());
    out.extend_from_slice(&(items.len().min(65535) as u16).to_le_bytes());
    out.extend_from_slice(&body);
    out.push(ZIP_END);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ziplist_every_entry_encoding() {
        let long = vec![b'z'; 300];
        let huge = vec![b'h'; 20000];
        let items = [
            Entry::Str(b"a"),
            Entry::Str(&long),
            Entry::Str(&huge),
            Entry::Int(0),
            Entry::Int(12),
            Entry::Int(-100),
            Entry::Int(1000),
            Entry::Int(100_000),
            Entry::Int(-(1 << 30)),
            Entry::Int(i64::MIN),
        ];
        let zl = ziplist_blob(&items);
        assert_eq!(ziplist_entries(&zl).unwrap(), items);
        let empty = ziplist_blob(&[]);
        assert_eq!(ziplist_entries(&empty).unwrap(), vec![]);
        for i in 0..zl.len() {
            for bit in 0..8 {
                let mut z = zl.clone();
                z[i] ^= 1 << bit;
                let _ = ziplist_entries(&z);
            }
            let _ = ziplist_entries(&zl[..i]);
        }
    }

    #[test]
    fn zipmap_pairs_with_free_space() {
        // 2 pairs: "a" -> "xy" (1 free byte), "key" -> "" ; then the end marker.
        let zm = [
            2, 1, b'a', 2, 1, b'x', b'y', 0, 3, b'k', b'e', b'y', 0, 0, 0xff,
        ];
        assert_eq!(
            zipmap_pairs(&zm).unwrap(),
            vec![(&b"a"[..], &b"xy"[..]), (&b"key"[..], &b""[..])]
        );
        assert!(zipmap_pairs(&zm[..zm.len() - 1]).is_err());
        let mut wrong_count = zm;
        wrong_count[0] = 3;
        assert!(zipmap_pairs(&wrong_count).is_err());
    }

    #[test]
    fn intset_widths_and_order() {
        for members in [
            vec![1, 2, 3],
            vec![-40000, 7],
            vec![i64::MIN, 0, i64::MAX],
            vec![],
        ] {
            let blob = intset_blob(&members);
            assert_eq!(intset_members(&blob).unwrap(), members);
        }
        assert_eq!(intset_blob(&[1, 2]).len(), 12);
        assert!(intset_members(&intset_blob(&[2, 1])).is_err());
        let mut bad_width = intset_blob(&[1]);
        bad_width[0] = 3;
        assert!(intset_members(&bad_width).is_err());
    }
}
