//! Damselfly's wire protocols, pure: no I/O, no threads, no clocks. Everything here works on
//! byte slices handed in by the connection and appends to byte vectors handed in by it.
//!
//! Server side, Redis (RESP2/RESP3 and inline):
//! - [`resp_parser`]: [`RequestParser`] turns the connection's read buffer into one command at
//!   a time ([`CommandArgs`], spans into the buffer), resuming partial input without rescans.
//! - [`inline`]: the `sdssplitargs` quoting rules of inline commands.
//! - [`limits`]: [`ParserLimits`] with Redis's defaults (bulk length, multibulk count, inline
//!   line, query buffer).
//! - [`error`]: [`ProtocolError`] rendering Redis's exact `-ERR Protocol error: ...` lines;
//!   [`ReplyError`] for the reply parser.
//! - [`reply_writer`]: [`ReplyWriter`] appends RESP2 or RESP3 replies, with Redis's RESP2
//!   fallbacks for RESP3-only types.
//! - [`numbers`]: `string2ll`-exact integer parsing, fast integer formatting, Redis's `%.17g`
//!   double text.
//!
//! Client side (tests, load generator, replication):
//! - [`reply_parser`]: [`ReplyParser`] turns a byte stream into [`Reply`] values incrementally.
//!
//! Memcached:
//! - [`memcache`]: [`MemcacheParser`] for the text protocol and the meta commands, with
//!   memcached's exact error lines.

pub mod error;
pub mod inline;
pub mod limits;
pub mod memcache;
pub mod numbers;
pub mod reply_parser;
pub mod reply_writer;
pub mod resp_parser;

pub use error::{ProtocolError, ReplyError};
pub use limits::ParserLimits;
pub use memcache::{MemcacheCommand, MemcacheParser, MemcacheRequest};
pub use reply_parser::{Reply, ReplyParser};

pub use reply_writer::{ReplyWriter, RespVersion};
pub use resp_parser::{ArgSpan, CommandArgs, RequestParser};
