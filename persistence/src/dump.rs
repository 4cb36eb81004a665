//! DUMP payloads: `type byte | value | RDB version u16 LE | CRC64 LE` with the CRC taken over
//! everything before it, as redis-server builds them for DUMP and checks them in RESTORE.

use crate::crc64::crc64;
use crate::encoding::{RdbResult, Reader, RDB_VERSION};
use crate::read::read_value;
use crate::write::write_value;
use damselfly_shards::{CollectionLimits, CompactValue};

/// Version and checksum.
const FOOTER: usize = 10;

/// The DUMP payload of `value`.
pub fn dump(value: &CompactValue) -> RdbResult<Vec<u8>> {
    let mut out = Vec::new();
    write_value(&mut out, value)?;
    seal(&mut out);
    Ok(out)
}

/// Appends the version and the CRC64 footer to a serialized value.
pub fn seal(out: &mut Vec<u8>) {
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(0, out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Whether `payload`'s footer holds a version this codec reads (not newer than
/// [`RDB_VERSION`]) and a checksum that matches.
pub fn verify(payload: &[u8]) -> bool {
    if payload.len() < FOOTER {
        return false;
    }
    let body_end = payload.len() - FOOTER;
    let version = u16::from_le_bytes([payload[body_end], payload[body_end + 1]]);
    if version > RDB_VERSION {
        return false;
    }
    let (covered, crc) = payload.split_at(payload.len() - 8);
    let mut want = [0u8; 8];
    want.copy_from_slice(crc);
    crc64(0, covered) == u64::from_le_bytes(want)
}

/// Reads the value of a verified payload. Like redis-server, the reader runs over the whole
/// payload, footer included: a value whose last bytes are the footer's is read as such, and
/// bytes after the value are ignored.
pub fn restore(payload: &[u8], limits: &CollectionLimits) -> RdbResult<CompactValue> {
    read_value(&mut Reader::new(payload), limits)
}
