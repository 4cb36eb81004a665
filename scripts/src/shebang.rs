//! The `#!lua` first line of a script or library: engine, `flags=` and (for libraries)
//! `name=`, with Redis's errors for anything else.

/// Script flags (`#!lua flags=...`, `register_function{flags=...}`).
pub const NO_WRITES: u32 = 1 << 0;
pub const ALLOW_OOM: u32 = 1 << 1;
pub const ALLOW_STALE: u32 = 1 << 2;
pub const NO_CLUSTER: u32 = 1 << 3;
pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
/// A script without a shebang: Redis's compatibility mode (writes allowed, flags ignored).
pub const EVAL_COMPAT: u32 = 1 << 5;

pub const FLAG_NAMES: &[(&str, u32)] = &[
    ("no-writes", NO_WRITES),
    ("allow-oom", ALLOW_OOM),
    ("allow-stale", ALLOW_STALE),
    ("no-cluster", NO_CLUSTER),
    ("allow-cross-slot-keys", ALLOW_CROSS_SLOT),
];

/// A parsed first line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shebang {
    pub flags: u32,
    /// `name=` (libraries).
    pub name: Option<String>,
    /// Bytes of the first line (the body to compile starts there, keeping its newline so line
    /// numbers stay right).
    pub len: usize,
}

/// Redis's `sdssplitargs` for the shebang line: words split on spaces, with "..." and '...'
/// quoting.
fn split_words(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            return Some(out);
        };
        let mut word = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            loop {
                match chars.next() {
                    None => return None,
                    Some(q) if q == c => break,
                    Some('\\') if c == '"' => word.push(chars.next()?),
                    Some(ch) => word.push(ch),
                }
            }
            if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                return None;
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                if ch == '"' || ch == '\'' {
                    // name="foo": the quoted part joins the word.
                    chars.next();
                    loop {
                        match chars.next() {
                            None => return None,
                            Some(q) if q == ch => break,
                            Some(x) => word.push(x),
                        }
                    }
                    continue;
                }
                word.push(ch);
                chars.next();
            }
        }
        out.push(word);
    }
}

fn parse_flags(list: &str) -> Result<u32, String> {
    let mut flags = 0;
    for f in list.split(',') {
        if f.is_empty() {
            continue;
        }
        match FLAG_NAMES.iter().find(|(n, _)| *n == f) {
            Some((_, bit)) => flags |= bit,
            None => return Err(format!("Unexpected flag in script shebang: {f}")),
        }
    }
    Ok(flags)
}

/// The shebang of an EVAL body. No shebang: compatibility mode.
pub fn parse_script(body: &[u8]) -> Result<Shebang, String> {
    if !body.starts_with(b"#!") {
        return Ok(Shebang {
            flags: EVAL_COMPAT,
            name: None,
            len: 0,
        });
    }
    let Some(end) = body.iter().position(|&c| c == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let parts = split_words(&line).filter(|p| !p.is_empty());
    let Some(parts) = parts else {
        return Err("Invalid engine in script shebang".into());
    };
    if parts[0] != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {}", parts[0]));
    }
    let mut flags = 0;
    for p in &parts[1..] {
        match p.strip_prefix("flags=") {
            Some(list) => flags |= parse_flags(list)?,
            None => return Err(format!("Unknown lua shebang option: {p}")),
        }
    }
    Ok(Shebang {
        flags,
        name: None,
        len: end,
    })
}

/// The shebang of a FUNCTION LOAD library: `#!<engine> name=<lib>`.
pub fn parse_library(code: &[u8]) -> Result<Shebang, String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let end = code.iter().position(|&c| c == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[..end]);
    let Some(parts) = split_words(&line).filter(|p| !p.is_empty()) else {
        return Err("Invalid library metadata".into());
    };
    let engine = &parts[0][2..];
    let mut name = None;
    for p in &parts[1..] {
        match p.strip_prefix("name=") {
            Some(_) if name.is_some() => {
                return Err("Invalid metadata value, name argument was given multiple times".into())
            }
            Some(n) => name = Some(n.to_string()),
            None => return Err(format!("Invalid metadata value given: {p}")),
        }
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("Engine '{engine}' not found"));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    Ok(Shebang {
        flags: 0,
        name: Some(name),
        len: end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_shebangs() {
        assert_eq!(parse_script(b"return 1").unwrap().flags, EVAL_COMPAT);
        let s = parse_script(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert_eq!(s.flags, NO_WRITES | ALLOW_OOM);
        assert_eq!(s.len, 31);
        assert_eq!(
            parse_script(b"#!lua flags=bad\n").unwrap_err(),
            "Unexpected flag in script shebang: bad"
        );
        assert_eq!(
            parse_script(b"#!python\n").unwrap_err(),
            "Unexpected engine in script shebang: #!python"
        );
        assert_eq!(
            parse_script(b"#!lua foo=bar\n").unwrap_err(),
            "Unknown lua shebang option: foo=bar"
        );
        assert_eq!(
            parse_script(b"#!lua").unwrap_err(),
            "Invalid script shebang"
        );
    }

    #[test]
    fn library_shebangs() {
        let s = parse_library(b"#!lua name=mylib\nredis.register_function()").unwrap();
        assert_eq!(s.name.as_deref(), Some("mylib"));
        let s = parse_library(b"#!lua name=\"foo\"\n").unwrap();
        assert_eq!(s.name.as_deref(), Some("foo"));
        assert_eq!(
            parse_library(b"#!lua\n").unwrap_err(),
            "Library name was not given"
        );
        assert_eq!(
            parse_library(b"#!lua name=a foo=bar\n").unwrap_err(),
            "Invalid metadata value given: foo=bar"
        );
        assert_eq!(
            parse_library(b"#!js name=a\n").unwrap_err(),
            "Engine 'js' not found"
        );
        assert_eq!(
            parse_library(b"return 1").unwrap_err(),
            "Missing library metadata"
        );
    }
}
