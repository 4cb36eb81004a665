//! Inline commands: one text line split into arguments with Redis's `sdssplitargs` rules.
//!
//! - Blanks between arguments are skipped (space, `\t`, `\n`, `\v`, `\f`, `\r`); inside an
//!   unquoted argument only space, `\t`, `\n` and `\r` end it.
//! - `"..."` takes `\xHH` (two hex digits), `\n`, `\r`, `\t`, `\b`, `\a`, and `\<any>` as that
//!   byte; `'...'` takes `\'` only. A quote may start inside a word (`a"b c"` is `ab c`).
//! - A closing quote must be followed by a blank or the end of the line, and an opening quote
//!   must be closed, or the whole line fails with "unbalanced quotes".
//!
//! One deviation: a NUL byte is an ordinary byte here. Redis looks for the line end with
//! `strchr`, so a NUL makes it wait for a line end it never finds until the inline limit trips.

use crate::resp_parser::ArgSpan;

/// An opening quote never closed, or a closing quote followed by a non-blank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnbalancedQuotes;

/// How the arguments of one inline line were stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InlineArgsStorage {
    /// Spans index the line itself (offset by the `base` given to [`split_inline_args`]).
    Input,
    /// The line had quotes: arguments were decoded into `scratch` and spans index it.
    Scratch,
}

/// Blanks skipped between arguments: C's `isspace`.
fn is_separator_blank(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Bytes that end an unquoted argument.
fn ends_unquoted_word(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// Splits `line` (without its line end) into arguments. Without quotes in the line no byte is
/// copied: spans are `base + offset` into the caller's input. With quotes the decoded
/// arguments go to `scratch` (cleared first) and spans index `scratch`.
pub fn split_inline_args(
    line: &[u8],
    base: usize,
    spans: &mut Vec<ArgSpan>,
    scratch: &mut Vec<u8>,
) -> Result<InlineArgsStorage, UnbalancedQuotes> {
    if memchr::memchr2(b'"', b'\'', line).is_none() {
        split_unquoted(line, base, spans);
        return Ok(InlineArgsStorage::Input);
    }
    scratch.clear();
    split_quoted(line, spans, scratch)?;
    Ok(InlineArgsStorage::Scratch)
}

fn split_unquoted(line: &[u8], base: usize, spans: &mut Vec<ArgSpan>) {
    let mut at = 0;
    loop {
        while at < line.len() && is_separator_blank(line[at]) {
            at += 1;
        }
        if at == line.len() {
            return;
        }
        let start = at;
        while at < line.len() && !ends_unquoted_word(line[at]) {
            at += 1;
        }
        spans.push(ArgSpan::new(base + start, at - start));
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// After a closing quote at `at`, the next byte must be a blank or the end of the line.
fn closing_quote_ok(line: &[u8], at: usize) -> bool {
    line.get(at + 1)
        .is_none_or(|&next| is_separator_blank(next))
}

fn split_quoted(
    line: &[u8],
    spans: &mut Vec<ArgSpan>,
    scratch: &mut Vec<u8>,
) -> Result<(), UnbalancedQuotes> {
    #[derive(PartialEq)]
    enum Mode {
        Unquoted,
        Double,
        Single,
    }
    let mut at = 0;
    loop {
        while at < line.len() && is_separator_blank(line[at]) {
            at += 1;
        }
        if at == line.len() {
            return Ok(());
        }
        let start = scratch.len();
        let mut mode = Mode::Unquoted;
        loop {
            let Some(&byte) = line.get(at) else {
                if mode != Mode::Unquoted {
                    return Err(UnbalancedQuotes);
                }
                break;
            };
            match mode {
                Mode::Double => match byte {
                    b'\\'
                        if line.get(at + 1) == Some(&b'x')
                            && line.get(at + 2).copied().and_then(hex_value).is_some()
                            && line.get(at + 3).copied().and_then(hex_value).is_some() =>
                    {
                        let high = hex_value(line[at + 2]).unwrap_or(0);
                        let low = hex_value(line[at + 3]).unwrap_or(0);
                        scratch.push(high * 16 + low);
                        at += 3;
                    }
                    b'\\' if at + 1 < line.len() => {
                        at += 1;
                        scratch.push(match line[at] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    b'"' => {
                        if !closing_quote_ok(line, at) {
                            return Err(UnbalancedQuotes);
                        }
                        at += 1;
                        break;
                    }
                    other => scratch.push(other),
                },
                Mode::Single => match byte {
                    b'\\' if line.get(at + 1) == Some(&b'\'') => {
                        at += 1;
                        scratch.push(b'\'');
                    }
                    b'\'' => {
                        if !closing_quote_ok(line, at) {
                            return Err(UnbalancedQuotes);
                        }
                        at += 1;
                        break;
                    }
                    other => scratch.push(other),
                },
                Mode::Unquoted => match byte {
                    b' ' | b'\t' | b'\n' | b'\r' => break,
                    b'"' => mode = Mode::Double,
                    b'\'' => mode = Mode::Single,
                    other => scratch.push(other),
                },
            }
            at += 1;
        }
        spans.push(ArgSpan::new(start, scratch.len() - start));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, UnbalancedQuotes> {
        let mut spans = Vec::new();
        let mut scratch = Vec::new();
        let storage = split_inline_args(line, 0, &mut spans, &mut scratch)?;
        let source: &[u8] = match storage {
            InlineArgsStorage::Input => line,
            InlineArgsStorage::Scratch => &scratch,
        };
        Ok(spans.iter().map(|s| s.slice(source).to_vec()).collect())
    }

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn unquoted_words() {
        assert_eq!(split(b"SET a b").unwrap(), args(&["SET", "a", "b"]));
        assert_eq!(split(b"  PING\t\t x  ").unwrap(), args(&["PING", "x"]));
        assert_eq!(split(b"").unwrap(), args(&[]));
        assert_eq!(split(b" \x0b\x0c ").unwrap(), args(&[]));
        // \v and \f are skipped between words but kept inside one, as in sdssplitargs.
        assert_eq!(split(b"a\x0bb \x0bc").unwrap(), args(&["a\x0bb", "c"]));
        assert_eq!(split(b"ECHO \r").unwrap(), args(&["ECHO"]));
    }

    #[test]
    fn double_quotes_and_escapes() {
        assert_eq!(
            split(br#"ECHO "\x41\x4g\n\q""#).unwrap(),
            vec![b"ECHO".to_vec(), b"Ax4g\nq".to_vec()]
        );
        assert_eq!(
            split(br#"SET k "a b\r\t\b\a\"c\\""#).unwrap(),
            vec![
                b"SET".to_vec(),
                b"k".to_vec(),
                b"a b\r\t\x08\x07\"c\\".to_vec()
            ]
        );
        assert_eq!(split(br#"a"b c" d"#).unwrap(), args(&["ab c", "d"]));
        assert_eq!(split(br#""""#).unwrap(), args(&[""]));
        assert_eq!(split(b"ECHO \"a\"\x0b").unwrap(), args(&["ECHO", "a"]));
        assert_eq!(split(br#""\xff""#).unwrap(), vec![vec![0xff]]);
    }

    #[test]
    fn single_quotes() {
        assert_eq!(
            split(br"ECHO 'a\'b' c").unwrap(),
            args(&["ECHO", "a'b", "c"])
        );
        assert_eq!(split(br"'a\nb'").unwrap(), args(&["a\\nb"]));
    }

    #[test]
    fn unbalanced_quotes() {
        for line in [
            &br#"ECHO "a"#[..],
            br#"PING "a"b"#,
            br#"ECHO foo"bar"baz"#,
            b"'abc",
            b"'a'b",
            br#""a\"#,
        ] {
            assert_eq!(
                split(line),
                Err(UnbalancedQuotes),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
