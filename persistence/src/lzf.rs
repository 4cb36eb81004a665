//! LZF, the compression of RDB strings: a stream of literal runs (`000lllll` then l+1 bytes)
//! and back references (`LLLooooo [L+] oooooooo`: copy len+2 bytes from `offset+1` back, len 7
//! taking one more length byte), with offsets up to 8 KiB.

/// Longest literal run one control byte describes.
const LITERAL_MAX: usize = 32;
/// Farthest back a reference reaches.
const OFFSET_MAX: usize = 1 << 13;
/// Longest match one reference copies (7 + 255 + 2).
const MATCH_MAX: usize = 264;
/// Each input byte pattern is looked up by a hash of its first three bytes, in a table of at
/// most 2^13 slots (fewer for short inputs, so compressing many small strings stays cheap).
const HASH_LOG_MAX: u32 = 13;
const HASH_LOG_MIN: u32 = 6;

/// Most bytes one byte of LZF input can expand to: a 3-byte reference copies 264 bytes.
pub const EXPANSION_MAX: usize = 88;

fn hash3(b: &[u8], log: u32) -> usize {
    let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
    (v.wrapping_mul(2_654_435_761) >> (32 - log)) as usize
}

fn flush_literals(out: &mut Vec<u8>, lit: &[u8]) {
    for run in lit.chunks(LITERAL_MAX) {
        out.push((run.len() - 1) as u8);
        out.extend_from_slice(run);
    }
}

/// An LZF compressor whose match table is kept across inputs, so compressing the many
/// strings of one value costs no table setup each. Entries left by an earlier input are only
/// hints: a candidate is used when it lies before the current position and its bytes match.
pub struct Compressor {
    /// Positions + 1 of the last occurrence of each hash (0 = none).
    table: Vec<u32>,
    log: u32,
}

impl Default for Compressor {
    fn default() -> Compressor {
        Compressor::new()
    }
}

impl Compressor {
    pub fn new() -> Compressor {
        Compressor::with_log(HASH_LOG_MAX)
    }

    /// A compressor with a table sized for one input of `len` bytes.
    pub fn for_len(len: usize) -> Compressor {
        let log = len.next_power_of_two().trailing_zeros();
        Compressor::with_log(log.clamp(HASH_LOG_MIN, HASH_LOG_MAX))
    }

    /// The table is allocated by the first input that is compressed.
    fn with_log(log: u32) -> Compressor {
        Compressor {
            table: Vec::new(),
            log,
        }
    }

    /// Compresses `input`; `None` when the result would be longer than `out_max` bytes (the
    /// caller then stores the bytes plainly, as Redis does when compression saves too
    /// little).
    pub fn compress(&mut self, input: &[u8], out_max: usize) -> Option<Vec<u8>> {
        if input.len() > u32::MAX as usize - 1 {
            return None;
        }
        if self.table.is_empty() {
            self.table = vec![0; 1 << self.log];
        }
        let mut out = Vec::with_capacity(out_max.min(input.len()));
        let (mut ip, mut lit) = (0usize, 0usize);
        while ip + 2 < input.len() {
            let h = hash3(&input[ip..], self.log);
            let cand = self.table[h] as usize;
            self.table[h] = (ip + 1) as u32;
            if cand > 0 && cand - 1 < ip {
                let from = cand - 1;
                let back = ip - from;
                if back <= OFFSET_MAX && input[from..from + 3] == input[ip..ip + 3] {
                    let limit = MATCH_MAX.min(input.len() - ip);
                    let mut len = 3;
                    while len < limit && input[from + len] == input[ip + len] {
                        len += 1;
                    }
                    flush_literals(&mut out, &input[lit..ip]);
                    let (code, off) = (len - 2, back - 1);
                    if code < 7 {
                        out.push((code << 5 | off >> 8) as u8);
                    } else {
                        out.push((7 << 5 | off >> 8) as u8);
                        out.push((code - 7) as u8);
                    }
                    out.push(off as u8);
                    ip += len;
                    lit = ip;
                    if out.len() > out_max {
                        return None;
                    }
                    continue;
                }
            }
            ip += 1;
        }
        flush_literals(&mut out, &input[lit..]);
        (out.len() <= out_max).then_some(out)
    }
}

/// Compresses one input (see [`Compressor::compress`]).
pub fn compress(input: &[u8], out_max: usize) -> Option<Vec<u8>> {
    Compressor::for_len(input.len()).compress(input, out_max)
}

/// Decompresses into exactly `len` bytes; `None` for malformed input or another length.
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    if len > input.len().saturating_mul(EXPANSION_MAX) {
        return None;
    }
    // Reserve what the input can honestly produce soon, not what a forged length claims:
    // the buffer grows with the bytes actually decoded.
    let mut out: Vec<u8> = Vec::with_capacity(len.min(input.len().saturating_mul(8)));
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < LITERAL_MAX {
            let run = ctrl + 1;
            out.extend_from_slice(input.get(ip..ip + run)?);
            ip += run;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += *input.get(ip)? as usize;
                ip += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(ip)? as usize + 1;
            ip += 1;
            let start = out.len().checked_sub(back)?;
            let count = n + 2;
            if out.len() + count > len {
                return None;
            }
            if back >= count {
                out.extend_from_within(start..start + count);
            } else {
                // The source overlaps what is being written (a run): byte by byte.
                for i in 0..count {
                    let b = out[start + i];
                    out.push(b);
                }
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_what_redis_writes() {
        // "abcabcabcabc": a literal run of 3, then a back reference of 9 bytes at distance 3.
        let c = [2u8, b'a', b'b', b'c', 0xe0, 0x00, 0x02];
        assert_eq!(decompress(&c, 12), Some(b"abcabcabcabc".to_vec()));
        assert_eq!(decompress(&c, 11), None);
        assert_eq!(decompress(&[0xe0, 0x00, 0x05], 9), None);
        assert_eq!(decompress(&[5, b'a'], 6), None);
    }

    #[test]
    fn compresses_repetitive_input_and_refuses_to_grow() {
        let input = vec![b'x'; 10_000];
        let c = compress(&input, input.len() - 4).unwrap();
        assert!(c.len() < 200, "{}", c.len());
        assert_eq!(decompress(&c, input.len()).unwrap(), input);
        let noise: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(compress(&noise, noise.len() - 4), None);
    }

    proptest! {
        #[test]
        fn round_trip(input in prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c', 0u8, 255]), 0..3000)) {
            let c = compress(&input, input.len() * 2 + 64).unwrap();
            prop_assert_eq!(decompress(&c, input.len()).unwrap(), input);
        }

        #[test]
        fn a_kept_table_compresses_every_input_correctly(inputs in prop::collection::vec(prop::collection::vec(prop::sample::select(vec![b'a', b'b', b'c']), 0..2000), 1..6)) {
            let mut z = Compressor::new();
            for input in &inputs {
                let c = z.compress(input, input.len() * 2 + 64).unwrap();
                prop_assert_eq!(&decompress(&c, input.len()).unwrap(), input);
            }
        }

        #[test]
        fn garbage_never_panics(input in prop::collection::vec(any::<u8>(), 0..200), len in 0usize..2000) {
            let _ = decompress(&input, len);
        }
    }
}
