//! Errors of the request parsers, rendered exactly as Redis and memcached send them.

use std::fmt;

/// A malformed RESP or inline request. The connection writes [`ProtocolError::write_reply`]
/// and closes, as Redis does after `setProtocolError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// `*N` header that is not an integer, or above the multibulk limit.
    InvalidMultibulkLength,
    /// `$N` header that is not an integer, negative, or above `proto-max-bulk-len`.
    InvalidBulkLength,
    /// An argument header that does not start with `$`; holds the byte found instead.
    ExpectedDollar(u8),
    /// An inline command line longer than the inline limit with no line end yet.
    TooBigInlineRequest,
    /// A `*N` header longer than the inline limit with no `\r` yet.
    TooBigMultibulkCountString,
    /// A `$N` header longer than the inline limit with no `\r` yet.
    TooBigBulkCountString,
    /// An inline command with an unterminated quote, or a closing quote glued to more text.
    UnbalancedQuotes,
    /// `*N` above 10 before the client authenticated.
    UnauthenticatedMultibulkLength,
    /// `$N` above 16384 before the client authenticated.
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The error line Redis sends, `-ERR Protocol error: ...\r\n`, appended to `out`.
    pub fn write_reply(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"-ERR ");
        match *self {
            ProtocolError::ExpectedDollar(found) => {
                out.extend_from_slice(b"Protocol error: expected '$', got '");
                // Redis replaces line breaks inside an error text with spaces.
                let shown = if found == b'\r' || found == b'\n' {
                    b' '
                } else {
                    found
                };
                out.push(shown);
                out.push(b'\'');
            }
            other => out.extend_from_slice(other.fixed_text().as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }

    fn fixed_text(&self) -> &'static str {
        match self {
            ProtocolError::InvalidMultibulkLength => "Protocol error: invalid multibulk length",
            ProtocolError::InvalidBulkLength => "Protocol error: invalid bulk length",
            ProtocolError::ExpectedDollar(_) => "Protocol error: expected '$'",
            ProtocolError::TooBigInlineRequest => "Protocol error: too big inline request",
            ProtocolError::TooBigMultibulkCountString => {
                "Protocol error: too big mbulk count string"
            }
            ProtocolError::TooBigBulkCountString => "Protocol error: too big bulk count string",
            ProtocolError::UnbalancedQuotes => "Protocol error: unbalanced quotes in request",
            ProtocolError::UnauthenticatedMultibulkLength => {
                "Protocol error: unauthenticated multibulk length"
            }
            ProtocolError::UnauthenticatedBulkLength => {
                "Protocol error: unauthenticated bulk length"
            }
        }
    }
}

impl fmt::Display for ProtocolError {
    /// The text after `-ERR `; a non-ASCII byte in `ExpectedDollar` shows as its Latin-1 char.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = Vec::new();
        self.write_reply(&mut line);
        let text = &line[b"-ERR ".len()..line.len() - 2];
        let text: String = text.iter().map(|&b| char::from(b)).collect();
        f.write_str(&text)
    }
}

impl std::error::Error for ProtocolError {}

/// A malformed reply seen by the client-side reply parser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// The first byte of a reply is not a RESP2/RESP3 type byte; holds that byte.
    UnknownType(u8),
    /// A length, integer, double or boolean that does not parse; holds the type byte.
    InvalidNumber(u8),
    /// A line or a bulk payload not followed by `\r\n`.
    MissingCrlf,
    /// A bulk or aggregate longer than the parser's limit.
    TooLong,
    /// RESP3 streamed strings/aggregates (`$?`, `*?`): Redis never sends them.
    StreamedUnsupported,
    /// Aggregates nested deeper than the parser's limit.
    TooDeep,
    /// A verbatim string whose payload does not start with a 3-byte format and `:`.
    MalformedVerbatim,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::UnknownType(b) => write!(f, "unknown reply type byte 0x{b:02x}"),
            ReplyError::InvalidNumber(t) => {
                write!(f, "invalid number in reply of type '{}'", char::from(*t))
            }
            ReplyError::MissingCrlf => f.write_str("reply line or payload not ended by CRLF"),
            ReplyError::TooLong => f.write_str("reply length above the parser's limit"),
            ReplyError::StreamedUnsupported => f.write_str("streamed RESP3 replies unsupported"),
            ReplyError::TooDeep => f.write_str("reply nested deeper than the parser's limit"),
            ReplyError::MalformedVerbatim => f.write_str("verbatim string without its format"),
        }
    }
}

impl std::error::Error for ReplyError {}
