//! Client-side RESP2/RESP3 reply parser, incremental: tests, the load generator and
//! replication feed it whatever bytes arrived and get whole [`Reply`] values back.
//!
//! Like the request parser it resumes where it stopped: partially received aggregates stay on
//! a stack of frames and a pending bulk payload is awaited in O(1) per call, so replies that
//! arrive in many reads are not rescanned. Offsets are relative to the start of the caller's
//! buffer, whose first bytes must stay the same until a reply completes.

use crate::error::ReplyError;
use crate::numbers::{parse_i64_exact, write_double_g17, write_i64, write_u64};

/// One RESP2 or RESP3 reply.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+text`
    Simple(Vec<u8>),
    /// `-text` (the code is part of the text: `ERR ...`, `WRONGTYPE ...`)
    Error(Vec<u8>),
    /// `:n`
    Integer(i64),
    /// `$n` payload
    Bulk(Vec<u8>),
    /// `$-1` (RESP2 null bulk string)
    NullBulk,
    /// `*-1` (RESP2 null array)
    NullArray,
    /// `_` (RESP3 null)
    Null,
    /// `*n`
    Array(Vec<Reply>),
    /// `%n`: key/value pairs in wire order
    Map(Vec<(Reply, Reply)>),
    /// `~n`
    Set(Vec<Reply>),
    /// `>n`
    Push(Vec<Reply>),
    /// `,d`
    Double(f64),
    /// `#t` / `#f`
    Boolean(bool),
    /// `(digits`
    BigNumber(Vec<u8>),
    /// `=n` payload `fmt:text`
    Verbatim { format: [u8; 3], text: Vec<u8> },
    /// `!n` payload
    BlobError(Vec<u8>),
    /// `|n` pairs, then the reply they annotate
    Attribute {
        attributes: Vec<(Reply, Reply)>,
        reply: Box<Reply>,
    },
}

impl Reply {
    /// True for `-` and `!` errors.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_) | Reply::BlobError(_))
    }

    /// Appends this reply's wire form: the inverse of [`ReplyParser::parse`].
    pub fn write_to(&self, out: &mut Vec<u8>) {
        fn header(out: &mut Vec<u8>, type_byte: u8, len: usize) {
            out.push(type_byte);
            write_u64(out, len as u64);
            out.extend_from_slice(b"\r\n");
        }
        fn line(out: &mut Vec<u8>, type_byte: u8, text: &[u8]) {
            out.push(type_byte);
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
        fn payload(out: &mut Vec<u8>, type_byte: u8, bytes: &[u8]) {
            header(out, type_byte, bytes.len());
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        fn pairs(out: &mut Vec<u8>, type_byte: u8, pairs: &[(Reply, Reply)]) {
            header(out, type_byte, pairs.len());
            for (key, value) in pairs {
                key.write_to(out);
                value.write_to(out);
            }
        }
        fn items(out: &mut Vec<u8>, type_byte: u8, items: &[Reply]) {
            header(out, type_byte, items.len());
            for item in items {
                item.write_to(out);
            }
        }
        match self {
            Reply::Simple(text) => line(out, b'+', text),
            Reply::Error(text) => line(out, b'-', text),
            Reply::Integer(value) => {
                out.push(b':');
                write_i64(out, *value);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Bulk(bytes) => payload(out, b'$', bytes),
            Reply::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Reply::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Null => out.extend_from_slice(b"_\r\n"),
            Reply::Array(elements) => items(out, b'*', elements),
            Reply::Map(entries) => pairs(out, b'%', entries),
            Reply::Set(elements) => items(out, b'~', elements),
            Reply::Push(elements) => items(out, b'>', elements),
            Reply::Double(value) => {
                out.push(b',');
                write_double_g17(out, *value);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Boolean(value) => line(out, b'#', if *value { b"t" } else { b"f" }),
            Reply::BigNumber(digits) => line(out, b'(', digits),
            Reply::Verbatim { format, text } => {
                header(out, b'=', text.len() + 4);
                out.extend_from_slice(format);
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Reply::BlobError(bytes) => payload(out, b'!', bytes),
            Reply::Attribute { attributes, reply } => {
                pairs(out, b'|', attributes);
                reply.write_to(out);
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AggregateKind {
    Array,
    Map,
    Set,
    Push,
    /// The pairs of an attribute.
    Attribute,
    /// The single reply an attribute annotates; `items[0]` holds the attributes' pairs.
    Annotated,
}

#[derive(Debug)]
struct Frame {
    kind: AggregateKind,
    remaining: usize,
    items: Vec<Reply>,
    /// Set for `Annotated`: the attribute pairs parsed before the reply.
    attributes: Vec<(Reply, Reply)>,
}

/// Default cap on a bulk payload: Redis's own `proto-max-bulk-len` default.
pub const REPLY_BULK_LEN_MAX_DEFAULT: usize = 512 * 1024 * 1024;
/// Default cap on aggregate nesting.
pub const REPLY_DEPTH_MAX_DEFAULT: usize = 128;
/// Default cap on one aggregate's element count.
pub const REPLY_AGGREGATE_LEN_MAX_DEFAULT: usize = i32::MAX as usize;

/// Incremental reply parser for one connection.
#[derive(Debug)]
pub struct ReplyParser {
    bulk_len_max: usize,
    depth_max: usize,
    aggregate_len_max: usize,
    /// First byte not yet consumed by a complete header or payload.
    pos: usize,
    /// Bytes in `[pos, scanned)` hold no `\r`.
    scanned: usize,
    /// A bulk-like header was read: (type byte, payload length); the payload starts at `pos`.
    pending_payload: Option<(u8, usize)>,
    stack: Vec<Frame>,
}

impl Default for ReplyParser {
    fn default() -> Self {
        ReplyParser::new()
    }
}

const MAX_PREALLOCATED_ITEMS: usize = 1024;

impl ReplyParser {
    pub fn new() -> Self {
        ReplyParser::with_limits(
            REPLY_BULK_LEN_MAX_DEFAULT,
            REPLY_DEPTH_MAX_DEFAULT,
            REPLY_AGGREGATE_LEN_MAX_DEFAULT,
        )
    }

    pub fn with_limits(bulk_len_max: usize, depth_max: usize, aggregate_len_max: usize) -> Self {
        ReplyParser {
            bulk_len_max,
            depth_max,
            aggregate_len_max,
            pos: 0,
            scanned: 0,
            pending_payload: None,
            stack: Vec::new(),
        }
    }

    /// Forgets a partly parsed reply.
    pub fn reset(&mut self) {
        self.pos = 0;
        self.scanned = 0;
        self.pending_payload = None;
        self.stack.clear();
    }

    /// Parses the next reply at the start of `input`: `Ok(Some((reply, consumed)))`, or
    /// `Ok(None)` when more bytes are needed (call again with the same bytes plus more).
    /// After an error the stream is unusable; the parser is reset.
    pub fn parse(&mut self, input: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
        if self.pos > input.len() || self.scanned > input.len() {
            self.reset();
        }
        let result = self.parse_from_progress(input);
        if !matches!(result, Ok(None)) {
            self.reset();
        }
        result
    }

    fn parse_from_progress(&mut self, input: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
        loop {
            let value = if let Some((type_byte, len)) = self.pending_payload {
                if input.len() - self.pos < len + 2 {
                    return Ok(None);
                }
                let payload = &input[self.pos..self.pos + len];
                if &input[self.pos + len..self.pos + len + 2] != b"\r\n" {
                    return Err(ReplyError::MissingCrlf);
                }
                self.pos += len + 2;
                self.scanned = self.pos;
                self.pending_payload = None;
                payload_reply(type_byte, payload)?
            } else {
                match self.parse_line(input)? {
                    None => return Ok(None),
                    Some(Some(value)) => value,
                    // A header that opened an aggregate or announced a payload.
                    Some(None) => continue,
                }
            };
            if let Some(reply) = self.attach(value) {
                return Ok(Some((reply, self.pos)));
            }
        }
    }

    /// Reads one line-typed reply or header. `Ok(None)`: need more input. `Ok(Some(None))`:
    /// a header was consumed and parsing continues.
    fn parse_line(&mut self, input: &[u8]) -> Result<Option<Option<Reply>>, ReplyError> {
        let Some(&type_byte) = input.get(self.pos) else {
            return Ok(None);
        };
        let from = self.scanned.max(self.pos + 1);
        let Some(cr) = memchr::memchr(b'\r', &input[from..]).map(|i| from + i) else {
            self.scanned = input.len();
            return Ok(None);
        };
        self.scanned = cr;
        let Some(&lf) = input.get(cr + 1) else {
            return Ok(None);
        };
        if lf != b'\n' {
            return Err(ReplyError::MissingCrlf);
        }
        let line = &input[self.pos + 1..cr];
        self.pos = cr + 2;
        self.scanned = self.pos;
        let invalid = ReplyError::InvalidNumber(type_byte);
        let reply = match type_byte {
            b'+' => Reply::Simple(line.to_vec()),
            b'-' => Reply::Error(line.to_vec()),
            b':' => Reply::Integer(parse_i64_exact(line).ok_or(invalid)?),
            b'(' => Reply::BigNumber(line.to_vec()),
            b'_' if line.is_empty() => Reply::Null,
            b'_' => return Err(invalid),
            b'#' => match line {
                b"t" => Reply::Boolean(true),
                b"f" => Reply::Boolean(false),
                _ => return Err(invalid),
            },
            b',' => Reply::Double(
                std::str::from_utf8(line)
                    .ok()
                    .and_then(|text| text.parse::<f64>().ok())
                    .ok_or(invalid)?,
            ),
            b'$' | b'!' | b'=' => {
                if line == b"?" {
                    return Err(ReplyError::StreamedUnsupported);
                }
                if type_byte == b'$' && line == b"-1" {
                    Reply::NullBulk
                } else {
                    let len = parse_len(line, type_byte)?;
                    if len > self.bulk_len_max {
                        return Err(ReplyError::TooLong);
                    }
                    self.pending_payload = Some((type_byte, len));
                    return Ok(Some(None));
                }
            }
            b'*' | b'%' | b'~' | b'>' | b'|' => {
                if line == b"?" {
                    return Err(ReplyError::StreamedUnsupported);
                }
                if type_byte == b'*' && line == b"-1" {
                    Reply::NullArray
                } else {
                    let len = parse_len(line, type_byte)?;
                    let pairs = matches!(type_byte, b'%' | b'|');
                    let elements = if pairs { len.checked_mul(2) } else { Some(len) };
                    let elements = elements
                        .filter(|&n| n <= self.aggregate_len_max)
                        .ok_or(ReplyError::TooLong)?;
                    let kind = match type_byte {
                        b'*' => AggregateKind::Array,
                        b'%' => AggregateKind::Map,
                        b'~' => AggregateKind::Set,
                        b'>' => AggregateKind::Push,
                        _ => AggregateKind::Attribute,
                    };
                    if elements > 0 {
                        self.open_frame(kind, elements, Vec::new())?;
                        return Ok(Some(None));
                    }
                    if kind == AggregateKind::Attribute {
                        // `|0`: no pairs, only the annotated reply follows.
                        self.open_frame(AggregateKind::Annotated, 1, Vec::new())?;
                        return Ok(Some(None));
                    }
                    empty_aggregate(kind)
                }
            }
            other => return Err(ReplyError::UnknownType(other)),
        };
        Ok(Some(Some(reply)))
    }

    fn open_frame(
        &mut self,
        kind: AggregateKind,
        remaining: usize,
        attributes: Vec<(Reply, Reply)>,
    ) -> Result<(), ReplyError> {
        if self.stack.len() >= self.depth_max {
            return Err(ReplyError::TooDeep);
        }
        self.stack.push(Frame {
            kind,
            remaining,
            items: Vec::with_capacity(remaining.min(MAX_PREALLOCATED_ITEMS)),
            attributes,
        });
        Ok(())
    }

    /// Adds a finished value to the innermost open aggregate, closing aggregates that become
    /// complete. Returns the top-level reply once it is complete.
    fn attach(&mut self, mut value: Reply) -> Option<Reply> {
        loop {
            let Some(frame) = self.stack.last_mut() else {
                return Some(value);
            };
            frame.items.push(value);
            frame.remaining -= 1;
            if frame.remaining > 0 {
                return None;
            }
            let frame = self.stack.pop().expect("the frame just completed");
            value = match frame.kind {
                AggregateKind::Array => Reply::Array(frame.items),
                AggregateKind::Set => Reply::Set(frame.items),
                AggregateKind::Push => Reply::Push(frame.items),
                AggregateKind::Map => Reply::Map(into_pairs(frame.items)),
                AggregateKind::Attribute => {
                    // The attribute is complete; the reply it annotates comes next. Depth does
                    // not grow: this frame replaces the one just popped.
                    self.stack.push(Frame {
                        kind: AggregateKind::Annotated,
                        remaining: 1,
                        items: Vec::with_capacity(1),
                        attributes: into_pairs(frame.items),
                    });
                    return None;
                }
                AggregateKind::Annotated => Reply::Attribute {
                    attributes: frame.attributes,
                    reply: Box::new(frame.items.into_iter().next().expect("one reply")),
                },
            };
        }
    }
}

fn empty_aggregate(kind: AggregateKind) -> Reply {
    match kind {
        AggregateKind::Map => Reply::Map(Vec::new()),
        AggregateKind::Set => Reply::Set(Vec::new()),
        AggregateKind::Push => Reply::Push(Vec::new()),
        _ => Reply::Array(Vec::new()),
    }
}

fn into_pairs(items: Vec<Reply>) -> Vec<(Reply, Reply)> {
    debug_assert!(items.len().is_multiple_of(2));
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        pairs.push((key, value));
    }
    pairs
}

fn parse_len(line: &[u8], type_byte: u8) -> Result<usize, ReplyError> {
    parse_i64_exact(line)
        .and_then(|len| usize::try_from(len).ok())
        .ok_or(ReplyError::InvalidNumber(type_byte))
}

fn payload_reply(type_byte: u8, payload: &[u8]) -> Result<Reply, ReplyError> {
    Ok(match type_byte {
        b'$' => Reply::Bulk(payload.to_vec()),
        b'!' => Reply::BlobError(payload.to_vec()),
        _ => {
            // Verbatim: "fmt:" then the text.
            if payload.len() < 4 || payload[3] != b':' {
                return Err(ReplyError::MalformedVerbatim);
            }
            Reply::Verbatim {
                format: [payload[0], payload[1], payload[2]],
                text: payload[4..].to_vec(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
        ReplyParser::new().parse(bytes)
    }

    fn one(bytes: &[u8]) -> Reply {
        let (reply, consumed) = parse_all(bytes).unwrap().unwrap();
        assert_eq!(consumed, bytes.len());
        reply
    }

    fn bulk(text: &str) -> Reply {
        Reply::Bulk(text.as_bytes().to_vec())
    }

    #[test]
    fn resp2_types() {
        assert_eq!(one(b"+OK\r\n"), Reply::Simple(b"OK".to_vec()));
        assert_eq!(one(b"-ERR x\r\n"), Reply::Error(b"ERR x".to_vec()));
        assert_eq!(one(b":-5\r\n"), Reply::Integer(-5));
        assert_eq!(one(b"$3\r\na\rb\r\n"), Reply::Bulk(b"a\rb".to_vec()));
        assert_eq!(one(b"$0\r\n\r\n"), bulk(""));
        assert_eq!(one(b"$-1\r\n"), Reply::NullBulk);
        assert_eq!(one(b"*-1\r\n"), Reply::NullArray);
        assert_eq!(one(b"*0\r\n"), Reply::Array(vec![]));
        assert_eq!(
            one(b"*2\r\n*1\r\n:1\r\n$1\r\nx\r\n"),
            Reply::Array(vec![Reply::Array(vec![Reply::Integer(1)]), bulk("x")])
        );
    }

    #[test]
    fn resp3_types() {
        assert_eq!(one(b"_\r\n"), Reply::Null);
        assert_eq!(one(b",1.5\r\n"), Reply::Double(1.5));
        assert_eq!(one(b",-inf\r\n"), Reply::Double(f64::NEG_INFINITY));
        assert_eq!(one(b",1e+18\r\n"), Reply::Double(1e18));
        assert_eq!(one(b"#t\r\n"), Reply::Boolean(true));
        assert_eq!(one(b"(123\r\n"), Reply::BigNumber(b"123".to_vec()));
        assert_eq!(one(b"!3\r\nERR\r\n"), Reply::BlobError(b"ERR".to_vec()));
        assert_eq!(
            one(b"=15\r\ntxt:Some string\r\n"),
            Reply::Verbatim {
                format: *b"txt",
                text: b"Some string".to_vec()
            }
        );
        assert_eq!(
            one(b"%1\r\n$1\r\nk\r\n~2\r\n:1\r\n:2\r\n"),
            Reply::Map(vec![(
                bulk("k"),
                Reply::Set(vec![Reply::Integer(1), Reply::Integer(2)])
            )])
        );
        assert_eq!(
            one(b">2\r\n$7\r\nmessage\r\n_\r\n"),
            Reply::Push(vec![bulk("message"), Reply::Null])
        );
        assert_eq!(
            one(b"*2\r\n|1\r\n+ttl\r\n:3\r\n:7\r\n:8\r\n"),
            Reply::Array(vec![
                Reply::Attribute {
                    attributes: vec![(Reply::Simple(b"ttl".to_vec()), Reply::Integer(3))],
                    reply: Box::new(Reply::Integer(7)),
                },
                Reply::Integer(8),
            ])
        );
        assert_eq!(one(b"%0\r\n"), Reply::Map(vec![]));
        assert_eq!(
            one(b"|0\r\n:1\r\n"),
            Reply::Attribute {
                attributes: vec![],
                reply: Box::new(Reply::Integer(1))
            }
        );
    }

    #[test]
    fn partial_input_resumes_and_pipelines() {
        let bytes = b"*3\r\n$5\r\nhello\r\n%1\r\n+a\r\n,2.5\r\n:9\r\n+NEXT\r\n";
        let mut parser = ReplyParser::new();
        let first_len = bytes.len() - b"+NEXT\r\n".len();
        for end in 0..first_len {
            assert_eq!(parser.parse(&bytes[..end]).unwrap(), None, "prefix {end}");
        }
        let (reply, consumed) = parser.parse(bytes).unwrap().unwrap();
        assert_eq!(consumed, first_len);
        assert_eq!(
            reply,
            Reply::Array(vec![
                bulk("hello"),
                Reply::Map(vec![(Reply::Simple(b"a".to_vec()), Reply::Double(2.5))]),
                Reply::Integer(9),
            ])
        );
        let (next, _) = parser.parse(&bytes[consumed..]).unwrap().unwrap();
        assert_eq!(next, Reply::Simple(b"NEXT".to_vec()));
    }

    #[test]
    fn malformed_replies() {
        assert_eq!(parse_all(b"?x\r\n"), Err(ReplyError::UnknownType(b'?')));
        assert_eq!(parse_all(b":x\r\n"), Err(ReplyError::InvalidNumber(b':')));
        assert_eq!(parse_all(b"$-2\r\n"), Err(ReplyError::InvalidNumber(b'$')));
        assert_eq!(parse_all(b"$1\r\nab\r\n"), Err(ReplyError::MissingCrlf));
        assert_eq!(parse_all(b"+OK\rx"), Err(ReplyError::MissingCrlf));
        assert_eq!(parse_all(b"#x\r\n"), Err(ReplyError::InvalidNumber(b'#')));
        assert_eq!(parse_all(b"*?\r\n"), Err(ReplyError::StreamedUnsupported));
        assert_eq!(
            parse_all(b"=2\r\nab\r\n"),
            Err(ReplyError::MalformedVerbatim)
        );
        let deep = b"*1\r\n".repeat(REPLY_DEPTH_MAX_DEFAULT + 1);
        assert_eq!(parse_all(&deep), Err(ReplyError::TooDeep));
        let mut small = ReplyParser::with_limits(4, 8, 8);
        assert_eq!(small.parse(b"$5\r\n"), Err(ReplyError::TooLong));
        assert_eq!(small.parse(b"%5\r\n"), Err(ReplyError::TooLong));
    }

    #[test]
    fn huge_aggregate_header_does_not_preallocate() {
        let mut parser = ReplyParser::new();
        assert_eq!(parser.parse(b"*2000000000\r\n:1\r\n").unwrap(), None);
        assert!(parser.stack[0].items.capacity() <= MAX_PREALLOCATED_ITEMS);
    }

    #[test]
    fn write_to_round_trips() {
        let reply = Reply::Array(vec![
            Reply::Map(vec![(bulk("k"), Reply::Double(1.1))]),
            Reply::Attribute {
                attributes: vec![(Reply::Boolean(false), Reply::Null)],
                reply: Box::new(Reply::Verbatim {
                    format: *b"mkd",
                    text: b"# hi".to_vec(),
                }),
            },
            Reply::NullBulk,
            Reply::NullArray,
            Reply::BigNumber(b"-1".to_vec()),
            Reply::BlobError(b"SYNTAX x".to_vec()),
            Reply::Error(b"ERR e".to_vec()),
            Reply::Push(vec![]),
            Reply::Set(vec![Reply::Integer(i64::MIN)]),
        ]);
        let mut bytes = Vec::new();
        reply.write_to(&mut bytes);
        assert_eq!(one(&bytes), reply);
    }
}
