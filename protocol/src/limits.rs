//! Size limits applied while parsing client requests, with Redis 7's defaults.
//!
//! Every limit is checked before anything is allocated for the thing it bounds: a `$2000000000`
//! header fails on the header line, a `*1000000` header reserves nothing.

/// `PROTO_INLINE_MAX_SIZE` in Redis: the longest unterminated line (inline command, `*N` or `$N`
/// header) that is kept waiting for its line end.
pub const INLINE_LEN_MAX_DEFAULT: usize = 64 * 1024;

/// `proto-max-bulk-len` default: 512 MiB.
pub const BULK_LEN_MAX_DEFAULT: usize = 512 * 1024 * 1024;

/// Redis 7 rejects a multibulk count above `INT_MAX` (older releases stopped at 1024*1024).
pub const MULTIBULK_LEN_MAX_DEFAULT: usize = i32::MAX as usize;

/// `client-query-buffer-limit` default: 1 GiB.
pub const QUERY_BUFFER_LEN_MAX_DEFAULT: usize = 1024 * 1024 * 1024;

/// While a client still has to authenticate, Redis 7 refuses a multibulk count above this.
pub const UNAUTHENTICATED_MULTIBULK_LEN_MAX: usize = 10;

/// While a client still has to authenticate, Redis 7 refuses a bulk length above this.
pub const UNAUTHENTICATED_BULK_LEN_MAX: usize = 16 * 1024;

/// Limits for one connection's request parser. Units are bytes unless the name says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParserLimits {
    /// Largest accepted `$N` in a request (`proto-max-bulk-len`).
    pub bulk_len_max: usize,
    /// Largest accepted `*N` count of arguments in a request.
    pub multibulk_len_max: usize,
    /// Longest line kept waiting for its terminator: inline commands and length headers.
    pub inline_len_max: usize,
    /// Largest query buffer a connection may hold (`client-query-buffer-limit`). The parser does
    /// not enforce it (it never sees the buffer's capacity); the connection closes the client
    /// when its unparsed input grows past it, as Redis does, without an error reply.
    pub query_buffer_len_max: usize,
}

impl Default for ParserLimits {
    fn default() -> Self {
        ParserLimits {
            bulk_len_max: BULK_LEN_MAX_DEFAULT,
            multibulk_len_max: MULTIBULK_LEN_MAX_DEFAULT,
            inline_len_max: INLINE_LEN_MAX_DEFAULT,
            query_buffer_len_max: QUERY_BUFFER_LEN_MAX_DEFAULT,
        }
    }
}
