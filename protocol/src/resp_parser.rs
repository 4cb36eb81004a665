//! Incremental server-side request parser: RESP multibulk (`*N\r\n$len\r\n...`) and inline
//! commands, one complete command per call, arguments as spans into the caller's buffer.
//!
//! The caller keeps unconsumed input in one buffer and calls [`RequestParser::parse`] on it
//! after every read. While a command is incomplete the parser remembers how far it got
//! (offsets relative to the start of that buffer), so a 500 MiB bulk string arriving in many
//! reads costs O(1) per call, and a header line is searched for its `\r` only once per byte.
//! The buffer may move or grow between calls; its first bytes must stay the same until a
//! command completes (or [`RequestParser::reset`] is called).
//!
//! Behaviour follows Redis 7's `processMultibulkBuffer`/`processInlineBuffer`, quirks included:
//! `*0` and `*-1` are skipped as empty commands, a header ends at its `\r` and the byte after
//! it is skipped unchecked, and the two bytes after a bulk payload are skipped unchecked.

use crate::error::ProtocolError;
use crate::inline::{split_inline_args, InlineArgsStorage};
use crate::limits::{
    ParserLimits, UNAUTHENTICATED_BULK_LEN_MAX, UNAUTHENTICATED_MULTIBULK_LEN_MAX,
};
use crate::numbers::parse_i64_exact;

/// One argument: `len` bytes at `start` of the buffer the parser was given (or of the inline
/// scratch, see [`CommandArgs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgSpan {
    pub start: usize,
    pub len: usize,
}

impl ArgSpan {
    pub fn new(start: usize, len: usize) -> Self {
        ArgSpan { start, len }
    }

    /// The bytes of this argument in `source`.
    pub fn slice(self, source: &[u8]) -> &[u8] {
        &source[self.start..self.start + self.len]
    }
}

/// The arguments of one parsed command, reused from command to command so that the common
/// case allocates nothing. Multibulk arguments and unquoted inline arguments are spans into
/// the caller's input; an inline line with quotes is decoded into an owned scratch buffer.
#[derive(Clone, Debug, Default)]
pub struct CommandArgs {
    spans: Vec<ArgSpan>,
    scratch: Vec<u8>,
    in_scratch: bool,
}

/// Room kept between commands: argument spans (16 bytes each) and inline scratch bytes.
const KEEP_SPANS: usize = 1024;
const KEEP_SCRATCH: usize = 64 * 1024;

impl CommandArgs {
    pub fn new() -> Self {
        CommandArgs::default()
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Argument `index`; `input` is the buffer the command was parsed from.
    pub fn get<'a>(&'a self, input: &'a [u8], index: usize) -> &'a [u8] {
        self.spans[index].slice(self.source(input))
    }

    /// All arguments in order; `input` is the buffer the command was parsed from.
    pub fn iter<'a>(&'a self, input: &'a [u8]) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let source = self.source(input);
        self.spans.iter().map(move |span| span.slice(source))
    }

    /// Owned copies of all arguments (tests, slow paths).
    pub fn to_vecs(&self, input: &[u8]) -> Vec<Vec<u8>> {
        self.iter(input).map(<[u8]>::to_vec).collect()
    }

    /// The spans, and whether they index the inline scratch (true) or the input (false).
    pub fn spans(&self) -> (&[ArgSpan], bool) {
        (&self.spans, self.in_scratch)
    }

    /// Arguments that are consecutive `(start, len)` spans of one buffer the caller built (a
    /// command a script calls): `get(buffer, i)` then reads them back.
    pub fn set_spans(&mut self, spans: impl Iterator<Item = (usize, usize)>) {
        self.clear();
        self.spans
            .extend(spans.map(|(start, len)| ArgSpan::new(start, len)));
    }

    /// Frees the room a command with many arguments (or a long quoted inline line) grew, so
    /// that one huge command does not keep megabytes for the rest of the connection's life.
    /// Call it only between commands: the spans of a command still being parsed must stay.
    pub fn release_large(&mut self) {
        if self.spans.capacity() > KEEP_SPANS {
            self.spans = Vec::new();
            self.in_scratch = false;
        }
        if self.scratch.capacity() > KEEP_SCRATCH {
            self.scratch = Vec::new();
            self.in_scratch = false;
        }
    }

    fn source<'a>(&'a self, input: &'a [u8]) -> &'a [u8] {
        if self.in_scratch {
            &self.scratch
        } else {
            input
        }
    }

    fn clear(&mut self) {
        self.spans.clear();
        self.in_scratch = false;
    }
}

/// Where the parser stopped inside the current command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// At the first byte of a command: `*` means multibulk, anything else inline.
    CommandStart,
    /// Looking for the `\n` that ends an inline line starting at `pos`.
    InlineLine,
    /// Looking for the `\r` that ends the `*N` header starting at `pos`.
    MultibulkHeader,
    /// Looking for the `\r` that ends a `$N` header starting at `pos`; `args_left` > 0.
    BulkHeader,
    /// Waiting for `bulk_len` payload bytes plus 2 line-end bytes starting at `pos`.
    BulkPayload,
}

/// Progress inside one command, all offsets relative to the start of the caller's buffer.
#[derive(Clone, Copy, Debug)]
struct Progress {
    phase: Phase,
    /// First byte not yet consumed by a complete header/payload.
    pos: usize,
    /// Bytes in `[pos, scanned)` are known not to hold the line end being looked for.
    scanned: usize,
    /// Bulk strings still expected by the current multibulk command.
    args_left: usize,
    /// Payload length announced by the last `$N` header.
    bulk_len: usize,
    /// `args.len()` when the parser stopped, to detect a caller that switched buffers.
    args_parsed: usize,
}

impl Progress {
    const START: Progress = Progress {
        phase: Phase::CommandStart,
        pos: 0,
        scanned: 0,
        args_left: 0,
        bulk_len: 0,
        args_parsed: 0,
    };
}

/// What a call to [`RequestParser::parse`] found.
pub type ParseResult = Result<Option<usize>, ProtocolError>;

/// Incremental RESP/inline request parser for one connection.
#[derive(Clone, Debug)]
pub struct RequestParser {
    limits: ParserLimits,
    auth_required: bool,
    progress: Progress,
}

impl RequestParser {
    pub fn new(limits: ParserLimits) -> Self {
        RequestParser {
            limits,
            auth_required: false,
            progress: Progress::START,
        }
    }

    pub fn limits(&self) -> &ParserLimits {
        &self.limits
    }

    /// While true, headers above Redis's unauthenticated limits (`*` > 10, `$` > 16384) fail.
    pub fn set_auth_required(&mut self, auth_required: bool) {
        self.auth_required = auth_required;
    }

    /// Forgets a partly parsed command (the caller dropped or replaced its buffer).
    pub fn reset(&mut self) {
        self.progress = Progress::START;
    }

    /// The total buffer length the current partial command needs at least, when known: while a
    /// bulk payload is awaited, the connection can reserve this much once instead of growing
    /// its buffer read by read.
    pub fn input_len_wanted(&self) -> Option<usize> {
        (self.progress.phase == Phase::BulkPayload)
            .then(|| self.progress.pos + self.progress.bulk_len + 2)
    }

    /// Parses the next command at the start of `input`.
    ///
    /// - `Ok(Some(consumed))`: `args` holds a command of at least one argument; the caller
    ///   executes it and drops `consumed` bytes (which include any skipped empty commands).
    /// - `Ok(None)`: more input is needed; call again with the same bytes plus what arrives.
    /// - `Err(e)`: send `e.write_reply()` and close the connection.
    ///
    /// Pass the same `args` on every call for one connection. Empty inline lines, `*0` and
    /// `*-1` are consumed silently, as Redis does.
    pub fn parse(&mut self, input: &[u8], args: &mut CommandArgs) -> ParseResult {
        let p = &self.progress;
        let resumable =
            p.pos <= input.len() && p.scanned <= input.len() && p.args_parsed == args.len();
        if !resumable {
            self.progress = Progress::START;
        }
        if self.progress.phase == Phase::CommandStart {
            // Whatever `args` holds belongs to the previous command.
            args.clear();
        }
        let result = self.parse_from_progress(input, args);
        match result {
            Ok(Some(_)) | Err(_) => self.progress = Progress::START,
            Ok(None) => self.progress.args_parsed = args.len(),
        }
        result
    }

    fn parse_from_progress(&mut self, input: &[u8], args: &mut CommandArgs) -> ParseResult {
        loop {
            let p = &mut self.progress;
            match p.phase {
                Phase::CommandStart => {
                    let Some(&first) = input.get(p.pos) else {
                        return Ok(None);
                    };
                    p.scanned = p.pos;
                    p.phase = if first == b'*' {
                        Phase::MultibulkHeader
                    } else {
                        Phase::InlineLine
                    };
                }
                Phase::InlineLine => {
                    let Some(line_end) = self.find_line_end(input, b'\n') else {
                        return self.wait_for_line(input, ProtocolError::TooBigInlineRequest);
                    };
                    let p = &mut self.progress;
                    let mut line = &input[p.pos..line_end];
                    if let [rest @ .., b'\r'] = line {
                        line = rest;
                    }
                    let storage =
                        split_inline_args(line, p.pos, &mut args.spans, &mut args.scratch)
                            .map_err(|_| ProtocolError::UnbalancedQuotes)?;
                    args.in_scratch = storage == InlineArgsStorage::Scratch;
                    let next = line_end + 1;
                    if !args.is_empty() {
                        return Ok(Some(next));
                    }
                    *p = Progress {
                        pos: next,
                        ..Progress::START
                    };
                }
                Phase::MultibulkHeader => {
                    let Some(cr) = self.find_line_end(input, b'\r') else {
                        return self
                            .wait_for_line(input, ProtocolError::TooBigMultibulkCountString);
                    };
                    if cr + 1 >= input.len() {
                        return Ok(None);
                    }
                    let count = self.parse_multibulk_count(&input[self.progress.pos + 1..cr])?;
                    let p = &mut self.progress;
                    p.pos = cr + 2;
                    if count == 0 {
                        // `*0`, `*-1`: an empty command, skipped.
                        *p = Progress {
                            pos: p.pos,
                            ..Progress::START
                        };
                    } else {
                        p.args_left = count;
                        p.phase = Phase::BulkHeader;
                        p.scanned = p.pos;
                    }
                }
                Phase::BulkHeader => {
                    let Some(cr) = self.find_line_end(input, b'\r') else {
                        return self.wait_for_line(input, ProtocolError::TooBigBulkCountString);
                    };
                    if cr + 1 >= input.len() {
                        return Ok(None);
                    }
                    let p = &mut self.progress;
                    if input[p.pos] != b'$' {
                        return Err(ProtocolError::ExpectedDollar(input[p.pos]));
                    }
                    let bulk_len = self.parse_bulk_len(&input[self.progress.pos + 1..cr])?;
                    let p = &mut self.progress;
                    p.bulk_len = bulk_len;
                    p.pos = cr + 2;
                    p.phase = Phase::BulkPayload;
                }
                Phase::BulkPayload => {
                    // Redis skips the two bytes after the payload without checking them.
                    if input.len() - p.pos < p.bulk_len + 2 {
                        return Ok(None);
                    }
                    args.spans.push(ArgSpan::new(p.pos, p.bulk_len));
                    p.pos += p.bulk_len + 2;
                    p.args_left -= 1;
                    if p.args_left == 0 {
                        return Ok(Some(p.pos));
                    }
                    p.phase = Phase::BulkHeader;
                    p.scanned = p.pos;
                }
            }
        }
    }

    /// Finds `terminator` at or after `pos`, skipping bytes already searched.
    fn find_line_end(&mut self, input: &[u8], terminator: u8) -> Option<usize> {
        let p = &mut self.progress;
        let from = p.scanned.max(p.pos);
        match memchr::memchr(terminator, &input[from..]) {
            Some(offset) => {
                p.scanned = from + offset;
                Some(from + offset)
            }
            None => {
                p.scanned = input.len();
                None
            }
        }
    }

    /// No line end yet: wait, unless the unterminated line is already over the inline limit.
    fn wait_for_line(&self, input: &[u8], too_big: ProtocolError) -> ParseResult {
        if input.len() - self.progress.pos > self.limits.inline_len_max {
            return Err(too_big);
        }
        Ok(None)
    }

    /// The argument count of a `*N` header; 0 for the empty commands `*0` and `*-N`.
    fn parse_multibulk_count(&self, digits: &[u8]) -> Result<usize, ProtocolError> {
        let count = parse_i64_exact(digits).ok_or(ProtocolError::InvalidMultibulkLength)?;
        if count <= 0 {
            return Ok(0);
        }
        let count = usize::try_from(count).map_err(|_| ProtocolError::InvalidMultibulkLength)?;
        if count > self.limits.multibulk_len_max {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        if self.auth_required && count > UNAUTHENTICATED_MULTIBULK_LEN_MAX {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        Ok(count)
    }

    fn parse_bulk_len(&self, digits: &[u8]) -> Result<usize, ProtocolError> {
        let len = parse_i64_exact(digits)
            .and_then(|len| usize::try_from(len).ok())
            .filter(|&len| len <= self.limits.bulk_len_max)
            .ok_or(ProtocolError::InvalidBulkLength)?;
        if self.auth_required && len > UNAUTHENTICATED_BULK_LEN_MAX {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        Ok(len)
    }
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser::new(ParserLimits::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses every command in `input` at once: (commands, bytes consumed).
    fn parse_all(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, usize, Option<ProtocolError>) {
        let mut parser = RequestParser::default();
        let mut args = CommandArgs::new();
        let mut commands = Vec::new();
        let mut at = 0;
        loop {
            match parser.parse(&input[at..], &mut args) {
                Ok(Some(consumed)) => {
                    assert!(!args.is_empty());
                    commands.push(args.to_vecs(&input[at..]));
                    at += consumed;
                }
                Ok(None) => return (commands, at, None),
                Err(error) => return (commands, at, Some(error)),
            }
        }
    }

    #[test]
    fn release_large_frees_only_a_big_commands_room() {
        let mut input = b"*1\r\n$4\r\nPING\r\n".to_vec();
        let mut parser = RequestParser::default();
        let mut args = CommandArgs::new();
        assert!(parser.parse(&input, &mut args).unwrap().is_some());
        let small = args.spans.capacity();
        args.release_large();
        assert_eq!(args.spans.capacity(), small);
        input = format!("*{}\r\n", 5000).into_bytes();
        for _ in 0..5000 {
            input.extend_from_slice(b"$1\r\nx\r\n");
        }
        assert!(parser.parse(&input, &mut args).unwrap().is_some());
        assert!(args.spans.capacity() >= 5000);
        args.release_large();
        assert_eq!(args.spans.capacity(), 0);
        // Still usable afterwards.
        let ping = b"*1\r\n$4\r\nPING\r\n";
        assert!(parser.parse(ping, &mut args).unwrap().is_some());
        assert_eq!(args.to_vecs(ping), cmd(&["PING"]));
    }

    fn cmd(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    fn error_of(input: &[u8]) -> ProtocolError {
        parse_all(input).2.expect("an error")
    }

    fn reply_of(error: ProtocolError) -> Vec<u8> {
        let mut out = Vec::new();
        error.write_reply(&mut out);
        out
    }

    #[test]
    fn multibulk_and_pipelining() {
        let input = b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*2\r\n$3\r\nGET";
        let (commands, consumed, error) = parse_all(input);
        assert_eq!(commands, vec![cmd(&["PING"]), cmd(&["SET", "k", ""])]);
        assert_eq!(consumed, input.len() - b"*2\r\n$3\r\nGET".len());
        assert_eq!(error, None);
    }

    #[test]
    fn empty_commands_are_skipped_like_redis() {
        // Observed on redis-server 7.0.15: each of these answers only the PING.
        for input in [
            &b"*-1\r\nPING\r\n"[..],
            b"*0\r\nPING\r\n",
            b"*-5\r\nPING\r\n",
            b"  \r\n\r\n\nPING\r\n",
            b"PING\n",
            b"PING\r\r\n",
        ] {
            let (commands, consumed, error) = parse_all(input);
            assert_eq!(
                (commands, consumed, error),
                (vec![cmd(&["PING"])], input.len(), None)
            );
        }
        // Skipped bytes are part of the next command's `consumed`; alone they wait.
        assert_eq!(parse_all(b"*0\r\n\r\n"), (vec![], 0, None));
    }

    #[test]
    fn redis_quirks_after_lines_and_payloads() {
        // The two bytes after a payload are skipped unchecked.
        let (commands, _, _) = parse_all(b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n");
        assert_eq!(commands, vec![cmd(&["PING"]), cmd(&["PING"])]);
        // A header ends at '\r'; the next byte is skipped unchecked.
        assert_eq!(
            error_of(b"*1\r$4\r\nPING\r\n"),
            ProtocolError::ExpectedDollar(b'4')
        );
        assert_eq!(
            error_of(b"*1\n$4\r\nPING\r\n"),
            ProtocolError::InvalidMultibulkLength
        );
    }

    #[test]
    fn protocol_errors_match_redis_bytes() {
        // Each line observed on redis-server 7.0.15.
        let cases: &[(&[u8], &[u8])] = &[
            (
                b"*1\r\n$-1\r\n",
                b"-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                b"*abc\r\n",
                b"-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*+1\r\n",
                b"-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*01\r\n",
                b"-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*-0\r\n",
                b"-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*\r\n",
                b"-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*1 \r\n",
                b"-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*2147483648\r\n",
                b"-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                b"*1\r\n$04\r\n",
                b"-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                b"*1\r\n$\r\n",
                b"-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                b"*1\r\n$4 \r\n",
                b"-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                b"*1\r\n$-0\r\n",
                b"-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                b"*1\r\n$536870913\r\n",
                b"-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                b"*1\r\n$2000000000\r\n",
                b"-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                b"*1\r\nx4\r\n",
                b"-ERR Protocol error: expected '$', got 'x'\r\n",
            ),
            (
                b"*1\r\n\r\n",
                b"-ERR Protocol error: expected '$', got ' '\r\n",
            ),
            (
                b"*1\r\n\n4\r\n",
                b"-ERR Protocol error: expected '$', got ' '\r\n",
            ),
            (
                b"PING \"a\"b\r\n",
                b"-ERR Protocol error: unbalanced quotes in request\r\n",
            ),
            (
                b"ECHO \"a\r\n",
                b"-ERR Protocol error: unbalanced quotes in request\r\n",
            ),
        ];
        for (input, expected) in cases {
            let error = error_of(input);
            assert_eq!(
                reply_of(error),
                *expected,
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn accepted_limits_wait_for_data() {
        // Observed on redis-server 7.0.15: these wait for more input, no error.
        for input in [
            &b"*2147483647\r\n"[..],
            b"*1048577\r\n",
            b"*1\r\n$536870912\r\n",
            b"*1\r\nx",
            b"*1\r\n$5\r\nab",
        ] {
            assert_eq!(parse_all(input), (vec![], 0, None), "{:?}", input);
        }
    }

    #[test]
    fn huge_multibulk_count_reserves_nothing() {
        let mut parser = RequestParser::default();
        let mut args = CommandArgs::new();
        assert_eq!(
            parser.parse(b"*1000000\r\n$1\r\na\r\n", &mut args),
            Ok(None)
        );
        assert_eq!(args.len(), 1);
        assert!(args.spans.capacity() < 1000);
    }

    #[test]
    fn unterminated_lines_over_64k_fail() {
        let limit = ParserLimits::default().inline_len_max;
        let mut inline = vec![b'a'; limit];
        assert_eq!(parse_all(&inline), (vec![], 0, None));
        inline.push(b'a');
        assert_eq!(error_of(&inline), ProtocolError::TooBigInlineRequest);
        assert_eq!(
            reply_of(ProtocolError::TooBigInlineRequest),
            b"-ERR Protocol error: too big inline request\r\n"
        );

        let mut count = b"*".to_vec();
        count.resize(limit + 1, b'1');
        assert_eq!(error_of(&count), ProtocolError::TooBigMultibulkCountString);
        assert_eq!(
            reply_of(ProtocolError::TooBigMultibulkCountString),
            b"-ERR Protocol error: too big mbulk count string\r\n"
        );

        let mut bulk = b"*1\r\n$".to_vec();
        bulk.resize(limit + 4, b'1');
        assert_eq!(parse_all(&bulk), (vec![], 0, None));
        bulk.push(b'1');
        assert_eq!(error_of(&bulk), ProtocolError::TooBigBulkCountString);
        assert_eq!(
            reply_of(ProtocolError::TooBigBulkCountString),
            b"-ERR Protocol error: too big bulk count string\r\n"
        );

        // A long inline line that is already terminated is accepted, as in Redis.
        let mut long_line = b"ECHO ".to_vec();
        long_line.resize(limit * 2, b'x');
        long_line.extend_from_slice(b"\r\n");
        let (commands, consumed, error) = parse_all(&long_line);
        assert_eq!(
            (commands.len(), consumed, error),
            (1, long_line.len(), None)
        );
    }

    #[test]
    fn inline_commands() {
        let input = b"SET k \"a b\\x41\"\r\nGET k\nECHO 'it\\'s'\r\n";
        let (commands, consumed, error) = parse_all(input);
        assert_eq!(
            commands,
            vec![
                cmd(&["SET", "k", "a bA"]),
                cmd(&["GET", "k"]),
                cmd(&["ECHO", "it's"])
            ]
        );
        assert_eq!((consumed, error), (input.len(), None));
    }

    #[test]
    fn unquoted_inline_args_borrow_the_input() {
        let mut parser = RequestParser::default();
        let mut args = CommandArgs::new();
        let input = b"GET key\r\n";
        assert_eq!(parser.parse(input, &mut args), Ok(Some(input.len())));
        let (spans, in_scratch) = args.spans();
        assert!(!in_scratch);
        assert_eq!(spans, &[ArgSpan::new(0, 3), ArgSpan::new(4, 3)]);
    }

    #[test]
    fn unauthenticated_limits() {
        let mut parser = RequestParser::default();
        parser.set_auth_required(true);
        let mut args = CommandArgs::new();
        assert_eq!(
            parser.parse(b"*11\r\n", &mut args),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        assert_eq!(
            parser.parse(b"*1\r\n$16385\r\n", &mut args),
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
        assert_eq!(parser.parse(b"*1\r\n$16384\r\n", &mut args), Ok(None));
        parser.reset();
        parser.set_auth_required(false);
        assert_eq!(parser.parse(b"*11\r\n", &mut args), Ok(None));
    }

    #[test]
    fn big_bulk_in_many_reads_resumes_in_place() {
        let payload_len = 1 << 20;
        let mut input = format!("*2\r\n$3\r\nSET\r\n${payload_len}\r\n").into_bytes();
        let header_len = input.len();
        input.resize(header_len + payload_len, b'v');
        input.extend_from_slice(b"\r\n");
        let mut parser = RequestParser::default();
        let mut args = CommandArgs::new();
        let mut received = 0;
        while received < input.len() {
            received = (received + 4096).min(input.len());
            let result = parser.parse(&input[..received], &mut args).unwrap();
            if received > header_len {
                // Once the header is read the parser knows the final length.
                assert_eq!(
                    parser.input_len_wanted(),
                    result.is_none().then_some(input.len())
                );
            }
            if received < input.len() {
                assert_eq!(result, None);
                // Resumed progress: the payload is never scanned.
                assert!(parser.progress.scanned <= header_len);
            } else {
                assert_eq!(result, Some(input.len()));
            }
        }
        assert_eq!(args.get(&input, 1).len(), payload_len);
    }

    #[test]
    fn switching_buffers_restarts_cleanly() {
        let mut parser = RequestParser::default();
        let mut args = CommandArgs::new();
        assert_eq!(parser.parse(b"*2\r\n$3\r\nGET\r\n", &mut args), Ok(None));
        // A caller that dropped its buffer: a shorter, different input parses from scratch.
        assert_eq!(parser.parse(b"PING\r\n", &mut args), Ok(Some(6)));
        assert_eq!(args.to_vecs(b"PING\r\n"), cmd(&["PING"]));
    }

    #[test]
    fn error_display_is_the_text_after_err() {
        assert_eq!(
            ProtocolError::ExpectedDollar(b'x').to_string(),
            "Protocol error: expected '$', got 'x'"
        );
        assert_eq!(
            ProtocolError::InvalidBulkLength.to_string(),
            "Protocol error: invalid bulk length"
        );
    }
}
