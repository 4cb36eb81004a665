//! A small RESP2 client side: encoding commands and parsing replies incrementally.

/// One reply as the server sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Simple(s) => write!(f, "+{s}"),
            Reply::Error(s) => write!(f, "-{s}"),
            Reply::Int(i) => write!(f, ":{i}"),
            Reply::Bulk(None) => write!(f, "(nil)"),
            Reply::Bulk(Some(b)) => write!(f, "\"{}\"", String::from_utf8_lossy(b)),
            Reply::Array(None) => write!(f, "(nil array)"),
            Reply::Array(Some(items)) => {
                write!(f, "[")?;
                for (i, r) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{r}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// Appends `args` as a RESP array of bulk strings.
pub fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[..end], end + 2))
}

fn int(s: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad integer {:?}", String::from_utf8_lossy(s)))
}

/// Parses one reply from the front of `buf`: Ok(None) when more bytes are needed, else the
/// reply and how many bytes it took. Err for bytes that are not RESP.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some((head, used)) = line(&buf[1..]) else {
        return Ok(None);
    };
    let used = used + 1;
    let text = || String::from_utf8_lossy(head).into_owned();
    match kind {
        b'+' => Ok(Some((Reply::Simple(text()), used))),
        b'-' => Ok(Some((Reply::Error(text()), used))),
        b':' => Ok(Some((Reply::Int(int(head)?), used))),
        b'$' => {
            let n = int(head)?;
            if n < 0 {
                return Ok(Some((Reply::Bulk(None), used)));
            }
            let n = n as usize;
            if buf.len() < used + n + 2 {
                return Ok(None);
            }
            if &buf[used + n..used + n + 2] != b"\r\n" {
                return Err("bulk string without its CRLF".into());
            }
            Ok(Some((
                Reply::Bulk(Some(buf[used..used + n].to_vec())),
                used + n + 2,
            )))
        }
        b'*' => {
            let n = int(head)?;
            if n < 0 {
                return Ok(Some((Reply::Array(None), used)));
            }
            let mut items = Vec::with_capacity(n as usize);
            let mut at = used;
            for _ in 0..n {
                match parse(&buf[at..])? {
                    Some((r, k)) => {
                        items.push(r);
                        at += k;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), at)))
        }
        other => Err(format!("unexpected reply type byte {other:#x}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_waits_for_partial_input() {
        let full = b"*3\r\n$3\r\nabc\r\n:-5\r\n$-1\r\n+OK\r\n";
        for cut in 0..full.len() - 5 {
            if cut < full.len() - 5 {
                assert_eq!(parse(&full[..cut]).unwrap(), None, "cut {cut}");
            }
        }
        let (r, n) = parse(full).unwrap().unwrap();
        assert_eq!(
            r,
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"abc".to_vec())),
                Reply::Int(-5),
                Reply::Bulk(None)
            ]))
        );
        assert_eq!(parse(&full[n..]).unwrap().unwrap().0, Reply::ok());
        assert!(parse(b"?x\r\n").is_err());
        let mut out = Vec::new();
        encode(&mut out, &[b"GET", b"k"]);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }
}
