//! Command errors, rendered to Redis's exact reply text in exactly one place.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// `ERR wrong number of arguments for '<cmd>' command`
    WrongArity(String),
    /// `ERR unknown command '<name>', with args beginning with: '<a>' ...`: the name and the
    /// arguments as the client sent them, already cut the way Redis shows them (see
    /// [`CmdError::unknown_command`]).
    UnknownCommand {
        name: Vec<u8>,
        args: Vec<Vec<u8>>,
    },
    /// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.` (see [`CmdError::unknown_subcommand`]).
    UnknownSubcommand {
        cmd: String,
        sub: Vec<u8>,
    },
    Syntax,
    NotInteger,
    NotFloat,
    Overflow,
    WrongType,
    NoSuchKey,
    /// `ERR invalid expire time in '<cmd>' command`
    InvalidExpire(String),
    DbIndexOutOfRange,
    /// A complete error line without the leading `-` (prefix included, e.g. `ERR ...`).
    Raw(String),
    /// The handler already wrote its error reply (and counted it in the error stats when
    /// that was due): the call only counts as failed.
    Replied,
}

pub type CmdResult = Result<(), CmdError>;
/// What shard-side `op_*` functions return.
pub type OpResult<T> = Result<T, CmdError>;

impl CmdError {
    pub fn raw(text: impl Into<String>) -> CmdError {
        CmdError::Raw(text.into())
    }

    /// The error for a command name the registry does not know. Like Redis, it quotes the
    /// name (up to 128 bytes) and then arguments while fewer than 128 bytes of quoted text
    /// have been written, each cut to what is left of those 128 bytes; every one ends at its
    /// first NUL byte, as Redis formats them as C strings.
    pub fn unknown_command<'a>(name: &[u8], args: impl Iterator<Item = &'a [u8]>) -> CmdError {
        let mut shown = Vec::new();
        // Bytes of `'<arg>' ` text so far.
        let mut len = 0;
        for a in args {
            if len >= SHOWN_MAX {
                break;
            }
            let a = shown_bytes(a, SHOWN_MAX - len);
            len += a.len() + 3;
            shown.push(a.to_vec());
        }
        CmdError::UnknownCommand {
            name: shown_bytes(name, SHOWN_MAX).to_vec(),
            args: shown,
        }
    }

    /// The error for a subcommand `cmd` does not have: `sub` is shown up to its first NUL
    /// byte and at most 128 bytes, like Redis.
    pub fn unknown_subcommand(cmd: &str, sub: &[u8]) -> CmdError {
        CmdError::UnknownSubcommand {
            cmd: cmd.into(),
            sub: shown_bytes(sub, SHOWN_MAX).to_vec(),
        }
    }

    /// The error line (without `-` and CRLF) as bytes. Arguments quoted in the error are sent
    /// as the client sent them, even when they are not UTF-8, as Redis does; `to_string()`
    /// shows them lossily.
    pub fn to_bytes(&self) -> Vec<u8> {
        let quoted = |out: &mut Vec<u8>, a: &[u8]| {
            out.push(b'\'');
            out.extend_from_slice(a);
            out.push(b'\'');
        };
        match self {
            CmdError::UnknownCommand { name, args } => {
                let mut out = b"ERR unknown command ".to_vec();
                quoted(&mut out, name);
                out.extend_from_slice(b", with args beginning with: ");
                for a in args {
                    quoted(&mut out, a);
                    out.push(b' ');
                }
                out
            }
            CmdError::UnknownSubcommand { cmd, sub } => {
                let mut out = b"ERR unknown subcommand ".to_vec();
                quoted(&mut out, sub);
                out.extend_from_slice(
                    format!(". Try {} HELP.", cmd.to_ascii_uppercase()).as_bytes(),
                );
                out
            }
            _ => self.to_string().into_bytes(),
        }
    }
}

/// Redis's limit on the bytes of an argument quoted in an error.
const SHOWN_MAX: usize = 128;

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::WrongArity(c) => write!(f, "ERR wrong number of arguments for '{c}' command"),
            CmdError::UnknownCommand { .. } | CmdError::UnknownSubcommand { .. } => {
                f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
            }
            CmdError::Syntax => f.write_str("ERR syntax error"),
            CmdError::NotInteger => f.write_str("ERR value is not an integer or out of range"),
            CmdError::NotFloat => f.write_str("ERR value is not a valid float"),
            CmdError::Overflow => f.write_str("ERR increment or decrement would overflow"),
            CmdError::WrongType => {
                f.write_str("WRONGTYPE Operation against a key holding the wrong kind of value")
            }
            CmdError::NoSuchKey => f.write_str("ERR no such key"),
            CmdError::InvalidExpire(c) => write!(f, "ERR invalid expire time in '{c}' command"),
            CmdError::DbIndexOutOfRange => f.write_str("ERR DB index is out of range"),
            CmdError::Raw(s) => f.write_str(s),
            // Never written: the handler wrote its reply.
            CmdError::Replied => f.write_str("ERR"),
        }
    }
}

/// What Redis shows of an argument it formats as a C string with a precision of `max`: the
/// bytes before the first NUL, at most `max` of them.
pub fn shown_bytes(a: &[u8], max: usize) -> &[u8] {
    let a = &a[..a.len().min(max)];
    &a[..a.iter().position(|&b| b == 0).unwrap_or(a.len())]
}

/// Text of an argument the way Redis quotes it in error messages: up to its first NUL byte,
/// at most 128 bytes, lossy.
pub fn shown_arg(a: &[u8]) -> String {
    String::from_utf8_lossy(shown_bytes(a, SHOWN_MAX)).replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_redis() {
        assert_eq!(
            CmdError::WrongArity("get".into()).to_string(),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            CmdError::unknown_command(b"foo", [&b"a"[..], b"b"].into_iter()).to_string(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            CmdError::unknown_subcommand("client", b"x").to_string(),
            "ERR unknown subcommand 'x'. Try CLIENT HELP."
        );
    }

    #[test]
    fn quoted_arguments_end_at_nul_and_128_bytes() {
        let long = [b'a'; 200];
        let e = CmdError::unknown_command(
            b"fo\0o",
            [&b"x\0yz"[..], &long[..125], b"b", b"c"].into_iter(),
        );
        let mut want = b"ERR unknown command 'fo', with args beginning with: 'x' '".to_vec();
        want.extend_from_slice(&long[..124]);
        want.extend_from_slice(b"' ");
        assert_eq!(e.to_bytes(), want);
        assert_eq!(
            CmdError::unknown_subcommand("object", b"\xff\0x").to_bytes(),
            b"ERR unknown subcommand '\xff'. Try OBJECT HELP."
        );
        assert_eq!(shown_arg(&long).len(), 128);
    }
}
