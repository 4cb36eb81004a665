//! Logging in on the memcached port when the server has a password: memcached's ASCII
//! authentication, a `set <key> <flags> <exptime> <bytes>` whose data is `username password`
//! (`STORED` on success). Until then every other command is answered
//! `CLIENT_ERROR unauthenticated`.
//!
//! memcached commands are not checked against ACL rules one by one, so only a user whose
//! rules allow every command, key and channel may log in here.

use crate::families::memcache_family::McState;
use crate::memcache_reply::McOut;
use crate::tls::ConnStream;

/// Longest `username password` payload accepted (memcached's limit).
const TOKEN_MAX: usize = 16 * 1024;
/// A line this long without a newline is junk: the connection closes.
const LINE_MAX: usize = 2048;

enum Step {
    NeedMore,
    /// Reply this line, drop this many input bytes; true once logged in.
    Reply(&'static [u8], usize, bool),
    Close,
}

/// Reads login attempts until one succeeds (true) or the connection ends (false). Input
/// after a successful login stays in `input` for the normal loop.
pub fn wait_for_login(
    stream: &ConnStream,
    mc: &McState,
    input: &mut Vec<u8>,
    out: &mut McOut<'_>,
) -> bool {
    loop {
        loop {
            match step(mc, input) {
                Step::NeedMore => break,
                Step::Close => return false,
                Step::Reply(line, used, done) => {
                    input.drain(..used);
                    out.raw(line);
                    out.raw(b"\r\n");
                    if done {
                        return true;
                    }
                }
            }
        }
        out.flush();
        if out.broken {
            return false;
        }
        match stream.recv_append(input, 4096) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

fn step(mc: &McState, input: &[u8]) -> Step {
    let Some(el) = input.iter().position(|&b| b == b'\n') else {
        return if input.len() > LINE_MAX {
            Step::Close
        } else {
            Step::NeedMore
        };
    };
    if el < 6 {
        return Step::Close;
    }
    let line = input[..el].strip_suffix(b"\r").unwrap_or(&input[..el]);
    let tokens: Vec<&[u8]> = line
        .split(|&b| b == b' ')
        .filter(|t| !t.is_empty())
        .collect();
    let size = tokens
        .get(4)
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| t.parse::<u32>().ok());
    let (true, Some(size)) = (tokens.len() >= 5 && tokens[0] == b"set", size) else {
        return Step::Reply(b"CLIENT_ERROR unauthenticated", el + 1, false);
    };
    let size = size as usize;
    if size > TOKEN_MAX {
        return Step::Reply(b"CLIENT_ERROR auth token too long", el + 1, false);
    }
    let end = el + 1 + size + 2;
    if input.len() < end {
        return Step::NeedMore;
    }
    let data = &input[el + 1..end];
    if !data.ends_with(b"\r\n") {
        return Step::Reply(b"CLIENT_ERROR bad command line termination", end, false);
    }
    let data = &data[..size];
    let Some(mid) = data.iter().position(|&b| b == b' ') else {
        return Step::Reply(b"CLIENT_ERROR bad authentication token format", end, false);
    };
    let acl = &mc.server.acl;
    match acl.authenticate(&data[..mid], &data[mid + 1..]) {
        Some(user) if user.unrestricted() => Step::Reply(b"STORED", end, true),
        _ => Step::Reply(b"CLIENT_ERROR authentication failure", end, false),
    }
}
