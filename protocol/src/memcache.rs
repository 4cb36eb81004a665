//! Memcached text protocol request parser (classic and meta commands), incremental, with
//! memcached 1.6's exact error lines.
//!
//! A command is one line ended by `\n` (one `\r` before it is dropped), split on spaces only;
//! storage commands (`set`, `add`, `replace`, `append`, `prepend`, `cas`, `ms`) are followed by
//! a data block of the announced length plus `\r\n`. Most malformed commands are answered with
//! an error line and the connection goes on, exactly as memcached does: a storage command
//! whose line is rejected does *not* consume its data block (memcached then reads the data as
//! a command and answers `ERROR`), while a bad data block is consumed whole before
//! `CLIENT_ERROR bad data chunk`. A value over the size limit is discarded as it arrives
//! (never buffered whole) and then answered with `SERVER_ERROR object too large for cache`.
//! Only an unterminated line longer than 2048 bytes that is not a `get`/`gets` closes the
//! connection ([`MemcacheFatal`]).
//!
//! Behaviour mirrored from memcached on purpose: numbers follow C's `strtoul`/`strtol` with
//! memcached's `safe_*` checks (a `+` sign is accepted, `flags` and `exptime` wrap to 32 bits,
//! anything after a whitespace that ends the digits is ignored), and a NUL byte ends the line.

use std::fmt;

/// memcached's `KEY_MAX_LENGTH`.
pub const KEY_LEN_MAX: usize = 250;
/// An unterminated line longer than this closes the connection, unless it is a `get`/`gets`.
pub const LINE_LEN_MAX: usize = 2048;
/// memcached's default item size limit (`-I 1m`).
pub const VALUE_LEN_MAX_DEFAULT: usize = 1024 * 1024;
/// memcached's `MAX_TOKENS`: a line splits into at most this many tokens (the terminal one
/// included); the last holds the rest of the line.
const TOKENS_MAX: usize = 24;
/// Meta commands take at most this many flag tokens (`MFLAG_MAX_OPT_LENGTH`).
const META_FLAGS_MAX: usize = 20;
/// Longest `O` (opaque) meta flag token, flag letter included.
const META_OPAQUE_LEN_MAX: usize = 32;

/// Limits of one memcached connection's parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemcacheLimits {
    /// Largest data block a storage command may carry (`-I`, item size). Memcached's real
    /// limit also counts the item header, so values a few dozen bytes under 1 MiB may still
    /// be refused by the store with the same error.
    pub value_len_max: usize,
}

impl Default for MemcacheLimits {
    fn default() -> Self {
        MemcacheLimits {
            value_len_max: VALUE_LEN_MAX_DEFAULT,
        }
    }
}

/// An error answered with one line; the connection goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemcacheError {
    /// Unknown command or wrong number of tokens: `ERROR`.
    UnknownCommand,
    /// `CLIENT_ERROR bad command line format`
    BadCommandLine,
    /// `CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]`
    BadDeleteUsage,
    /// `CLIENT_ERROR invalid numeric delta argument`
    InvalidDelta,
    /// `CLIENT_ERROR invalid exptime argument`
    InvalidExptime,
    /// `CLIENT_ERROR bad data chunk`
    BadDataChunk,
    /// `SERVER_ERROR object too large for cache`
    ValueTooLarge,
    /// `CLIENT_ERROR invalid flag` (meta flag not starting with a letter)
    InvalidMetaFlag,
    /// `CLIENT_ERROR duplicate flag`
    DuplicateMetaFlag,
    /// `CLIENT_ERROR options flags are too long`
    TooManyMetaFlags,
    /// `CLIENT_ERROR opaque token too long`
    OpaqueTooLong,
}

impl MemcacheError {
    /// The reply line, `\r\n` included.
    pub fn reply_line(&self) -> &'static [u8] {
        match self {
            MemcacheError::UnknownCommand => b"ERROR\r\n",
            MemcacheError::BadCommandLine => b"CLIENT_ERROR bad command line format\r\n",
            MemcacheError::BadDeleteUsage => {
                b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
            }
            MemcacheError::InvalidDelta => b"CLIENT_ERROR invalid numeric delta argument\r\n",
            MemcacheError::InvalidExptime => b"CLIENT_ERROR invalid exptime argument\r\n",
            MemcacheError::BadDataChunk => b"CLIENT_ERROR bad data chunk\r\n",
            MemcacheError::ValueTooLarge => b"SERVER_ERROR object too large for cache\r\n",
            MemcacheError::InvalidMetaFlag => b"CLIENT_ERROR invalid flag\r\n",
            MemcacheError::DuplicateMetaFlag => b"CLIENT_ERROR duplicate flag\r\n",
            MemcacheError::TooManyMetaFlags => b"CLIENT_ERROR options flags are too long\r\n",
            MemcacheError::OpaqueTooLong => b"CLIENT_ERROR opaque token too long\r\n",
        }
    }
}

impl fmt::Display for MemcacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.reply_line();
        f.write_str(std::str::from_utf8(&line[..line.len() - 2]).unwrap_or("ERROR"))
    }
}

impl std::error::Error for MemcacheError {}

/// An unterminated line over 2048 bytes that is not a multi-get: memcached closes the
/// connection without a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemcacheFatal;

impl fmt::Display for MemcacheFatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("memcached command line too long")
    }
}

impl std::error::Error for MemcacheFatal {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetKind {
    Get,
    Gets,
    Gat,
    Gats,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaKind {
    /// `mg <key> <flags>*`
    Get,
    /// `ms <key> <datalen> <flags>*` + data
    Set,
    /// `md <key> <flags>*`
    Delete,
    /// `ma <key> <flags>*`
    Arithmetic,
    /// `mn`
    Noop,
    /// `me <key>`
    Debug,
}

/// Space-separated tokens of part of a line (keys of a get, flags of a meta command, stats
/// arguments), iterated without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tokens<'a> {
    rest: &'a [u8],
}

impl<'a> Tokens<'a> {
    pub fn new(text: &'a [u8]) -> Self {
        Tokens { rest: text }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| b != b' ')?;
        let rest = &self.rest[start..];
        let end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
        self.rest = &rest[end..];
        Some(&rest[..end])
    }
}

/// A meta command's flags: one token each, the flag letter first (`v`, `T30`, `Oabc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetaFlags<'a> {
    tokens: Tokens<'a>,
}

impl<'a> MetaFlags<'a> {
    pub fn iter(&self) -> Tokens<'a> {
        self.tokens
    }

    /// The token of flag `letter` (letter included), if present.
    pub fn get(&self, letter: u8) -> Option<&'a [u8]> {
        self.tokens.into_iter().find(|token| token[0] == letter)
    }

    pub fn has(&self, letter: u8) -> bool {
        self.get(letter).is_some()
    }
}

/// One parsed memcached command; slices borrow the caller's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemcacheCommand<'a> {
    /// `get|gets <key>*`, `gat|gats <exptime> <key>*`
    Get {
        kind: GetKind,
        /// Only for `gat`/`gats`.
        exptime: Option<i32>,
        /// Validated: each at most 250 bytes; possibly none for `gat <exptime>`.
        keys: Tokens<'a>,
    },
    /// `set|add|replace|append|prepend <key> <flags> <exptime> <bytes> [noreply]` and
    /// `cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]`, with their data block.
    Store {
        kind: StoreKind,
        key: &'a [u8],
        flags: u32,
        exptime: i32,
        /// Only meaningful for `cas`; 0 otherwise.
        cas_unique: u64,
        noreply: bool,
        data: &'a [u8],
    },
    /// `delete <key> [0] [noreply]`
    Delete { key: &'a [u8], noreply: bool },
    /// `incr|decr <key> <delta> [noreply]`
    Arithmetic {
        incr: bool,
        key: &'a [u8],
        delta: u64,
        noreply: bool,
    },
    /// `touch <key> <exptime> [noreply]`
    Touch {
        key: &'a [u8],
        exptime: i32,
        noreply: bool,
    },
    /// `flush_all [delay] [noreply]`
    FlushAll { delay: Option<i32>, noreply: bool },
    /// `version`
    Version,
    /// `stats [args]*`
    Stats { args: Tokens<'a> },
    /// `verbosity <level> [noreply]`
    Verbosity { level: u32, noreply: bool },
    /// `quit`: close the connection without a reply.
    Quit,
    /// `mg`, `ms`, `md`, `ma`, `mn`, `me`. The key is the raw token (base64 when flag `b`).
    Meta {
        kind: MetaKind,
        key: &'a [u8],
        flags: MetaFlags<'a>,
        /// Only for `ms`.
        data: &'a [u8],
    },
}

/// What one call to [`MemcacheParser::parse`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemcacheRequest<'a> {
    /// Execute this command.
    Command(MemcacheCommand<'a>),
    /// Answer [`MemcacheError::reply_line`] unless `noreply` (memcached stays silent on
    /// errors of a classic command that asked for `noreply`), then go on.
    Error { error: MemcacheError, noreply: bool },
    /// Part of an oversized value was discarded; nothing to answer yet.
    Discarded,
}

/// A parsed request and the bytes it used (drop them from the buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemcacheParsed<'a> {
    pub request: MemcacheRequest<'a>,
    pub consumed: usize,
}

/// A storage command line that was accepted; its data block is awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingStore {
    kind: PendingKind,
    key_start: usize,
    key_len: usize,
    flags: u32,
    exptime: i32,
    cas_unique: u64,
    noreply: bool,
    /// Meta flags text span (for `ms`).
    meta_flags_start: usize,
    meta_flags_len: usize,
    data_start: usize,
    data_len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PendingKind {
    Classic(StoreKind),
    MetaSet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Looking for the end of a command line; bytes before `scanned` hold no `\n`.
    Line { scanned: usize },
    /// Waiting for the data block of a storage command.
    Data(PendingStore),
    /// Discarding `left` more bytes of an oversized value, then answering `error`.
    Discard { left: usize, noreply: bool },
}

/// Incremental memcached request parser for one connection.
#[derive(Clone, Debug)]
pub struct MemcacheParser {
    limits: MemcacheLimits,
    state: State,
}

impl Default for MemcacheParser {
    fn default() -> Self {
        MemcacheParser::new(MemcacheLimits::default())
    }
}

type ParseOutcome<'a> = Result<Option<MemcacheParsed<'a>>, MemcacheFatal>;

fn parsed(request: MemcacheRequest<'_>, consumed: usize) -> ParseOutcome<'_> {
    Ok(Some(MemcacheParsed { request, consumed }))
}

fn error_outcome(error: MemcacheError, noreply: bool, consumed: usize) -> ParseOutcome<'static> {
    parsed(MemcacheRequest::Error { error, noreply }, consumed)
}

impl MemcacheParser {
    pub fn new(limits: MemcacheLimits) -> Self {
        MemcacheParser {
            limits,
            state: State::Line { scanned: 0 },
        }
    }

    /// Forgets a partly parsed request.
    pub fn reset(&mut self) {
        self.state = State::Line { scanned: 0 };
    }

    /// Parses the next request at the start of `input`. `Ok(None)`: more input is needed
    /// (call again with the same bytes plus more). `Err(MemcacheFatal)`: close the connection.
    pub fn parse<'a>(&mut self, input: &'a [u8]) -> ParseOutcome<'a> {
        match self.state {
            State::Discard { left, noreply } => {
                if input.is_empty() {
                    return Ok(None);
                }
                let taken = left.min(input.len());
                if taken < left {
                    self.state = State::Discard {
                        left: left - taken,
                        noreply,
                    };
                    return parsed(MemcacheRequest::Discarded, taken);
                }
                self.reset();
                error_outcome(MemcacheError::ValueTooLarge, noreply, taken)
            }
            State::Data(pending) => self.parse_data(input, pending),
            State::Line { scanned } => self.parse_line(input, scanned.min(input.len())),
        }
    }

    fn parse_data<'a>(&mut self, input: &'a [u8], pending: PendingStore) -> ParseOutcome<'a> {
        let end = pending.data_start + pending.data_len + 2;
        if input.len() < end {
            return Ok(None);
        }
        self.reset();
        if &input[end - 2..end] != b"\r\n" {
            // A classic `noreply` store stays silent even here; ms always answers errors.
            let noreply = pending.noreply && pending.kind != PendingKind::MetaSet;
            return error_outcome(MemcacheError::BadDataChunk, noreply, end);
        }
        let key = &input[pending.key_start..pending.key_start + pending.key_len];
        let data = &input[pending.data_start..pending.data_start + pending.data_len];
        let command = match pending.kind {
            PendingKind::Classic(kind) => MemcacheCommand::Store {
                kind,
                key,
                flags: pending.flags,
                exptime: pending.exptime,
                cas_unique: pending.cas_unique,
                noreply: pending.noreply,
                data,
            },
            PendingKind::MetaSet => MemcacheCommand::Meta {
                kind: MetaKind::Set,
                key,
                flags: MetaFlags {
                    tokens: Tokens::new(
                        &input[pending.meta_flags_start
                            ..pending.meta_flags_start + pending.meta_flags_len],
                    ),
                },
                data,
            },
        };
        parsed(MemcacheRequest::Command(command), end)
    }

    fn parse_line<'a>(&mut self, input: &'a [u8], scanned: usize) -> ParseOutcome<'a> {
        let Some(newline) = memchr::memchr(b'\n', &input[scanned..]).map(|i| scanned + i) else {
            self.state = State::Line {
                scanned: input.len(),
            };
            if input.len() > LINE_LEN_MAX && !is_multiget_prefix(input) {
                self.reset();
                return Err(MemcacheFatal);
            }
            return Ok(None);
        };
        self.reset();
        let mut line_len = newline;
        if line_len > 1 && input[line_len - 1] == b'\r' {
            line_len -= 1;
        }
        // memcached handles the line as a C string: a NUL ends it.
        let line_len = memchr::memchr(0, &input[..line_len]).unwrap_or(line_len);
        let after_line = newline + 1;
        self.parse_command(input, line_len, after_line)
    }

    fn parse_command<'a>(
        &mut self,
        input: &'a [u8],
        line_len: usize,
        after_line: usize,
    ) -> ParseOutcome<'a> {
        let line = &input[..line_len];
        let tokens = tokenize(line);
        let Some(&name) = tokens.first() else {
            return error_outcome(MemcacheError::UnknownCommand, false, after_line);
        };
        let name = name.slice(line);
        let count = tokens.len() + 1; // memcached counts a terminal empty token
        let unknown = || error_outcome(MemcacheError::UnknownCommand, false, after_line);
        let token = |i: usize| tokens[i].slice(line);
        let last_is_noreply = || tokens.len() > 1 && token(tokens.len() - 1) == b"noreply";
        let command = match name {
            b"get" | b"gets" | b"gat" | b"gats" => {
                if count < 3 {
                    return unknown();
                }
                return self.parse_get(name, line, tokens[1].start, after_line);
            }
            b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" => {
                let kind = match name {
                    b"set" => StoreKind::Set,
                    b"add" => StoreKind::Add,
                    b"replace" => StoreKind::Replace,
                    b"append" => StoreKind::Append,
                    b"prepend" => StoreKind::Prepend,
                    _ => StoreKind::Cas,
                };
                let base = if kind == StoreKind::Cas { 7 } else { 6 };
                if count != base && count != base + 1 {
                    return unknown();
                }
                return self.parse_store(input, &tokens, kind, after_line);
            }
            b"delete" => {
                if !(3..=5).contains(&count) {
                    return unknown();
                }
                let noreply = last_is_noreply();
                if count > 3 {
                    let hold_is_zero = token(2) == b"0";
                    let valid = (count == 4 && (hold_is_zero || noreply))
                        || (count == 5 && hold_is_zero && noreply);
                    if !valid {
                        return error_outcome(MemcacheError::BadDeleteUsage, noreply, after_line);
                    }
                }
                let key = token(1);
                if key.len() > KEY_LEN_MAX {
                    return error_outcome(MemcacheError::BadCommandLine, noreply, after_line);
                }
                MemcacheCommand::Delete { key, noreply }
            }
            b"incr" | b"decr" => {
                if count != 4 && count != 5 {
                    return unknown();
                }
                let noreply = last_is_noreply();
                let key = token(1);
                if key.len() > KEY_LEN_MAX {
                    return error_outcome(MemcacheError::BadCommandLine, noreply, after_line);
                }
                let Some(delta) = c_strtoull(token(2)) else {
                    return error_outcome(MemcacheError::InvalidDelta, noreply, after_line);
                };
                MemcacheCommand::Arithmetic {
                    incr: name == b"incr",
                    key,
                    delta,
                    noreply,
                }
            }
            b"touch" => {
                if count != 4 && count != 5 {
                    return unknown();
                }
                let noreply = last_is_noreply();
                let key = token(1);
                if key.len() > KEY_LEN_MAX {
                    return error_outcome(MemcacheError::BadCommandLine, noreply, after_line);
                }
                let Some(exptime) = c_strtol_i32(token(2)) else {
                    return error_outcome(MemcacheError::InvalidExptime, noreply, after_line);
                };
                MemcacheCommand::Touch {
                    key,
                    exptime,
                    noreply,
                }
            }
            b"flush_all" => {
                if !(2..=4).contains(&count) {
                    return unknown();
                }
                let noreply = last_is_noreply();
                let delay_given = count == 4 || (count == 3 && !noreply);
                let delay = if delay_given {
                    match c_strtol_i32(token(1)) {
                        Some(delay) => Some(delay),
                        None => {
                            return error_outcome(
                                MemcacheError::InvalidExptime,
                                noreply,
                                after_line,
                            )
                        }
                    }
                } else {
                    None
                };
                MemcacheCommand::FlushAll { delay, noreply }
            }
            b"version" => MemcacheCommand::Version,
            b"quit" => MemcacheCommand::Quit,
            b"stats" => MemcacheCommand::Stats {
                args: Tokens::new(tokens.get(1).map_or(&[][..], |t| &line[t.start..])),
            },
            b"verbosity" => {
                if count != 3 && count != 4 {
                    return unknown();
                }
                let noreply = last_is_noreply();
                let Some(level) = c_strtoul_u32(token(1)) else {
                    return error_outcome(MemcacheError::BadCommandLine, noreply, after_line);
                };
                MemcacheCommand::Verbosity { level, noreply }
            }
            b"mg" | b"ms" | b"md" | b"ma" | b"mn" | b"me" => {
                return self.parse_meta(input, &tokens, name, after_line);
            }
            _ => return unknown(),
        };
        parsed(MemcacheRequest::Command(command), after_line)
    }

    fn parse_get<'a>(
        &mut self,
        name: &[u8],
        line: &'a [u8],
        args_start: usize,
        after_line: usize,
    ) -> ParseOutcome<'a> {
        let kind = match name {
            b"get" => GetKind::Get,
            b"gets" => GetKind::Gets,
            b"gat" => GetKind::Gat,
            _ => GetKind::Gats,
        };
        let mut keys = Tokens::new(&line[args_start..]);
        let exptime = if matches!(kind, GetKind::Gat | GetKind::Gats) {
            let exptime = keys.next().and_then(c_strtol_i32);
            if exptime.is_none() {
                return error_outcome(MemcacheError::InvalidExptime, false, after_line);
            }
            exptime
        } else {
            None
        };
        if keys.into_iter().any(|key| key.len() > KEY_LEN_MAX) {
            return error_outcome(MemcacheError::BadCommandLine, false, after_line);
        }
        let command = MemcacheCommand::Get {
            kind,
            exptime,
            keys,
        };
        parsed(MemcacheRequest::Command(command), after_line)
    }

    fn parse_store<'a>(
        &mut self,
        input: &'a [u8],
        tokens: &[Span],
        kind: StoreKind,
        after_line: usize,
    ) -> ParseOutcome<'a> {
        let token = |i: usize| tokens[i].slice(input);
        let noreply = token(tokens.len() - 1) == b"noreply";
        let bad_line = error_outcome(MemcacheError::BadCommandLine, noreply, after_line);
        let key = tokens[1];
        if key.len > KEY_LEN_MAX {
            return bad_line;
        }
        let (Some(flags), Some(exptime), Some(data_len)) = (
            c_strtoul_u32(token(2)),
            c_strtol_i32(token(3)),
            c_strtol_i32(token(4)),
        ) else {
            return bad_line;
        };
        let cas_unique = if kind == StoreKind::Cas {
            match c_strtoull(token(5)) {
                Some(cas) => cas,
                None => return bad_line,
            }
        } else {
            0
        };
        if !(0..=i32::MAX - 2).contains(&data_len) {
            return bad_line;
        }
        let pending = PendingStore {
            kind: PendingKind::Classic(kind),
            key_start: key.start,
            key_len: key.len,
            flags,
            exptime,
            cas_unique,
            noreply,
            meta_flags_start: 0,
            meta_flags_len: 0,
            data_start: after_line,
            data_len: data_len as usize,
        };
        self.await_data(input, pending)
    }

    /// Waits for (or discards, when oversized) the data block of an accepted storage line.
    fn await_data<'a>(&mut self, input: &'a [u8], pending: PendingStore) -> ParseOutcome<'a> {
        if pending.data_len > self.limits.value_len_max {
            let total = pending.data_start + pending.data_len + 2;
            let noreply = pending.noreply && pending.kind != PendingKind::MetaSet;
            self.state = State::Discard {
                left: total - pending.data_start,
                noreply,
            };
            // The line itself is consumed now; the data is discarded by later calls.
            return parsed(MemcacheRequest::Discarded, pending.data_start);
        }
        self.state = State::Data(pending);
        self.parse_data(input, pending)
    }

    fn parse_meta<'a>(
        &mut self,
        input: &'a [u8],
        tokens: &[Span],
        name: &[u8],
        after_line: usize,
    ) -> ParseOutcome<'a> {
        let kind = match name {
            b"mg" => MetaKind::Get,
            b"ms" => MetaKind::Set,
            b"md" => MetaKind::Delete,
            b"ma" => MetaKind::Arithmetic,
            b"mn" => MetaKind::Noop,
            _ => MetaKind::Debug,
        };
        let bad_line = error_outcome(MemcacheError::BadCommandLine, false, after_line);
        if kind == MetaKind::Noop {
            let command = MemcacheCommand::Meta {
                kind,
                key: &[],
                flags: MetaFlags {
                    tokens: Tokens::new(&[]),
                },
                data: &[],
            };
            return parsed(MemcacheRequest::Command(command), after_line);
        }
        let Some(key) = tokens.get(1) else {
            return match kind {
                MetaKind::Set | MetaKind::Debug => bad_line,
                _ => error_outcome(MemcacheError::UnknownCommand, false, after_line),
            };
        };
        let first_flag = if kind == MetaKind::Set { 3 } else { 2 };
        if kind == MetaKind::Set && tokens.len() < 3 {
            return bad_line;
        }
        if tokens.len() > first_flag + META_FLAGS_MAX {
            return error_outcome(MemcacheError::TooManyMetaFlags, false, after_line);
        }
        if key.len > KEY_LEN_MAX {
            return bad_line;
        }
        if let Err(error) = check_meta_flags(input, &tokens[first_flag.min(tokens.len())..]) {
            return error_outcome(error, false, after_line);
        }
        let flags_start = tokens.get(first_flag).map_or(after_line, |t| t.start);
        let flags_end = tokens.last().map_or(flags_start, |t| t.start + t.len);
        let flags_len = flags_end.saturating_sub(flags_start);
        if kind == MetaKind::Set {
            let data_len = c_strtol_i32(tokens[2].slice(input)).filter(|&len| len >= 0);
            let Some(data_len) = data_len else {
                return bad_line;
            };
            let pending = PendingStore {
                kind: PendingKind::MetaSet,
                key_start: key.start,
                key_len: key.len,
                flags: 0,
                exptime: 0,
                cas_unique: 0,
                noreply: false,
                meta_flags_start: flags_start,
                meta_flags_len: flags_len,
                data_start: after_line,
                data_len: data_len as usize,
            };
            return self.await_data(input, pending);
        }
        let command = MemcacheCommand::Meta {
            kind,
            key: key.slice(input),
            flags: MetaFlags {
                tokens: Tokens::new(&input[flags_start..flags_start + flags_len]),
            },
            data: &[],
        };
        parsed(MemcacheRequest::Command(command), after_line)
    }
}

/// Flags start with a letter, appear once each, and an opaque is at most 32 bytes.
fn check_meta_flags(input: &[u8], flags: &[Span]) -> Result<(), MemcacheError> {
    let mut seen = [false; 128];
    for flag in flags {
        let token = flag.slice(input);
        let letter = token[0];
        if !(b'A'..=b'z').contains(&letter) {
            return Err(MemcacheError::InvalidMetaFlag);
        }
        if std::mem::replace(&mut seen[letter as usize], true) {
            return Err(MemcacheError::DuplicateMetaFlag);
        }
        if letter == b'O' && token.len() > META_OPAQUE_LEN_MAX {
            return Err(MemcacheError::OpaqueTooLong);
        }
    }
    Ok(())
}

/// memcached keeps reading an unterminated line only when it is a multi-get.
fn is_multiget_prefix(input: &[u8]) -> bool {
    let spaces = input.iter().take_while(|&&b| b == b' ').count();
    let rest = &input[spaces..];
    spaces <= 100 && (rest.starts_with(b"get ") || rest.starts_with(b"gets "))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    len: usize,
}

impl Span {
    fn slice(self, source: &[u8]) -> &[u8] {
        &source[self.start..self.start + self.len]
    }
}

/// A line's tokens, held on the stack (no allocation per command).
struct TokenList {
    spans: [Span; TOKENS_MAX],
    len: usize,
}

impl std::ops::Deref for TokenList {
    type Target = [Span];
    fn deref(&self) -> &[Span] {
        &self.spans[..self.len]
    }
}

impl TokenList {
    fn push(&mut self, span: Span) {
        self.spans[self.len] = span;
        self.len += 1;
    }
}

/// memcached's `tokenize_command`: split on single spaces, empty tokens skipped, at most
/// `TOKENS_MAX - 1` tokens, the last one holding the rest of the line when there are more.
fn tokenize(line: &[u8]) -> TokenList {
    let mut tokens = TokenList {
        spans: [Span { start: 0, len: 0 }; TOKENS_MAX],
        len: 0,
    };
    let mut at = 0;
    while at < line.len() {
        if line[at] == b' ' {
            at += 1;
            continue;
        }
        if tokens.len == TOKENS_MAX - 2 {
            // The last slot takes the rest of the line, spaces included.
            tokens.push(Span {
                start: at,
                len: line.len() - at,
            });
            break;
        }
        let end = memchr::memchr(b' ', &line[at..]).map_or(line.len(), |i| at + i);
        tokens.push(Span {
            start: at,
            len: end - at,
        });
        at = end;
    }
    tokens
}

fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// C's `strtoull` on `text` plus memcached's `safe_strtoull` checks: Some((value, negative)).
fn c_strtou64(text: &[u8]) -> Option<(u64, bool)> {
    let mut at = text.iter().take_while(|&&b| is_c_space(b)).count();
    let mut negative = false;
    if let Some(&sign @ (b'+' | b'-')) = text.get(at) {
        negative = sign == b'-';
        at += 1;
    }
    let digits = text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in &text[at..at + digits] {
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    // The number must end the token or be followed by whitespace.
    match text.get(at + digits) {
        None => {}
        Some(&next) if is_c_space(next) => {}
        Some(_) => return None,
    }
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    Some((value, negative))
}

/// `safe_strtoull`: a value that looks negative as a signed number is refused when a `-`
/// was written.
pub fn c_strtoull(text: &[u8]) -> Option<u64> {
    let (value, negative) = c_strtou64(text)?;
    if (value as i64) < 0 && negative {
        return None;
    }
    Some(value)
}

/// `safe_strtoul` into memcached's 32-bit flags: same checks, then truncated to 32 bits.
pub fn c_strtoul_u32(text: &[u8]) -> Option<u32> {
    c_strtoull(text).map(|value| value as u32)
}

/// `safe_strtol` into an `int32_t`: `strtol` (overflow of a 64-bit long refused), then
/// truncated to 32 bits as memcached does.
pub fn c_strtol_i32(text: &[u8]) -> Option<i32> {
    let (magnitude, negative) = c_strtou64(text)?;
    let value = if negative {
        // wrapping_neg undid the sign: magnitude is -value mod 2^64.
        let abs = magnitude.wrapping_neg();
        if abs > i64::MAX as u64 + 1 {
            return None;
        }
        (abs as i64).wrapping_neg()
    } else {
        i64::try_from(magnitude).ok()?
    };
    Some(value as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event per request: the command (debug form) or the error line memcached sends.
    #[derive(Debug, PartialEq)]
    enum Event {
        Command(String),
        Reply(&'static str),
        Silent,
    }

    fn run(input: &[u8]) -> (Vec<Event>, Option<MemcacheFatal>, usize) {
        let mut parser = MemcacheParser::default();
        let mut events = Vec::new();
        let mut at = 0;
        loop {
            match parser.parse(&input[at..]) {
                Ok(Some(MemcacheParsed { request, consumed })) => {
                    assert!(consumed > 0);
                    match request {
                        MemcacheRequest::Command(command) => {
                            events.push(Event::Command(describe(&command)))
                        }
                        MemcacheRequest::Error { error, noreply } => events.push(if noreply {
                            Event::Silent
                        } else {
                            let line = std::str::from_utf8(error.reply_line()).unwrap();
                            Event::Reply(Box::leak(line.to_string().into_boxed_str()))
                        }),
                        MemcacheRequest::Discarded => {}
                    }
                    at += consumed;
                }
                Ok(None) => return (events, None, at),
                Err(fatal) => return (events, Some(fatal), at),
            }
        }
    }

    fn describe(command: &MemcacheCommand<'_>) -> String {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match command {
            MemcacheCommand::Get {
                kind,
                exptime,
                keys,
            } => {
                let keys: Vec<String> = keys.into_iter().map(text).collect();
                format!("{kind:?} {exptime:?} {}", keys.join(","))
            }
            MemcacheCommand::Store {
                kind,
                key,
                flags,
                exptime,
                cas_unique,
                noreply,
                data,
            } => format!(
                "{kind:?} {} {flags} {exptime} {cas_unique} {noreply} {}",
                text(key),
                text(data)
            ),
            MemcacheCommand::Meta {
                kind,
                key,
                flags,
                data,
            } => {
                let flags: Vec<String> = flags.iter().map(text).collect();
                format!(
                    "{kind:?} {} [{}] {}",
                    text(key),
                    flags.join(","),
                    text(data)
                )
            }
            MemcacheCommand::Stats { args } => {
                let args: Vec<String> = args.into_iter().map(text).collect();
                format!("Stats {}", args.join(","))
            }
            MemcacheCommand::Delete { key, noreply } => {
                format!("Delete {} {noreply}", text(key))
            }
            MemcacheCommand::Arithmetic {
                incr,
                key,
                delta,
                noreply,
            } => format!("Arithmetic {incr} {} {delta} {noreply}", text(key)),
            MemcacheCommand::Touch {
                key,
                exptime,
                noreply,
            } => format!("Touch {} {exptime} {noreply}", text(key)),
            other => format!("{other:?}"),
        }
    }

    fn cmd(text: &str) -> Event {
        Event::Command(text.to_string())
    }

    const ERROR: Event = Event::Reply("ERROR\r\n");
    const BAD_LINE: Event = Event::Reply("CLIENT_ERROR bad command line format\r\n");
    const BAD_CHUNK: Event = Event::Reply("CLIENT_ERROR bad data chunk\r\n");

    fn events(input: &[u8]) -> Vec<Event> {
        let (events, fatal, consumed) = run(input);
        assert_eq!(fatal, None);
        assert_eq!(
            consumed,
            input.len(),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        events
    }

    #[test]
    fn retrieval() {
        assert_eq!(events(b"get k\r\n"), vec![cmd("Get None k")]);
        assert_eq!(events(b"gets a  b c\n"), vec![cmd("Gets None a,b,c")]);
        assert_eq!(events(b"  get k\r\n"), vec![cmd("Get None k")]);
        assert_eq!(events(b"gat 10 k j\r\n"), vec![cmd("Gat Some(10) k,j")]);
        assert_eq!(events(b"gats 10\r\n"), vec![cmd("Gats Some(10) ")]);
        // Observed on memcached 1.6.18.
        assert_eq!(events(b"get\r\n"), vec![ERROR]);
        assert_eq!(events(b"gets\r\n"), vec![ERROR]);
        assert_eq!(events(b"get\tk\r\n"), vec![ERROR]);
        assert_eq!(events(b"\r\n"), vec![ERROR]);
        assert_eq!(events(b"\nget k\r\n"), vec![ERROR, cmd("Get None k")]);
        assert_eq!(events(b"get k\x00 zz\r\n"), vec![cmd("Get None k")]);
        assert_eq!(events(b"get k\r\r\n"), vec![cmd("Get None k\r")]);
        const INV_EXP: Event = Event::Reply("CLIENT_ERROR invalid exptime argument\r\n");
        assert_eq!(events(b"gat k\r\n"), vec![INV_EXP]);
        let long_key = format!("get {}\r\n", "a".repeat(251));
        assert_eq!(events(long_key.as_bytes()), vec![BAD_LINE]);
        let max_key = format!("get {}\r\n", "a".repeat(250));
        assert_eq!(events(max_key.as_bytes()).len(), 1);
        // Many keys: more than memcached's 24 tokens.
        let many = format!("get {}\r\n", vec!["k"; 40].join(" "));
        assert_eq!(
            events(many.as_bytes()),
            vec![cmd(&format!("Get None {}", vec!["k"; 40].join(",")))]
        );
    }

    #[test]
    fn storage() {
        assert_eq!(
            events(b"set k 5 10 5\r\nhello\r\n"),
            vec![cmd("Set k 5 10 0 false hello")]
        );
        assert_eq!(
            events(b"cas k 0 0 1 77 noreply\r\nx\r\n"),
            vec![cmd("Cas k 0 0 77 true x")]
        );
        assert_eq!(
            events(b"append k 0 0 0\r\n\r\nprepend k 1 2 1\r\n\n\r\n"),
            vec![
                cmd("Append k 0 0 0 false "),
                cmd("Prepend k 1 2 0 false \n")
            ]
        );
        // Observed on memcached 1.6.18: the rejected line's data is read as a command.
        assert_eq!(events(b"set k 0 0 -1\r\nhello\r\n"), vec![BAD_LINE, ERROR]);
        assert_eq!(events(b"set k -1 0 5\r\nhello\r\n"), vec![BAD_LINE, ERROR]);
        assert_eq!(events(b"set k 0 0 5x\r\nhello\r\n"), vec![BAD_LINE, ERROR]);
        assert_eq!(events(b"set k 0 0\r\nhello\r\n"), vec![ERROR, ERROR]);
        assert_eq!(events(b"set k 0 0 5 1 2\r\nhello\r\n"), vec![ERROR, ERROR]);
        assert_eq!(events(b"SET k 0 0 5\r\nhello\r\n"), vec![ERROR, ERROR]);
        assert_eq!(events(b"cas k 0 0 5\r\nhello\r\n"), vec![ERROR, ERROR]);
        assert_eq!(
            events(b"cas k 0 0 5 abc\r\nhello\r\n"),
            vec![BAD_LINE, ERROR]
        );
        assert_eq!(events(b"set k 0 0 2147483646\r\n"), vec![BAD_LINE]);
        let long_key = format!("set {} 0 0 1\r\nx\r\n", "a".repeat(251));
        assert_eq!(events(long_key.as_bytes()), vec![BAD_LINE, ERROR]);
        // A bad data block is consumed whole (`hello` + `XX`), then `\r\n` is an empty line.
        assert_eq!(
            events(b"set k 0 0 5\r\nhelloXX\r\nget k\r\n"),
            vec![BAD_CHUNK, ERROR, cmd("Get None k")]
        );
        assert_eq!(
            events(b"set k 0 0 5 noreply\r\nhelloXX\r\n"),
            vec![Event::Silent, ERROR]
        );
        assert_eq!(
            events(b"set k 0 0 1\r\nx\nget k\r\n"),
            vec![BAD_CHUNK, ERROR]
        );
        // strtoul/strtol quirks accepted by memcached.
        assert_eq!(
            events(b"set k 4294967296 0 5\r\nhello\r\n"),
            vec![cmd("Set k 0 0 0 false hello")]
        );
        assert_eq!(
            events(b"set k +5 0 5\r\nhello\r\n"),
            vec![cmd("Set k 5 0 0 false hello")]
        );
        assert_eq!(
            events(b"set k 0 0 5\tx\r\nhello\r\n"),
            vec![cmd("Set k 0 0 0 false hello")]
        );
        assert_eq!(
            events(b"set k 0 0 4294967301\r\nhello\r\n"),
            vec![cmd("Set k 0 0 0 false hello")]
        );
        assert_eq!(
            events(b"set k 0 99999999999 1\r\nx\r\n"),
            vec![cmd("Set k 0 1215752191 0 false x")]
        );
        assert_eq!(
            events(b"set k 0 0 5 junk\r\nhello\r\n"),
            vec![cmd("Set k 0 0 0 false hello")]
        );
    }

    #[test]
    fn oversized_values_are_discarded_as_they_arrive() {
        let mut parser = MemcacheParser::new(MemcacheLimits { value_len_max: 10 });
        let line = b"set k 0 0 20\r\n";
        let outcome = parser.parse(line).unwrap().unwrap();
        assert_eq!(
            (outcome.request, outcome.consumed),
            (MemcacheRequest::Discarded, line.len())
        );
        let chunk = [b'x'; 15];
        let outcome = parser.parse(&chunk).unwrap().unwrap();
        assert_eq!(
            (outcome.request, outcome.consumed),
            (MemcacheRequest::Discarded, 15)
        );
        assert_eq!(parser.parse(b"").unwrap(), None);
        let outcome = parser.parse(b"xxxxx\r\nmn\r\n").unwrap().unwrap();
        assert_eq!(
            (outcome.request, outcome.consumed),
            (
                MemcacheRequest::Error {
                    error: MemcacheError::ValueTooLarge,
                    noreply: false
                },
                7
            )
        );
        assert_eq!(
            parser.parse(b"mn\r\n").unwrap().unwrap().request,
            MemcacheRequest::Command(MemcacheCommand::Meta {
                kind: MetaKind::Noop,
                key: b"",
                flags: MetaFlags {
                    tokens: Tokens::new(b"")
                },
                data: b"",
            })
        );
        const TOO_LARGE: Event = Event::Reply("SERVER_ERROR object too large for cache\r\n");
        let big = format!(
            "set k 0 0 2000000\r\n{}\r\nget k\r\n",
            "x".repeat(2_000_000)
        );
        assert_eq!(events(big.as_bytes()), vec![TOO_LARGE, cmd("Get None k")]);
    }

    #[test]
    fn other_classic_commands() {
        assert_eq!(events(b"delete k\r\n"), vec![cmd("Delete k false")]);
        assert_eq!(events(b"delete k 0\r\n"), vec![cmd("Delete k false")]);
        assert_eq!(events(b"delete k noreply\r\n"), vec![cmd("Delete k true")]);
        assert_eq!(
            events(b"delete k 0 noreply\r\n"),
            vec![cmd("Delete k true")]
        );
        assert_eq!(
            events(b"delete k 5\r\n"),
            vec![Event::Reply(
                "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
            )]
        );
        assert_eq!(events(b"delete\r\n"), vec![ERROR]);
        assert_eq!(
            events(b"incr k 5\r\n"),
            vec![cmd("Arithmetic true k 5 false")]
        );
        assert_eq!(
            events(b"decr k +3 noreply\r\n"),
            vec![cmd("Arithmetic false k 3 true")]
        );
        assert_eq!(
            events(b"incr k 5 junk\r\n"),
            vec![cmd("Arithmetic true k 5 false")]
        );
        assert_eq!(events(b"incr k\r\n"), vec![ERROR]);
        const BAD_DELTA: Event = Event::Reply("CLIENT_ERROR invalid numeric delta argument\r\n");
        assert_eq!(events(b"incr k x\r\n"), vec![BAD_DELTA]);
        assert_eq!(events(b"incr k -1\r\n"), vec![BAD_DELTA]);
        assert_eq!(events(b"incr k 18446744073709551616\r\n"), vec![BAD_DELTA]);
        assert_eq!(
            events(b"touch k 10 noreply\r\n"),
            vec![cmd("Touch k 10 true")]
        );
        assert_eq!(events(b"touch k\r\n"), vec![ERROR]);
        const INV_EXP: Event = Event::Reply("CLIENT_ERROR invalid exptime argument\r\n");
        assert_eq!(events(b"touch k abc\r\n"), vec![INV_EXP]);
        assert_eq!(
            events(b"flush_all\r\n"),
            vec![cmd("FlushAll { delay: None, noreply: false }")]
        );
        assert_eq!(
            events(b"flush_all 10\r\n"),
            vec![cmd("FlushAll { delay: Some(10), noreply: false }")]
        );
        assert_eq!(
            events(b"flush_all noreply\r\n"),
            vec![cmd("FlushAll { delay: None, noreply: true }")]
        );
        assert_eq!(
            events(b"flush_all 0 junk\r\n"),
            vec![cmd("FlushAll { delay: Some(0), noreply: false }")]
        );
        assert_eq!(events(b"flush_all x\r\n"), vec![INV_EXP]);
        assert_eq!(events(b"version x\r\n"), vec![cmd("Version")]);
        assert_eq!(events(b"quit\r\n"), vec![cmd("Quit")]);
        assert_eq!(events(b"stats\r\n"), vec![cmd("Stats ")]);
        assert_eq!(events(b"stats detail on\r\n"), vec![cmd("Stats detail,on")]);
        assert_eq!(
            events(b"verbosity 1 noreply\r\n"),
            vec![cmd("Verbosity { level: 1, noreply: true }")]
        );
        assert_eq!(events(b"verbosity\r\n"), vec![ERROR]);
        assert_eq!(events(b"verbosity x\r\n"), vec![BAD_LINE]);
        assert_eq!(
            events(b"a b c d e f g h i j k l m n o p q r s t u v w x y z\r\n"),
            vec![ERROR]
        );
    }

    #[test]
    fn meta_commands() {
        assert_eq!(events(b"mn\r\n"), vec![cmd("Noop  [] ")]);
        assert_eq!(events(b"mn x\r\n"), vec![cmd("Noop  [] ")]);
        assert_eq!(
            events(b"mg k v t O123 q\r\n"),
            vec![cmd("Get k [v,t,O123,q] ")]
        );
        assert_eq!(
            events(b"ms k 5 T0\r\nhello\r\n"),
            vec![cmd("Set k [T0] hello")]
        );
        assert_eq!(events(b"ms k 2\r\nhi\r\n"), vec![cmd("Set k [] hi")]);
        assert_eq!(events(b"md k q\r\n"), vec![cmd("Delete k [q] ")]);
        assert_eq!(
            events(b"ma n D10 v\r\n"),
            vec![cmd("Arithmetic n [D10,v] ")]
        );
        assert_eq!(events(b"me k\r\n"), vec![cmd("Debug k [] ")]);
        // Observed on memcached 1.6.18.
        assert_eq!(events(b"mg\r\n"), vec![ERROR]);
        assert_eq!(events(b"md\r\n"), vec![ERROR]);
        assert_eq!(events(b"ma\r\n"), vec![ERROR]);
        assert_eq!(events(b"me\r\n"), vec![BAD_LINE]);
        assert_eq!(events(b"ms k\r\n"), vec![BAD_LINE]);
        assert_eq!(events(b"ms k -1\r\n"), vec![BAD_LINE]);
        assert_eq!(events(b"ms k x\r\nhello\r\n"), vec![BAD_LINE, ERROR]);
        assert_eq!(events(b"ms k 5\r\nhelloXX\r\n"), vec![BAD_CHUNK, ERROR]);
        assert_eq!(
            events(b"ms k 2 q\r\nhiXX\r\nmn\r\n"),
            vec![BAD_CHUNK, ERROR, cmd("Noop  [] ")]
        );
        assert_eq!(events(b"mz k\r\n"), vec![ERROR]);
        assert_eq!(events(b"mgx k\r\n"), vec![ERROR]);
        let long_key = format!("mg {} v\r\n", "a".repeat(251));
        assert_eq!(events(long_key.as_bytes()), vec![BAD_LINE]);
        assert_eq!(
            events(b"mg k q k k\r\n"),
            vec![Event::Reply("CLIENT_ERROR duplicate flag\r\n")]
        );
        assert_eq!(
            events(b"mg k 1\r\n"),
            vec![Event::Reply("CLIENT_ERROR invalid flag\r\n")]
        );
        let many = format!("mg k {}\r\n", vec!["v"; 30].join(" "));
        assert_eq!(
            events(many.as_bytes()),
            vec![Event::Reply("CLIENT_ERROR options flags are too long\r\n")]
        );
        let opaque = format!("mg k O{} v\r\n", "a".repeat(52));
        assert_eq!(
            events(opaque.as_bytes()),
            vec![Event::Reply("CLIENT_ERROR opaque token too long\r\n")]
        );
        let MemcacheRequest::Command(MemcacheCommand::Meta { flags, .. }) =
            MemcacheParser::default()
                .parse(b"mg k v T30\r\n")
                .unwrap()
                .unwrap()
                .request
        else {
            panic!("expected a meta command");
        };
        assert_eq!(flags.get(b'T'), Some(&b"T30"[..]));
        assert!(flags.has(b'v') && !flags.has(b'k'));
    }

    #[test]
    fn long_lines() {
        // Observed on memcached 1.6.18: closes the connection without a reply.
        let (evs, fatal, _) = run(&[b'x'; 3000]);
        assert_eq!((evs, fatal), (vec![], Some(MemcacheFatal)));
        let (evs, fatal, _) = run(&[b'x'; LINE_LEN_MAX]);
        assert_eq!((evs, fatal), (vec![], None));
        // A multi-get may be longer and keeps waiting.
        let get = format!("get {}", "k ".repeat(1500));
        assert_eq!(run(get.as_bytes()), (vec![], None, 0));
        let gat = format!("gat 1 {}", "k ".repeat(1500));
        assert_eq!(run(gat.as_bytes()).1, Some(MemcacheFatal));
    }

    #[test]
    fn partial_input_waits_and_resumes() {
        let input = b"set k 0 0 5\r\nhello\r\nget k\r\n";
        let mut parser = MemcacheParser::default();
        for end in 0..20 {
            assert_eq!(parser.parse(&input[..end]).unwrap(), None, "prefix {end}");
        }
        let outcome = parser.parse(input).unwrap().unwrap();
        assert_eq!(outcome.consumed, 20);
        assert_eq!(
            describe_request(&outcome.request),
            "Set k 0 0 0 false hello"
        );
    }

    fn describe_request(request: &MemcacheRequest<'_>) -> String {
        match request {
            MemcacheRequest::Command(command) => describe(command),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn number_parsing_follows_c() {
        assert_eq!(c_strtol_i32(b"-5"), Some(-5));
        assert_eq!(c_strtol_i32(b"\t7"), Some(7));
        assert_eq!(c_strtol_i32(b"-"), None);
        assert_eq!(c_strtol_i32(b"9223372036854775808"), None);
        assert_eq!(c_strtol_i32(b"-9223372036854775808"), Some(0));
        assert_eq!(c_strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(c_strtoull(b"-1"), None);
        assert_eq!(c_strtoull(b"-0"), Some(0));
        assert_eq!(c_strtoul_u32(b"4294967297"), Some(1));
    }
}
