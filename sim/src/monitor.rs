//! A MONITOR client watching the run: every client's written values carry its id, connection
//! generation and a sequence number (`v<id>.<gen>-<seq>`), and one connection's commands run
//! in the order it sent them, so in the MONITOR stream each (id, gen)'s sequence numbers must
//! rise. MONITOR lines travel from the proactor that ran the command to the monitor's proactor
//! as bus messages: this is what sees a bus that breaks one sender's order.

use crate::resp::{self, Reply};
use damselfly_runtime::clock;
use damselfly_runtime::net::TcpStream;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the watcher saw.
#[derive(Default)]
pub struct Watch {
    pub failures: Vec<String>,
    pub lines: u64,
    pub hash: u64,
}

/// The (client, generation, sequence) numbers of every `v<id>.<gen>-<seq>` argument of a
/// MONITOR line, in the order they appear.
pub fn written_values(line: &str) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    for part in line.split('"') {
        let Some(rest) = part.strip_prefix('v') else {
            continue;
        };
        let Some((who, seq)) = rest.split_once('-') else {
            continue;
        };
        let Some((id, gen)) = who.split_once('.') else {
            continue;
        };
        if let (Ok(id), Ok(gen), Ok(seq)) = (id.parse(), gen.parse(), seq.parse()) {
            out.push((id, gen, seq));
        }
    }
    out
}

/// Per (client, generation), the last sequence number seen; a value at or below it is out of
/// order.
#[derive(Default)]
pub struct OrderCheck {
    last: BTreeMap<(u64, u64), u64>,
}

impl OrderCheck {
    pub fn see(&mut self, line: &str) -> Option<String> {
        let mut values = written_values(line);
        // A group's MSET writes one value to all its keys.
        values.dedup();
        for (id, gen, seq) in values {
            let last = self.last.entry((id, gen)).or_insert(0);
            if seq <= *last {
                return Some(format!(
                    "MONITOR shows client {id}'s value {seq} after its value {} (one \
                     connection's commands out of order): {line}",
                    *last
                ));
            }
            *last = seq;
        }
        None
    }
}

/// Watches until `stop` is set. A lost connection is re-opened (the lines in between are
/// simply not seen).
pub fn watch(addr: SocketAddr, stop: Arc<AtomicBool>) -> Watch {
    let stopped = || stop.load(Ordering::Relaxed);
    let mut w = Watch::default();
    let mut order = OrderCheck::default();
    'connect: while !stopped() {
        let Ok(s) = TcpStream::connect(addr) else {
            damselfly_runtime::fiber::sleep(Duration::from_millis(10));
            continue;
        };
        let mut out = Vec::new();
        resp::encode(&mut out, &[b"MONITOR"]);
        if s.send_all(&out).is_err() {
            continue;
        }
        let mut buf = Vec::new();
        while !stopped() {
            loop {
                match resp::parse(&buf) {
                    Ok(Some((r, used))) => {
                        buf.drain(..used);
                        let Reply::Simple(line) = r else {
                            w.failures.push(format!("MONITOR sent {r}"));
                            return w;
                        };
                        w.lines += 1;
                        w.hash =
                            crate::check::fold(w.hash, crate::check::hash_bytes(line.as_bytes()));
                        if let Some(f) = order.see(&line) {
                            w.failures.push(f);
                            return w;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        w.failures.push(format!("MONITOR stream: {e}"));
                        return w;
                    }
                }
            }
            let mut chunk = [0u8; 8192];
            let deadline = clock::now() + Duration::from_millis(20);
            match s.recv_until(&mut chunk, Some(deadline)) {
                Ok(0) => continue 'connect,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => continue 'connect,
            }
        }
        let _ = s.close();
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_written_values_and_catches_one_connection_out_of_order() {
        let line = r#"1.5 [0 127.0.0.1:9] "MSET" "p1:0:2" "v1.0-7" "p1:0:3" "v1.0-8""#;
        assert_eq!(written_values(line), vec![(1, 0, 7), (1, 0, 8)]);
        let mut c = OrderCheck::default();
        assert!(c.see(line).is_none());
        // Another generation (a new connection) starts its own order.
        assert!(c.see(r#"2 [0 x] "SET" "p1:1:0" "v1.1-9""#).is_none());
        assert!(c.see(r#"2 [0 x] "SET" "p1:0:0" "v1.0-9""#).is_none());
        assert!(c.see(r#"3 [0 x] "SET" "p1:0:0" "v1.0-8""#).is_some());
        assert!(written_values(r#"1 [0 x] "GET" "v" "vx-1" "w12""#).is_empty());
        let group = r#"4 [0 x] "MSET" "g0:0" "v1.0-10" "g0:1" "v1.0-10""#;
        assert!(c.see(group).is_none());
    }
}
