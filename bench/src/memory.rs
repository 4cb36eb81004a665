//! `damselfly-bench memory`: how many bytes a key costs in Damselfly and in the peer.
//!
//! Both servers are started; N keys of about K bytes with V-byte values are loaded into
//! each (with `DEBUG POPULATE N prefix V` when both servers accept it, otherwise with
//! pipelined SETs of the very same keys), and `used_memory` (memcached: `bytes`) and RSS
//! are read before and after. Keys are `<prefix>:<index>`, the prefix padded so that the
//! longest key is K bytes.

use std::io;
use std::path::PathBuf;

use serde_json::json;

use crate::args::{ArgCursor, Protocol};
use crate::info::{field_u64, BlockingClient, Reply};
use crate::procfs;
use crate::server::{default_peer, ServerProc};
use crate::table;

pub const USAGE: &str = "\
usage: damselfly-bench memory --damselfly \"<cmd with {port}>\" [--peer \"<cmd with {port}>\"]
         [--protocol redis|memcache_text] --keys N [--key-size K (16)] [--value-size V (32)]
         [--no-populate] [--json-out PATH]
";

const BATCH: u64 = 1000;

#[derive(Clone, Debug, PartialEq)]
pub struct MemoryOpts {
    pub damselfly: String,
    pub peer: Option<String>,
    pub protocol: Protocol,
    pub keys: u64,
    pub key_size: usize,
    pub value_size: usize,
    pub populate: bool,
    pub json_out: Option<PathBuf>,
}

impl MemoryOpts {
    pub fn parse(args: &[String]) -> Result<MemoryOpts, String> {
        let mut o = MemoryOpts {
            damselfly: String::new(),
            peer: None,
            protocol: Protocol::Redis,
            keys: 0,
            key_size: 16,
            value_size: 32,
            populate: true,
            json_out: None,
        };
        let mut cur = ArgCursor::new(args.to_vec());
        while let Some(f) = cur.next_flag() {
            match f.as_str() {
                "--damselfly" => o.damselfly = cur.value(&f)?,
                "--peer" => o.peer = Some(cur.value(&f)?),
                "--protocol" | "-P" => o.protocol = Protocol::parse(&cur.value(&f)?)?,
                "--keys" => o.keys = cur.parsed(&f)?,
                "--key-size" => o.key_size = cur.parsed(&f)?,
                "--value-size" => o.value_size = cur.parsed(&f)?,
                "--no-populate" => {
                    cur.no_value(&f)?;
                    o.populate = false
                }
                "--json-out" => o.json_out = Some(cur.value(&f)?.into()),
                "-h" | "--help" => return Err(USAGE.into()),
                other => return Err(format!("unknown flag {other:?}\n{USAGE}")),
            }
        }
        if !o.damselfly.contains("{port}") {
            return Err(format!(
                "--damselfly \"<cmd with {{port}}>\" is required\n{USAGE}"
            ));
        }
        if o.keys == 0 {
            return Err("--keys must be at least 1".into());
        }
        Ok(o)
    }
}

/// The key prefix that makes `<prefix>:<keys-1>` `key_size` bytes long (at least "k").
pub fn key_prefix(keys: u64, key_size: usize) -> String {
    let digits = (keys.max(1) - 1).to_string().len();
    let len = key_size.saturating_sub(digits + 1).max(1);
    let mut p = String::from("k");
    p.push_str(&"x".repeat(len - 1));
    p
}

/// Memory figures of one server.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemSample {
    pub used_before: u64,
    pub used_after: u64,
    pub rss_before_kb: u64,
    pub rss_after_kb: u64,
    pub keys: u64,
}

impl MemSample {
    pub fn used_per_key(&self) -> f64 {
        self.used_after.saturating_sub(self.used_before) as f64 / self.keys.max(1) as f64
    }

    pub fn rss_per_key(&self) -> f64 {
        self.rss_after_kb.saturating_sub(self.rss_before_kb) as f64 * 1024.0
            / self.keys.max(1) as f64
    }
}

fn used_memory(c: &mut BlockingClient, proto: Protocol) -> io::Result<u64> {
    match proto {
        Protocol::Redis => field_u64(&c.info("memory")?, "used_memory"),
        Protocol::MemcacheText => field_u64(&c.memcached_stats()?, "bytes"),
    }
}

/// Whether the server accepts `DEBUG POPULATE` (tried with a count of 0).
pub fn supports_populate(c: &mut BlockingClient) -> io::Result<bool> {
    Ok(matches!(
        c.command(&[b"DEBUG", b"POPULATE", b"0", b"probe", b"1"])?,
        Reply::Text(_)
    ))
}

/// Loads the keys with pipelined SETs (RESP) or `set` (memcache), `BATCH` at a time.
pub fn load_with_sets(
    c: &mut BlockingClient,
    proto: Protocol,
    prefix: &str,
    keys: u64,
    value_size: usize,
) -> io::Result<()> {
    let value = vec![b'x'; value_size];
    let mut buf = Vec::new();
    let mut start = 0;
    while start < keys {
        let end = (start + BATCH).min(keys);
        buf.clear();
        for i in start..end {
            let key = format!("{prefix}:{i}");
            match proto {
                Protocol::Redis => {
                    crate::wire::encode_command(&mut buf, &[b"SET", key.as_bytes(), &value])
                }
                Protocol::MemcacheText => {
                    buf.extend_from_slice(format!("set {key} 0 0 {value_size}\r\n").as_bytes());
                    buf.extend_from_slice(&value);
                    buf.extend_from_slice(b"\r\n");
                }
            }
        }
        c.send_raw(&buf)?;
        for _ in start..end {
            match proto {
                Protocol::Redis => {
                    c.read_reply()?.into_result()?;
                }
                Protocol::MemcacheText => {
                    let l = c.read_line()?;
                    if l != "STORED" {
                        return Err(io::Error::other(format!("set failed: {l}")));
                    }
                }
            }
        }
        start = end;
    }
    Ok(())
}

fn measure(
    srv: &ServerProc,
    o: &MemoryOpts,
    populate: bool,
    prefix: &str,
) -> io::Result<MemSample> {
    let mut c = srv.client()?;
    let used_before = used_memory(&mut c, o.protocol)?;
    let rss_before_kb = procfs::rss_kb(srv.pid)?;
    if populate {
        c.command(&[
            b"DEBUG",
            b"POPULATE",
            o.keys.to_string().as_bytes(),
            prefix.as_bytes(),
            o.value_size.to_string().as_bytes(),
        ])?
        .into_result()?;
    } else {
        load_with_sets(&mut c, o.protocol, prefix, o.keys, o.value_size)?;
    }
    Ok(MemSample {
        used_before,
        used_after: used_memory(&mut c, o.protocol)?,
        rss_before_kb,
        rss_after_kb: procfs::rss_kb(srv.pid)?,
        keys: o.keys,
    })
}

/// The result table.
pub fn memory_table(d: &MemSample, p: &MemSample) -> String {
    let mb = |b: f64| format!("{:.1}", b / 1048576.0);
    let rows = vec![
        vec![
            "used_memory after (MB)".to_string(),
            mb(d.used_after as f64),
            mb(p.used_after as f64),
            table::ratio(d.used_after as f64, p.used_after as f64),
        ],
        vec![
            "used_memory per key (B)".to_string(),
            format!("{:.1}", d.used_per_key()),
            format!("{:.1}", p.used_per_key()),
            table::ratio(d.used_per_key(), p.used_per_key()),
        ],
        vec![
            "RSS after (MB)".to_string(),
            mb(d.rss_after_kb as f64 * 1024.0),
            mb(p.rss_after_kb as f64 * 1024.0),
            table::ratio(d.rss_after_kb as f64, p.rss_after_kb as f64),
        ],
        vec![
            "RSS per key (B)".to_string(),
            format!("{:.1}", d.rss_per_key()),
            format!("{:.1}", p.rss_per_key()),
            table::ratio(d.rss_per_key(), p.rss_per_key()),
        ],
    ];
    table::render(&["metric", "damselfly", "peer", "damselfly/peer"], &rows)
}

/// Runs the memory benchmark; returns (damselfly, peer).
pub fn run(o: &MemoryOpts, argv: &[String]) -> io::Result<(MemSample, MemSample)> {
    let peer_cmd = o
        .peer
        .clone()
        .unwrap_or_else(|| default_peer(o.protocol).into());
    let damselfly = ServerProc::start("damselfly", &o.damselfly, o.protocol, None)?;
    let peer = ServerProc::start("peer", &peer_cmd, o.protocol, None)?;
    let populate = o.populate
        && o.protocol == Protocol::Redis
        && supports_populate(&mut damselfly.client()?)?
        && supports_populate(&mut peer.client()?)?;
    let prefix = key_prefix(o.keys, o.key_size);
    let method = if populate {
        "DEBUG POPULATE"
    } else {
        "pipelined SETs"
    };
    eprintln!(
        "loading {} keys ({}:N, {} B values) with {method}",
        o.keys, prefix, o.value_size
    );
    let d = measure(&damselfly, o, populate, &prefix)?;
    let p = measure(&peer, o, populate, &prefix)?;
    println!(
        "{} keys of up to {} B, values of {} B, loaded with {method}\n",
        o.keys,
        prefix.len() + 1 + (o.keys - 1).to_string().len(),
        o.value_size
    );
    print!("{}", memory_table(&d, &p));
    if let Some(path) = &o.json_out {
        let js = |s: &MemSample| {
            json!({
                "used_memory_before": s.used_before, "used_memory_after": s.used_after,
                "rss_kb_before": s.rss_before_kb, "rss_kb_after": s.rss_after_kb,
                "used_memory_per_key": s.used_per_key(), "rss_per_key": s.rss_per_key(),
            })
        };
        let doc = json!({
            "command": argv, "keys": o.keys, "key_prefix": prefix,
            "value_size": o.value_size, "method": method,
            "damselfly_cmd": o.damselfly, "peer_cmd": peer_cmd,
            "damselfly": js(&d), "peer": js(&p),
            "ratio": {
                "used_memory_per_key": d.used_per_key() / p.used_per_key().max(1e-9),
                "rss_per_key": d.rss_per_key() / p.rss_per_key().max(1e-9),
            },
        });
        let text = serde_json::to_string_pretty(&doc).map_err(io::Error::other)?;
        std::fs::write(path, text)?;
    }
    Ok((d, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_sizes_keys() {
        let p = key_prefix(1_000_000, 16);
        assert_eq!(format!("{p}:{}", 999_999).len(), 16);
        assert_eq!(key_prefix(10, 1), "k");
        assert_eq!(key_prefix(1, 4), "kx");
    }

    #[test]
    fn per_key_figures() {
        let s = MemSample {
            used_before: 1000,
            used_after: 1000 + 80 * 500,
            rss_before_kb: 1000,
            rss_after_kb: 1050,
            keys: 500,
        };
        assert_eq!(s.used_per_key(), 80.0);
        assert!((s.rss_per_key() - 102.4).abs() < 1e-9);
        let t = memory_table(&s, &s);
        assert!(t.contains("used_memory per key (B)"));
        assert!(
            t.lines()
                .all(|l| !l.contains("per key") || l.ends_with("1.00")),
            "{t}"
        );
    }

    #[test]
    fn parse_flags() {
        let a: Vec<String> = ["--damselfly", "x {port}", "--keys=100", "--value-size", "8"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = MemoryOpts::parse(&a).unwrap();
        assert_eq!((o.keys, o.key_size, o.value_size), (100, 16, 8));
        assert!(MemoryOpts::parse(&a[..2]).is_err());
        assert!(MemoryOpts::parse(&a[2..]).is_err());
    }
}
