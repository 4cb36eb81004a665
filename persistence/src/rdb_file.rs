//! Whole RDB files as redis-server 7.0 writes them (version 10):
//!
//! ```text
//! "REDIS0010" | AUX redis-ver, redis-bits, ctime, used-mem, aof-base | FUNCTION2 code ...
//! | SELECTDB n RESIZEDB keys expires | [EXPIRETIME_MS t] type key value ... | EOF | CRC64 LE
//! ```
//!
//! The writing side produces the pieces (the caller streams them to a file and keeps the
//! running CRC); [`load`] reads a whole file, checking the trailer first, and hands every
//! key to the caller. Module values and module aux data are skipped and named; module types
//! this build cannot read are never a crash.

use crate::crc64::crc64;
use crate::encoding::{types, write_len, write_string, RdbError, RdbResult, Reader, RDB_VERSION};
use crate::read::read_typed;
use crate::write::write_value;
use damselfly_shards::{CollectionLimits, CompactValue};
use std::borrow::Cow;
use std::fmt;

pub mod opcodes {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Serialized module data: opcodes until `MODULE_EOF`.
const MODULE_EOF: u64 = 0;
const MODULE_SINT: u64 = 1;
const MODULE_UINT: u64 = 2;
const MODULE_FLOAT: u64 = 3;
const MODULE_DOUBLE: u64 = 4;
const MODULE_STRING: u64 = 5;

/// Databases a file may select (Redis refuses more than its `databases` too; this bound only
/// keeps a corrupt selector from driving an allocation).
pub const DB_INDEX_MAX: u64 = 1 << 20;

// ---- writing ------------------------------------------------------------------------------

/// The magic and the aux fields redis-server 7.0 writes.
pub fn write_header(out: &mut Vec<u8>, redis_ver: &str, ctime_s: u64, used_mem: u64) {
    out.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
    write_aux(out, b"redis-ver", redis_ver.as_bytes());
    write_aux(out, b"redis-bits", b"64");
    write_aux(out, b"ctime", ctime_s.to_string().as_bytes());
    write_aux(out, b"used-mem", used_mem.to_string().as_bytes());
    write_aux(out, b"aof-base", b"0");
}

pub fn write_aux(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.push(opcodes::AUX);
    write_string(out, key);
    write_string(out, value);
}

/// A function library (its `#!lua name=...` code), as FUNCTION2.
pub fn write_function(out: &mut Vec<u8>, code: &[u8]) {
    out.push(opcodes::FUNCTION2);
    write_string(out, code);
}

/// Selects `db`; with `resize`, the size hint (keys, keys with a deadline) follows.
pub fn write_select_db(out: &mut Vec<u8>, db: usize, resize: Option<(u64, u64)>) {
    out.push(opcodes::SELECTDB);
    write_len(out, db as u64);
    if let Some((keys, expires)) = resize {
        out.push(opcodes::RESIZEDB);
        write_len(out, keys);
        write_len(out, expires);
    }
}

/// One key: its deadline (ms), type, key string and value. `scratch` is reused between
/// calls so a value's body is built once and copied once.
pub fn write_entry(
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    key: &[u8],
    value: &CompactValue,
    expire_ms: Option<u64>,
) -> RdbResult<()> {
    scratch.clear();
    write_value(scratch, value)?;
    if let Some(t) = expire_ms {
        out.push(opcodes::EXPIRETIME_MS);
        out.extend_from_slice(&t.to_le_bytes());
    }
    out.push(scratch[0]);
    write_string(out, key);
    out.extend_from_slice(&scratch[1..]);
    Ok(())
}

/// The EOF opcode; the caller appends the CRC64 of every byte before it and this one
/// ([`trailer`]).
pub fn trailer(crc_before: u64) -> [u8; 9] {
    let crc = crc64(crc_before, &[opcodes::EOF]);
    let mut t = [0u8; 9];
    t[0] = opcodes::EOF;
    t[1..].copy_from_slice(&crc.to_le_bytes());
    t
}

// ---- loading ------------------------------------------------------------------------------

/// A key read from a file.
pub struct LoadedKey<'a> {
    pub db: usize,
    pub key: Cow<'a, [u8]>,
    pub value: CompactValue,
    pub expire_ms: Option<u64>,
}

/// What a load found besides the keys.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub version: u16,
    pub keys: u64,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Function libraries (FUNCTION2 records), as code.
    pub functions: Vec<Vec<u8>>,
    /// Keys of module types, skipped: (module name, key).
    pub skipped_module_keys: Vec<(String, Vec<u8>)>,
    /// Module aux records skipped, by module name.
    pub skipped_module_aux: Vec<String>,
}

/// Why a file could not be loaded, with the byte offset where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub offset: usize,
    pub what: LoadFailure,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadFailure {
    NotRdb,
    Version(u16),
    Checksum { stored: u64, computed: u64 },
    Data(RdbError),
    UnknownOpcode(u8),
    DbIndex(u64),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.what {
            LoadFailure::NotRdb => write!(f, "not an RDB file (wrong signature)"),
            LoadFailure::Version(v) => {
                write!(
                    f,
                    "can't handle RDB format version {v} (newest known: {RDB_VERSION})"
                )
            }
            LoadFailure::Checksum { stored, computed } => write!(
                f,
                "wrong RDB checksum: stored {stored:016x}, computed {computed:016x}"
            ),
            LoadFailure::Data(e) => write!(f, "{e} at offset {}", self.offset),
            LoadFailure::UnknownOpcode(b) => {
                write!(f, "unknown RDB opcode {b} at offset {}", self.offset)
            }
            LoadFailure::DbIndex(n) => write!(f, "database index {n} out of range"),
        }
    }
}

impl std::error::Error for LoadError {}

/// The name a module type id encodes (9 characters of 6 bits, then a 10-bit version).
pub fn module_name(id: u64) -> String {
    const CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..9)
        .map(|i| CHARS[((id >> (64 - 6 * (i + 1))) & 63) as usize] as char)
        .collect()
}

/// Walks serialized module data up to its EOF opcode.
fn skip_module_value(r: &mut Reader<'_>) -> RdbResult<()> {
    loop {
        match r.length()? {
            MODULE_EOF => return Ok(()),
            MODULE_SINT | MODULE_UINT => {
                r.length()?;
            }
            MODULE_FLOAT => {
                r.take(4)?;
            }
            MODULE_DOUBLE => {
                r.take(8)?;
            }
            MODULE_STRING => {
                r.string()?;
            }
            _ => return Err(RdbError::Corrupt("unknown module opcode")),
        }
    }
}

/// Checks the trailer: a file that ends in EOF + CRC64 must match it (a zero CRC means the
/// writer did not compute one, as Redis allows).
fn check_crc(buf: &[u8]) -> Result<(), LoadError> {
    if buf.len() < 9 + 9 || buf[buf.len() - 9] != opcodes::EOF {
        return Ok(()); // no trailer where it belongs: the walk reports the truncation
    }
    let (covered, crc) = buf.split_at(buf.len() - 8);
    let stored = u64::from_le_bytes(crc.try_into().expect("8 bytes"));
    let computed = crc64(0, covered);
    if stored != 0 && stored != computed {
        return Err(LoadError {
            offset: buf.len() - 8,
            what: LoadFailure::Checksum { stored, computed },
        });
    }
    Ok(())
}

/// Reads a whole RDB file (versions 1 to 10), calling `on_key` for every key in file
/// order. Keys whose deadline has passed are handed over too (the caller decides).
pub fn load(
    buf: &[u8],
    limits: &CollectionLimits,
    mut on_key: impl FnMut(LoadedKey<'_>),
) -> Result<LoadReport, LoadError> {
    if buf.len() < 9 || &buf[..5] != b"REDIS" || !buf[5..9].iter().all(u8::is_ascii_digit) {
        return Err(LoadError {
            offset: 0,
            what: LoadFailure::NotRdb,
        });
    }
    let version: u16 = std::str::from_utf8(&buf[5..9])
        .expect("digits")
        .parse()
        .expect("digits");
    if !(1..=RDB_VERSION).contains(&version) {
        return Err(LoadError {
            offset: 5,
            what: LoadFailure::Version(version),
        });
    }
    if version >= 5 {
        check_crc(buf)?;
    }
    let mut r = Reader::new(&buf[9..]);
    let mut report = LoadReport {
        version,
        ..LoadReport::default()
    };
    let fail = |r: &Reader<'_>, what| LoadError {
        offset: 9 + r.position(),
        what,
    };
    let data = |r: &Reader<'_>, e| fail(r, LoadFailure::Data(e));
    let mut db = 0usize;
    let mut expire_ms = None;
    loop {
        let op = r.u8().map_err(|e| data(&r, e))?;
        let step: RdbResult<()> = (|| {
            match op {
                opcodes::EOF => return Ok(()),
                opcodes::SELECTDB => {
                    let n = r.length()?;
                    if n >= DB_INDEX_MAX {
                        return Err(RdbError::Corrupt("database index out of range"));
                    }
                    db = n as usize;
                }
                opcodes::RESIZEDB => {
                    r.length()?;
                    r.length()?;
                }
                opcodes::EXPIRETIME_MS => {
                    let t = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
                    expire_ms = Some(t);
                }
                opcodes::EXPIRETIME => {
                    let t = u32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes"));
                    expire_ms = Some(u64::from(t) * 1000);
                }
                opcodes::AUX => {
                    let k = r.string()?.into_owned();
                    let v = r.string()?.into_owned();
                    report.aux.push((k, v));
                }
                opcodes::IDLE => {
                    r.length()?;
                }
                opcodes::FREQ => {
                    r.u8()?;
                }
                opcodes::FUNCTION2 => report.functions.push(r.string()?.into_owned()),
                opcodes::FUNCTION_PRE_GA => {
                    return Err(RdbError::Corrupt(
                        "pre-release function format (Redis 7.0 RC) is not supported",
                    ))
                }
                opcodes::MODULE_AUX => {
                    let id = r.length()?;
                    if r.length()? != MODULE_UINT {
                        return Err(RdbError::Corrupt("module aux without its 'when' field"));
                    }
                    r.length()?;
                    skip_module_value(&mut r)?;
                    report.skipped_module_aux.push(module_name(id));
                }
                types::MODULE_2 => {
                    let key = r.string()?.into_owned();
                    let id = r.length()?;
                    skip_module_value(&mut r)?;
                    report.skipped_module_keys.push((module_name(id), key));
                    expire_ms = None;
                }
                t if t <= types::STREAM_LISTPACKS_2 => {
                    let key = r.string()?;
                    let value = read_typed(&mut r, t, limits)?;
                    report.keys += 1;
                    on_key(LoadedKey {
                        db,
                        key,
                        value,
                        expire_ms: expire_ms.take(),
                    });
                }
                _ => return Err(RdbError::Unsupported(op)),
            }
            Ok(())
        })();
        match step {
            Ok(()) if op == opcodes::EOF => {
                if version >= 5 {
                    let covered = 9 + r.position();
                    let crc = r.take(8).map_err(|e| data(&r, e))?;
                    let stored = u64::from_le_bytes(crc.try_into().expect("8 bytes"));
                    let computed = crc64(0, &buf[..covered]);
                    if stored != 0 && stored != computed {
                        let what = LoadFailure::Checksum { stored, computed };
                        return Err(fail(&r, what));
                    }
                }
                return Ok(report);
            }
            Ok(()) => {}
            Err(RdbError::Unsupported(b)) if b == op && b > types::STREAM_LISTPACKS_2 => {
                return Err(fail(&r, LoadFailure::UnknownOpcode(b)))
            }
            Err(e) => return Err(data(&r, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type In<'a> = (usize, &'a [u8], &'a [u8], Option<u64>);
    type Out = (usize, Vec<u8>, Vec<u8>, Option<u64>);

    fn file(entries: &[In<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out, "7.0.0", 1_700_000_000, 1234);
        write_function(
            &mut out,
            b"#!lua name=lib\nredis.register_function('f', function() end)",
        );
        let mut scratch = Vec::new();
        let mut current = None;
        for (db, k, v, exp) in entries {
            if current != Some(*db) {
                write_select_db(&mut out, *db, Some((1, 0)));
                current = Some(*db);
            }
            write_entry(
                &mut out,
                &mut scratch,
                k,
                &CompactValue::from_bytes(v),
                *exp,
            )
            .unwrap();
        }
        let t = trailer(crc64(0, &out));
        out.extend_from_slice(&t);
        out
    }

    fn load_all(buf: &[u8]) -> Result<(LoadReport, Vec<Out>), LoadError> {
        let mut keys = Vec::new();
        let report = load(buf, &CollectionLimits::default(), |k| {
            let v = k.value.as_bytes().unwrap().to_vec();
            keys.push((k.db, k.key.into_owned(), v, k.expire_ms));
        })?;
        Ok((report, keys))
    }

    #[test]
    fn round_trip_keys_dbs_deadlines_aux_functions() {
        let buf = file(&[
            (0, b"a", b"1", None),
            (0, b"long", &[b'x'; 300], Some(1_900_000_000_123)),
            (3, b"b", b"two", None),
        ]);
        assert_eq!(&buf[..9], b"REDIS0010");
        let (report, keys) = load_all(&buf).unwrap();
        assert_eq!(report.version, 10);
        assert_eq!(report.keys, 3);
        assert_eq!(report.functions.len(), 1);
        assert!(report
            .aux
            .iter()
            .any(|(k, v)| k == b"redis-ver" && v == b"7.0.0"));
        assert_eq!(keys[1].3, Some(1_900_000_000_123));
        assert_eq!(keys[1].2, vec![b'x'; 300]);
        assert_eq!(keys[2].0, 3);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_refused_without_panic() {
        let buf = file(&[
            (0, b"a", b"1", None),
            (1, b"key", b"value value value value", Some(5)),
        ]);
        for len in 0..buf.len() {
            assert!(load_all(&buf[..len]).is_err(), "truncated at {len} loaded");
        }
        for i in 9..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                assert!(load_all(&b).is_err(), "flip at {i}.{bit} loaded");
            }
        }
    }

    /// Random bodies behind a valid header and trailer (what the fuzz target explores, in a
    /// bounded run): they load or give an error, never panic.
    #[test]
    fn random_bodies_with_a_valid_trailer_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let seed_file = file(&[(0, b"k", b"v", Some(7)), (2, b"key2", &[b'z'; 64], None)]);
        for round in 0..3000 {
            // Mutations of a real file's body, and bodies of random opcodes.
            let mut body = if round % 2 == 0 {
                seed_file[9..seed_file.len() - 9].to_vec()
            } else {
                (0..(next() % 64)).map(|_| next() as u8).collect()
            };
            for _ in 0..(next() % 4) {
                if !body.is_empty() {
                    let i = (next() as usize) % body.len();
                    body[i] = next() as u8;
                }
            }
            let mut f = b"REDIS0010".to_vec();
            f.extend_from_slice(&body);
            let t = trailer(crc64(0, &f));
            f.extend_from_slice(&t);
            let _ = load(&f, &CollectionLimits::default(), |_| {});
        }
    }

    #[test]
    fn module_values_are_skipped_and_named() {
        let mut out = b"REDIS0010".to_vec();
        out.push(types::MODULE_2);
        write_string(&mut out, b"mkey");
        let id: u64 = 0x1234_5678_9abc_d400 | 3;
        write_len(&mut out, id);
        for (op, body) in [(MODULE_UINT, vec![5u8]), (MODULE_DOUBLE, vec![0; 8])] {
            write_len(&mut out, op);
            out.extend_from_slice(&body);
        }
        write_len(&mut out, MODULE_STRING);
        write_string(&mut out, b"payload");
        write_len(&mut out, MODULE_EOF);
        let t = trailer(crc64(0, &out));
        out.extend_from_slice(&t);
        let (report, keys) = load_all(&out).unwrap();
        assert!(keys.is_empty());
        assert_eq!(report.skipped_module_keys.len(), 1);
        assert_eq!(report.skipped_module_keys[0].0, module_name(id));
    }

    #[test]
    fn newer_versions_and_garbage_are_refused() {
        assert_eq!(
            load_all(b"REDIS0011\xff").unwrap_err().what,
            LoadFailure::Version(11)
        );
        assert_eq!(
            load_all(b"HELLO WORLD").unwrap_err().what,
            LoadFailure::NotRdb
        );
    }
}
