//! damselfly-persistence: Redis's RDB encodings, so values and whole databases move between
//! Damselfly and redis-server (DUMP/RESTORE and RDB snapshot files; the snapshot itself, which
//! walks the shards, is in the coordinator).
//!
//! - [`crc64`]: CRC-64/Jones, the checksum of RDB files and DUMP payloads.
//! - [`lzf`]: LZF compression of RDB strings, both ways.
//! - [`encoding`]: type bytes, lengths, strings (int, LZF, plain), doubles; [`RdbError`].
//! - [`listpack`]: Redis's listpack blobs (write and validating read).
//! - [`legacy`]: ziplist, zipmap (read) and intset (both ways) blobs.
//! - [`write`] / [`read`]: a value to its RDB type and body and back, for every type
//!   Damselfly stores.
//! - [`stream`]: streams (`STREAM_LISTPACKS_2` both ways; types 15 and 21 read).
//! - [`pieces`]: large sets, hashes and sorted sets written in bounded pieces.
//! - [`dump`]: DUMP payloads (version + CRC64 footer).
//! - [`cron`]: `--snapshot_cron` expressions and their next firing time.
//! - [`crypt`]: AES-256-GCM framing of encrypted snapshot files.
//! - [`dfs`]: DFS shard files (lz4 blocks of RDB entries, CRC64) beside a summary RDB file.
//! - [`rdb_file`]: whole RDB files: header, aux fields, db selectors, entries with
//!   deadlines, EOF and CRC64 trailer; the loader that walks one.
//!
//! Nothing here does I/O or touches a shard: callers pass values and limits in and get
//! bytes or values out.

pub mod crc64;
pub mod cron;
pub mod crypt;
pub mod dfs;
pub mod dump;
pub mod encoding;
pub mod legacy;
pub mod listpack;
pub mod lzf;
pub mod pieces;
pub mod rdb_file;
pub mod read;
pub mod stream;
pub mod write;

pub use encoding::{RdbError, RdbResult, RDB_VERSION};

#[cfg(test)]
mod tests;
