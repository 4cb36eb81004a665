//! Command errors, rendered to Redis's exact reply text in exactly one place.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    /// `ERR wrong number of arguments for '<cmd>' command`
    WrongArity(String),
    /// `ERR unknown command '<name>', with args beginning with: '<a>' ...`
    UnknownCommand {
        name: String,
        args: Vec<String>,
    },
    /// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
    UnknownSubcommand {
        cmd: String,
        sub: String,
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
}

pub type CmdResult = Result<(), CmdError>;
/// What shard-side `op_*` functions return.
pub type OpResult<T> = Result<T, CmdError>;

impl CmdError {
    pub fn raw(text: impl Into<String>) -> CmdError {
        CmdError::Raw(text.into())
    }
}

impl fmt::Display for CmdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdError::WrongArity(c) => write!(f, "ERR wrong number of arguments for '{c}' command"),
            CmdError::UnknownCommand { name, args } => {
                write!(
                    f,
                    "ERR unknown command '{name}', with args beginning with: "
                )?;
                for a in args {
                    write!(f, "'{a}' ")?;
                }
                Ok(())
            }
            CmdError::UnknownSubcommand { cmd, sub } => write!(
                f,
                "ERR unknown subcommand '{sub}'. Try {} HELP.",
                cmd.to_ascii_uppercase()
            ),
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
        }
    }
}

/// Text of an argument the way Redis quotes it in error messages: at most 128 bytes, lossy.
pub fn shown_arg(a: &[u8]) -> String {
    let cut = &a[..a.len().min(128)];
    String::from_utf8_lossy(cut).replace(['\r', '\n'], " ")
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
            CmdError::UnknownCommand {
                name: "foo".into(),
                args: vec!["a".into(), "b".into()]
            }
            .to_string(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            CmdError::UnknownSubcommand {
                cmd: "client".into(),
                sub: "x".into()
            }
            .to_string(),
            "ERR unknown subcommand 'x'. Try CLIENT HELP."
        );
    }
}
