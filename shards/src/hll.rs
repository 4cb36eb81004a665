//! HyperLogLog in Redis's exact string format, so a value moves between Damselfly and Redis
//! by GET/SET or DUMP/RESTORE and keeps working.
//!
//! Layout: a 16-byte header (`HYLL`, encoding byte, three zero bytes, the cached cardinality
//! as 8 little-endian bytes whose top bit marks it stale), then the registers: 16384 6-bit
//! registers packed little-endian (dense, 12288 bytes), or the sparse run-length opcodes:
//! `00xxxxxx` ZERO (1..64 zero registers), `01xxxxxx yyyyyyyy` XZERO (1..16384 zero
//! registers), `1vvvvvxx` VAL (1..4 registers of value 1..32). A register holds the longest
//! run of zeros (plus one) seen after the 14 index bits of an element's 64-bit MurmurHash2.
//!
//! Sparse updates here decode the registers, change them and encode the runs again (one pass
//! per command, not per element); the result may differ from Redis's byte for byte in how runs
//! are split, never in the registers it holds.

pub const HEADER_LEN: usize = 16;
pub const REGISTERS: usize = 1 << P;
const P: u32 = 14;
/// Bits of the hash that count zeros.
const Q: u32 = 64 - P;
const REGISTER_MAX: u8 = 63;
pub const DENSE_LEN: usize = HEADER_LEN + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
/// 0.5 / ln(2).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The registers, one byte each.
pub type Registers = [u8; REGISTERS];

/// A string that claims to be an HLL but whose registers do not decode (Redis's
/// `INVALIDOBJ Corrupted HLL object detected`).
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Whether `bytes` is an HLL string at all (Redis's `isHLLObjectOrReply`): header, magic,
/// known encoding and, for dense, the exact length.
pub fn is_hll(bytes: &[u8]) -> bool {
    bytes.len() >= HEADER_LEN
        && &bytes[..4] == b"HYLL"
        && bytes[4] <= SPARSE
        && (bytes[4] != DENSE || bytes.len() == DENSE_LEN)
}

pub fn is_dense(bytes: &[u8]) -> bool {
    bytes[4] == DENSE
}

/// A new, empty HLL: sparse, one XZERO run over every register.
pub fn new_sparse() -> Vec<u8> {
    let mut v = header(SPARSE);
    encode_sparse_runs(&[0u8; REGISTERS], &mut v);
    v
}

fn header(encoding: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(b"HYLL");
    v.extend_from_slice(&[encoding, 0, 0, 0]);
    v.extend_from_slice(&[0; 8]);
    v
}

/// MurmurHash64A as Redis uses it (endian-neutral: 8-byte blocks read little-endian).
pub fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for b in &mut blocks {
        let mut k = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &byte) in tail.iter().enumerate() {
            h ^= (byte as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and the value it offers (zero run length plus one).
pub fn position(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash as usize) & (REGISTERS - 1);
    // A guard bit past the counted bits ends the run at Q + 1 at most.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---- dense registers -----------------------------------------------------------------

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * 6;
    let (byte, shift) = (bit / 8, bit % 8);
    let lo = regs[byte] as u16;
    let hi = *regs.get(byte + 1).unwrap_or(&0) as u16;
    (((lo | (hi << 8)) >> shift) as u8) & REGISTER_MAX
}

fn dense_set(regs: &mut [u8], i: usize, value: u8) {
    let bit = i * 6;
    let (byte, shift) = (bit / 8, bit % 8);
    let mask = (REGISTER_MAX as u16) << shift;
    let v = (value as u16) << shift;
    regs[byte] = (regs[byte] & !(mask as u8)) | v as u8;
    if shift > 2 {
        let (m, v) = ((mask >> 8) as u8, (v >> 8) as u8);
        regs[byte + 1] = (regs[byte + 1] & !m) | v;
    }
}

// ---- sparse runs -----------------------------------------------------------------------

/// Decodes the sparse opcodes into `out` (which must start zeroed). Corrupt when the runs do
/// not cover exactly every register.
fn decode_sparse(ops: &[u8], out: &mut Registers) -> Result<(), Corrupt> {
    let mut i = 0usize;
    let mut p = 0usize;
    while p < ops.len() {
        let op = ops[p];
        if op & 0xc0 == 0 {
            i += (op & 0x3f) as usize + 1;
            p += 1;
        } else if op & 0xc0 == 0x40 {
            let Some(&next) = ops.get(p + 1) else {
                return Err(Corrupt);
            };
            i += ((((op & 0x3f) as usize) << 8) | next as usize) + 1;
            p += 2;
        } else {
            let len = (op & 0x3) as usize + 1;
            let value = ((op >> 2) & 0x1f) + 1;
            if i + len > REGISTERS {
                return Err(Corrupt);
            }
            out[i..i + len].fill(value);
            i += len;
            p += 1;
        }
        if i > REGISTERS {
            return Err(Corrupt);
        }
    }
    if i == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Encodes `regs` as sparse runs appended to `out`; None when a register is above what the
/// sparse form can hold (then the HLL must be dense).
fn encode_sparse_runs(regs: &Registers, out: &mut Vec<u8>) -> Option<()> {
    let mut i = 0;
    while i < REGISTERS {
        let v = regs[i];
        let mut end = i + 1;
        while end < REGISTERS && regs[end] == v {
            end += 1;
        }
        let mut len = end - i;
        if v == 0 {
            while len > 0 {
                let n = len.min(XZERO_MAX_LEN);
                if n <= ZERO_MAX_LEN {
                    out.push((n - 1) as u8);
                } else {
                    out.push(0x40 | ((n - 1) >> 8) as u8);
                    out.push(((n - 1) & 0xff) as u8);
                }
                len -= n;
            }
        } else {
            if v > VAL_MAX_VALUE {
                return None;
            }
            while len > 0 {
                let n = len.min(VAL_MAX_LEN);
                out.push(0x80 | ((v - 1) << 2) | (n - 1) as u8);
                len -= n;
            }
        }
        i = end;
    }
    Some(())
}

/// Every register of a valid HLL string.
pub fn registers(bytes: &[u8]) -> Result<Box<Registers>, Corrupt> {
    let mut regs = Box::new([0u8; REGISTERS]);
    if is_dense(bytes) {
        let body = &bytes[HEADER_LEN..];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = dense_get(body, i);
        }
    } else {
        decode_sparse(&bytes[HEADER_LEN..], &mut regs)?;
    }
    Ok(regs)
}

/// Writes `regs` into `bytes` (header kept, cache marked stale): sparse when it stays sparse
/// and fits in `sparse_max` bytes, else dense.
fn store(bytes: &mut Vec<u8>, regs: &Registers, keep_sparse: bool, sparse_max: usize) {
    let mut head: [u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().expect("header");
    if keep_sparse {
        let mut body = Vec::with_capacity(bytes.len());
        if encode_sparse_runs(regs, &mut body).is_some() && HEADER_LEN + body.len() <= sparse_max {
            head[4] = SPARSE;
            bytes.clear();
            bytes.extend_from_slice(&head);
            bytes.extend_from_slice(&body);
            invalidate_cache(bytes);
            return;
        }
    }
    head[4] = DENSE;
    bytes.clear();
    bytes.extend_from_slice(&head);
    bytes.resize(DENSE_LEN, 0);
    let body = &mut bytes[HEADER_LEN..];
    for (i, &r) in regs.iter().enumerate() {
        if r != 0 {
            dense_set(body, i, r);
        }
    }
    invalidate_cache(bytes);
}

fn invalidate_cache(bytes: &mut [u8]) {
    bytes[15] |= 0x80;
}

/// PFADD: offers `elements`; returns whether a register grew (the cache is then stale). A
/// sparse HLL turns dense when a value needs it or it would pass `sparse_max` bytes.
pub fn add<'a>(
    bytes: &mut Vec<u8>,
    elements: impl Iterator<Item = &'a [u8]>,
    sparse_max: usize,
) -> Result<bool, Corrupt> {
    let mut changed = false;
    if is_dense(bytes) {
        let body = &mut bytes[HEADER_LEN..];
        for e in elements {
            let (i, v) = position(e);
            if v > dense_get(body, i) {
                dense_set(body, i, v);
                changed = true;
            }
        }
        if changed {
            invalidate_cache(bytes);
        }
        return Ok(changed);
    }
    let mut regs = registers(bytes)?;
    for e in elements {
        let (i, v) = position(e);
        if v > regs[i] {
            regs[i] = v;
            changed = true;
        }
    }
    if changed {
        store(bytes, &regs, true, sparse_max);
    }
    Ok(changed)
}

/// The registers' maxima into `max` (PFCOUNT of several keys, PFMERGE).
pub fn merge_into(max: &mut Registers, bytes: &[u8]) -> Result<(), Corrupt> {
    let regs = registers(bytes)?;
    for (m, r) in max.iter_mut().zip(regs.iter()) {
        *m = (*m).max(*r);
    }
    Ok(())
}

/// PFMERGE's write: `bytes` (the destination, or a new HLL) takes the maxima of `max`; dense
/// when any source was.
pub fn store_merged(bytes: &mut Vec<u8>, max: &Registers, dense: bool, sparse_max: usize) {
    let mut merged = match registers(bytes) {
        Ok(r) => r,
        Err(Corrupt) => Box::new([0; REGISTERS]),
    };
    for (m, r) in merged.iter_mut().zip(max.iter()) {
        *m = (*m).max(*r);
    }
    let keep_sparse = !dense && !is_dense(bytes);
    store(bytes, &merged, keep_sparse, sparse_max);
}

/// The cached cardinality, when it is current.
pub fn cached(bytes: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    (bytes[15] & 0x80 == 0).then_some(card)
}

pub fn set_cached(bytes: &mut [u8], card: u64) {
    bytes[8..16].copy_from_slice(&card.to_le_bytes());
}

/// PFCOUNT of one HLL: its cardinality estimate.
pub fn count(bytes: &[u8]) -> Result<u64, Corrupt> {
    Ok(estimate(&*registers(bytes)?))
}

/// Ertl's improved estimator over the register histogram, as Redis computes it.
pub fn estimate(regs: &Registers) -> u64 {
    let m = REGISTERS as f64;
    let mut histo = [0u32; 64];
    for &r in regs.iter() {
        histo[r as usize] += 1;
    }
    let mut z = m * tau((m - histo[Q as usize + 1] as f64) / m);
    for j in (1..=Q as usize).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// PFDEBUG TODENSE: turns a sparse HLL dense; false when it already was.
pub fn to_dense(bytes: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if is_dense(bytes) {
        return Ok(false);
    }
    let regs = registers(bytes)?;
    let card = bytes[8..16].to_vec();
    store(bytes, &regs, false, 0);
    bytes[8..16].copy_from_slice(&card);
    Ok(true)
}

/// PFDEBUG DECODE: the sparse opcodes as Redis prints them (`z:N`, `Z:N`, `v:V,N`).
pub fn decode_text(bytes: &[u8]) -> String {
    let ops = &bytes[HEADER_LEN..];
    let mut parts = Vec::new();
    let mut p = 0;
    while p < ops.len() {
        let op = ops[p];
        if op & 0xc0 == 0 {
            parts.push(format!("z:{}", (op & 0x3f) as usize + 1));
            p += 1;
        } else if op & 0xc0 == 0x40 {
            let next = *ops.get(p + 1).unwrap_or(&0) as usize;
            parts.push(format!("Z:{}", ((((op & 0x3f) as usize) << 8) | next) + 1));
            p += 2;
        } else {
            parts.push(format!("v:{},{}", ((op >> 2) & 0x1f) + 1, (op & 0x3) + 1));
            p += 1;
        }
    }
    parts.join(" ")
}

/// PFSELFTEST: the dense register packing round-trips, and sparse and dense agree and stay
/// within the expected error up to 10 million elements.
pub fn self_test(sparse_max: usize, mut seed: u64) -> Result<(), String> {
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut dense = vec![0u8; DENSE_LEN - HEADER_LEN];
    let mut expect = [0u8; REGISTERS];
    for _ in 0..100 {
        for (i, e) in expect.iter_mut().enumerate() {
            *e = (next() & REGISTER_MAX as u64) as u8;
            dense_set(&mut dense, i, *e);
        }
        for (i, &e) in expect.iter().enumerate() {
            let got = dense_get(&dense, i);
            if got != e {
                return Err(format!(
                    "TESTFAILED Register {i} should be {e} but is {got}"
                ));
            }
        }
    }
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let salt = next();
    let mut regs = Box::new([0u8; REGISTERS]);
    let mut sparse = new_sparse();
    let mut checkpoint = 1u64;
    for j in 1..=10_000_000u64 {
        let element = (j ^ salt).to_le_bytes();
        let (i, v) = position(&element);
        regs[i] = regs[i].max(v);
        if j < 5000 {
            add(&mut sparse, std::iter::once(&element[..]), sparse_max)
                .map_err(|_| "TESTFAILED corrupt sparse encoding")?;
        }
        if j != checkpoint {
            continue;
        }
        if j < sparse_max as u64 / 2 && is_dense(&sparse) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let card = estimate(&regs);
        if j < 5000 && count(&sparse) != Ok(card) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * j as f64).ceil() as u64
        };
        let abserr = card.abs_diff(j);
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{j} abserr:{abserr}"
            ));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hll_is_redis_byte_for_byte() {
        let v = new_sparse();
        assert_eq!(v.len(), 18);
        assert_eq!(&v[..5], b"HYLL\x01");
        assert_eq!(&v[16..], &[0x7f, 0xff]);
        assert_eq!(count(&v), Ok(0));
    }

    #[test]
    fn dense_and_sparse_agree_and_estimate_well() {
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        assert_eq!(to_dense(&mut dense), Ok(true));
        assert_eq!(dense.len(), DENSE_LEN);
        for n in 0..500u32 {
            let e = format!("element:{n}");
            add(&mut sparse, std::iter::once(e.as_bytes()), 3000).unwrap();
            add(&mut dense, std::iter::once(e.as_bytes()), 3000).unwrap();
        }
        assert!(!is_dense(&sparse));
        let (a, b) = (count(&sparse).unwrap(), count(&dense).unwrap());
        assert_eq!(a, b);
        assert!(a.abs_diff(500) < 25, "estimate {a}");
        assert_eq!(registers(&sparse).unwrap(), registers(&dense).unwrap());
    }

    #[test]
    fn sparse_turns_dense_past_its_limit() {
        let mut v = new_sparse();
        let elements: Vec<String> = (0..5000).map(|i| i.to_string()).collect();
        add(&mut v, elements.iter().map(|s| s.as_bytes()), 3000).unwrap();
        assert!(is_dense(&v));
        assert!(count(&v).unwrap().abs_diff(5000) < 200);
    }

    #[test]
    fn corrupt_sparse_is_detected() {
        let mut v = new_sparse();
        add(&mut v, [&b"a"[..], b"b", b"c"].into_iter(), 3000).unwrap();
        let mut tail = v.clone();
        tail.extend_from_slice(b"hello");
        assert_eq!(count(&tail), Err(Corrupt));
        let mut short = v.clone();
        short.truncate(short.len() - 1);
        assert_eq!(count(&short), Err(Corrupt));
    }

    #[test]
    fn self_test_passes() {
        self_test(3000, 0x9e37_79b9_7f4a_7c15).unwrap();
    }
}
